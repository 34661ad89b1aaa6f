//! `up`'s decide-and-act loop: decide from the observed world (pure), then act on that plan
//! through the one change-set path. Losing a race to another run means observing again
//! (`wait::observe_settled`, the one place that waits) and deciding again.

use super::approve::{self, downgrades};
use super::trigger;
use super::UpOptions;
use crate::bootstrap;
use crate::build::Artifact;
use crate::ctx::Ctx;
use crate::error::Error;
use crate::inputs::StackInputs;
use crate::stack::changeset::{self, Halt};
use crate::stack::plan::{self, Action, Observed, Plan};
use crate::stack::{change_set_name, delete, wait, Change, ChangeKind, ChangeSetRequest, Desired};

/// How often `up` decides again after losing a race with another operation on the stack.
pub const MAX_ATTEMPTS: u32 = 5;

/// What the plan came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Nothing to do (the fingerprint matched), or CloudFormation found nothing to change.
    Nothing,
    /// The change set was shown and removed (`plan`).
    Planned(Vec<Change>),
    Created(Vec<Change>),
    Updated(Vec<Change>),
}

/// The loop's end: the last observation and plan, what they came to, and whether the zip
/// was uploaded.
pub struct Done {
    pub observed: Observed,
    pub plan: Plan,
    pub applied: Applied,
    pub uploaded: bool,
}

/// One `up`'s fixed facts, and what it has done so far.
pub struct Deploy<'a> {
    pub inputs: &'a StackInputs,
    pub options: &'a UpOptions,
    pub desired: &'a Desired,
    pub artifact: &'a Artifact,
    /// The bucket and boundary are known to be there.
    pub checked: bool,
    pub uploaded: bool,
    /// Decided once, from the stack as the first look found it (never the inputs alone).
    downgrades: Vec<String>,
    adopting: bool,
}

impl<'a> Deploy<'a> {
    pub fn new(
        inputs: &'a StackInputs,
        options: &'a UpOptions,
        (desired, artifact): (&'a Desired, &'a Artifact),
        first: &Observed,
    ) -> Self {
        let mut run = Self {
            inputs,
            options,
            desired,
            artifact,
            checked: false,
            uploaded: false,
            downgrades: Vec::new(),
            adopting: false,
        };
        run.observe(first);
        run
    }

    /// What an observation adds to what needs a yes: the first look's, and after a lost race
    /// a stack that became kept, or became another's, meanwhile.
    fn observe(&mut self, observed: &Observed) {
        let deployed = observed.stack.as_ref();
        for found in downgrades(deployed, self.inputs) {
            if !self.downgrades.contains(&found) {
                self.downgrades.push(found);
            }
        }
        self.adopting |= self.options.adopt && deployed.is_some_and(|s| !s.is_ours());
    }

    fn choices(&self) -> plan::Options {
        plan::Options {
            adopt: self.options.adopt,
        }
    }
}

/// Decides and acts until the plan is carried out, at most [`MAX_ATTEMPTS`] times.
pub async fn deploy(
    ctx: Ctx<'_>,
    mut run: Deploy<'_>,
    mut observed: Observed,
) -> Result<Done, Error> {
    let name = run.desired.stack.clone();
    let table = run.inputs.table_name();
    let mut last = String::new();
    for _ in 1..=MAX_ATTEMPTS {
        let plan = plan::decide(
            &observed,
            run.desired,
            run.choices(),
            &change_set_name("up"),
        );
        match attempt(ctx, &plan, &mut run, &observed.account).await {
            Ok(applied) => {
                return Ok(Done {
                    observed,
                    plan,
                    applied,
                    uploaded: run.uploaded,
                })
            }
            Err(Halt::LostRace(why)) => {
                ctx.progress.note(&format!(
                    "another operation got to stack {name} first ({why}): waiting for it, then deciding again"
                ));
                let place = (name.as_str(), table.as_str());
                let account = Some(observed.account.as_str());
                let timeout = run.options.wait_timeout;
                observed =
                    wait::observe_settled(ctx, place, account, run.choices(), timeout).await?;
                run.observe(&observed);
                last = why;
            }
            Err(Halt::Rejected(reason)) => return Err(rejected(&plan, reason)),
            Err(Halt::Fail(err)) => return Err(err),
        }
    }
    Err(Error::Raced {
        stack: name,
        attempts: MAX_ATTEMPTS,
        last,
    })
}

