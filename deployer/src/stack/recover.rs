//! Failed states explained: the root cause among a failure's events, and for each state the
//! stack can be left in, what it means and what to do. Pure.

use super::{Event, StackStatus};

/// The first failure of an operation: the earliest FAILED resource event whose reason is not
/// a cancellation caused by another failure (CloudFormation reports the cascade too).
pub fn root_cause(events: &[Event]) -> Option<&Event> {
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
        .filter(|e| e.failed())
        .find(|e| !cascade(e) && !e.is_stack())
        .or_else(|| sorted.iter().copied().find(|e| e.failed()))
}

/// The root cause as one line: `Logical (Type) STATUS: reason`.
pub fn describe(event: &Event) -> String {
    format!(
        "{} ({}) {}: {}",
        event.logical_id,
        event.resource_type,
        event.status.as_str(),
        event.reason.as_deref().unwrap_or("no reason given")
    )
}

/// Every resource that failed to delete, as `Logical (Type): reason`.
pub fn delete_failures(events: &[Event]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.status == super::ResourceStatus::DeleteFailed && !e.is_stack())
    {
        if !out.iter().any(|(id, _)| *id == e.logical_id) {
            out.push((
                e.logical_id.clone(),
                format!(
                    "{} ({}): {}",
                    e.logical_id,
                    e.resource_type,
                    e.reason.as_deref().unwrap_or("no reason given")
                ),
            ));
        }
    }
    out
}

/// A state no deploy can start from, with why and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stuck {
    pub why: String,
    pub help: String,
}

/// What a settled state blocks, or `None` when `up` can go on from it.
pub fn stuck(status: &StackStatus, stack: &str) -> Option<Stuck> {
    let s = |why: &str, help: String| {
        Some(Stuck {
            why: why.into(),
            help,
        })
    };
    match status {
        StackStatus::RollbackFailed | StackStatus::CreateFailed => s(
            "its first create failed and CloudFormation could not roll it back",
            format!("run `deployer down` to delete what is left of {stack} (resources that cannot be deleted are named), then `deployer up`"),
        ),
        StackStatus::DeleteFailed => s(
            "an earlier delete did not finish",
            "run `deployer down` again: it names the resources that blocked the delete and what to do about each".into(),
        ),
        StackStatus::UpdateRollbackFailed => s(
            "an update failed and CloudFormation could not roll it back",
            format!("fix the resource named above, then run `aws cloudformation continue-update-rollback --stack-name {stack}` (add `--resources-to-skip <LogicalId>` for a resource that cannot be fixed) and `deployer up` again"),
        ),
        StackStatus::ImportRollbackFailed => s(
            "an import failed and could not be rolled back",
            format!("fix the resource named above, then `aws cloudformation continue-update-rollback --stack-name {stack}`, and `deployer up` again"),
        ),
        StackStatus::UpdateFailed => s(
            "an update failed with rollback disabled",
            format!("run `aws cloudformation rollback-stack --stack-name {stack}` (or fix the cause and update it by hand), then `deployer up`"),
        ),
        _ => None,
    }
}

/// What a finished operation's end state means for the user, when it is not success.
pub fn after_failure(status: &StackStatus) -> &'static str {
    match status {
        StackStatus::RollbackComplete => {
            "fix the cause above and run `deployer up` again: it deletes the failed stack and creates it anew"
        }
        StackStatus::UpdateRollbackComplete => {
            "the stack is back at its previous version; fix the cause above and run `deployer up` again"
        }
        StackStatus::RollbackFailed => {
            "run `deployer down` to delete what is left, then `deployer up` once the cause is fixed"
        }
        StackStatus::UpdateRollbackFailed => {
            "fix the resource named above, then `aws cloudformation continue-update-rollback` and `deployer up`"
        }
        StackStatus::ImportRollbackComplete => {
            "the import was undone; fix the cause above and run `deployer up` again"
        }
        _ => "fix the cause above; `deployer up` continues from this state, or `deployer down` removes the stack",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::ResourceStatus;

    fn ev(t: f64, id: &str, status: ResourceStatus, reason: &str) -> Event {
        Event {
            id: format!("{id}-{t}"),
            logical_id: id.into(),
            resource_type: if id == "stack" {
                "AWS::CloudFormation::Stack".into()
            } else {
                "AWS::X".into()
            },
            status,
            reason: Some(reason.into()),
            timestamp: t,
        }
    }

    #[test]
    fn the_root_cause_is_the_first_real_failure_not_the_cascade() {
        let events = vec![
            ev(1.0, "Table", ResourceStatus::CreateInProgress, ""),
            ev(
                2.0,
                "Domain",
                ResourceStatus::CreateFailed,
                "Domain already exists",
            ),
            ev(
                3.0,
                "Table",
                ResourceStatus::CreateFailed,
                "Resource creation cancelled",
            ),
            ev(
                4.0,
                "stack",
                ResourceStatus::RollbackInProgress,
                "The following resource(s) failed to create: [Domain, Table]",
            ),
        ];
        let cause = root_cause(&events).unwrap();
        assert_eq!(
            (cause.logical_id.as_str(), cause.reason.as_deref()),
            ("Domain", Some("Domain already exists"))
        );
        let mut reversed = events.clone();
        reversed.reverse();
        assert_eq!(root_cause(&reversed).unwrap().logical_id, "Domain");
    }

    #[test]
    fn every_failed_state_says_what_to_do_and_working_states_block_nothing() {
        for status in [
            StackStatus::RollbackFailed,
            StackStatus::DeleteFailed,
            StackStatus::UpdateRollbackFailed,
            StackStatus::ImportRollbackFailed,
            StackStatus::UpdateFailed,
        ] {
            let stuck = stuck(&status, "s").unwrap_or_else(|| panic!("{status:?}"));
            assert!(stuck.help.contains("deployer") || stuck.help.contains("aws cloudformation"));
        }
        assert!(stuck(&StackStatus::UpdateRollbackFailed, "s")
            .unwrap()
            .help
            .contains("continue-update-rollback --stack-name s"));
        for status in [
            StackStatus::CreateComplete,
            StackStatus::UpdateComplete,
            StackStatus::UpdateRollbackComplete,
            StackStatus::RollbackComplete,
        ] {
            assert_eq!(stuck(&status, "s"), None, "{status:?}");
        }
    }
}
