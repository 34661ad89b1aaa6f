//! What to do with the stack, decided from what was observed and what the inputs ask for.
//! Pure: every decision is a value a test can look at; `execute` only follows it.

use super::recover;
use super::{
    ChangeKind, ChangeSetRequest, Desired, Event, ParamValue, Stack, StackStatus,
    FINGERPRINT_OUTPUT,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The world as `observe` read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub account: String,
    pub stack: Option<Stack>,
    /// For a stack in a failed state: the root cause among its events.
    pub cause: Option<Event>,
}

/// What `up` does with the stack.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// No stack, or a never-executed one (REVIEW_IN_PROGRESS): create it.
    Create,
    /// A failed first create left it in ROLLBACK_COMPLETE: delete it, then create it.
    Recreate { reason: Option<String> },
    /// Update it through a change set.
    Update,
    /// The deployed fingerprint equals this one: nothing to do.
    NoOp,
    /// Another operation is running on it: wait for it to settle, then decide again.
    Wait { status: StackStatus },
    /// A state only a person can resolve.
    Refuse(Refusal),
}

/// Why `up` will not touch the stack, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: String,
    pub why: String,
    pub help: String,
    /// The root cause, as one line, when the stack failed.
    pub cause: Option<String>,
}

/// Everything `up` will do, decided before doing any of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub stack: String,
    pub action: Action,
    /// The change set to make, for Create, Recreate and Update.
    pub change_set: Option<ChangeSetRequest>,
    /// The artifact to upload first (bucket, key), for the same actions.
    pub upload: Option<(String, String)>,
    pub fingerprint: String,
}

/// Decides what `up` does. `change_set_name` names the change set it would make.
pub fn decide(observed: &Observed, desired: &Desired, change_set_name: &str) -> Plan {
    let action = action(observed, desired);
    let kind = match &action {
        Action::Create | Action::Recreate { .. } => Some(ChangeKind::Create),
        Action::Update => Some(ChangeKind::Update),
        _ => None,
    };
    let change_set = kind.map(|kind| ChangeSetRequest {
        stack: desired.stack.clone(),
        name: change_set_name.to_owned(),
        kind,
        template: Some(desired.template.clone()),
        parameters: desired
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), ParamValue::Value(v.clone())))
            .collect(),
        tags: desired.tags.clone(),
        imports: Vec::new(),
    });
    let upload = change_set.as_ref().and_then(|_| {
        Some((
            desired.parameters.get("ArtifactBucket")?.clone(),
            desired.parameters.get("ArtifactKey")?.clone(),
        ))
    });
    Plan {
        stack: desired.stack.clone(),
        action,
        change_set,
        upload,
        fingerprint: desired.fingerprint.clone(),
    }
}

fn action(observed: &Observed, desired: &Desired) -> Action {
    let Some(stack) = &observed.stack else {
        return Action::Create;
    };
    match &stack.status {
        StackStatus::ReviewInProgress => return Action::Create,
        StackStatus::RollbackComplete => {
            return Action::Recreate {
                reason: stack.reason.clone().filter(|r| !r.is_empty()),
            }
        }
        s if stack.in_progress() => return Action::Wait { status: s.clone() },
        _ => {}
    }
    if let Some(stuck) = recover::stuck(&stack.status, &stack.name) {
        return Action::Refuse(Refusal {
            status: stack.status.as_str().to_owned(),
            why: stuck.why,
            help: stuck.help,
            cause: observed.cause.as_ref().map(recover::describe),
        });
    }
    let same = stack.outputs.get(FINGERPRINT_OUTPUT) == Some(&desired.fingerprint);
    // After a rolled-back update the outputs are the old ones: deploy again even if equal.
    let rolled_back = stack.status.as_str().contains("ROLLBACK");
    if same && !rolled_back {
        Action::NoOp
    } else {
        Action::Update
    }
}

/// Tags left out of the fingerprint: a redeploy with nothing else changed is a no-op (and
/// keeps its first expiry).
pub const VOLATILE_TAGS: &[&str] = &[crate::ephemeral::TAG_EXPIRES];

