//! `up` and `plan`: render, observe, build, decide, act, verify, report. Each step is a call
//! into its own module; the decisions are `stack::plan`'s.

use crate::artifacts;
use crate::bootstrap;
use crate::build::{self, Artifact, BuildError, BuildTarget, Origin};
use crate::cancel::Doing;
use crate::error::Error;
use crate::inputs::Lifecycle;
use crate::inputs::StackInputs;
use crate::local::Paths;
use crate::output;
use crate::render;
use crate::stack::execute::{self, Applied, Apply, Ctx, Halt};
use crate::stack::observe::{self, observe, reobserve};
use crate::stack::plan::{self, Action, Observed, Plan, Refusal, RefusalKind, TableClaim};
use crate::stack::{Change, Desired, Stack, StackStatus};
use crate::wiring::{self, Check};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Options of `up` and `plan`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Show the change set, then remove it: no upload, no bucket, nothing executed.
    pub dry_run: bool,
    /// How long to wait for another operation on the stack before giving up.
    pub wait_timeout: Duration,
    /// Where the trigger's zip comes from.
    pub trigger: TriggerSource,
    /// Take over a stack of this name that the deployer did not create.
    pub adopt: bool,
    /// Accept a change set that destroys and replaces the user pool or the table.
    pub allow_replace: bool,
    /// Who may say yes to a destructive change when --allow-replace is not given.
    pub confirm: Confirm,
    /// Share a trigger built here under the bucket's `_builds/` (the publisher role's job).
    pub publish: bool,
    /// Make the bucket and the boundary when they are missing (the local emulator), instead
    /// of stopping with what an admin must run.
    pub bootstrap_itself: bool,
}

/// Who may confirm a destructive change at the moment it is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Nobody (CI, pipes): refuse unless --allow-replace.
    Never,
    /// A person at this terminal, asked on stderr and answering on stdin.
    Terminal,
}

impl Confirm {
    /// A person can answer: stdin and stderr are terminals and this is not CI.
    pub fn detect() -> Self {
        use std::io::IsTerminal;
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        if !ci && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            Self::Terminal
        } else {
            Self::Never
        }
    }
}

/// Resource types whose replacement loses data: the pool (its users) and the table (its rows).
pub const PRECIOUS: &[&str] = &["AWS::Cognito::UserPool", "AWS::DynamoDB::Table"];

/// The changes that would destroy the pool or the table, as `Logical (Type)`. Pure.
pub fn destructive(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| c.destroys() && PRECIOUS.contains(&c.resource_type.as_str()))
        .map(|c| format!("{} ({})", c.logical_id, c.resource_type))
        .collect()
}

/// What else makes an `up` destructive, decided from the deployed stack and the inputs
/// (pure): a kept stack made disposable (its table loses deletion protection and
/// point-in-time recovery, and goes with the stack), or a stack that was not ephemeral given
/// the ephemeral tags (gc and a pipeline's closing `down` would delete it).
pub fn downgrades(deployed: Option<&Stack>, inputs: &StackInputs) -> Vec<String> {
    let Some(stack) = deployed.filter(|s| s.is_ours()) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let ephemeral = crate::ephemeral::is_ephemeral;
    if stack.kept() && inputs.lifecycle == Lifecycle::Disposable {
        found.push(format!(
            "the lifecycle of {} from kept to disposable (its table loses deletion protection and point-in-time recovery, and is deleted with the stack)",
            stack.name
        ));
    }
    if ephemeral(&inputs.deployer_tags) && !ephemeral(&stack.tags) {
        found.push(format!(
            "the ephemeral tags on {}, which was not ephemeral (gc and a pipeline's down would delete it)",
            stack.name
        ));
    }
    found
}

