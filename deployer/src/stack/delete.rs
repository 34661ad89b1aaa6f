//! Deleting a stack and following the delete to its end.

use super::{recover, wait, StackStatus};
use crate::aws::cfn;
use crate::cancel::Doing;
use crate::ctx::Ctx;
use crate::error::Error;
use std::collections::HashSet;

/// Deletes the stack and follows the delete; `retain` keeps resources of a DELETE_FAILED
/// stack. DELETE_FAILED ends in an error naming each resource that blocked it.
pub async fn delete(ctx: Ctx<'_>, name: &str, retain: &[String]) -> Result<(), Error> {
    match cfn::describe(ctx.clients, name).await? {
        Some(stack) => delete_this(ctx, &stack, retain).await,
        None => Ok(()),
    }
}

/// Deletes the failed first create `stack_id` that `up` saw (ROLLBACK_COMPLETE), and only
/// it: `false`, nothing deleted, when the stack of that name is another one now (another run
/// replaced it) or no longer failed.
pub async fn delete_seen(ctx: Ctx<'_>, name: &str, stack_id: &str) -> Result<bool, Error> {
    match cfn::describe(ctx.clients, name).await? {
        None => Ok(true),
        Some(stack) if stack.id == stack_id && stack.status == StackStatus::RollbackComplete => {
            delete_this(ctx, &stack, &[]).await.map(|()| true)
        }
        Some(_) => Ok(false),
    }
}

/// Deletes this stack (by its id) and follows the delete.
async fn delete_this(ctx: Ctx<'_>, stack: &super::Stack, retain: &[String]) -> Result<(), Error> {
    let name = stack.name.as_str();
    let seen: HashSet<String> = cfn::all_events(ctx.clients, &stack.id)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    ctx.activity.set(
        name,
        Doing::Deleting {
            status: "DELETE_IN_PROGRESS".into(),
        },
    );
    cfn::delete_stack(ctx.clients, &stack.id, retain).await?;
    let finished = wait::follow(ctx, name, &stack.id, seen, |status| Doing::Deleting {
        status,
    })
    .await?;
    ctx.activity.clear(name);
    match &finished.status {
        None | Some(StackStatus::DeleteComplete) => Ok(()),
        Some(status) => {
            let failures = recover::delete_failures(&finished.events);
            let ids: Vec<&str> = failures.iter().map(|(id, _)| id.as_str()).collect();
            Err(Error::DeployFailed {
                operation: "delete",
                stack: name.into(),
                cause: if failures.is_empty() {
                    "no failed resource was reported; see the stack events".into()
                } else {
                    failures
                        .iter()
                        .map(|(_, l)| l.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                },
                state: status.as_str().into(),
                help: if ids.is_empty() {
                    "resolve what blocked the delete, then run `deployer down` again".into()
                } else {
                    format!(
                        "resolve what blocked {} (e.g. deletion protection, objects left in it), then run `deployer down` again; to leave them behind, run `deployer down --retain {}`",
                        ids.join(", "),
                        ids.join(",")
                    )
                },
            })
        }
    }
}
