//! `down`: wait for any running operation, lift the pool's deletion protection when allowed,
//! delete the stack, remove its artifacts.

use crate::artifacts;
use crate::aws::cfn;
use crate::aws::ErrorKind;
use crate::ctx::Ctx;
use crate::error::Error;
use crate::pool;
use crate::stack::changeset::{self, Halt};
use crate::stack::{
    change_set_name, delete, plan, wait, ChangeKind, ChangeSetRequest, ParamValue, Stack,
    StackStatus, FINGERPRINT_OUTPUT, POOL_PROTECTION, TABLE_LOGICAL_ID,
};
use aws_sdk_cognitoidentityprovider::types::UserPoolType;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

/// What `down` did to the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DownAction {
    Deleted,
    /// There was nothing to delete.
    Absent,
}

/// What `down` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DownReport {
    pub stack: String,
    pub region: String,
    pub action: DownAction,
    pub artifacts_removed: usize,
    /// Resources kept on purpose (the table of a kept stack, resources given to --retain).
    pub retained: Vec<String>,
    /// The kept stack's table left behind, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retained_table: Option<String>,
    /// On an existing pool: what became of its pre-token-generation slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_slot: Option<String>,
    pub seconds: f64,
}

impl fmt::Display for DownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.action {
            DownAction::Absent => writeln!(
                f,
                "stack {} is not deployed in {}: nothing to delete",
                self.stack, self.region
            )?,
            DownAction::Deleted => {
                writeln!(f, "stack {} deleted in {:.1}s", self.stack, self.seconds)?
            }
        }
        if let Some(slot) = &self.pool_slot {
            writeln!(f, "{slot}")?;
        }
        if self.artifacts_removed > 0 {
            writeln!(f, "removed {} artifact(s)", self.artifacts_removed)?;
        }
        for r in &self.retained {
            writeln!(f, "retained: {r}")?;
        }
        if let Some(table) = &self.retained_table {
            writeln!(
                f,
                "to delete that table and its data for good: `aws dynamodb update-table --table-name {table} --no-deletion-protection-enabled`, then `aws dynamodb delete-table --table-name {table}`"
            )?;
        }
        match self.action {
            DownAction::Deleted => writeln!(f, "next: `deployer up` creates the stack again"),
            DownAction::Absent => Ok(()),
        }
    }
}

/// Which stack `down` deletes. Whether it may turn deletion protection off is the deployed
/// stack's to say (`Stack::disposable`), never an inputs file's.
#[derive(Debug, Clone)]
pub struct DownTarget {
    pub stack: String,
    /// The existing pool the user's file names (the inputs' `userPool.existing`, or an
    /// outputs file's `UserPoolId`): a stack that records another is not written back to.
    pub named_pool: Option<String>,
}

/// Options of `down`.
#[derive(Debug, Clone)]
pub struct DownOptions {
    /// Turn deletion protection off even when the stack is kept.
    pub force: bool,
    /// Never turn deletion protection off, whatever the stack (gc).
    pub keep_protection: bool,
    pub wait_timeout: Duration,
    /// Logical ids to leave behind when deleting a DELETE_FAILED stack.
    pub retain: Vec<String>,
}

/// `deployer down`: the stack the inputs (or `--from-outputs`) name.
pub async fn run(
    s: &super::session::Session<'_>,
    args: &crate::cli::DownArgs,
) -> Result<u8, Error> {
    let (stack, region, named_pool) = match &args.from_outputs {
        Some(file) => super::outputs::read_outputs_file(file)?,
        None => {
            let inputs = s.inputs()?;
            let pool = inputs.existing_pool().map(|p| p.existing.clone());
            (inputs.stack_name, inputs.region, pool)
        }
    };
    let conn = s.connect(region).await?;
    let clients = crate::aws::Clients::new(&conn);
    let options = DownOptions {
        force: args.force,
        keep_protection: false,
        wait_timeout: args.wait_timeout,
        retain: args.retain.clone(),
    };
    let target = DownTarget { stack, named_pool };
    s.print(&down(s.ctx(&clients), &target, &options).await?);
    Ok(crate::error::exit::SUCCESS)
}