/// Lets a change set through, or refuses it: destroying the pool or the table, a downgrade
/// (`downgrades`), and when adopting a stack the deployer did not make, removing any of its
/// resources (they are not the deployer's to remove), need --allow-replace or a person's yes.
pub fn approve(
    stack: &str,
    changes: &[Change],
    (downgrades, adopting): (&[String], bool),
    allow_replace: bool,
    confirm: Confirm,
) -> Result<(), Error> {
    let mut doomed = destructive(changes);
    if adopting {
        doomed.extend(
            changes
                .iter()
                .filter(|c| c.destroys() && !PRECIOUS.contains(&c.resource_type.as_str()))
                .map(|c| {
                    format!(
                        "{} ({}, not made by the deployer)",
                        c.logical_id, c.resource_type
                    )
                }),
        );
    }
    doomed.extend(downgrades.iter().cloned());
    if doomed.is_empty() || allow_replace {
        return Ok(());
    }
    if confirm == Confirm::Terminal {
        eprint!(
            "the change set destroys {} (users, rows or data are lost). Type yes to go on: ",
            doomed.join("; ")
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok();
        if answer.trim() == "yes" {
            return Ok(());
        }
    }
    Err(Error::Destructive {
        stack: stack.into(),
        resources: doomed,
        help: "the change set was removed and nothing was executed. To accept the loss run `deployer up --allow-replace` (or answer yes at a terminal). Or change the inputs back (e.g. table.partitionKey, or lifecycle to kept); CloudFormation replaces a resource of a fixed name, like the table, only when the name changes too (table.name)".into(),
    })
}

/// Where `up` gets the trigger's zip.
#[derive(Debug, Clone)]
pub enum TriggerSource {
    /// Build it (or reuse the cached build) for this target.
    Build(BuildTarget),
    /// A zip already built (tests; a pipeline that built it in an earlier step).
    Prebuilt(Artifact),
}

/// What `up` did to the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpAction {
    Created,
    Updated,
    Unchanged,
    Planned,
}

impl fmt::Display for UpAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Planned => "planned",
        })
    }
}

/// What `up` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpReport {
    pub stack: String,
    pub action: UpAction,
    pub changes: Vec<Change>,
    pub artifact: ArtifactReport,
    pub checks: Vec<Check>,
    pub outputs: BTreeMap<String, String>,
    /// A table left by an earlier stack of this name, brought back into this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adopted_table: Option<String>,
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
    /// Where the zip came from: built, the local cache, or the shared cache in the bucket.
    pub from: Origin,
    /// The trigger's source key (what the shared cache is keyed by).
    pub source_key: Option<String>,
    /// Time spent finding or building the zip (part of the report's `seconds`).
    pub seconds: f64,
}

impl fmt::Display for UpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stack {} {} in {:.1}s",
            self.stack, self.action, self.seconds
        )?;
        if let Some(table) = &self.adopted_table {
            writeln!(f, "brought back the retained table {table} and its data")?;
        }
        if !self.changes.is_empty() {
            writeln!(f, "\nchanges:")?;
            f.write_str(&output::changes_text(&self.changes))?;
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
            output::map_rows(f, &self.outputs)?;
        }
        Ok(())
    }
}

/// The stack tags: the inputs' own and the deployer's.
pub fn stack_tags(inputs: &StackInputs) -> BTreeMap<String, String> {
    inputs.stack_tags()
}

/// A change set name no other run uses.
fn change_set_name() -> String {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the OS random source");
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("deployer-{millis}-{}", hex::encode(bytes))
}

/// Observes until the stack is settled, then decides.
async fn decide_settled(
    ctx: Ctx<'_>,
    desired: &Desired,
    table: &str,
    mut observed: Observed,
    options: &UpOptions,
) -> Result<(Observed, Plan), Error> {
    let choices = plan::Options {
        adopt: options.adopt,
    };
    loop {
        let plan = plan::decide(&observed, desired, choices, &change_set_name());
        if let Action::Wait { .. } = plan.action {
            execute::settle(ctx, &desired.stack, options.wait_timeout).await?;
            observed = reobserve(ctx.clients, &observed.account, &desired.stack, table).await?;
            continue;
        }
        return Ok((observed, plan));
    }
}

/// The error a refusal ends `up` with.
fn refused(stack: &str, r: &Refusal) -> Error {
    match r.kind {
        RefusalKind::Stuck => Error::Stuck {
            stack: stack.into(),
            status: r.status.clone(),
            why: match &r.cause {
                Some(cause) => format!("{}; root cause: {cause}", r.why),
                None => r.why.clone(),
            },
            help: r.help.clone(),
        },
        RefusalKind::Foreign | RefusalKind::TableTaken => Error::Refused {
            stack: stack.into(),
            status: r.status.clone(),
            why: r.why.clone(),
            help: r.help.clone(),
        },
    }
}

