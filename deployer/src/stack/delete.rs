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
    let Some(stack) = cfn::describe(ctx.clients, name).await? else {
        return Ok(());
    };
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
