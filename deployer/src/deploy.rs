//! `up`, `plan`, `outputs` and `down`: the steps in order, each in its own module.

use crate::aws::cloudformation::{
    self as cfn, ChangeKind, ChangeSetRequest, ChangeSetState, StackInfo,
};
use crate::aws::{artifacts, verify, Connection};
use crate::build::{self, Artifact, BuildTarget};
use crate::error::Error;
use crate::inputs::StackInputs;
use crate::local::Paths;
use crate::output;
use crate::plan::{self, Decision};
use crate::progress::{Backoff, Progress};
use crate::render;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

/// The SDK clients, made once from the connection.
pub struct Clients {
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub iam: aws_sdk_iam::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Clients {
    pub fn new(conn: &Connection) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(&conn.sdk)
            // Custom endpoints (emulators, proxies) serve buckets by path, not by host name.
            .force_path_style(conn.endpoint.is_some())
            .build();
        Self {
            cfn: aws_sdk_cloudformation::Client::new(&conn.sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sts: aws_sdk_sts::Client::new(&conn.sdk),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(&conn.sdk),
            lambda: aws_sdk_lambda::Client::new(&conn.sdk),
            iam: aws_sdk_iam::Client::new(&conn.sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(&conn.sdk),
        }
    }
}

/// Options of `up` and `plan`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub dry_run: bool,
    /// How long to wait for another operation on the stack before giving up.
    pub wait_timeout: Duration,
}

/// What `up` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpReport {
    pub stack: String,
    /// created, updated, unchanged or planned.
    pub action: &'static str,
    pub changes: Vec<cfn::Change>,
    pub artifact: ArtifactReport,
    pub checks: Vec<verify::Check>,
    pub outputs: BTreeMap<String, String>,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactReport {
    pub sha256: String,
    pub size: u64,
    pub bucket: String,
    pub key: String,
    pub uploaded: bool,
}

impl fmt::Display for UpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stack {} {} in {:.1}s",
            self.stack, self.action, self.seconds
        )?;
        if !self.changes.is_empty() {
            writeln!(f, "\nchanges:")?;
            write_changes(f, &self.changes)?;
        }
        if !self.checks.is_empty() {
            writeln!(f, "\nchecks:")?;
            for c in &self.checks {
                writeln!(
                    f,
                    "  {} {:<36} {}",
                    if c.ok { "ok  " } else { "FAIL" },
                    c.name,
                    c.detail
                )?;
            }
        }
        if !self.outputs.is_empty() {
            writeln!(f, "\noutputs:")?;
            let rows: Vec<(&str, String)> = self
                .outputs
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            output::rows(f, &rows)?;
        }
        Ok(())
    }
}

fn write_changes(f: &mut dyn fmt::Write, changes: &[cfn::Change]) -> fmt::Result {
    for c in changes {
        let sign = match c.action.as_str() {
            "Add" => "+",
            "Remove" => "-",
            "Modify" => "~",
            _ => "?",
        };
        let replacement = match c.replacement.as_deref() {
            Some("True") => "  (REPLACEMENT)",
            Some("Conditional") => "  (may be replaced)",
            _ => "",
        };
        writeln!(
            f,
            "  {sign} {:<7} {:<22} {}{replacement}",
            c.action, c.logical_id, c.resource_type
        )?;
    }
    Ok(())
}

/// Outputs of a deployed stack.
#[derive(Debug, Serialize)]
pub struct Outputs(pub BTreeMap<String, String>);

impl fmt::Display for Outputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<(&str, String)> = self
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        output::rows(f, &rows)
    }
}

/// The stack tags: the inputs' own and the deployer's.
pub fn stack_tags(inputs: &StackInputs) -> BTreeMap<String, String> {
    let mut tags = inputs.tags.clone();
    tags.insert("managed-by".into(), "deployer".into());
    tags
}