/// One attempt at the plan.
async fn attempt(
    ctx: Ctx<'_>,
    plan: &Plan,
    run: &mut Deploy<'_>,
    account: &str,
) -> Result<Applied, Halt> {
    let request = match (&plan.action, &plan.change_set) {
        (Action::Refuse(r), _) => return Err(Halt::Fail(r.to_error(&plan.stack))),
        (Action::NoOp, _) => return Ok(Applied::Nothing),
        (Action::Wait { status }, _) => {
            return Err(Halt::LostRace(format!("it is {}", status.as_str())))
        }
        (_, Some(request)) => request,
        (_, None) => unreachable!("plans that change the stack carry a change set"),
    };
    let dry_run = run.options.dry_run;
    if !run.checked {
        bootstrapped(ctx, run.inputs, account, run.options).await?;
        run.checked = true;
    }
    if let Some(table) = &plan.adopts_table {
        ctx.progress.note(&format!(
            "the table {table} was left by an earlier stack {} (a kept stack's data): the create brings it back in",
            plan.stack
        ));
    }
    if let (Some(location), false) = (&plan.upload, dry_run) {
        let publish = run.options.publish.then_some(run.inputs.project());
        run.uploaded = trigger::upload(ctx, run.artifact, account, location, publish).await?;
    }
    if let (Action::Recreate { reason, stack_id }, false) = (&plan.action, dry_run) {
        let why = reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        ctx.progress.step(&format!(
            "stack {} is ROLLBACK_COMPLETE from a failed create{why}: deleting it to create it again",
            plan.stack
        ));
        // Only the failed stack seen: another run may have made a new one of this name since.
        if !delete::delete_seen(ctx, &plan.stack, stack_id).await? {
            return Err(Halt::LostRace(
                "another run replaced the failed stack before it was deleted".into(),
            ));
        }
    }
    apply(ctx, plan, request, run).await
}

/// The change set made and shown; removed for `plan` or without approval; else run, and a
/// kept stack's protection switched on after its create.
async fn apply(
    ctx: Ctx<'_>,
    plan: &Plan,
    request: &ChangeSetRequest,
    run: &Deploy<'_>,
) -> Result<Applied, Halt> {
    ctx.progress.step("creating a change set");
    let Some(prepared) = changeset::prepare(ctx, request).await? else {
        ctx.progress.step("CloudFormation found nothing to change");
        return Ok(Applied::Nothing);
    };
    ctx.progress.step(&format!(
        "planned changes ({}):\n{}",
        prepared.changes.len(),
        crate::output::changes_text(&prepared.changes).trim_end()
    ));
    if let Some(note) = approve::backend_permissions(&prepared.changes, run.inputs) {
        ctx.progress.note(&note);
    }
    if run.options.dry_run {
        changeset::discard(ctx, &prepared).await;
        return Ok(Applied::Planned(prepared.changes));
    }
    let doomed = approve::doomed(&prepared.changes, &run.downgrades, run.adopting);
    let options = run.options;
    let asking = (plan.stack.as_str(), ctx.activity);
    if let Err(err) = approve::approve(asking, doomed, options.allow_replace, options.confirm).await
    {
        changeset::discard(ctx, &prepared).await;
        return Err(Halt::Fail(err));
    }
    ctx.progress.step(match prepared.kind {
        ChangeKind::Create => "creating the stack",
        ChangeKind::Update => "updating the stack",
    });
    let finished = changeset::run(ctx, &prepared).await?;
    if let Some(err) = left_behind(&plan.stack, &finished.events) {
        return Err(Halt::Fail(err));
    }
    if let Some(protect) = &plan.protect {
        protect_created(ctx, &plan.stack, protect).await?;
    }
    Ok(match prepared.kind {
        ChangeKind::Create => Applied::Created(prepared.changes),
        ChangeKind::Update => Applied::Updated(prepared.changes),
    })
}

/// Resources an update removed from the stack but could not delete: CloudFormation still ends
/// the update UPDATE_COMPLETE and leaves them, no longer its own (a Lambda backend's
/// permission a CI role may not remove, for one). Said, never passed over as a success.
pub fn left_behind(stack: &str, events: &[crate::stack::Event]) -> Option<Error> {
    let failed: Vec<String> = events
        .iter()
        .filter(|e| !e.is_stack() && e.status == crate::stack::ResourceStatus::DeleteFailed)
        .map(|e| {
            format!(
                "{} ({}): {}",
                e.logical_id,
                e.resource_type,
                e.reason.as_deref().unwrap_or("no reason given")
            )
        })
        .collect();
    (!failed.is_empty()).then(|| Error::DeployFailed {
        operation: "the clean-up",
        stack: stack.into(),
        cause: format!("CloudFormation could not delete what the update removed, and left it behind: {}", failed.join("; ")),
        state: "UPDATE_COMPLETE".into(),
        help: "the stack is updated, but these resources are no longer its own: remove each with the permission its reason names (a Lambda backend's invoke permission: `aws lambda remove-permission` with an admin's credentials; docs/security.md, \"The backends stay closed to the CI roles\")".into(),
    })
}