/// The first look: the account, the stack (waited for when busy, so a build never races a
/// running operation), and what is not ours refused before anything is built.
async fn first_look(
    ctx: Ctx<'_>,
    name: &str,
    table: &str,
    options: &UpOptions,
) -> Result<Observed, Error> {
    ctx.activity.set(name, Doing::Reading);
    let observed = observe(ctx.clients, name, table).await?;
    let foreign = |o: &Observed| {
        o.stack.as_ref().is_some_and(|s| {
            !s.is_ours() && !options.adopt && s.status != StackStatus::ReviewInProgress
        })
    };
    let observed = match &observed.stack {
        Some(s) if s.in_progress() && !foreign(&observed) => {
            execute::settle(ctx, name, options.wait_timeout).await?;
            reobserve(ctx.clients, &observed.account, name, table).await?
        }
        _ => observed,
    };
    let refusal = match &observed.table {
        Some(TableClaim::Foreign { .. }) if observe::creates(observed.stack.as_ref()) => true,
        _ => foreign(&observed),
    };
    if refusal {
        // The plan's own words, decided before a build (the desired state does not matter).
        let any = plan::desired(name, String::new(), BTreeMap::new(), BTreeMap::new(), false);
        if let Action::Refuse(r) =
            plan::decide(&observed, &any, plan::Options::default(), "").action
        {
            return Err(refused(name, &r));
        }
    }
    Ok(observed)
}

