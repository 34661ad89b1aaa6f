//! `up`'s last step: the outputs, and the checks that the trigger runs what was deployed
//! (after a create or update) or that nothing was changed outside the stack (a no-op).

use super::{UpAction, UpReport};
use crate::artifacts;
use crate::cancel::Doing;
use crate::ctx::Ctx;
use crate::error::Error;
use crate::inputs::StackInputs;
use crate::pool;
use crate::stack::output::{FUNCTION_NAME, TRIGGER_ARN};
use crate::stack::plan::Observed;
use crate::stack::{ARTIFACT_KEY, AUTHORIZER_KEY, WHOAMI_KEY};
use crate::wiring::{self, Check};
use std::collections::BTreeMap;

/// The outputs, and after a create or update the wiring checks; a failed check is exit 4, a
/// no-op whose checks fail is drift (exit 4 too).
pub async fn finish(
    ctx: Ctx<'_>,
    inputs: &StackInputs,
    report: &mut UpReport,
    observed: Observed,
    existing: Option<&pool::Inspected>,
) -> Result<(), Error> {
    let name = report.stack.clone();
    let deployed = observed.stack.as_ref();
    match report.action {
        // A plan shows what is planned, not the outputs of what is deployed now.
        UpAction::Planned => {
            if let Some(p) = existing.filter(|p| !p.current.calls(&inputs.function_name())) {
                ctx.progress.note(&format!(
                    "then the pre-token-generation slot of user pool {} would call this stack's trigger (it now has {})",
                    p.pool_id,
                    p.current.describe()
                ));
            }
        }
        UpAction::Unchanged => {
            ctx.progress.step(
                "nothing changed since the last deploy; checking nothing was changed outside the stack",
            );
            report.outputs = deployed.map(|s| s.outputs.clone()).unwrap_or_default();
            wire(ctx, inputs, report, &observed.account, existing).await?;
            report.checks = checks(ctx, inputs, report, &observed.account).await?;
            if let Some(failed) = failures(&report.checks) {
                ctx.activity.clear(&name);
                return Err(Error::Drifted {
                    stack: name,
                    failed,
                });
            }
        }
        UpAction::Created | UpAction::Updated => {
            ctx.progress
                .step("verifying the trigger wiring, code, permission and role");
            ctx.activity.set(&name, Doing::Verifying);
            report.outputs = crate::aws::cfn::describe(ctx.clients, &name)
                .await?
                .map(|s| s.outputs)
                .unwrap_or_default();
            wire(ctx, inputs, report, &observed.account, existing).await?;
            report.checks = checks(ctx, inputs, report, &observed.account).await?;
            // The new zips are what runs now; the ones before stay for a rollback.
            let mut current = vec![report.artifact.key.as_str()];
            current.extend(report.api_keys.iter().map(String::as_str));
            let previous: Vec<&str> = deployed
                .iter()
                .flat_map(|s| {
                    [ARTIFACT_KEY, AUTHORIZER_KEY, WHOAMI_KEY]
                        .iter()
                        .filter_map(|p| s.parameters.get(*p).map(String::as_str))
                })
                .filter(|k| !current.contains(k))
                .collect();
            let bucket = &report.artifact.bucket;
            let account = &observed.account;
            artifacts::mark(ctx.clients, bucket, account, &name, &current, &previous).await?;
        }
    }
    ctx.activity.clear(&name);
    let emulator = ctx
        .clients
        .endpoint
        .as_deref()
        .filter(|_| ctx.clients.emulator);
    report.outputs = crate::stack::localized(std::mem::take(&mut report.outputs), emulator);
    match failures(&report.checks) {
        Some(failed) => Err(Error::Verify {
            stack: name,
            failed,
        }),
        None => Ok(()),
    }
}

/// On an existing pool: its pre-token-generation slot set to the stack's trigger (the alias
/// the stack's outputs name), the rest of the pool as it was.
async fn wire(
    ctx: Ctx<'_>,
    inputs: &StackInputs,
    report: &UpReport,
    account: &str,
    existing: Option<&pool::Inspected>,
) -> Result<(), Error> {
    let Some(p) = existing else {
        return Ok(());
    };
    let Some(trigger) = report.outputs.get(TRIGGER_ARN) else {
        return Ok(());
    };
    let slot = pool::Slot::calling(trigger, inputs.event_version);
    // Already so when `up` read the pool (the alias the slot calls never changes name): no
    // second read. A change since is for the wiring checks that follow to see.
    if p.current.effective() == slot.effective() {
        return Ok(());
    }
    if pool::set_slot(ctx, &p.pool_id, account, &slot).await? == pool::Wired::Written {
        ctx.progress.note(&format!(
            "user pool {}: the pre-token-generation slot now calls {} (it had {}; `deployer down` puts that back)",
            p.pool_id,
            slot.describe(),
            p.current.describe()
        ));
    }
    Ok(())
}

/// The wiring checks against the report's outputs and zip.
async fn checks(
    ctx: Ctx<'_>,
    inputs: &StackInputs,
    report: &UpReport,
    account: &str,
) -> Result<Vec<Check>, Error> {
    // A local emulator (never AWS): make up for what its CloudFormation is known to skip,
    // and say so. After a no-op too: another run may have just created the stack.
    if ctx.clients.emulator {
        bound_on_emulator(ctx, inputs, account, &report.outputs).await?;
    }
    let expected = wiring::Expected {
        event_version: inputs.event_version.as_str(),
        code_sha256: Some(&report.artifact.sha256),
        project: inputs.project(),
        kind: inputs.stack_kind(),
        authorizer_sha256: report
            .api_keys
            .iter()
            .find_map(|k| crate::commands::status::artifact_sha256_of(k, "authorizer")),
    };
    Ok(wiring::verify(ctx.clients, &report.outputs, expected).await?)
}

/// The failed checks, one line each; `None` when all passed.
fn failures(checks: &[Check]) -> Option<Vec<String>> {
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("  - {}: {}", c.name, c.detail))
        .collect();
    (!failed.is_empty()).then_some(failed)
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
    let trigger = inputs.function_name();
    if outputs.get(FUNCTION_NAME) != Some(&trigger) {
        return Ok(());
    }
    // The API's roles (a stack with an `api`) are named after their functions too.
    let mut roles = vec![trigger];
    for name in [
        crate::stack::output::AUTHORIZER_FUNCTION_NAME,
        crate::stack::output::WHOAMI_FUNCTION_NAME,
    ] {
        roles.extend(outputs.get(name).cloned());
    }
    let iam = &ctx.clients.iam;
    let target = crate::commands::bootstrap::target(inputs, account, &ctx.clients.region);
    for role in roles {
        let found = iam
            .role_boundary(&role)
            .await
            .map_err(|e| ctx.clients.err("iam", "GetRole", e))?;
        if found.is_none() {
            ctx.progress.note(&format!(
                "the emulator's CloudFormation left role {role} without its permissions boundary (a known gap; AWS applies it): setting it directly"
            ));
            iam.put_role_boundary(&role, &target.boundary_arn(target.kind))
                .await
                .map_err(|e| ctx.clients.err("iam", "PutRolePermissionsBoundary", e))?;
        }
    }
    Ok(())
}
