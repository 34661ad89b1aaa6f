//! `up` and `plan`: render, observe, build, decide, act, verify, report. Each step is a call
//! into its own module; the decisions are `stack::plan`'s.

mod api;
mod approve;
mod deploy;
mod finish;
pub mod trigger;

pub use approve::{destructive, downgrades, Confirm, PRECIOUS};
pub use deploy::MAX_ATTEMPTS;

use super::session::Session;
use crate::artifacts;
use crate::build::{Artifact, BuildTarget, Origin};
use crate::cli::{PlanArgs, UpArgs};
use crate::ctx::Ctx;
use crate::error::exit;
use crate::error::Error;
use crate::inputs::{Lifecycle, StackInputs};
use crate::local::Paths;
use crate::output;
use crate::pool;
use crate::render;
use crate::stack::plan::{self, Observed};
use crate::stack::{wait, ArtifactLocation, Change};
use crate::wiring::Check;
use deploy::{Applied, Deploy, Done};
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
    /// What the trigger is built for (when it is not in a cache).
    pub trigger: BuildTarget,
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
    /// On an existing pool, take a pre-token-generation slot another function holds.
    pub replace_trigger: bool,
    /// The API's checked configuration and policies, for the authorizer's zip (inputs with
    /// an `api`: `authz::check` made them before any AWS call).
    pub api_bundle: Option<crate::authz::Bundle>,
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
    /// For an ephemeral copy, when `gc` may delete it (the deployed stack's expiry tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The API's zips (authorizer, whoami) in the bucket, for a stack with an `api`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<String>,
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
        // The changes were listed on stderr as they were planned: here only their number.
        let changes = match self.changes.len() {
            0 => String::new(),
            1 => " (1 change, listed above)".into(),
            n => format!(" ({n} changes, listed above)"),
        };
        writeln!(
            f,
            "stack {} {} in {:.1}s{changes}",
            self.stack, self.action, self.seconds
        )?;
        if let Some(table) = &self.adopted_table {
            writeln!(f, "brought back the retained table {table} and its data")?;
        }
        if let Some(at) = &self.expires {
            writeln!(f, "{}", crate::ephemeral::expiry_line(at))?;
        }
        if !self.checks.is_empty() {
            writeln!(f, "\nchecks:")?;
            for c in &self.checks {
                match c.ok {
                    true => writeln!(f, "  ok    {}", c.name)?,
                    false => writeln!(f, "  FAIL  {}: {}", c.name, c.detail)?,
                }
            }
        }
        if !self.outputs.is_empty() {
            writeln!(f, "\noutputs:")?;
            output::map_rows(f, &self.outputs)?;
        }
        writeln!(f, "\nnext: {}", self.next())
    }
}

impl UpReport {
    /// The next useful command after this one.
    fn next(&self) -> &'static str {
        match self.action {
            UpAction::Planned => "`deployer up` makes these changes",
            UpAction::Created => "`deployer users add NAME --set ATTRIBUTE=VALUE` gives a user a row, then `deployer token NAME` shows the claims in their tokens",
            UpAction::Updated | UpAction::Unchanged => "`deployer verify` checks that tokens carry the mapped claims; `deployer status` looks for drift",
        }
    }
}

/// `deployer up`: exit 2 with --detailed-exitcode when nothing changed.
pub async fn run(s: &Session<'_>, args: &UpArgs) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    // The API's policies are checked with the inputs, before any AWS call.
    let api_bundle = crate::authz::check(&inputs, s.inputs_file())?;
    let clients = s.clients(&inputs).await?;
    let options = UpOptions {
        dry_run: args.dry_run,
        wait_timeout: args.wait_timeout,
        adopt: args.adopt,
        allow_replace: args.allow_replace,
        confirm: match s.person_at_terminal() {
            true => Confirm::Terminal,
            false => Confirm::Never,
        },
        publish: args.publish,
        replace_trigger: args.replace_trigger,
        api_bundle,
        ..UpOptions::for_target(s.local())
    };
    let report = up(s.ctx(&clients), &s.settings.paths, &inputs, &options).await?;
    if !args.dry_run {
        s.publish_outputs(&report.outputs, args.outputs_file.as_deref())?;
    }
    s.print(&report);
    Ok(match (report.action, args.detailed_exitcode) {
        (UpAction::Unchanged, true) => exit::NO_CHANGE,
        _ => exit::SUCCESS,
    })
}

