//! `up` and `plan`: render, observe, build, decide, act, verify, report. Each step is a call
//! into its own module; the decisions are `stack::plan`'s.

use crate::artifacts;
use crate::build::{self, Artifact, BuildTarget};
use crate::cancel::Doing;
use crate::error::Error;
use crate::inputs::StackInputs;
use crate::local::Paths;
use crate::output;
use crate::render;
use crate::stack::execute::{self, Applied, Apply, Ctx, Halt};
use crate::stack::observe::{observe, observe_stack};
use crate::stack::plan::{self, Action, Observed, Plan};
use crate::stack::{Change, Desired, MANAGED_BY};
use crate::wiring::{self, Check};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
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
    let mut tags = inputs.tags.clone();
    tags.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    tags
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
    mut observed: Observed,
    wait_timeout: Duration,
) -> Result<(Observed, Plan), Error> {
    loop {
        let plan = plan::decide(&observed, desired, &change_set_name());
        if let Action::Wait { .. } = plan.action {
            execute::settle(ctx, &desired.stack, wait_timeout).await?;
            let (stack, cause) = observe_stack(ctx.clients, &desired.stack).await?;
            observed = Observed {
                stack,
                cause,
                ..observed
            };
            continue;
        }
        return Ok((observed, plan));
    }
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
    let progress = ctx.progress;

    progress.step("rendering the template");
    let template = render::render(inputs)?;

    ctx.activity.set(&name, Doing::Reading);
    let observed = observe(ctx.clients, &name).await?;
    // Wait for a running operation before spending minutes on a build.
    let observed = match &observed.stack {
        Some(s) if s.in_progress() => {
            execute::settle(ctx, &name, options.wait_timeout).await?;
            let (stack, cause) = observe_stack(ctx.clients, &name).await?;
            Observed {
                stack,
                cause,
                ..observed
            }
        }
        _ => observed,
    };

    let artifact = match &options.trigger {
        TriggerSource::Build(target) => build_trigger(ctx, paths, target).await?,
        TriggerSource::Prebuilt(artifact) => artifact.clone(),
    };
    let bucket = artifacts::bucket_name(&observed.account, &ctx.clients.region);
    let key = artifacts::artifact_key(&name, &artifact.sha256);
    let parameters = BTreeMap::from([
        ("ArtifactBucket".to_owned(), bucket.clone()),
        ("ArtifactKey".to_owned(), key.clone()),
    ]);
    let desired = plan::desired(&name, template, parameters, stack_tags(inputs));
    let mut report = UpReport {
        stack: name.clone(),
        action: UpAction::Unchanged,
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

    let account = observed.account.clone();
    let mut first = Some(observed);
    let uploaded = std::sync::atomic::AtomicBool::new(false);
    let approve = |_: &[Change]| Ok(());
    let apply = Apply {
        dry_run: options.dry_run,
        approve: &approve,
    };
    let applied = execute::retry_lost_races(ctx, &name, options.wait_timeout, |_| {
        let first = first.take();
        let (desired, apply, artifact, uploaded) = (&desired, &apply, &artifact, &uploaded);
        let account = account.clone();
        async move {
            let observed = match first {
                Some(o) => o,
                None => {
                    let (stack, cause) = observe_stack(ctx.clients, &desired.stack).await?;
                    Observed {
                        account,
                        stack,
                        cause,
                    }
                }
            };
            let (observed, plan) =
                decide_settled(ctx, desired, observed, options.wait_timeout).await?;
            match &plan.action {
                Action::Refuse(r) => Err(Halt::Fail(Error::Stuck {
                    stack: plan.stack.clone(),
                    status: r.status.clone(),
                    why: match &r.cause {
                        Some(cause) => format!("{}; root cause: {cause}", r.why),
                        None => r.why.clone(),
                    },
                    help: r.help.clone(),
                })),
                Action::NoOp => Ok((None, observed)),
                _ => {
                    if let (Some((bucket, key)), false) = (&plan.upload, apply.dry_run) {
                        let done = upload(ctx, artifact, bucket, key).await?;
                        uploaded.store(done, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok((Some(execute::apply(ctx, &plan, apply).await?), observed))
                }
            }
        }
    })
    .await?;

    let (applied, observed) = applied;
    report.artifact.uploaded = uploaded.load(std::sync::atomic::Ordering::Relaxed);
    report.action = match &applied {
        None | Some(Applied::NothingToChange) => UpAction::Unchanged,
        Some(Applied::Planned(changes)) => {
            report.changes = changes.clone();
            UpAction::Planned
        }
        Some(Applied::Created(changes)) => {
            report.changes = changes.clone();
            UpAction::Created
        }
        Some(Applied::Updated(changes)) => {
            report.changes = changes.clone();
            UpAction::Updated
        }
    };
    match report.action {
        UpAction::Unchanged | UpAction::Planned => {
            if report.action == UpAction::Unchanged {
                progress.step("nothing changed since the last deploy");
            }
            report.outputs = observed.stack.map(|s| s.outputs).unwrap_or_default();
        }
        UpAction::Created | UpAction::Updated => {
            progress.step("verifying the trigger wiring, code, permission and role");
            ctx.activity.set(&name, Doing::Verifying);
            let outputs = crate::aws::cfn::describe(ctx.clients, &name)
                .await?
                .map(|s| s.outputs)
                .unwrap_or_default();
            report.checks =
                wiring::verify(ctx.clients, &outputs, inputs.event_version.as_str()).await?;
            ctx.activity.clear(&name);
            report.outputs = outputs;
        }
    }
    ctx.activity.clear(&name);
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
    Ok(report)
}

/// Builds the trigger (or finds the cached zip), with a spinner and the Ctrl-C record.
async fn build_trigger(
    ctx: Ctx<'_>,
    paths: &Paths,
    target: &BuildTarget,
) -> Result<Artifact, Error> {
    if let BuildTarget::Host { reason } = target {
        ctx.progress.note(&format!(
            "warning: building the trigger for this machine's architecture, not Graviton: {reason}"
        ));
    }
    ctx.progress.step("building the trigger");
    ctx.activity.set("", Doing::Building);
    let spinner = ctx.progress.spinner("cargo build (trigger)");
    let artifact = build::build(paths, target).await?;
    drop(spinner);
    ctx.activity.clear("");
    ctx.progress.note(&format!(
        "trigger zip {} bytes, sha256 {}{}",
        artifact.size,
        &artifact.sha256[..12],
        if artifact.rebuilt {
            ""
        } else {
            " (unchanged, not rebuilt)"
        }
    ));
    Ok(artifact)
}

/// Makes the bucket if needed and uploads the zip unless the key holds it; `true` when uploaded.
async fn upload(ctx: Ctx<'_>, artifact: &Artifact, bucket: &str, key: &str) -> Result<bool, Error> {
    ctx.progress
        .step(&format!("uploading the trigger to s3://{bucket}/{key}"));
    ctx.activity.set(
        "",
        Doing::Uploading {
            bucket: bucket.into(),
            key: key.into(),
        },
    );
    if artifacts::ensure_bucket(ctx.clients, bucket).await? {
        ctx.progress.note(&format!(
            "created the artifacts bucket {bucket} (encrypted, private, TLS only, objects expire after {} days)",
            artifacts::EXPIRE_DAYS
        ));
    }
    let bytes = tokio::fs::read(&artifact.path)
        .await
        .map_err(|source| Error::Io {
            what: format!("reading {}", artifact.path.display()),
            source,
        })?;
    let uploaded = artifacts::upload(ctx.clients, bucket, key, bytes).await?;
    ctx.activity.clear("");
    Ok(uploaded)
}