/// Waits until the stack is not in progress (or gone); errors after `timeout`.
async fn settle(
    clients: &Clients,
    name: &str,
    timeout: Duration,
    progress: &mut Progress,
) -> Result<Option<StackInfo>, Error> {
    let started = Instant::now();
    let mut backoff = Backoff::for_stacks();
    let mut announced = false;
    loop {
        let stack = cfn::describe(&clients.cfn, name).await?;
        match &stack {
            Some(s) if s.in_progress() => {
                if started.elapsed() >= timeout {
                    return Err(Error::TimedOut {
                        stack: name.into(),
                        status: s.status.clone(),
                        waited_secs: started.elapsed().as_secs(),
                        help: "another operation is running on the stack (another `up` or `down`, a CI job, the console); wait for it, or raise --wait-timeout".into(),
                    });
                }
                if !announced {
                    progress.note(&format!(
                        "stack {name} is {}: waiting for that operation to finish",
                        s.status
                    ));
                    announced = true;
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
            _ => return Ok(stack),
        }
    }
}

/// One progress line per resource event (the stack's own events are the summary, not shown).
fn show(progress: &mut Progress, events: &[cfn::Event]) {
    for e in events
        .iter()
        .filter(|e| e.resource_type != "AWS::CloudFormation::Stack")
    {
        progress.resource(
            &e.logical_id,
            &e.resource_type,
            &e.status,
            e.reason.as_deref(),
        );
    }
}

/// Follows an operation until the stack leaves `*_IN_PROGRESS`, showing each resource.
/// Returns the final status (`None`: the stack is gone) and the operation's events.
async fn follow(
    clients: &Clients,
    stack_id: &str,
    mut seen: HashSet<String>,
    progress: &mut Progress,
) -> Result<(Option<String>, Vec<cfn::Event>), Error> {
    let mut backoff = Backoff::for_stacks();
    let mut events = Vec::new();
    loop {
        let fresh = match cfn::new_events(&clients.cfn, stack_id, &mut seen).await {
            Ok(fresh) => fresh,
            // The stack was deleted under us (by `down`, or another run's clean-up).
            Err(err) if err.code == "ValidationError" && err.message.contains("does not exist") => {
                return Ok((None, events))
            }
            Err(err) => return Err(err.into()),
        };
        show(progress, &fresh);
        events.extend(fresh);
        let stack = cfn::describe(&clients.cfn, stack_id).await?;
        match stack {
            Some(s) if s.status.ends_with("_IN_PROGRESS") => {
                tokio::time::sleep(backoff.next_delay()).await
            }
            Some(s) => {
                // Events can land just after the status; take the last ones.
                let tail = cfn::new_events(&clients.cfn, stack_id, &mut seen)
                    .await
                    .unwrap_or_default();
                show(progress, &tail);
                events.extend(tail);
                return Ok((Some(s.status), events));
            }
            None => return Ok((None, events)),
        }
    }
}

/// Runs `fut` unless Ctrl-C comes first.
async fn interruptible<T>(
    fut: impl std::future::Future<Output = Result<T, Error>>,
    while_doing: &str,
    help: &str,
) -> Result<T, Error> {
    tokio::select! {
        result = fut => result,
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted { while_doing: while_doing.into(), help: help.into() }),
    }
}

async fn delete_and_wait(
    clients: &Clients,
    stack: &StackInfo,
    progress: &mut Progress,
) -> Result<(), Error> {
    let seen = cfn::existing_event_ids(&clients.cfn, &stack.id).await?;
    cfn::delete_stack(&clients.cfn, &stack.id).await?;
    let (status, events) = follow(clients, &stack.id, seen, progress).await?;
    match status.as_deref() {
        None | Some("DELETE_COMPLETE") => Ok(()),
        Some(state) => {
            let failed: Vec<String> = events
                .iter()
                .filter(|e| {
                    e.status == "DELETE_FAILED" && e.resource_type != "AWS::CloudFormation::Stack"
                })
                .map(|e| {
                    format!(
                        "{} ({}): {}",
                        e.logical_id,
                        e.resource_type,
                        e.reason.clone().unwrap_or_default()
                    )
                })
                .collect();
            Err(Error::DeployFailed {
                operation: "delete",
                stack: stack.name.clone(),
                cause: if failed.is_empty() { "see the stack events".into() } else { failed.join("; ") },
                state: state.into(),
                help: "resolve what blocked those resources (e.g. objects left in them, deletion protection), then run `deployer down` again".into(),
            })
        }
    }
}

/// How often `up` decides again after losing a race with another operation on the stack.
const MAX_ATTEMPTS: u32 = 5;

/// Errors that mean another operation changed the stack between our look and our action.
fn is_conflict(err: &crate::aws::AwsError) -> bool {
    match err.code.as_str() {
        "AlreadyExistsException"
        | "InvalidChangeSetStatus"
        | "InvalidChangeSetStatusException"
        | "ChangeSetNotFound"
        | "ChangeSetNotFoundException" => true,
        // CloudFormation reports a busy stack as a ValidationError with no code of its own; a
        // stack that vanished was deleted or replaced by the other run.
        "ValidationError" => {
            err.message.contains("_IN_PROGRESS")
                || err.message.contains("already exists")
                || err.message.contains("does not exist")
        }
        _ => false,
    }
}

/// `up` (and `plan` with `dry_run`).
pub async fn up(
    conn: &Connection,
    paths: &Paths,
    inputs: &StackInputs,
    options: &UpOptions,
    progress: &mut Progress,
) -> Result<UpReport, Error> {
    let started = Instant::now();
    let clients = Clients::new(conn);
    let name = inputs.stack_name.clone();

    progress.step("rendering the template");
    let template = render::render(inputs)?;

    let target = BuildTarget::choose(conn.target == crate::aws::Target::Local);
    if let BuildTarget::Host { reason } = &target {
        progress.note(&format!(
            "warning: building the trigger for this machine's architecture, not Graviton: {reason}"
        ));
    }
    progress.step("building the trigger");
    let spinner = progress.spinner("cargo build (trigger)");
    let paths2 = paths.clone();
    let target2 = target.clone();
    let artifact: Artifact = interruptible(
        async {
            tokio::task::spawn_blocking(move || build::build(&paths2, &target2))
                .await
                .expect("build task")
                .map_err(Error::from)
        },
        "building the trigger",
        "nothing was deployed; run `up` again",
    )
    .await?;
    drop(spinner);
    progress.note(&format!(
        "trigger zip {} bytes, sha256 {}{}",
        artifact.size,
        &artifact.sha256[..12],
        if artifact.rebuilt {
            ""
        } else {
            " (unchanged, not rebuilt)"
        }
    ));

    // Both answers are needed before deciding anything; ask at once.
    let (account, described) = tokio::join!(
        artifacts::account_id(&clients.sts),
        cfn::describe(&clients.cfn, &name)
    );
    let account = account?;
    let mut prefetched = Some(described?);
    let bucket = artifacts::bucket_name(&account, &conn.region);
    let key = artifacts::artifact_key(&name, &artifact.sha256);
    let tags = stack_tags(inputs);
    let mut parameters = BTreeMap::from([
        ("ArtifactBucket".to_owned(), bucket.clone()),
        ("ArtifactKey".to_owned(), key.clone()),
    ]);
    let stable_tags = tags
        .iter()
        .filter(|(k, _)| !crate::ephemeral::VOLATILE_TAGS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let fingerprint = plan::fingerprint(&template, &parameters, &stable_tags);
    parameters.insert("DeployFingerprint".into(), fingerprint.clone());
    let mut report = UpReport {
        stack: name.clone(),
        action: "unchanged",
        changes: Vec::new(),
        artifact: ArtifactReport {
            sha256: artifact.sha256.clone(),
            size: artifact.size,
            bucket: bucket.clone(),
            key: key.clone(),
            uploaded: false,
        },
        checks: Vec::new(),
        outputs: BTreeMap::new(),
        seconds: 0.0,
    };

    let mut attempt = 0;
    'attempt: loop {
        attempt += 1;
        let mut stack = match prefetched.take() {
            Some(stack) => stack,
            None => cfn::describe(&clients.cfn, &name).await?,
        };
        let mut decision = plan::decide(stack.as_ref(), &fingerprint);
        if let Decision::Wait { .. } = decision {
            stack = settle(&clients, &name, options.wait_timeout, progress).await?;
            decision = plan::decide(stack.as_ref(), &fingerprint);
        }
        match &decision {
            Decision::Refuse { status, why, help } => {
                return Err(Error::Stuck {
                    stack: name,
                    status: status.clone(),
                    why: why.clone(),
                    help: help.clone(),
                })
            }
            Decision::Unchanged => {
                progress.step("nothing changed since the last deploy");
                report.outputs = stack.map(|s| s.outputs).unwrap_or_default();
                report.seconds = started.elapsed().as_secs_f64();
                return Ok(report);
            }
            Decision::Recreate if !options.dry_run => {
                let s = stack.as_ref().expect("a stack to recreate");
                progress.step(&format!(
                    "stack {name} is ROLLBACK_COMPLETE from a failed create{}: deleting it to create it again",
                    s.reason.as_deref().filter(|r| !r.is_empty()).map(|r| format!(" ({r})")).unwrap_or_default()
                ));
                delete_and_wait(&clients, s, progress).await?;
            }
            _ => {}
        }

        progress.step(&format!("uploading the trigger to s3://{bucket}/{key}"));
        if artifacts::ensure_bucket(&clients.s3, &bucket, &conn.region).await? {
            progress.note(&format!("created the artifacts bucket {bucket} (encrypted, private, TLS only, objects expire after {} days)", artifacts::EXPIRE_DAYS));
        }
        let bytes = std::fs::read(&artifact.path).map_err(|source| Error::Io {
            what: format!("reading {}", artifact.path.display()),
            source,
        })?;
        report.artifact.uploaded = artifacts::upload(&clients.s3, &bucket, &key, bytes).await?;

        let kind = match decision {
            Decision::Update => ChangeKind::Update,
            _ => ChangeKind::Create,
        };
        let change_set_name = format!(
            "deployer-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        );
        let request = ChangeSetRequest {
            stack: name.clone(),
            name: change_set_name,
            kind,
            template: template.clone(),
            parameters: parameters.clone(),
            tags: tags.clone(),
        };
        progress.step("creating a change set");
        let (change_set, stack_id) = match cfn::create_change_set(&clients.cfn, &request).await {
            Ok(ids) => ids,
            Err(err) if is_conflict(&err) && attempt < MAX_ATTEMPTS => {
                progress.note(&format!("another operation got to stack {name} first ({}): waiting for it, then deciding again", err.message));
                settle(&clients, &name, options.wait_timeout, progress).await?;
                continue 'attempt;
            }
            Err(err) => return Err(err.into()),
        };
        // From here until execution, an interruption or a failure removes what was created.
        let cleanup = |clients: &Clients| {
            let (cfn_client, change_set, stack_id) =
                (clients.cfn.clone(), change_set.clone(), stack_id.clone());
            async move {
                cfn::delete_change_set(&cfn_client, &change_set).await.ok();
                if kind == ChangeKind::Create {
                    // A never-executed create leaves an empty REVIEW_IN_PROGRESS stack behind.
                    // Only that is removed: another run may be creating the same stack right now.
                    let review = cfn::describe(&cfn_client, &stack_id).await.ok().flatten();
                    if review.is_some_and(|s| s.status == "REVIEW_IN_PROGRESS") {
                        cfn::delete_stack(&cfn_client, &stack_id).await.ok();
                    }
                }
            }
        };
        let waited = interruptible(
            async {
                let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
                loop {
                    match cfn::change_set_state(&clients.cfn, &change_set).await? {
                        ChangeSetState::Pending => tokio::time::sleep(backoff.next_delay()).await,
                        state => return Ok(state),
                    }
                }
            },
            "creating the change set",
            "nothing was changed; run `up` again",
        )
        .await;
        let state = match waited {
            Ok(state) => state,
            Err(Error::Aws(err)) if is_conflict(&err) && attempt < MAX_ATTEMPTS => {
                cleanup(&clients).await;
                progress.note(&format!("another operation got to stack {name} first ({}): waiting for it, then deciding again", err.message));
                settle(&clients, &name, options.wait_timeout, progress).await?;
                continue 'attempt;
            }
            Err(err) => {
                cleanup(&clients).await;
                return Err(err);
            }
        };
        let changes = match state {
            ChangeSetState::Ready(changes) => changes,
            ChangeSetState::Empty => {
                cleanup(&clients).await;
                progress.step("CloudFormation found nothing to change");
                report.outputs = cfn::describe(&clients.cfn, &name)
                    .await?
                    .map(|s| s.outputs)
                    .unwrap_or_default();
                report.seconds = started.elapsed().as_secs_f64();
                return Ok(report);
            }
            ChangeSetState::Failed(reason) => {
                cleanup(&clients).await;
                return Err(Error::DeployFailed {
                    operation: "the change set",
                    stack: name,
                    cause: reason,
                    state: stack.map(|s| s.status).unwrap_or_else(|| "not created".into()),
                    help: "CloudFormation rejected the template or parameters; fix the cause and run `up` again".into(),
                });
            }
            ChangeSetState::Pending => unreachable!("the loop returns settled states only"),
        };
        let mut plan_text = String::new();
        write_changes(&mut plan_text, &changes).ok();
        progress.step(&format!(
            "planned changes ({}):\n{}",
            changes.len(),
            plan_text.trim_end()
        ));
        report.changes = changes;

        if options.dry_run {
            cleanup(&clients).await;
            report.action = "planned";
            report.seconds = started.elapsed().as_secs_f64();
            return Ok(report);
        }

        progress.step(match kind {
            ChangeKind::Create => "creating the stack",
            ChangeKind::Update => "updating the stack",
        });
        let executed = match cfn::existing_event_ids(&clients.cfn, &stack_id).await {
            Ok(seen) => cfn::execute_change_set(&clients.cfn, &change_set)
                .await
                .map(|()| seen),
            Err(err) => Err(err),
        };
        let seen = match executed {
            Ok(seen) => seen,
            Err(err) => {
                // Someone else is executing on this stack: drop our change set, leave the stack be.
                cfn::delete_change_set(&clients.cfn, &change_set).await.ok();
                if is_conflict(&err) && attempt < MAX_ATTEMPTS {
                    progress.note(&format!("another operation got to stack {name} first ({}): waiting for it, then deciding again", err.message));
                    settle(&clients, &name, options.wait_timeout, progress).await?;
                    continue 'attempt;
                }
                return Err(err.into());
            }
        };
        let (status, events) = interruptible(
            follow(&clients, &stack_id, seen, progress),
            "CloudFormation was deploying",
            "CloudFormation goes on with the deploy (or its rollback) by itself; run `deployer up` again to wait for it and continue",
        )
        .await?;
        let Some(status) = status else {
            // Our stack id vanished mid-deploy: another run replaced or deleted the stack.
            if attempt < MAX_ATTEMPTS {
                progress.note(&format!("stack {name} was replaced by another operation: waiting for it, then deciding again"));
                settle(&clients, &name, options.wait_timeout, progress).await?;
                continue 'attempt;
            }
            return Err(Error::DeployFailed {
                operation: "the deploy",
                stack: name,
                cause: "the stack was deleted or replaced while it was being deployed".into(),
                state: "unknown".into(),
                help: "another process is changing this stack; let it finish and run `deployer up` again".into(),
            });
        };
        if status != "CREATE_COMPLETE" && status != "UPDATE_COMPLETE" {
            let cause = cfn::root_cause(&events)
                .map(|e| {
                    format!(
                        "{} ({}) {}: {}",
                        e.logical_id,
                        e.resource_type,
                        e.status,
                        e.reason.clone().unwrap_or_default()
                    )
                })
                .unwrap_or_else(|| "no failed resource was reported; see the stack events".into());
            let help = match status.as_str() {
                "ROLLBACK_COMPLETE" => "fix the cause above and run `deployer up` again: it deletes the failed stack and creates it anew",
                "UPDATE_ROLLBACK_COMPLETE" => "the stack is back at its previous version; fix the cause above and run `deployer up` again",
                _ => "fix the cause above; `deployer up` continues from this state, or `deployer down` removes the stack",
            };
            return Err(Error::DeployFailed {
                operation: if kind == ChangeKind::Create {
                    "create"
                } else {
                    "update"
                },
                stack: name,
                cause,
                state: status,
                help: help.into(),
            });
        }
        report.action = if kind == ChangeKind::Create {
            "created"
        } else {
            "updated"
        };

        progress.step("verifying the trigger wiring, code, permission and role");
        let outputs = cfn::describe(&clients.cfn, &name)
            .await?
            .map(|s| s.outputs)
            .unwrap_or_default();
        let verify_clients = verify::Clients {
            cognito: &clients.cognito,
            lambda: &clients.lambda,
            iam: &clients.iam,
            dynamodb: &clients.dynamodb,
        };
        report.checks =
            verify::verify(&verify_clients, &outputs, inputs.event_version.as_str()).await?;
        report.outputs = outputs;
        report.seconds = started.elapsed().as_secs_f64();
        let failed: Vec<String> = report
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("  - {}: {}", c.name, c.detail))
            .collect();
        if !failed.is_empty() {
            return Err(Error::Verify {
                stack: report.stack,
                failed,
            });
        }
        return Ok(report);
    }
}

/// `outputs`: the deployed stack's outputs.
pub async fn outputs(conn: &Connection, inputs: &StackInputs) -> Result<Outputs, Error> {
    let clients = Clients::new(conn);
    match cfn::describe(&clients.cfn, &inputs.stack_name).await? {
        Some(stack) if !stack.outputs.is_empty() => Ok(Outputs(stack.outputs)),
        _ => Err(Error::NotDeployed {
            stack: inputs.stack_name.clone(),
        }),
    }
}

/// What `down` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DownReport {
    pub stack: String,
    /// deleted, or absent (there was nothing to delete).
    pub action: &'static str,
    pub artifacts_removed: usize,
    /// Resources kept on purpose (the table of a kept stack).
    pub retained: Vec<String>,
    pub seconds: f64,
}

