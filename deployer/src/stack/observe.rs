//! Reads the world into a value: the account, the stack, and for a failed stack its root cause.

use super::plan::Observed;
use super::{recover, Event, Stack, StackStatus};
use crate::aws::{cfn, AwsError, Clients};

/// The account and the stack, asked at once.
pub async fn observe(clients: &Clients, stack: &str) -> Result<Observed, AwsError> {
    let (account, found) = tokio::join!(clients.account_id(), observe_stack(clients, stack));
    // STS answered in parallel: name the caller it reported in an error of the other call.
    let (stack, cause) = found.map_err(|e| clients.name_caller(e))?;
    Ok(Observed {
        account: account?,
        stack,
        cause,
    })
}

/// The stack and, when it is in a failed state, the root cause among its events.
pub async fn observe_stack(
    clients: &Clients,
    name: &str,
) -> Result<(Option<Stack>, Option<Event>), AwsError> {
    let stack = cfn::describe(clients, name).await?;
    let cause = match &stack {
        Some(s) if failed(&s.status) => cause(clients, &s.id).await?,
        _ => None,
    };
    Ok((stack, cause))
}

/// States whose events explain what went wrong.
pub fn failed(status: &StackStatus) -> bool {
    matches!(
        status,
        StackStatus::RollbackFailed
            | StackStatus::CreateFailed
            | StackStatus::DeleteFailed
            | StackStatus::UpdateFailed
            | StackStatus::UpdateRollbackFailed
            | StackStatus::ImportRollbackFailed
            | StackStatus::RollbackComplete
            | StackStatus::UpdateRollbackComplete
    )
}

async fn cause(clients: &Clients, stack_id: &str) -> Result<Option<Event>, AwsError> {
    let events = cfn::all_events(clients, stack_id).await?;
    // Only the last operation's events: from the newest user-initiated stack event on.
    let start = events
        .iter()
        .rposition(|e| {
            e.is_stack()
                && e.reason.as_deref() == Some("User Initiated")
                && e.status.as_str().ends_with("_IN_PROGRESS")
        })
        .unwrap_or(0);
    Ok(recover::root_cause(&events[start..]).cloned())
}
