//! Reads the world into a value: the account, the stack, and for a failed stack its root cause.

use super::plan::{creates, Observed, TableClaim};
use super::{recover, Event, Stack, StackStatus, MANAGED_BY, TABLE_LOGICAL_ID};
use crate::aws::{cfn, AwsError, Clients, ErrorKind};

/// The account and the stack, asked at once; and when the stack would be created, whether its
/// table name is taken (`table`: the name the inputs give it).
pub async fn observe(clients: &Clients, stack: &str, table: &str) -> Result<Observed, AwsError> {
    let (account, found) = tokio::join!(clients.account_id(), observe_stack(clients, stack));
    // STS answered in parallel: name the caller it reported in an error of the other call.
    let (stack_now, cause) = found.map_err(|e| clients.name_caller(e))?;
    let table = if creates(stack_now.as_ref()) {
        table_claim(clients, table, stack).await?
    } else {
        None
    };
    Ok(Observed {
        account: account?,
        stack: stack_now,
        cause,
        table,
    })
}

/// The stack again (the account is known): after a wait or a lost race.
pub async fn reobserve(
    clients: &Clients,
    account: &str,
    stack: &str,
    table: &str,
) -> Result<Observed, AwsError> {
    let (stack_now, cause) = observe_stack(clients, stack).await?;
    let table = if creates(stack_now.as_ref()) {
        table_claim(clients, table, stack).await?
    } else {
        None
    };
    Ok(Observed {
        account: account.into(),
        stack: stack_now,
        cause,
        table,
    })
}

/// Who owns an existing table named `name`: the stack's own, left behind by an earlier
/// delete (its CloudFormation and deployer tags name this stack and its table), or someone
/// else. `None` when there is no such table.
pub async fn table_claim(
    clients: &Clients,
    name: &str,
    stack: &str,
) -> Result<Option<TableClaim>, AwsError> {
    let table = match clients
        .dynamodb
        .describe_table()
        .table_name(name)
        .send()
        .await
    {
        Ok(out) => out.table,
        Err(err) => {
            let err = clients.err("dynamodb", "DescribeTable", err);
            if err.is(ErrorKind::NotFound) {
                return Ok(None);
            }
            return Err(err);
        }
    };
    let Some(arn) = table.and_then(|t| t.table_arn) else {
        return Ok(None);
    };
    let tags = clients
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(|e| clients.err("dynamodb", "ListTagsOfResource", e))?
        .tags
        .unwrap_or_default();
    let tag = |k: &str| tags.iter().find(|t| t.key == k).map(|t| t.value.as_str());
    let ours = tag(MANAGED_BY.0) == Some(MANAGED_BY.1)
        && tag("aws:cloudformation:stack-name") == Some(stack)
        && tag("aws:cloudformation:logical-id") == Some(TABLE_LOGICAL_ID);
    Ok(Some(if ours {
        TableClaim::Retained { name: name.into() }
    } else {
        TableClaim::Foreign { name: name.into() }
    }))
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
