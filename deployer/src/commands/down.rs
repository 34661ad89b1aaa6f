//! `down`: wait for any running operation, lift the pool's deletion protection when allowed,
//! delete the stack, remove its artifacts.

use crate::artifacts;
use crate::aws::ErrorKind;
use crate::error::Error;
use crate::stack::execute::{self, Ctx};
use crate::stack::Stack;
use serde::Serialize;
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
    pub action: DownAction,
    pub artifacts_removed: usize,
    /// Resources kept on purpose (the table of a kept stack, resources given to --retain).
    pub retained: Vec<String>,
    pub seconds: f64,
}

impl fmt::Display for DownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.action {
            DownAction::Absent => {
                writeln!(f, "stack {} is not deployed: nothing to delete", self.stack)?
            }
            DownAction::Deleted => {
                writeln!(f, "stack {} deleted in {:.1}s", self.stack, self.seconds)?
            }
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

/// Options of `down`.
#[derive(Debug, Clone)]
pub struct DownOptions {
    /// Turn deletion protection off even when the stack is kept.
    pub force: bool,
    pub wait_timeout: Duration,
    /// Logical ids to leave behind when deleting a DELETE_FAILED stack.
    pub retain: Vec<String>,
}

/// `down`: deletes the stack and the stack's artifacts.
pub async fn down(
    ctx: Ctx<'_>,
    target: &DownTarget,
    options: &DownOptions,
) -> Result<DownReport, Error> {
    let started = Instant::now();
    let name = target.stack.clone();
    let stack = execute::settle(ctx, &name, options.wait_timeout).await?;
    let mut report = DownReport {
        stack: name.clone(),
        action: DownAction::Absent,
        artifacts_removed: 0,
        retained: options.retain.clone(),
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
            lift_deletion_protection(ctx, pool_id, stack, disposable || options.force).await?;
        }
        ctx.progress.step(&format!("deleting stack {name}"));
        execute::delete(ctx, &name, &options.retain).await?;
        report.action = DownAction::Deleted;
        if !disposable {
            if let Some(table) = stack.outputs.get("TableName") {
                report
                    .retained
                    .push(format!("table {table} (kept stacks retain their data)"));
            }
        }
    }
    let account = ctx.clients.account_id().await?;
    let bucket = artifacts::bucket_name(&account, &ctx.clients.region);
    report.artifacts_removed =
        artifacts::delete_stack_artifacts(ctx.clients, &bucket, &name).await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn lift_deletion_protection(
    ctx: Ctx<'_>,
    pool_id: &str,
    stack: &Stack,
    allowed: bool,
) -> Result<(), Error> {
    use aws_sdk_cognitoidentityprovider::types::DeletionProtectionType;
    let cognito = &ctx.clients.cognito;
    let pool = match cognito
        .describe_user_pool()
        .user_pool_id(pool_id)
        .send()
        .await
    {
        Ok(out) => out.user_pool,
        Err(err) => {
            let err = ctx.clients.err("cognito-idp", "DescribeUserPool", err);
            if err.is(ErrorKind::NotFound) {
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
            stack: stack.name.clone(),
        });
    }
    ctx.progress
        .step("turning off the user pool's deletion protection");
    // UpdateUserPool resets what it is not given: pass the settings that matter back unchanged.
    cognito
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
        .map_err(|e| ctx.clients.err("cognito-idp", "UpdateUserPool", e))?;
    Ok(())
}
