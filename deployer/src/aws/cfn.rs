//! CloudFormation calls, thin: each turns one API call into the engine's types. No decisions.

use super::{AwsError, Clients, ErrorKind};
use crate::stack::{Change, ChangeKind, ChangeSetRequest, Event, ParamValue, Stack, StackStatus};
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, Tag};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, UNIX_EPOCH};

const SERVICE: &str = "cloudformation";

/// The stack named `name` (or with this id), or `None` when there is none or only a deleted one.
pub async fn describe(clients: &Clients, name: &str) -> Result<Option<Stack>, AwsError> {
    match clients.cfn.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out
            .stacks
            .unwrap_or_default()
            .into_iter()
            .next()
            .and_then(stack)),
        Err(err) => {
            let err = clients.err(SERVICE, "DescribeStacks", err);
            if err.is(ErrorKind::NotFound) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// Every live stack of the account and region.
pub async fn list_all(clients: &Clients) -> Result<Vec<Stack>, AwsError> {
    let mut stacks = Vec::new();
    let mut token = None;
    loop {
        let out = clients
            .cfn
            .describe_stacks()
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| clients.err(SERVICE, "DescribeStacks", e))?;
        stacks.extend(out.stacks.unwrap_or_default().into_iter().filter_map(stack));
        token = out.next_token;
        if token.is_none() {
            return Ok(stacks);
        }
    }
}

fn time(t: Option<aws_sdk_cloudformation::primitives::DateTime>) -> Option<std::time::SystemTime> {
    let t = t?;
    let secs = t.as_secs_f64();
    (secs >= 0.0).then(|| UNIX_EPOCH + Duration::from_secs_f64(secs))
}

fn stack(s: aws_sdk_cloudformation::types::Stack) -> Option<Stack> {
    let status = s.stack_status?;
    if status == StackStatus::DeleteComplete {
        return None;
    }
    Some(Stack {
        name: s.stack_name.unwrap_or_default(),
        id: s.stack_id.unwrap_or_default(),
        status,
        reason: s.stack_status_reason,
        outputs: s
            .outputs
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| Some((o.output_key?, o.output_value.unwrap_or_default())))
            .collect(),
        tags: s
            .tags
            .unwrap_or_default()
            .into_iter()
            .filter_map(|t| Some((t.key?, t.value?)))
            .collect(),
        parameters: s
            .parameters
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| Some((p.parameter_key?, p.parameter_value.unwrap_or_default())))
            .collect(),
        created: time(s.creation_time),
        updated: time(s.last_updated_time),
    })
}