/// `deployer plan`: `up` with nothing executed.
pub async fn run_plan(s: &Session<'_>, args: &PlanArgs) -> Result<u8, Error> {
    if args.claims {
        return super::preview::run_plan(s, args).await;
    }
    let inputs = s.inputs()?;
    // The API's policies are checked with the inputs, before any AWS call.
    let api_bundle = crate::authz::check(&inputs, s.inputs_file())?;
    let clients = s.clients(&inputs).await?;
    let options = UpOptions {
        dry_run: true,
        wait_timeout: args.wait_timeout,
        adopt: args.adopt,
        replace_trigger: args.replace_trigger,
        api_bundle,
        ..UpOptions::for_target(s.local())
    };
    s.print(&up(s.ctx(&clients), &s.settings.paths, &inputs, &options).await?);
    Ok(exit::SUCCESS)
}

impl UpOptions {
    /// The defaults for AWS, or for the local emulator (a host build when this machine cannot
    /// run Graviton binaries; the bucket and boundary made when missing).
    pub fn for_target(local: bool) -> Self {
        Self {
            dry_run: false,
            wait_timeout: Duration::from_secs(30 * 60),
            trigger: BuildTarget::choose(local),
            adopt: false,
            allow_replace: false,
            confirm: Confirm::Never,
            publish: false,
            bootstrap_itself: local,
            replace_trigger: false,
            api_bundle: None,
        }
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
    let (template, local, observed) = first_look(ctx, paths, inputs, options).await?;
    // An existing pool is read (and refused if it would break) before anything is built.
    let deployed = observed.stack.as_ref().map(|s| &s.parameters);
    let account = observed.account.as_str();
    let replace = options.replace_trigger;
    let existing = pool::inspect(ctx, inputs, account, deployed, replace).await?;
    // The bucket and the boundary are checked before anything is built or fetched, and
    // otherwise before anything is changed; a no-op `up` needs neither.
    let signed = inputs.trigger.code_signing_config_arn.is_some();
    // The API's zips are found and uploaded on every `up` (their bundle is the inputs'), so a
    // stack with an API needs the bucket even when the trigger is cached.
    let checked = signed || local.1.is_none() || inputs.api.is_some();
    if checked {
        deploy::bootstrapped(ctx, inputs, &observed.account, options).await?;
    }
    let trigger_started = Instant::now();
    let bucket = artifacts::bucket_name(&observed.account, &ctx.clients.region);
    let place = (bucket.as_str(), observed.account.as_str(), inputs.project());
    let artifact = trigger::find(ctx, paths, &options.trigger, place, (local, signed)).await?;
    let api = match (&inputs.api, &options.api_bundle) {
        (None, _) => None,
        (Some(_), Some(bundle)) => {
            let stack = &inputs.stack_name;
            Some(api::find(ctx, paths, &options.trigger, place, stack, bundle).await?)
        }
        (Some(_), None) => {
            return Err(Error::Usage {
                message: "the inputs have an api, but its policies were not checked".into(),
                help: "call crate::authz::check first (a bug: `up` and `plan` do)".into(),
            })
        }
    };
    let trigger_seconds = trigger_started.elapsed().as_secs_f64();
    let location = ArtifactLocation {
        key: artifacts::artifact_key(&inputs.stack_name, &artifact.sha256),
        bucket,
    };
    let kept = inputs.lifecycle == Lifecycle::Kept;
    let tags = inputs.stack_tags();
    let pool_parameters = existing.iter().flat_map(|p| {
        [
            (pool::EXISTING_POOL.to_owned(), p.pool_id.clone()),
            (pool::PREVIOUS_TRIGGER.to_owned(), p.previous.to_json()),
        ]
    });
    let api_parameters = api.iter().flat_map(|a| a.parameters());
    let desired = plan::desired(
        &inputs.stack_name,
        template,
        &location,
        tags,
        kept,
        pool_parameters.chain(api_parameters).collect(),
    );
    if let (Some(zips), false) = (&api, options.dry_run) {
        let publish = options.publish.then(|| inputs.project());
        api::upload(ctx, zips, &observed.account, publish).await?;
    }
    let mut run = Deploy::new(inputs, options, (&desired, &artifact), &observed);
    run.checked = checked;
    let done = deploy::deploy(ctx, run, observed).await?;
    let mut report = UpReport::new(&done, &artifact, location, trigger_seconds);
    report.api_keys = api.as_ref().map(api::ApiZips::keys).unwrap_or_default();
    // An unchanged copy keeps the expiry it was deployed with; a deploy sets the new one.
    report.expires = match (report.action, done.observed.stack.as_ref()) {
        (UpAction::Unchanged, Some(deployed)) => crate::ephemeral::expiry(&deployed.tags),
        _ => crate::ephemeral::expiry(&inputs.deployer_tags),
    };
    finish::finish(ctx, inputs, &mut report, done.observed, existing.as_ref()).await?;
    if options.dry_run {
        // A plan shows what is planned: the deployed stack's outputs are not.
        report.outputs.clear();
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The template, this machine's look for the trigger, and the stack once settled, the first
/// two worked out on other threads while AWS answers; what `up` refuses whatever the inputs
/// say is refused here, before anything is built.
async fn first_look(
    ctx: Ctx<'_>,
    paths: &Paths,
    inputs: &StackInputs,
    options: &UpOptions,
) -> Result<(String, trigger::Local, Observed), Error> {
    ctx.progress.step("rendering the template");
    let looking = tokio::task::spawn_blocking({
        let (paths, target) = (paths.clone(), options.trigger.clone());
        move || trigger::look_locally(&paths, &target)
    });
    let rendering = tokio::task::spawn_blocking({
        let inputs = inputs.clone();
        move || render::render(&inputs)
    });
    let name = inputs.stack_name.as_str();
    let choices = plan::Options {
        adopt: options.adopt,
    };
    let table = inputs.table_name();
    let place = (name, table.as_str());
    let observed = wait::observe_settled(ctx, place, None, choices, options.wait_timeout).await;
    // A template or source problem is reported before anything AWS said.
    let template = rendering.await.expect("rendering the template panicked")?;
    let local = looking
        .await
        .expect("reading the trigger's sources panicked")?;
    let observed = observed?;
    if let Some(refusal) = plan::refusal(name, &observed, choices) {
        return Err(refusal.to_error(name));
    }
    Ok((template, local, observed))
}

impl UpReport {
    fn new(done: &Done, artifact: &Artifact, at: ArtifactLocation, seconds: f64) -> Self {
        let (action, changes) = match &done.applied {
            Applied::Nothing => (UpAction::Unchanged, Vec::new()),
            Applied::Planned(changes) => (UpAction::Planned, changes.clone()),
            Applied::Created(changes) => (UpAction::Created, changes.clone()),
            Applied::Updated(changes) => (UpAction::Updated, changes.clone()),
        };
        UpReport {
            stack: done.plan.stack.clone(),
            action,
            changes,
            artifact: ArtifactReport {
                sha256: artifact.sha256.clone(),
                size: artifact.size,
                bucket: at.bucket,
                key: at.key,
                uploaded: done.uploaded,
                from: artifact.origin,
                source_key: Some(artifact.source_key.clone()),
                seconds,
            },
            checks: Vec::new(),
            outputs: BTreeMap::new(),
            adopted_table: (action == UpAction::Created)
                .then(|| done.plan.adopts_table.clone())
                .flatten(),
            expires: None,
            api_keys: Vec::new(),
            seconds: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{Change, ChangeAction};

    fn report(action: UpAction, checks: Vec<Check>) -> UpReport {
        UpReport {
            stack: "app".into(),
            action,
            changes: vec![Change {
                action: ChangeAction::Add,
                logical_id: "UserPool".into(),
                resource_type: "AWS::Cognito::UserPool".into(),
                replacement: None,
            }],
            artifact: ArtifactReport {
                sha256: "ab".into(),
                size: 1,
                bucket: "b".into(),
                key: "k".into(),
                uploaded: true,
                from: Origin::Built,
                source_key: None,
                seconds: 0.0,
            },
            checks,
            outputs: BTreeMap::new(),
            adopted_table: None,
            expires: None,
            api_keys: Vec::new(),
            seconds: 1.0,
        }
    }

    #[test]
    fn the_table_counts_the_changes_shown_above_keeps_passing_checks_short_and_says_what_next() {
        let checks = vec![
            Check {
                name: "trigger wired",
                ok: true,
                detail: "arn:aws:lambda:us-east-1:1:function:f:live with V2_0".into(),
            },
            Check {
                name: "role is bounded",
                ok: false,
                detail: "no permissions boundary".into(),
            },
        ];
        let text = report(UpAction::Created, checks).to_string();
        assert!(
            text.starts_with("stack app created in 1.0s (1 change, listed above)"),
            "{text}"
        );
        assert!(
            !text.contains("UserPool"),
            "the change list is stderr's: {text}"
        );
        assert!(text.contains("  ok    trigger wired\n"), "{text}");
        assert!(!text.contains("arn:aws:lambda"), "{text}");
        assert!(
            text.contains("  FAIL  role is bounded: no permissions boundary"),
            "{text}"
        );
        assert!(text.contains("next: `deployer users add NAME"), "{text}");
        let planned = report(UpAction::Planned, Vec::new()).to_string();
        assert!(
            planned.contains("next: `deployer up` makes these changes"),
            "{planned}"
        );
    }
}