impl fmt::Display for DownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.action {
            "absent" => writeln!(f, "stack {} is not deployed: nothing to delete", self.stack)?,
            _ => writeln!(f, "stack {} deleted in {:.1}s", self.stack, self.seconds)?,
        }
        if self.artifacts_removed > 0 {
            writeln!(f, "removed {} artifact(s)", self.artifacts_removed)?;
        }
        for r in &self.retained {
            writeln!(f, "retained: {r}")?;
        }
        Ok(())
    }
}

/// Which stack `down` deletes, and whether it may turn deletion protection off.
#[derive(Debug, Clone)]
pub struct DownTarget {
    pub stack: String,
    /// `None`: disposable when the stack carries the ephemeral tag.
    pub disposable: Option<bool>,
}

/// `down`: deletes the stack and the stack's artifacts.
pub async fn down(
    conn: &Connection,
    target: &DownTarget,
    force: bool,
    wait_timeout: Duration,
    progress: &mut Progress,
) -> Result<DownReport, Error> {
    let started = Instant::now();
    let clients = Clients::new(conn);
    let name = target.stack.clone();
    let stack = settle(&clients, &name, wait_timeout, progress).await?;
    let mut report = DownReport {
        stack: name.clone(),
        action: "absent",
        artifacts_removed: 0,
        retained: Vec::new(),
        seconds: 0.0,
    };
    if let Some(stack) = &stack {
        let ephemeral = stack
            .tags
            .get(crate::ephemeral::TAG_EPHEMERAL)
            .map(String::as_str)
            == Some("true");
        let disposable = target.disposable.unwrap_or(ephemeral);
        if let Some(pool_id) = stack.outputs.get("UserPoolId") {
            turn_off_deletion_protection(&clients, pool_id, &name, disposable || force, progress)
                .await?;
        }
        progress.step(&format!("deleting stack {name}"));
        interruptible(
            delete_and_wait(&clients, stack, progress),
            "CloudFormation was deleting the stack",
            "CloudFormation goes on deleting by itself; run `deployer down` again to wait for it",
        )
        .await?;
        report.action = "deleted";
        if !disposable {
            if let Some(table) = stack.outputs.get("TableName") {
                report
                    .retained
                    .push(format!("table {table} (kept stacks retain their data)"));
            }
        }
    }
    let account = artifacts::account_id(&clients.sts).await?;
    let bucket = artifacts::bucket_name(&account, &conn.region);
    report.artifacts_removed =
        artifacts::delete_stack_artifacts(&clients.s3, &bucket, &name).await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// One stack `gc` looked at.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcEntry {
    pub stack: String,
    pub reason: String,
    /// would-delete (dry run), deleted, or failed: <why>.
    pub result: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    pub considered: usize,
    pub entries: Vec<GcEntry>,
}

