//! CloudFormation calls, thin: describe, change sets, events, delete.

use super::AwsError;
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, Tag};
use aws_sdk_cloudformation::Client;
use std::collections::{BTreeMap, HashSet};

/// A stack as `up` and `down` need to see it.
#[derive(Debug, Clone, PartialEq)]
pub struct StackInfo {
    pub name: String,
    pub id: String,
    pub status: String,
    pub reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Creation time, seconds since the epoch.
    pub created: Option<f64>,
}

impl StackInfo {
    pub fn in_progress(&self) -> bool {
        self.status.ends_with("_IN_PROGRESS") && self.status != "REVIEW_IN_PROGRESS"
    }
}

/// The stack named `name`, or `None` when there is none (or only a deleted one).
pub async fn describe(client: &Client, name: &str) -> Result<Option<StackInfo>, AwsError> {
    let out = match client.describe_stacks().stack_name(name).send().await {
        Ok(out) => out,
        Err(err) => {
            let err = AwsError::from_sdk("DescribeStacks", err);
            // CloudFormation says a missing stack with a ValidationError "... does not exist".
            if err.code == "ValidationError" && err.message.contains("does not exist") {
                return Ok(None);
            }
            return Err(err);
        }
    };
    Ok(out
        .stacks
        .unwrap_or_default()
        .into_iter()
        .next()
        .and_then(info))
}

/// Every live stack of the account and region.
pub async fn list_all(client: &Client) -> Result<Vec<StackInfo>, AwsError> {
    let mut stacks = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .describe_stacks()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeStacks", e))?;
        stacks.extend(out.stacks.unwrap_or_default().into_iter().filter_map(info));
        token = out.next_token;
        if token.is_none() {
            return Ok(stacks);
        }
    }
}

fn info(stack: aws_sdk_cloudformation::types::Stack) -> Option<StackInfo> {
    let status = stack
        .stack_status
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    if status == "DELETE_COMPLETE" {
        return None;
    }
    Some(StackInfo {
        name: stack.stack_name.unwrap_or_default(),
        id: stack.stack_id.unwrap_or_default(),
        status,
        reason: stack.stack_status_reason,
        outputs: stack
            .outputs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| Some((o.output_key?, o.output_value.unwrap_or_default())))
            .collect(),
        tags: stack
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value?)))
            .collect(),
        created: stack.creation_time.map(|t| t.as_secs_f64()),
    })
}

/// Whether a change set creates the stack or updates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Create,
    Update,
}