/// `up`'s trigger while the first look runs: a build target with its local look (under way,
/// then done), or a zip given ready-made.
enum Trigger<'a, L> {
    Build(&'a BuildTarget, L),
    Prebuilt(&'a Artifact),
}

/// `up` (and `plan` with `dry_run`).
pub async fn up(
    ctx: Ctx<'_>,
    paths: &Paths,
    inputs: &StackInputs,
    options: &UpOptions,
) -> Result<UpReport, Error> {
    let started = Instant::now();
    let name = inputs.stack_name.clone();
    let table = inputs.table_name();

    ctx.progress.step("rendering the template");
    // What needs no AWS (the template; the trigger's source key and this machine's cache)
    // is worked out on other threads while the first look waits for AWS's answers.
    let trigger_started = Instant::now();
    let trigger = match &options.trigger {
        TriggerSource::Build(target) => {
            let (paths, owned) = (paths.clone(), target.clone());
            Trigger::Build(
                target,
                tokio::task::spawn_blocking(move || look_locally(&paths, &owned)),
            )
        }
        TriggerSource::Prebuilt(artifact) => Trigger::Prebuilt(artifact),
    };
    let rendering = tokio::task::spawn_blocking({
        let inputs = inputs.clone();
        move || render::render(&inputs)
    });
    let looked = first_look(ctx, &name, &table, options).await;
    // A template or source problem is reported before anything AWS said.
    let template = rendering.await.expect("rendering the template panicked")?;
    let trigger = match trigger {
        Trigger::Build(target, task) => Trigger::Build(
            target,
            task.await
                .expect("reading the trigger's sources panicked")?,
        ),
        Trigger::Prebuilt(artifact) => Trigger::Prebuilt(artifact),
    };
    let observed = looked?;
    // The bucket and the boundary are checked before anything is built or fetched, and
    // otherwise before anything is changed; a no-op `up` needs neither.
    let checked = AtomicBool::new(false);
    let signed = inputs.trigger.code_signing_config_arn.is_some();
    if signed || matches!(&trigger, Trigger::Build(_, (_, None))) {
        bootstrapped(ctx, inputs, &observed.account, options).await?;
        checked.store(true, Ordering::Relaxed);
    }

    let bucket = artifacts::bucket_name(&observed.account, &ctx.clients.region);
    let artifact = match trigger {
        Trigger::Build(target, (key, _)) if signed => {
            let place = (bucket.as_str(), observed.account.as_str(), inputs.project());
            find_signed(ctx, paths, target, place, &key).await?
        }
        Trigger::Build(target, local) => {
            let place = (bucket.as_str(), observed.account.as_str(), inputs.project());
            find_or_build(ctx, paths, target, place, local).await?
        }
        Trigger::Prebuilt(artifact) => artifact.clone(),
    };
    let trigger_seconds = trigger_started.elapsed().as_secs_f64();
    let key = artifacts::artifact_key(&name, &artifact.sha256);
    let parameters = BTreeMap::from([
        ("ArtifactBucket".to_owned(), bucket.clone()),
        ("ArtifactKey".to_owned(), key.clone()),
    ]);
    let kept = inputs.lifecycle == Lifecycle::Kept;
    let desired = plan::desired(&name, template, parameters, stack_tags(inputs), kept);

    let account = observed.account.clone();
    // Decided from the stack as deployed (first look), never from the inputs alone.
    let deployed = observed.stack.as_ref();
    let lost = downgrades(deployed, inputs);
    let adopting = options.adopt && deployed.is_some_and(|s| !s.is_ours());
    let mut first = Some(observed);
    let uploaded = AtomicBool::new(false);
    let approve = |changes: &[Change]| {
        let extra = (lost.as_slice(), adopting);
        approve(
            &name,
            changes,
            extra,
            options.allow_replace,
            options.confirm,
        )
    };
    let apply = Apply {
        dry_run: options.dry_run,
        approve: &approve,
    };
    let (applied, observed, plan) =
        execute::retry_lost_races(ctx, &name, options.wait_timeout, |_| {
            let first = first.take();
            let account = account.clone();
            let (desired, table, artifact, uploaded, apply, checked) =
                (&desired, &table, &artifact, &uploaded, &apply, &checked);
            async move {
                let observed = match first {
                    Some(o) => o,
                    None => reobserve(ctx.clients, &account, &desired.stack, table).await?,
                };
                let (observed, plan) =
                    decide_settled(ctx, desired, table, observed, options).await?;
                if !matches!(plan.action, Action::NoOp | Action::Refuse(_))
                    && !checked.swap(true, Ordering::Relaxed)
                {
                    bootstrapped(ctx, inputs, &observed.account, options).await?;
                }
                let applied = act(
                    ctx,
                    &plan,
                    &observed.account,
                    (artifact, options.publish.then_some(inputs.project())),
                    uploaded,
                    apply,
                )
                .await?;
                Ok((applied, observed, plan))
            }
        })
        .await?;

    let mut report = UpReport {
        stack: name.clone(),
        action: UpAction::Unchanged,
        changes: Vec::new(),
        artifact: ArtifactReport {
            sha256: artifact.sha256.clone(),
            size: artifact.size,
            bucket,
            key,
            uploaded: uploaded.load(Ordering::Relaxed),
            from: artifact.origin,
            source_key: artifact.source_key.clone(),
            seconds: trigger_seconds,
        },
        checks: Vec::new(),
        outputs: BTreeMap::new(),
        adopted_table: None,
        seconds: 0.0,
    };
    (report.action, report.changes) = match applied {
        None | Some(Applied::NothingToChange) => (UpAction::Unchanged, Vec::new()),
        Some(Applied::Planned(changes)) => (UpAction::Planned, changes),
        Some(Applied::Created(changes)) => {
            report.adopted_table = plan.adopts_table.clone();
            (UpAction::Created, changes)
        }
        Some(Applied::Updated(changes)) => (UpAction::Updated, changes),
    };
    finish(ctx, inputs, &mut report, observed).await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The bucket and the boundary `deployer bootstrap` makes are there, or made here for the
/// local emulator, or `up` stops before anything is built or changed.
async fn bootstrapped(
    ctx: Ctx<'_>,
    inputs: &StackInputs,
    account: &str,
    options: &UpOptions,
) -> Result<(), Error> {
    let target = crate::commands::bootstrap::target(inputs, account, &ctx.clients.region);
    let missing = bootstrap::missing(ctx.clients, &target).await?;
    if missing.is_empty() {
        return Ok(());
    }
    if !options.bootstrap_itself {
        return Err(bootstrap::not_bootstrapped(&target, missing));
    }
    if options.dry_run {
        // A plan writes nothing; the local `up` that follows bootstraps.
        return Ok(());
    }
    ctx.progress
        .step("bootstrapping the local emulator (artifacts bucket, permissions boundary)");
    bootstrap::bootstrap(ctx.clients, &target, &bootstrap::Options::default()).await?;
    Ok(())
}

/// One attempt's action, once the plan is made: nothing, a refusal, or upload and apply.
async fn act(
    ctx: Ctx<'_>,
    plan: &Plan,
    observed_account: &str,
    (artifact, publish): (&Artifact, Option<&str>),
    uploaded: &AtomicBool,
    apply: &Apply<'_>,
) -> Result<Option<Applied>, Halt> {
    match &plan.action {
        Action::Refuse(r) => Err(Halt::Fail(refused(&plan.stack, r))),
        Action::NoOp => Ok(None),
        _ => {
            if let Some(table) = &plan.adopts_table {
                ctx.progress.note(&format!(
                    "the table {table} was left by an earlier stack {} (a kept stack's data): the create brings it back in",
                    plan.stack
                ));
            }
            if let (Some((bucket, key)), false) = (&plan.upload, apply.dry_run) {
                let done = upload(ctx, artifact, observed_account, bucket, key, publish).await?;
                uploaded.store(done, Ordering::Relaxed);
            }
            Ok(Some(execute::apply(ctx, plan, apply).await?))
        }
    }
}

/// ministack's CloudFormation creates a role without the `PermissionsBoundary` the template
/// gives it (fakecloud and AWS apply it): on an emulator only, the deployer puts it on the
/// role itself and says so, so the wiring check still reads the role as it is.
async fn bound_on_emulator(
    ctx: Ctx<'_>,
    inputs: &StackInputs,
    account: &str,
    outputs: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let role = inputs.function_name();
    if outputs.get("FunctionName") != Some(&role) {
        return Ok(());
    }
    let iam = &ctx.clients.iam;
    let found = iam
        .role_boundary(&role)
        .await
        .map_err(|e| ctx.clients.err("iam", "GetRole", e))?;
    if found.is_none() {
        let target = crate::commands::bootstrap::target(inputs, account, &ctx.clients.region);
        ctx.progress.note(&format!(
            "the emulator's CloudFormation left role {role} without its permissions boundary (a known gap; AWS applies it): setting it directly"
        ));
        iam.put_role_boundary(&role, &target.boundary_arn(target.kind))
            .await
            .map_err(|e| ctx.clients.err("iam", "PutRolePermissionsBoundary", e))?;
    }
    Ok(())
}

/// The outputs, and after a create or update the wiring checks; a failed check is exit 4.
async fn finish(
    ctx: Ctx<'_>,
    inputs: &StackInputs,
    report: &mut UpReport,
    observed: Observed,
) -> Result<(), Error> {
    // A local emulator (never AWS): make up for what its CloudFormation is known to skip
    // (ministack leaves a role's PermissionsBoundary unset), and say so.
    let emulator = ctx.clients.emulator;
    let name = report.stack.clone();
    let sha = report.artifact.sha256.clone();
    let expected = wiring::Expected {
        event_version: inputs.event_version.as_str(),
        code_sha256: Some(&sha),
        project: inputs.project(),
        kind: inputs.stack_kind(),
    };
    match report.action {
        UpAction::Planned => {
            report.outputs = observed.stack.map(|s| s.outputs).unwrap_or_default();
        }
        UpAction::Unchanged => {
            ctx.progress.step(
                "nothing changed since the last deploy; checking nothing was changed outside the stack",
            );
            report.outputs = observed.stack.map(|s| s.outputs).unwrap_or_default();
            // Another run may have just created it (and not yet made up for the emulator).
            if emulator {
                bound_on_emulator(ctx, inputs, &observed.account, &report.outputs).await?;
            }
            report.checks = wiring::verify(ctx.clients, &report.outputs, expected).await?;
            let drifted: Vec<String> = report
                .checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| format!("  - {}: {}", c.name, c.detail))
                .collect();
            if !drifted.is_empty() {
                ctx.activity.clear(&name);
                return Err(Error::Drifted {
                    stack: name,
                    failed: drifted,
                });
            }
        }
        UpAction::Created | UpAction::Updated => {
            ctx.progress
                .step("verifying the trigger wiring, code, permission and role");
            ctx.activity.set(&name, Doing::Verifying);
            let outputs = crate::aws::cfn::describe(ctx.clients, &name)
                .await?
                .map(|s| s.outputs)
                .unwrap_or_default();
            if emulator {
                bound_on_emulator(ctx, inputs, &observed.account, &outputs).await?;
            }
            report.checks = wiring::verify(ctx.clients, &outputs, expected).await?;
            report.outputs = outputs;
            // The new zip is what runs now; the one before stays for a rollback.
            let previous = observed
                .stack
                .as_ref()
                .and_then(|s| s.parameters.get("ArtifactKey"))
                .filter(|k| **k != report.artifact.key);
            artifacts::mark(
                ctx.clients,
                &report.artifact.bucket,
                &observed.account,
                &name,
                &report.artifact.key,
                previous.map(String::as_str),
            )
            .await?;
        }
    }
    ctx.activity.clear(&name);
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("  - {}: {}", c.name, c.detail))
        .collect();
    if !failed.is_empty() {
        return Err(Error::Verify {
            stack: name,
            failed,
        });
    }
    Ok(())
}