impl fmt::Display for GcReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deleted = self
            .entries
            .iter()
            .filter(|e| e.result == "deleted")
            .count();
        let failed = self
            .entries
            .iter()
            .filter(|e| e.result.starts_with("failed"))
            .count();
        writeln!(
            f,
            "{} ephemeral stack(s) considered, {} to delete: {deleted} deleted, {failed} failed",
            self.considered,
            self.entries.len()
        )?;
        for e in &self.entries {
            writeln!(f, "  {:<40} {:<28} {}", e.stack, e.reason, e.result)?;
        }
        Ok(())
    }
}

/// Which ephemeral stacks are due, and why. Pure.
pub fn due(
    stacks: &[StackInfo],
    now: std::time::SystemTime,
    older_than: Option<Duration>,
) -> (usize, Vec<(String, String)>) {
    use crate::ephemeral::{parse_rfc3339, TAG_EPHEMERAL, TAG_EXPIRES};
    let now_secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let ephemeral: Vec<&StackInfo> = stacks
        .iter()
        .filter(|s| s.tags.get(TAG_EPHEMERAL).map(String::as_str) == Some("true"))
        .collect();
    let mut due = Vec::new();
    for s in &ephemeral {
        let expired = s
            .tags
            .get(TAG_EXPIRES)
            .and_then(|t| parse_rfc3339(t))
            .filter(|t| *t <= now);
        let old = older_than
            .zip(s.created)
            .filter(|(d, created)| now_secs - created >= d.as_secs_f64());
        if let Some(at) = expired {
            due.push((
                s.name.clone(),
                format!("expired at {}", crate::ephemeral::rfc3339(at)),
            ));
        } else if let Some((d, _)) = old {
            due.push((s.name.clone(), format!("older than {}s", d.as_secs())));
        }
    }
    (ephemeral.len(), due)
}

