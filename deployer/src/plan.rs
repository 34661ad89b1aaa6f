//! What `up` will do, decided from the stack's state and the fingerprint. Pure.

use crate::aws::cloudformation::StackInfo;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The output holding the fingerprint of the last deploy.
pub const FINGERPRINT_OUTPUT: &str = "DeployFingerprint";

/// What to do with the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No stack (or one never executed): create it.
    Create,
    /// A failed first create left it in ROLLBACK_COMPLETE: delete it, then create it.
    Recreate,
    /// Update it through a change set.
    Update,
    /// The deployed fingerprint equals this one: nothing to do.
    Unchanged,
    /// Another operation is running on it: wait for it to settle.
    Wait { status: String },
    /// A state only a person can resolve.
    Refuse {
        status: String,
        why: String,
        help: String,
    },
}

pub fn decide(stack: Option<&StackInfo>, fingerprint: &str) -> Decision {
    let Some(stack) = stack else {
        return Decision::Create;
    };
    let status = stack.status.as_str();
    match status {
        "REVIEW_IN_PROGRESS" => Decision::Create,
        "ROLLBACK_COMPLETE" => Decision::Recreate,
        s if stack.in_progress() => Decision::Wait { status: s.to_owned() },
        "ROLLBACK_FAILED" | "CREATE_FAILED" => Decision::Refuse {
            status: status.into(),
            why: "a failed create could not be rolled back".into(),
            help: "run `deployer down` to delete what is left, then `deployer up`".into(),
        },
        "DELETE_FAILED" => Decision::Refuse {
            status: status.into(),
            why: "an earlier delete did not finish".into(),
            help: "run `deployer down` again (it lists the resources that blocked it), then `deployer up`".into(),
        },
        "UPDATE_ROLLBACK_FAILED" | "IMPORT_ROLLBACK_FAILED" => Decision::Refuse {
            status: status.into(),
            why: "an update failed and could not be rolled back".into(),
            help: format!(
                "fix the resource named in the stack events, then `aws cloudformation continue-update-rollback --stack-name {}` and run `deployer up` again",
                stack.name
            ),
        },
        _ => {
            let same = stack.outputs.get(FINGERPRINT_OUTPUT).map(String::as_str) == Some(fingerprint);
            if same && !status.contains("ROLLBACK") {
                Decision::Unchanged
            } else {
                Decision::Update
            }
        }
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

    fn stack(status: &str, fingerprint: Option<&str>) -> StackInfo {
        StackInfo {
            name: "s".into(),
            id: "id".into(),
            status: status.into(),
            reason: None,
            outputs: fingerprint
                .map(|f| (FINGERPRINT_OUTPUT.to_owned(), f.to_owned()))
                .into_iter()
                .collect(),
            tags: BTreeMap::new(),
            created: None,
        }
    }

    #[test]
    fn decisions_follow_the_stack_state() {
        assert_eq!(decide(None, "f"), Decision::Create);
        assert_eq!(
            decide(Some(&stack("REVIEW_IN_PROGRESS", None)), "f"),
            Decision::Create
        );
        assert_eq!(
            decide(Some(&stack("ROLLBACK_COMPLETE", Some("f"))), "f"),
            Decision::Recreate
        );
        assert_eq!(
            decide(Some(&stack("CREATE_COMPLETE", Some("f"))), "f"),
            Decision::Unchanged
        );
        assert_eq!(
            decide(Some(&stack("UPDATE_COMPLETE", Some("old"))), "f"),
            Decision::Update
        );
        // After a rolled-back update the outputs are the old ones: deploy again even if equal.
        assert_eq!(
            decide(Some(&stack("UPDATE_ROLLBACK_COMPLETE", Some("f"))), "f"),
            Decision::Update
        );
        assert_eq!(
            decide(Some(&stack("UPDATE_IN_PROGRESS", None)), "f"),
            Decision::Wait {
                status: "UPDATE_IN_PROGRESS".into()
            }
        );
        for status in ["DELETE_FAILED", "UPDATE_ROLLBACK_FAILED", "ROLLBACK_FAILED"] {
            assert!(
                matches!(
                    decide(Some(&stack(status, None)), "f"),
                    Decision::Refuse { .. }
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn the_fingerprint_changes_with_any_input() {
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
    }
}