/// The trigger's source key and this machine's cached zip for it, if any. No AWS call.
fn look_locally(
    paths: &Paths,
    target: &BuildTarget,
) -> Result<(String, Option<Artifact>), BuildError> {
    let key = build::source_key(&build::workspace(), target, &paths.cache)?;
    let found = build::cached(paths, target, &key)?;
    Ok((key, found))
}

/// The zip for `key`: the local cache's (`found`), else the bucket's shared build, else built.
async fn find_or_build(
    ctx: Ctx<'_>,
    paths: &Paths,
    target: &BuildTarget,
    (bucket, account, project): (&str, &str, &str),
    (key, found): (String, Option<Artifact>),
) -> Result<Artifact, Error> {
    if let BuildTarget::Host { reason } = target {
        ctx.progress.note(&format!(
            "warning: building the trigger for this machine's architecture, not Graviton: {reason}"
        ));
    }
    let note = |artifact: &Artifact, how: &str| {
        ctx.progress.note(&format!(
            "trigger zip {} bytes, sha256 {} ({how})",
            artifact.size,
            &artifact.sha256[..12],
        ))
    };
    if let Some(found) = found {
        note(&found, "unchanged, not rebuilt");
        return Ok(found);
    }
    let shared = artifacts::build_key(project, &key);
    // Host builds are for this machine's emulator only: never shared.
    if *target == BuildTarget::Graviton {
        ctx.progress
            .step("looking for the trigger's build in the artifacts bucket");
        if let Some((bytes, _)) =
            artifacts::fetch_build(ctx.clients, bucket, account, (project, &key)).await?
        {
            let found = build::store(paths, target, &key, &bytes, Origin::SharedCache)?;
            note(
                &found,
                &format!("from s3://{bucket}/{shared}, not built here"),
            );
            return Ok(found);
        }
    }
    if let Err(missing) = build::toolchain(paths, target) {
        return Err(BuildError::NeedsToolchain {
            looked: format!(
                "none in {} nor at s3://{bucket}/{shared}",
                paths.cache.join("artifacts").display()
            ),
            key,
            missing: missing.to_string(),
            help: format!(
                "install the cross-build tools: scripts/setup.sh does it all, or by hand `rustup target add {}` and `pip install {}` (cargo-zigbuild and zig on PATH). Or let a machine that has them build and share it first: `deployer build --publish`; then every `up` for these sources takes it from the bucket",
                build::GRAVITON,
                build::pinned_tools()
            ),
        }
        .into());
    }
    ctx.progress.step("building the trigger");
    ctx.activity.set("", Doing::Building);
    let spinner = ctx.progress.spinner("cargo build (trigger)");
    let built = build::compile_zip(paths, target, &key).await?;
    drop(spinner);
    ctx.activity.clear("");
    note(&built, "built");
    Ok(built)
}