/// `gc`: deletes ephemeral stacks that are due, several at a time.
pub async fn gc(
    conn: &Connection,
    older_than: Option<Duration>,
    dry_run: bool,
    parallel: usize,
    progress: &mut Progress,
) -> Result<GcReport, Error> {
    use futures::StreamExt;
    let clients = Clients::new(conn);
    let stacks = cfn::list_all(&clients.cfn).await?;
    let (considered, due) = due(&stacks, std::time::SystemTime::now(), older_than);
    if dry_run {
        let entries = due
            .into_iter()
            .map(|(stack, reason)| GcEntry {
                stack,
                reason,
                result: "would-delete".into(),
            })
            .collect();
        return Ok(GcReport {
            considered,
            entries,
        });
    }
    progress.step(&format!(
        "deleting {} of {considered} ephemeral stack(s), {parallel} at a time",
        due.len()
    ));
    let results: Vec<GcEntry> = futures::stream::iter(due)
        .map(|(stack, reason)| async move {
            let target = DownTarget {
                stack: stack.clone(),
                disposable: Some(true),
            };
            // Each deletion shows its own plain progress; errors are collected, not fatal.
            let mut quiet = Progress::plain();
            let result = match down(conn, &target, true, Duration::from_secs(600), &mut quiet).await
            {
                Ok(_) => "deleted".to_owned(),
                Err(err) => format!("failed: {err}"),
            };
            GcEntry {
                stack,
                reason,
                result,
            }
        })
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    for r in &results {
        progress.note(&format!("{}: {}", r.stack, r.result));
    }
    Ok(GcReport {
        considered,
        entries: results,
    })
}