/// Everything a change set is made from.
#[derive(Debug, Clone)]
pub struct ChangeSetRequest {
    pub stack: String,
    pub name: String,
    pub kind: ChangeKind,
    pub template: String,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

pub async fn create_change_set(
    client: &Client,
    req: &ChangeSetRequest,
) -> Result<(String, String), AwsError> {
    let out = client
        .create_change_set()
        .stack_name(&req.stack)
        .change_set_name(&req.name)
        .change_set_type(match req.kind {
            ChangeKind::Create => ChangeSetType::Create,
            ChangeKind::Update => ChangeSetType::Update,
        })
        .template_body(&req.template)
        .set_parameters(Some(
            req.parameters
                .iter()
                .map(|(k, v)| {
                    Parameter::builder()
                        .parameter_key(k)
                        .parameter_value(v)
                        .build()
                })
                .collect(),
        ))
        .set_tags(Some(
            req.tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .capabilities(Capability::CapabilityIam)
        .description("deployer up")
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateChangeSet", e))?;
    Ok((out.id.unwrap_or_default(), out.stack_id.unwrap_or_default()))
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// Add, Modify, Remove (or Import, Dynamic).
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// True, False or Conditional, for Modify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// Where a change set ended up.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeSetState {
    Pending,
    Ready(Vec<Change>),
    /// CloudFormation found nothing to change.
    Empty,
    Failed(String),
}

pub async fn change_set_state(client: &Client, id: &str) -> Result<ChangeSetState, AwsError> {
    let mut changes = Vec::new();
    let mut token = None;
    loop {
        let out = client
            .describe_change_set()
            .change_set_name(id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeChangeSet", e))?;
        match out.status {
            Some(ChangeSetStatus::CreateComplete) => {}
            Some(ChangeSetStatus::Failed) => {
                let reason = out.status_reason.unwrap_or_default();
                // Matched on text because CloudFormation gives this outcome no code of its own.
                if reason.contains("didn't contain changes")
                    || reason.contains("No updates are to be performed")
                {
                    return Ok(ChangeSetState::Empty);
                }
                return Ok(ChangeSetState::Failed(reason));
            }
            _ => return Ok(ChangeSetState::Pending),
        }
        for change in out.changes.unwrap_or_default() {
            if let Some(rc) = change.resource_change {
                changes.push(Change {
                    action: rc.action.map(|a| a.as_str().to_owned()).unwrap_or_default(),
                    logical_id: rc.logical_resource_id.unwrap_or_default(),
                    resource_type: rc.resource_type.unwrap_or_default(),
                    replacement: rc
                        .replacement
                        .map(|r| r.as_str().to_owned())
                        .filter(|r| !r.is_empty()),
                });
            }
        }
        token = out.next_token;
        if token.is_none() {
            return Ok(ChangeSetState::Ready(changes));
        }
    }
}

pub async fn execute_change_set(client: &Client, id: &str) -> Result<(), AwsError> {
    client
        .execute_change_set()
        .change_set_name(id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ExecuteChangeSet", e))?;
    Ok(())
}

pub async fn delete_change_set(client: &Client, id: &str) -> Result<(), AwsError> {
    client
        .delete_change_set()
        .change_set_name(id)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteChangeSet", e))?;
    Ok(())
}

pub async fn delete_stack(client: &Client, stack: &str) -> Result<(), AwsError> {
    client
        .delete_stack()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteStack", e))?;
    Ok(())
}

/// One stack event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    /// Seconds since the epoch.
    pub timestamp: f64,
}

/// Events not in `seen`, oldest first; marks them seen. Reads pages only until it meets a seen one.
pub async fn new_events(
    client: &Client,
    stack_id: &str,
    seen: &mut HashSet<String>,
) -> Result<Vec<Event>, AwsError> {
    let mut fresh = Vec::new();
    let mut token = None;
    'pages: loop {
        let out = client
            .describe_stack_events()
            .stack_name(stack_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeStackEvents", e))?;
        for e in out.stack_events.unwrap_or_default() {
            let id = e.event_id.unwrap_or_default();
            if seen.contains(&id) {
                break 'pages;
            }
            fresh.push(Event {
                id,
                logical_id: e.logical_resource_id.unwrap_or_default(),
                resource_type: e.resource_type.unwrap_or_default(),
                status: e
                    .resource_status
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                reason: e.resource_status_reason,
                timestamp: e.timestamp.map(|t| t.as_secs_f64()).unwrap_or(0.0),
            });
        }
        token = out.next_token;
        if token.is_none() {
            break;
        }
    }
    for e in &fresh {
        seen.insert(e.id.clone());
    }
    fresh.reverse();
    Ok(fresh)
}

/// Ids of the events already there, so that progress shows only this operation's.
pub async fn existing_event_ids(
    client: &Client,
    stack_id: &str,
) -> Result<HashSet<String>, AwsError> {
    let mut seen = HashSet::new();
    new_events(client, stack_id, &mut seen).await?;
    Ok(seen)
}

/// The first failure of an operation: the earliest FAILED event whose reason is not a
/// cancellation caused by another failure.
pub fn root_cause(events: &[Event]) -> Option<&Event> {
    let failed = |e: &&Event| e.status.ends_with("_FAILED");
    let cascade = |e: &&Event| {
        let r = e.reason.as_deref().unwrap_or("");
        r.contains("cancelled")
            || r.contains("canceled")
            || r.contains("following resource(s) failed")
    };
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by(|a, b| a.timestamp.total_cmp(&b.timestamp));
    sorted
        .iter()
        .copied()
        .filter(failed)
        .find(|e| !cascade(e) && e.resource_type != "AWS::CloudFormation::Stack")
        .or_else(|| sorted.iter().copied().find(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t: f64, id: &str, status: &str, reason: &str) -> Event {
        Event {
            id: format!("{id}-{t}"),
            logical_id: id.into(),
            resource_type: if id == "stack" {
                "AWS::CloudFormation::Stack".into()
            } else {
                "AWS::X".into()
            },
            status: status.into(),
            reason: Some(reason.into()),
            timestamp: t,
        }
    }

    #[test]
    fn the_root_cause_is_the_first_real_failure_not_the_cascade() {
        let events = vec![
            ev(1.0, "Table", "CREATE_IN_PROGRESS", ""),
            ev(2.0, "Domain", "CREATE_FAILED", "Domain already exists"),
            ev(3.0, "Table", "CREATE_FAILED", "Resource creation cancelled"),
            ev(
                4.0,
                "stack",
                "ROLLBACK_IN_PROGRESS",
                "The following resource(s) failed to create: [Domain, Table]",
            ),
        ];
        let cause = root_cause(&events).unwrap();
        assert_eq!(
            (cause.logical_id.as_str(), cause.reason.as_deref()),
            ("Domain", Some("Domain already exists"))
        );
        // Given out of order, it still finds the earliest.
        let mut reversed = events.clone();
        reversed.reverse();
        assert_eq!(root_cause(&reversed).unwrap().logical_id, "Domain");
    }
}