/// What the inputs ask for, with the fingerprint of the template, parameters and stable tags.
pub fn desired(
    stack: &str,
    template: String,
    parameters: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
) -> Desired {
    let stable: BTreeMap<String, String> = tags
        .iter()
        .filter(|(k, _)| !VOLATILE_TAGS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let fingerprint = fingerprint(&template, &parameters, &stable);
    let mut parameters = parameters;
    parameters.insert(FINGERPRINT_OUTPUT.into(), fingerprint.clone());
    Desired {
        stack: stack.into(),
        template,
        parameters,
        tags,
        fingerprint,
    }
}

/// Hash of everything a deploy sends: template, parameters and stack tags.
pub fn fingerprint(
    template: &str,
    parameters: &BTreeMap<String, String>,
    tags: &BTreeMap<String, String>,
) -> String {
    let mut hash = Sha256::new();
    hash.update(template.as_bytes());
    for (section, map) in [("parameters", parameters), ("tags", tags)] {
        hash.update(section.as_bytes());
        for (k, v) in map {
            hash.update((k.len() as u64).to_le_bytes());
            hash.update(k.as_bytes());
            hash.update((v.len() as u64).to_le_bytes());
            hash.update(v.as_bytes());
        }
    }
    hex::encode(hash.finalize())[..32].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(status: StackStatus, fingerprint: Option<&str>) -> Stack {
        Stack {
            name: "s".into(),
            id: "id".into(),
            status,
            reason: None,
            outputs: fingerprint
                .map(|f| (FINGERPRINT_OUTPUT.to_owned(), f.to_owned()))
                .into_iter()
                .collect(),
            tags: BTreeMap::new(),
            parameters: BTreeMap::new(),
            created: None,
            updated: None,
        }
    }

    fn want() -> Desired {
        desired(
            "s",
            "tpl".into(),
            BTreeMap::from([
                ("ArtifactBucket".to_owned(), "b".to_owned()),
                ("ArtifactKey".to_owned(), "k".to_owned()),
            ]),
            BTreeMap::new(),
        )
    }

    fn act(stack: Option<Stack>) -> Action {
        let observed = Observed {
            account: "1".into(),
            stack,
            cause: None,
        };
        decide(&observed, &want(), "cs").action
    }

    #[test]
    fn decisions_follow_the_stack_state() {
        let f = want().fingerprint;
        assert_eq!(act(None), Action::Create);
        assert_eq!(
            act(Some(stack(StackStatus::ReviewInProgress, None))),
            Action::Create
        );
        assert_eq!(
            act(Some(stack(StackStatus::RollbackComplete, Some(&f)))),
            Action::Recreate { reason: None }
        );
        assert_eq!(
            act(Some(stack(StackStatus::CreateComplete, Some(&f)))),
            Action::NoOp
        );
        assert_eq!(
            act(Some(stack(StackStatus::UpdateComplete, Some("old")))),
            Action::Update
        );
        assert_eq!(
            act(Some(stack(StackStatus::UpdateRollbackComplete, Some(&f)))),
            Action::Update,
            "after a rolled-back update the outputs are the old ones"
        );
        assert_eq!(
            act(Some(stack(StackStatus::UpdateInProgress, None))),
            Action::Wait {
                status: StackStatus::UpdateInProgress
            }
        );
        for status in [
            StackStatus::DeleteFailed,
            StackStatus::UpdateRollbackFailed,
            StackStatus::RollbackFailed,
        ] {
            assert!(
                matches!(act(Some(stack(status.clone(), None))), Action::Refuse(_)),
                "{status:?}"
            );
        }
    }

    #[test]
    fn a_create_or_update_plans_the_upload_and_a_change_set_of_its_kind() {
        let plan = decide(
            &Observed {
                account: "1".into(),
                stack: None,
                cause: None,
            },
            &want(),
            "deployer-1",
        );
        assert_eq!(plan.upload, Some(("b".into(), "k".into())));
        let cs = plan.change_set.unwrap();
        assert_eq!(
            (cs.kind, cs.name.as_str()),
            (ChangeKind::Create, "deployer-1")
        );
        assert_eq!(
            cs.parameters[FINGERPRINT_OUTPUT],
            ParamValue::Value(want().fingerprint)
        );
        let noop = decide(
            &Observed {
                account: "1".into(),
                stack: Some(stack(
                    StackStatus::UpdateComplete,
                    Some(&want().fingerprint),
                )),
                cause: None,
            },
            &want(),
            "x",
        );
        assert_eq!((noop.change_set, noop.upload), (None, None));
    }

    #[test]
    fn the_fingerprint_changes_with_any_input_but_not_the_expiry() {
        let p = BTreeMap::from([("ArtifactKey".to_owned(), "a".to_owned())]);
        let t = BTreeMap::new();
        let base = fingerprint("tpl", &p, &t);
        assert_eq!(base, fingerprint("tpl", &p, &t));
        assert_ne!(base, fingerprint("tpl2", &p, &t));
        assert_ne!(
            base,
            fingerprint(
                "tpl",
                &BTreeMap::from([("ArtifactKey".to_owned(), "b".to_owned())]),
                &t
            )
        );
        assert_ne!(
            base,
            fingerprint(
                "tpl",
                &p,
                &BTreeMap::from([("team".to_owned(), "x".to_owned())])
            )
        );
        let with_expiry = |at: &str| {
            desired(
                "s",
                "tpl".into(),
                p.clone(),
                BTreeMap::from([(crate::ephemeral::TAG_EXPIRES.to_owned(), at.to_owned())]),
            )
            .fingerprint
        };
        assert_eq!(
            with_expiry("2026-01-01T00:00:00Z"),
            with_expiry("2027-01-01T00:00:00Z")
        );
    }
}