async fn turn_off_deletion_protection(
    clients: &Clients,
    pool_id: &str,
    stack: &str,
    allowed: bool,
    progress: &mut Progress,
) -> Result<(), Error> {
    use aws_sdk_cognitoidentityprovider::types::DeletionProtectionType;
    let pool = match clients
        .cognito
        .describe_user_pool()
        .user_pool_id(pool_id)
        .send()
        .await
    {
        Ok(out) => out.user_pool,
        Err(err) => {
            let err = crate::aws::AwsError::from_sdk("DescribeUserPool", err);
            if err.code == "ResourceNotFoundException" {
                return Ok(());
            }
            return Err(err.into());
        }
    };
    let Some(pool) = pool else { return Ok(()) };
    if pool.deletion_protection != Some(DeletionProtectionType::Active) {
        return Ok(());
    }
    if !allowed {
        return Err(Error::Kept {
            stack: stack.into(),
        });
    }
    progress.step("turning off the user pool's deletion protection");
    // UpdateUserPool resets what it is not given: pass the settings that matter back unchanged.
    clients
        .cognito
        .update_user_pool()
        .user_pool_id(pool_id)
        .deletion_protection(DeletionProtectionType::Inactive)
        .set_lambda_config(pool.lambda_config)
        .set_policies(pool.policies)
        .set_auto_verified_attributes(pool.auto_verified_attributes)
        .set_admin_create_user_config(pool.admin_create_user_config)
        .set_user_pool_tier(pool.user_pool_tier)
        .send()
        .await
        .map_err(|e| crate::aws::AwsError::from_sdk("UpdateUserPool", e))?;
    Ok(())
}