/// Creates a change set; returns its id and the stack's id.
pub async fn create_change_set(
    clients: &Clients,
    req: &ChangeSetRequest,
) -> Result<(String, String), AwsError> {
    let parameters = req
        .parameters
        .iter()
        .map(|(k, v)| {
            let p = Parameter::builder().parameter_key(k);
            match v {
                ParamValue::Value(v) => p.parameter_value(v).build(),
                ParamValue::UsePrevious => p.use_previous_value(true).build(),
            }
        })
        .collect();
    let mut call = clients
        .cfn
        .create_change_set()
        .stack_name(&req.stack)
        .change_set_name(&req.name)
        .change_set_type(match req.kind {
            ChangeKind::Create => ChangeSetType::Create,
            ChangeKind::Update => ChangeSetType::Update,
        })
        .set_parameters(Some(parameters))
        .set_tags(Some(
            req.tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .capabilities(Capability::CapabilityNamedIam)
        // The template's resource types, named: the CI roles allow change sets of these alone
        // (`cloudformation:ResourceTypes`), and CloudFormation refuses a template with others.
        .set_resource_types(Some(
            crate::render::resource_types()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        ))
        .description("deployer");
    call = match &req.template {
        Some(body) => call.template_body(body),
        None => call.use_previous_template(true),
    };
    if req.import_existing {
        call = call.import_existing_resources(true);
    }
    let out = call
        .send()
        .await
        .map_err(|e| clients.err(SERVICE, "CreateChangeSet", e))?;
    Ok((out.id.unwrap_or_default(), out.stack_id.unwrap_or_default()))
}

/// Where a change set is.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeSetState {
    Pending,
    Ready(Vec<Change>),
    /// CloudFormation found nothing to change.
    Empty,
    Failed(String),
}

/// The change set's status and, once it is ready, its changes (all pages).
pub async fn change_set_state(clients: &Clients, id: &str) -> Result<ChangeSetState, AwsError> {
    let mut changes = Vec::new();
    let mut token = None;
    loop {
        let out = clients
            .cfn
            .describe_change_set()
            .change_set_name(id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| clients.err(SERVICE, "DescribeChangeSet", e))?;
        match out.status {
            Some(ChangeSetStatus::CreateComplete) => {}
            Some(ChangeSetStatus::Failed) => {
                let reason = out.status_reason.unwrap_or_default();
                return Ok(if no_changes(&reason) {
                    ChangeSetState::Empty
                } else {
                    ChangeSetState::Failed(reason)
                });
            }
            _ => return Ok(ChangeSetState::Pending),
        }
        for change in out.changes.unwrap_or_default() {
            if let Some(rc) = change.resource_change {
                changes.push(Change {
                    action: rc.action.unwrap_or(crate::stack::ChangeAction::Modify),
                    logical_id: rc.logical_resource_id.unwrap_or_default(),
                    resource_type: rc.resource_type.unwrap_or_default(),
                    replacement: rc.replacement,
                });
            }
        }
        token = out.next_token;
        if token.is_none() {
            return Ok(ChangeSetState::Ready(changes));
        }
    }
}

/// A FAILED change set that only means "nothing to change". CloudFormation gives this outcome
/// no code: its StatusReason is "The submitted information didn't contain changes. Submit
/// different information to create a change set." or "No updates are to be performed."
/// (both seen in ansible-collections/amazon.aws#507).
pub fn no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

pub async fn execute_change_set(clients: &Clients, id: &str) -> Result<(), AwsError> {
    clients
        .cfn
        .execute_change_set()
        .change_set_name(id)
        .send()
        .await
        .map_err(|e| clients.err(SERVICE, "ExecuteChangeSet", e))?;
    Ok(())
}

pub async fn delete_change_set(clients: &Clients, id: &str) -> Result<(), AwsError> {
    clients
        .cfn
        .delete_change_set()
        .change_set_name(id)
        .send()
        .await
        .map_err(|e| clients.err(SERVICE, "DeleteChangeSet", e))?;
    Ok(())
}

/// Starts deleting a stack; `retain` keeps those resources (only for a DELETE_FAILED stack).
pub async fn delete_stack(
    clients: &Clients,
    stack: &str,
    retain: &[String],
) -> Result<(), AwsError> {
    clients
        .cfn
        .delete_stack()
        .stack_name(stack)
        .set_retain_resources((!retain.is_empty()).then(|| retain.to_vec()))
        .send()
        .await
        .map_err(|e| clients.err(SERVICE, "DeleteStack", e))?;
    Ok(())
}

/// Events not in `seen`, oldest first; marks them seen. Reads pages only until a seen one.
pub async fn new_events(
    clients: &Clients,
    stack_id: &str,
    seen: &mut HashSet<String>,
) -> Result<Vec<Event>, AwsError> {
    let mut fresh = Vec::new();
    let mut token = None;
    'pages: loop {
        let out = clients
            .cfn
            .describe_stack_events()
            .stack_name(stack_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| clients.err(SERVICE, "DescribeStackEvents", e))?;
        for e in out.stack_events.unwrap_or_default() {
            let id = e.event_id.unwrap_or_default();
            if seen.contains(&id) {
                break 'pages;
            }
            let Some(status) = e.resource_status else {
                continue;
            };
            fresh.push(Event {
                id,
                logical_id: e.logical_resource_id.unwrap_or_default(),
                resource_type: e.resource_type.unwrap_or_default(),
                status,
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

/// All events of a stack, oldest first.
pub async fn all_events(clients: &Clients, stack_id: &str) -> Result<Vec<Event>, AwsError> {
    new_events(clients, stack_id, &mut HashSet::new()).await
}

/// One resource of a stack.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub logical_id: String,
    pub physical_id: String,
    pub resource_type: String,
    pub status: String,
}

/// The stack's resources by logical id.
pub async fn resources(
    clients: &Clients,
    stack: &str,
) -> Result<BTreeMap<String, Resource>, AwsError> {
    let mut found = BTreeMap::new();
    let mut token = None;
    loop {
        let out = clients
            .cfn
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| clients.err(SERVICE, "ListStackResources", e))?;
        for r in out.stack_resource_summaries.unwrap_or_default() {
            let logical_id = r.logical_resource_id.unwrap_or_default();
            found.insert(
                logical_id.clone(),
                Resource {
                    logical_id,
                    physical_id: r.physical_resource_id.unwrap_or_default(),
                    resource_type: r.resource_type.unwrap_or_default(),
                    status: r
                        .resource_status
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                },
            );
        }
        token = out.next_token;
        if token.is_none() {
            return Ok(found);
        }
    }
}