/// For a function with code signing: the publisher's signed build of these sources, from the
/// artifacts bucket (Lambda refuses anything else). Never built here: only the publisher's
/// signing profile can sign.
async fn find_signed(
    ctx: Ctx<'_>,
    paths: &Paths,
    target: &BuildTarget,
    (bucket, account, project): (&str, &str, &str),
    key: &str,
) -> Result<Artifact, Error> {
    ctx.progress
        .step("looking for the publisher's signed build in the artifacts bucket");
    match artifacts::fetch_signed_build(ctx.clients, bucket, account, (project, key)).await? {
        Some((bytes, _)) => {
            let found = build::store_signed(paths, target, key, &bytes)?;
            ctx.progress.note(&format!(
                "trigger zip {} bytes, sha256 {} (signed, from s3://{bucket}/{})",
                found.size,
                &found.sha256[..12],
                artifacts::signed_build_key(project, key)
            ));
            Ok(found)
        }
        None => Err(artifacts::ArtifactError::NoSignedBuild {
            bucket: bucket.into(),
            key: artifacts::signed_build_key(project, key),
        }
        .into()),
    }
}

/// Uploads the zip unless the key holds it; `true` when uploaded. With `publish` (the
/// project), a Graviton build compiled by this run is also shared under the project's
/// `_builds/` (written once).
async fn upload(
    ctx: Ctx<'_>,
    artifact: &Artifact,
    account: &str,
    bucket: &str,
    key: &str,
    publish: Option<&str>,
) -> Result<bool, Error> {
    ctx.progress
        .step(&format!("uploading the trigger to s3://{bucket}/{key}"));
    ctx.activity.set(
        "",
        Doing::Uploading {
            bucket: bucket.into(),
            key: key.into(),
        },
    );
    let bytes = zip_bytes(artifact).await?;
    let uploaded = artifacts::upload(
        ctx.clients,
        bucket,
        account,
        key,
        bytes.clone(),
        &artifact.sha256,
    )
    .await?;
    if let (Some(project), Some(source_key)) = (publish, artifact.shareable()) {
        let shared = (project, source_key);
        if artifacts::publish_build(
            ctx.clients,
            bucket,
            account,
            shared,
            bytes,
            &artifact.sha256,
        )
        .await?
        {
            ctx.progress.note(&format!(
                "shared the build at s3://{bucket}/{}",
                artifacts::build_key(project, source_key)
            ));
        }
    }
    ctx.activity.clear("");
    Ok(uploaded)
}