/// Switches a kept stack's deletion protection on, now that the stack exists.
async fn protect_created(ctx: Ctx<'_>, name: &str, req: &ChangeSetRequest) -> Result<(), Halt> {
    ctx.progress
        .step("switching on deletion protection (a kept stack, now created)");
    let unfinished = |cause: String, state: &str| {
        Halt::Fail(Error::DeployFailed {
            operation: "protecting",
            stack: name.into(),
            cause,
            state: state.into(),
            help: "the stack was created but its deletion protection is not on yet; run `deployer up` again to switch it on".into(),
        })
    };
    let prepared = match changeset::prepare(ctx, req).await {
        Ok(Some(prepared)) => prepared,
        Ok(None) => return Ok(()),
        Err(Halt::LostRace(why) | Halt::Rejected(why)) => {
            return Err(unfinished(why, "CREATE_COMPLETE"))
        }
        Err(err) => return Err(err),
    };
    match changeset::run(ctx, &prepared).await {
        Err(Halt::LostRace(why)) => Err(unfinished(why, "unknown")),
        done => done.map(drop),
    }
}

/// The error for a change set CloudFormation would not make.
fn rejected(plan: &Plan, reason: String) -> Error {
    let creating = plan
        .change_set
        .as_ref()
        .is_some_and(|c| c.kind == ChangeKind::Create);
    Error::DeployFailed {
        operation: "the change set",
        stack: plan.stack.clone(),
        cause: reason,
        state: if creating { "not created" } else { "unchanged" }.into(),
        help:
            "CloudFormation rejected the template or parameters; fix the cause and run `up` again"
                .into(),
    }
}

/// The bucket and the boundary `deployer bootstrap` makes are there, or made here for the
/// local emulator, or `up` stops before anything is built or changed.
pub async fn bootstrapped(
    ctx: Ctx<'_>,
    inputs: &StackInputs,
    account: &str,
    options: &UpOptions,
) -> Result<(), Error> {
    let target = crate::commands::bootstrap::target(inputs, account, &ctx.clients.region);
    // A stack with an API needs the boundary known current: a refused read is the error.
    let found = bootstrap::missing(ctx.clients, &target, inputs.api.is_some()).await?;
    let mut missing = found.missing;
    if let Some(arn) = found.stale_boundary {
        if inputs.api.is_some() || options.bootstrap_itself {
            // The API's functions log their decisions only through the current boundary.
            missing.push(format!(
                "the current version of the permissions boundary {arn} (the one there predates this deployer's: the API's functions could write no log)"
            ));
        } else {
            ctx.progress.note(&format!(
                "the permissions boundary {arn} differs from what this deployer writes: an admin re-runs `deployer bootstrap` (--dry-run shows the change)"
            ));
        }
    }
    if let Some(arn) = found.unread_boundary {
        ctx.progress.note(&format!(
            "this role may not read the version of the permissions boundary {arn} (iam:GetPolicyVersion): an admin re-applies the role's policy from `deployer policy`, so `up` can check the boundary is current"
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{Event, ResourceStatus};

    fn event(logical: &str, kind: &str, status: ResourceStatus, reason: Option<&str>) -> Event {
        Event {
            id: logical.into(),
            logical_id: logical.into(),
            resource_type: kind.into(),
            status,
            reason: reason.map(str::to_owned),
            timestamp: 0.0,
        }
    }

    #[test]
    fn a_resource_the_clean_up_could_not_delete_is_an_error_naming_it() {
        // CloudFormation user guide, "Update stack" (UPDATE_COMPLETE_CLEANUP_IN_PROGRESS): a
        // resource that fails to delete there is left, and the update still completes.
        let denied = "User: arn:aws:sts::111122223333:assumed-role/ci-deployer/1 is not authorized to perform: lambda:RemovePermission on resource: arn:aws:lambda:us-east-1:111122223333:function:orders";
        let events = [
            event(
                "Route1",
                "AWS::ApiGatewayV2::Route",
                ResourceStatus::DeleteComplete,
                None,
            ),
            event(
                "Permission0a1b2c3d4e5f",
                "AWS::Lambda::Permission",
                ResourceStatus::DeleteFailed,
                Some(denied),
            ),
            event(
                "app",
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateComplete,
                None,
            ),
        ];
        let err = left_behind("app", &events).expect("an error");
        let text = err.to_string();
        assert!(
            text.starts_with("the clean-up of stack app failed")
                && text.contains("Permission0a1b2c3d4e5f (AWS::Lambda::Permission)")
                && text.contains("lambda:RemovePermission"),
            "{text}"
        );
        assert_eq!(err.exit_code(), crate::error::exit::DEPLOY_FAILED);
        assert!(left_behind("app", &events[..1]).is_none());
    }
}