/// `down`: deletes the stack and the stack's artifacts. Only a stack the deployer created;
/// deletion protection is lifted only when allowed (disposable, or --force).
pub async fn down(
    ctx: Ctx<'_>,
    target: &DownTarget,
    options: &DownOptions,
) -> Result<DownReport, Error> {
    let started = Instant::now();
    let name = target.stack.clone();
    let stack = wait::settle(ctx, &name, options.wait_timeout).await?;
    let mut report = DownReport {
        stack: name.clone(),
        region: ctx.clients.region.clone(),
        action: DownAction::Absent,
        artifacts_removed: 0,
        retained: options.retain.clone(),
        retained_table: None,
        pool_slot: None,
        seconds: 0.0,
    };
    if let Some(stack) = &stack {
        if !stack.is_ours() && stack.status != StackStatus::ReviewInProgress {
            return Err(Error::Refused {
                stack: name,
                status: stack.status.as_str().into(),
                why: crate::stack::not_ours(),
                help: "`down` deletes only stacks the deployer made; delete this one with the tool that made it".into(),
            });
        }
        // An existing pool's slot goes back to what it held before, while this stack's
        // function is still there to be replaced: the pool never calls a deleted function.
        report.pool_slot = restore_slot(ctx, stack, target).await?;
        let disposable = stack.disposable();
        let resources = cfn::resources(ctx.clients, &stack.id).await?;
        release(
            ctx,
            stack,
            &resources,
            (disposable || options.force) && !options.keep_protection,
        )
        .await?;
        ctx.progress.step(&format!("deleting stack {name}"));
        delete::delete(ctx, &name, &options.retain).await?;
        report.action = DownAction::Deleted;
        // A kept stack's table outlives it (and comes back with the next `up` of this name);
        // a failed create already removed its own.
        if let Some(table) = resources.get(TABLE_LOGICAL_ID).filter(|t| {
            stack.kept() && !t.physical_id.is_empty() && !t.status.starts_with("DELETE")
        }) {
            report.retained.push(format!(
                "table {} (a kept stack's data; the next `up` of {name} brings it back)",
                table.physical_id
            ));
            report.retained_table = Some(table.physical_id.clone());
        }
    }
    let account = ctx.clients.account_id().await?;
    let bucket = artifacts::bucket_name(&account, &ctx.clients.region);
    report.artifacts_removed =
        artifacts::delete_stack_artifacts(ctx.clients, &bucket, &account, &name).await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Of the `named` pools, those whose slot calls `ours` (as read), and what is said of the recorded pool
/// when its slot calls something else (a pool deleted since counts as neither).
async fn calling_pools(
    ctx: Ctx<'_>,
    named: std::collections::BTreeSet<&String>,
    recorded_pool: Option<&String>,
    (account, ours): (&str, &str),
) -> Result<(Vec<(String, UserPoolType)>, Option<String>), Error> {
    let mut calling = Vec::new();
    let mut left = None;
    for id in named {
        let Some(found) = pool::read(ctx, id, account).await? else {
            continue;
        };
        let current = pool::Slot::of(found.lambda_config());
        if current.calls(ours) {
            calling.push((id.clone(), found));
        } else if Some(id) == recorded_pool {
            left = Some(format!(
                "user pool {id}: its pre-token-generation slot calls {}, not this stack's function: left as it is",
                current.describe()
            ));
        }
    }
    Ok((calling, left))
}

/// Puts back what the existing pool's slot held before this stack took it (the stack's own
/// record), if the slot still calls this stack's function; a slot changed since is left as
/// it is. While the pool calls the function this delete removes, the delete goes ahead only
/// once the slot is put back: a record that cannot be trusted refuses it. What was done, in
/// words.
async fn restore_slot(
    ctx: Ctx<'_>,
    stack: &Stack,
    target: &DownTarget,
) -> Result<Option<String>, Error> {
    let recorded_pool = stack.parameters.get(pool::EXISTING_POOL);
    // Every pool the stack or the file at hand names: the stack's record alone could be
    // pointed elsewhere while the file's pool still calls the function.
    let named: std::collections::BTreeSet<&String> = recorded_pool
        .into_iter()
        .chain(target.named_pool.as_ref())
        .collect();
    if named.is_empty() {
        return Ok(None);
    }
    let account = ctx.clients.account_id().await?;
    // The function the stack's name gives, never an output the stack could say anything in.
    let ours = crate::inputs::function_of_stack(&stack.name);
    let (calling, left) = calling_pools(ctx, named, recorded_pool, (&account, &ours)).await?;
    let help = format!("nothing was changed or deleted; point the pool's pre-token-generation trigger at what it should call (console, or `aws cognito-idp update-user-pool` with its whole configuration), then `deployer down` again: a slot that no longer calls {ours} is left as it is");
    let (pool_id, found) = match <[_; 1]>::try_from(calling) {
        Ok([one]) => one,
        Err(calling) if calling.is_empty() => return Ok(left),
        Err(calling) => {
            let ids: Vec<&str> = calling.iter().map(|(id, _)| id.as_str()).collect();
            return Err(Error::Pool {
                pool: ids.join(", "),
                problem: format!("more than one pool calls {ours}, which this delete removes"),
                help,
            });
        }
    };
    let refuse = |problem: String| Error::Pool {
        pool: pool_id.clone(),
        problem,
        help: help.clone(),
    };
    if recorded_pool != Some(&pool_id) || crate::ephemeral::is_ephemeral(&stack.tags) {
        return Err(refuse(format!(
            "its pre-token-generation slot calls {ours}, which this delete removes, and stack {} holds no record of what the slot called before",
            stack.name
        )));
    }
    if target.named_pool.as_deref() != Some(pool_id.as_str()) {
        return Err(refuse(format!(
            "stack {} records this pool, and the file at hand names {}",
            stack.name,
            target.named_pool.as_deref().unwrap_or("none")
        )));
    }
    let recorded = stack.parameters.get(pool::PREVIOUS_TRIGGER);
    let project = stack.project();
    let previous = pool::Slot::from_json(recorded.map_or("{}", String::as_str))
        .filter(|p| p.functions_in(&ctx.clients.region, &account))
        .filter(|p| !p.calls_deployer_function(project))
        .ok_or_else(|| {
            refuse(format!(
                "stack {} recorded its previous trigger as {recorded:?}: not functions of this account and region made outside the deployer",
                stack.name
            ))
        })?;
    ctx.progress.step(&format!(
        "putting back user pool {pool_id}'s pre-token-generation trigger ({})",
        previous.describe()
    ));
    pool::set_slot_from(ctx, (&pool_id, &account), found, &previous).await?;
    Ok(Some(format!(
        "user pool {pool_id}: pre-token-generation slot restored to {}",
        previous.describe()
    )))
}

/// States a stack can be updated from.
fn updatable(status: &StackStatus) -> bool {
    matches!(
        status,
        StackStatus::CreateComplete
            | StackStatus::UpdateComplete
            | StackStatus::UpdateRollbackComplete
            | StackStatus::ImportComplete
            | StackStatus::ImportRollbackComplete
    )
}

/// Lifts the pool's deletion protection before a delete, when allowed. The pool is found
/// through the stack's resources (a failed create has no outputs). The protection goes off
/// through an update of the stack itself, which changes nothing else; a stack that cannot be
/// updated in its state (a failed create: ROLLBACK_FAILED) has its pool switched directly.
async fn release(
    ctx: Ctx<'_>,
    stack: &Stack,
    resources: &BTreeMap<String, cfn::Resource>,
    allowed: bool,
) -> Result<(), Error> {
    use aws_sdk_cognitoidentityprovider::types::DeletionProtectionType;
    let Some(pool) = resources
        .get("UserPool")
        .map(|r| r.physical_id.clone())
        .filter(|id| !id.is_empty())
    else {
        return Ok(());
    };
    let described = ctx
        .clients
        .cognito
        .describe_user_pool()
        .user_pool_id(&pool)
        .send()
        .await;
    let (protected, described) = match described {
        Ok(out) => (
            out.user_pool
                .as_ref()
                .and_then(|p| p.deletion_protection.as_ref())
                == Some(&DeletionProtectionType::Active),
            out.user_pool,
        ),
        Err(err) => {
            let err = ctx.clients.err("cognito-idp", "DescribeUserPool", err);
            if err.is(ErrorKind::NotFound) {
                return Ok(());
            }
            return Err(err.into());
        }
    };
    if !protected {
        return Ok(());
    }
    if !allowed {
        return Err(Error::Kept {
            stack: stack.name.clone(),
        });
    }
    if updatable(&stack.status) && stack.parameters.contains_key(POOL_PROTECTION) {
        ctx.progress
            .step("turning off the user pool's deletion protection (an update of the stack)");
        return release_by_update(ctx, stack).await;
    }
    ctx.progress.step(&format!(
        "turning off the user pool's deletion protection (the stack is {} and cannot be updated)",
        stack.status.as_str()
    ));
    // UpdateUserPool resets every setting it is not given (triggers removed, anyone may sign
    // up, the default password policy): it gets the pool's whole updatable configuration as
    // DescribeUserPool gave it, with only the protection changed, so a delete that then fails
    // leaves the pool as it was.
    let Some(described) = described else {
        // Nothing read back: an update would reset the pool. Leave it, say why.
        return Err(Error::DeployFailed {
            operation: "lifting deletion protection",
            stack: stack.name.clone(),
            cause: format!("DescribeUserPool gave no configuration for {pool}"),
            state: stack.status.as_str().into(),
            help: "nothing was deleted; the pool's protection is left on rather than updated blind. Turn it off in the console or with the aws CLI, then `deployer down --force`".into(),
        });
    };
    let update = ctx.clients.cognito.update_user_pool().user_pool_id(&pool);
    keep_configuration(update, &described)
        .deletion_protection(DeletionProtectionType::Inactive)
        .send()
        .await
        .map_err(|e| ctx.clients.err("cognito-idp", "UpdateUserPool", e))?;
    Ok(())
}

/// The pool's protection lifted through the stack's own update (`release_request`), on the
/// one change-set path: nothing to change, or run to UPDATE_COMPLETE.
async fn release_by_update(ctx: Ctx<'_>, stack: &Stack) -> Result<(), Error> {
    let unfinished = |cause: String, state: &str, help: &str| Error::DeployFailed {
        operation: "lifting deletion protection",
        stack: stack.name.clone(),
        cause,
        state: state.into(),
        help: help.into(),
    };
    let halted = |halt| {
        match halt {
        Halt::Fail(err) => err,
        Halt::Rejected(reason) => unfinished(
            reason,
            stack.status.as_str(),
            "nothing was deleted; fix the cause and run `deployer down --force` again",
        ),
        Halt::LostRace(why) => unfinished(
            format!("another operation changed the stack: {why}"),
            "unknown",
            "nothing was deleted; run `deployer down --force` again once the other operation is done",
        ),
    }
    };
    let request = release_request(stack);
    if let Some(prepared) = changeset::prepare(ctx, &request).await.map_err(halted)? {
        changeset::run(ctx, &prepared).await.map_err(halted)?;
    }
    Ok(())
}

/// An UpdateUserPool that keeps what `pool` has: every field UpdateUserPool takes, from the
/// DescribeUserPool model (Cognito API reference, UpdateUserPool: "If you don't provide a value
/// for an attribute, Amazon Cognito sets it to its default value"), without the read-only
/// fields and with the deprecated `UnusedAccountValidityDays` left at 0: the SDK always sends
/// it, and Cognito refuses any other value beside a temporary password validity.
pub fn keep_configuration(
    update: aws_sdk_cognitoidentityprovider::operation::update_user_pool::builders::UpdateUserPoolFluentBuilder,
    p: &aws_sdk_cognitoidentityprovider::types::UserPoolType,
) -> aws_sdk_cognitoidentityprovider::operation::update_user_pool::builders::UpdateUserPoolFluentBuilder
{
    use aws_sdk_cognitoidentityprovider::types::AdminCreateUserConfigType;
    let admin = p.admin_create_user_config().map(|c| {
        AdminCreateUserConfigType::builder()
            .allow_admin_create_user_only(c.allow_admin_create_user_only())
            .set_invite_message_template(c.invite_message_template().cloned())
            .build()
    });
    update
        .set_policies(p.policies().cloned())
        .set_deletion_protection(p.deletion_protection().cloned())
        .set_lambda_config(p.lambda_config().cloned())
        .set_auto_verified_attributes(
            (!p.auto_verified_attributes().is_empty())
                .then(|| p.auto_verified_attributes().to_vec()),
        )
        .set_sms_verification_message(p.sms_verification_message().map(str::to_owned))
        .set_email_verification_message(p.email_verification_message().map(str::to_owned))
        .set_email_verification_subject(p.email_verification_subject().map(str::to_owned))
        .set_verification_message_template(p.verification_message_template().cloned())
        .set_sms_authentication_message(p.sms_authentication_message().map(str::to_owned))
        .set_user_attribute_update_settings(p.user_attribute_update_settings().cloned())
        .set_mfa_configuration(p.mfa_configuration().cloned())
        .set_device_configuration(p.device_configuration().cloned())
        .set_email_configuration(p.email_configuration().cloned())
        .set_sms_configuration(p.sms_configuration().cloned())
        .set_admin_create_user_config(admin)
        .set_user_pool_add_ons(p.user_pool_add_ons().cloned())
        .set_account_recovery_setting(p.account_recovery_setting().cloned())
        .set_pool_name(p.name().map(str::to_owned))
        .set_user_pool_tier(p.user_pool_tier().cloned())
        .set_key_configuration(p.key_configuration().cloned())
        .set_issuer_configuration(p.issuer_configuration().cloned())
        .set_acr_configuration(p.acr_configuration().cloned())
        // Tags under `aws:` are AWS's own (CloudFormation's): not the caller's to write.
        .set_user_pool_tags(p.user_pool_tags().map(|tags| {
            tags.iter()
                .filter(|(k, _)| !k.to_ascii_lowercase().starts_with("aws:"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
}

/// The update that turns the pool's protection off and changes nothing else: the stack's own
/// template and every parameter as it is, but the protection (and the fingerprint, so an
/// `up` after a failed delete puts the protection back).
pub fn release_request(stack: &Stack) -> ChangeSetRequest {
    let parameters = stack
        .parameters
        .iter()
        .map(|(k, v)| {
            let value = match k.as_str() {
                POOL_PROTECTION => ParamValue::Value("INACTIVE".into()),
                FINGERPRINT_OUTPUT => ParamValue::Value(plan::unprotected(v)),
                _ => ParamValue::UsePrevious,
            };
            (k.clone(), value)
        })
        .collect();
    ChangeSetRequest {
        stack: stack.name.clone(),
        name: change_set_name("release"),
        kind: ChangeKind::Update,
        template: None,
        parameters,
        tags: stack.tags.clone(),
        import_existing: false,
    }
}