/// The zip's bytes, read from where the build (or the cache) left it.
pub async fn zip_bytes(artifact: &Artifact) -> Result<Vec<u8>, Error> {
    tokio::fs::read(&artifact.path)
        .await
        .map_err(|source| Error::Io {
            what: format!("reading {}", artifact.path.display()),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ephemeral::TAG_EPHEMERAL;
    use crate::stack::{FINGERPRINT_OUTPUT, LIFECYCLE_TAG, MANAGED_BY};

    fn deployed(tags: &[(&str, &str)]) -> Stack {
        let mut all: BTreeMap<String, String> = tags
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        all.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
        Stack {
            name: "app".into(),
            id: "arn:aws:cloudformation:us-east-1:1:stack/app/x".into(),
            status: StackStatus::UpdateComplete,
            reason: None,
            outputs: BTreeMap::from([(FINGERPRINT_OUTPUT.to_owned(), "f".to_owned())]),
            tags: all,
            parameters: BTreeMap::new(),
            created: None,
            updated: None,
        }
    }

    fn inputs(lifecycle: &str) -> StackInputs {
        StackInputs::parse(
            &format!(
                r#"{{"stackName": "app", "userPoolDomainName": "d", "lifecycle": "{lifecycle}"}}"#
            ),
            "t.json",
        )
        .unwrap()
    }

    #[test]
    fn a_downgrade_is_read_from_the_deployed_stack_against_the_inputs() {
        let kept = deployed(&[(LIFECYCLE_TAG, "kept")]);
        assert_eq!(downgrades(Some(&kept), &inputs("disposable")).len(), 1);
        assert!(downgrades(Some(&kept), &inputs("kept")).is_empty());
        let disposable = deployed(&[(LIFECYCLE_TAG, "disposable")]);
        assert!(downgrades(Some(&disposable), &inputs("disposable")).is_empty());
        assert!(downgrades(None, &inputs("disposable")).is_empty());
        // Ephemeral tags on a stack that was not ephemeral.
        let mut copy = inputs("disposable");
        copy.deployer_tags
            .insert(TAG_EPHEMERAL.into(), "true".into());
        assert!(downgrades(Some(&disposable), &copy)[0].contains("ephemeral tags"));
        let already = deployed(&[(TAG_EPHEMERAL, "true")]);
        assert!(downgrades(Some(&already), &copy).is_empty());
    }
}
