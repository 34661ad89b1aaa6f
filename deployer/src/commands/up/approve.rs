//! Whether a prepared change set may run: what it destroys, read from its changes and from the
//! deployed stack (never from the inputs alone), and who may say yes.

use crate::cancel::{Activity, Doing};
use crate::error::Error;
use crate::inputs::{Lifecycle, StackInputs};
use crate::stack::{Change, Stack};

/// Who may confirm a destructive change at the moment it is shown (`Session::person_at_terminal`
/// says whether a person can).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Nobody (CI, pipes): refuse unless --allow-replace.
    Never,
    /// A person at this terminal, asked on stderr and answering on stdin.
    Terminal,
}

/// Resource types whose replacement loses data: the pool (its users) and the table (its rows).
pub const PRECIOUS: &[&str] = &["AWS::Cognito::UserPool", "AWS::DynamoDB::Table"];

/// The changes that would destroy the pool or the table, as `Logical (Type)`. Pure.
pub fn destructive(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| c.destroys() && PRECIOUS.contains(&c.resource_type.as_str()))
        .map(|c| format!("{} ({})", c.logical_id, c.resource_type))
        .collect()
}

/// What a change set does to the Lambda backends' invoke permissions, which the CI roles may
/// not make or remove (docs/security.md, "The backends stay closed to the CI roles"): said
/// before it runs, so a CI job refused midway is no surprise. Pure.
pub fn backend_permissions(changes: &[Change], inputs: &StackInputs) -> Option<String> {
    // A copy has no backend (every route calls its whoami): nothing an admin must run.
    if crate::ephemeral::is_ephemeral(&inputs.deployer_tags) {
        return None;
    }
    let backends = crate::render::backend_permissions(inputs);
    let whoami = crate::render::permission_id(crate::inputs::WHOAMI);
    let touched: Vec<String> = changes
        .iter()
        .filter(|c| c.resource_type == "AWS::Lambda::Permission")
        .filter_map(|c| {
            let logical = c.logical_id.as_str();
            // Removed ones are no longer in the inputs: any Permission of a function not the
            // stack's is a backend's.
            let backend = backends
                .iter()
                .find(|(id, _)| id == logical)
                .map(|(_, arn)| arn.clone());
            match (backend, logical.starts_with("Permission")) {
                (Some(arn), _) => Some(format!("{logical} ({arn})")),
                (None, true) if c.destroys() && logical != whoami => Some(logical.to_owned()),
                _ => None,
            }
        })
        .collect();
    (!touched.is_empty()).then(|| format!(
        "this change makes or removes a Lambda backend's invoke permission ({}): it needs lambda:AddPermission or RemovePermission on that function, which the CI roles never hold; run this `up` with an admin's credentials",
        touched.join(", ")
    ))
}

/// What else makes an `up` destructive, decided from the deployed stack and the inputs
/// (pure): a kept stack made disposable (its table loses deletion protection and
/// point-in-time recovery, and goes with the stack), or a stack that was not ephemeral given
/// the ephemeral tags (gc and a pipeline's closing `down` would delete it).
pub fn downgrades(deployed: Option<&Stack>, inputs: &StackInputs) -> Vec<String> {
    let Some(stack) = deployed.filter(|s| s.is_ours()) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let ephemeral = crate::ephemeral::is_ephemeral;
    if stack.kept() && inputs.lifecycle == Lifecycle::Disposable {
        found.push(format!(
            "the lifecycle of {} from kept to disposable (its table loses deletion protection and point-in-time recovery, and is deleted with the stack)",
            stack.name
        ));
    }
    if ephemeral(&inputs.deployer_tags) && !ephemeral(&stack.tags) {
        found.push(format!(
            "the ephemeral tags on {}, which was not ephemeral (gc and a pipeline's down would delete it)",
            stack.name
        ));
    }
    found
}

/// Everything a change set would take away that needs a yes (pure): destroying the pool or
/// the table, a downgrade (`downgrades`), and when adopting a stack the deployer did not make,
/// removing any of its resources (they are not the deployer's to remove).
pub fn doomed(changes: &[Change], downgrades: &[String], adopting: bool) -> Vec<String> {
    let mut doomed = destructive(changes);
    if adopting {
        doomed.extend(
            changes
                .iter()
                .filter(|c| c.destroys() && !PRECIOUS.contains(&c.resource_type.as_str()))
                .map(|c| {
                    format!(
                        "{} ({}, not made by the deployer)",
                        c.logical_id, c.resource_type
                    )
                }),
        );
    }
    doomed.extend(downgrades.iter().cloned());
    doomed
}

/// Lets `doomed` through with --allow-replace or a person's yes at a terminal; else the
/// refusal. The question is read off the async threads, and Ctrl-C at it (`main` calls
/// `Activity::interrupt`) ends it at once with the interruption, so the caller removes the
/// change set before the run ends.
pub async fn approve(
    (stack, activity): (&str, &Activity),
    doomed: Vec<String>,
    allow_replace: bool,
    confirm: Confirm,
) -> Result<(), Error> {
    if doomed.is_empty() || allow_replace {
        return Ok(());
    }
    if confirm == Confirm::Terminal {
        let question = format!(
            "the change set destroys {} (users, rows or data are lost). Type yes to go on: ",
            doomed.join("; ")
        );
        let reading = tokio::task::spawn_blocking(move || {
            eprint!("{question}");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer).ok();
            answer
        });
        activity.set(stack, Doing::Asking);
        let answer = tokio::select! {
            answer = reading => answer.unwrap_or_default(),
            () = activity.stopped() => {
                eprintln!();
                return Err(activity.interrupted("up"));
            }
        };
        activity.set(stack, Doing::Preparing);
        if answer.trim() == "yes" {
            return Ok(());
        }
    }
    Err(Error::Destructive {
        stack: stack.into(),
        resources: doomed,
        help: "the change set was removed and nothing was executed. To accept the loss run `deployer up --allow-replace` (or answer yes at a terminal). Or change the inputs back (e.g. table.partitionKey, or lifecycle to kept); CloudFormation replaces a resource of a fixed name, like the table, only when the name changes too (table.name)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ephemeral::TAG_EPHEMERAL;
    use crate::stack::{StackStatus, FINGERPRINT_OUTPUT, LIFECYCLE_TAG, MANAGED_BY};
    use std::collections::BTreeMap;

    fn deployed(tags: &[(&str, &str)]) -> Stack {
        let mut all: BTreeMap<String, String> = tags
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        all.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
        Stack {
            name: "app".into(),
            id: "arn:aws:cloudformation:us-east-1:1:stack/app/x".into(),
            status: StackStatus::UpdateComplete,
            reason: None,
            outputs: BTreeMap::from([(FINGERPRINT_OUTPUT.to_owned(), "f".to_owned())]),
            tags: all,
            parameters: BTreeMap::new(),
            created: None,
            updated: None,
        }
    }

    fn inputs(lifecycle: &str) -> StackInputs {
        StackInputs::parse(
            &format!(
                r#"{{"stackName": "app", "userPoolDomainName": "d", "lifecycle": "{lifecycle}"}}"#
            ),
            "t.json",
        )
        .unwrap()
    }

    #[test]
    fn a_change_to_a_backends_permission_is_said_before_it_runs() {
        use crate::stack::ChangeAction;
        const ORDERS: &str = "arn:aws:lambda:us-east-1:123456789012:function:orders";
        let inputs = StackInputs::parse(
            &format!(
                r#"{{"stackName": "app", "userPoolDomainName": "d", "api": {{"routes": {{
                    "GET /o": {{"target": "{ORDERS}"}}, "GET /me": {{}}}}}}}}"#
            ),
            "t.json",
        )
        .unwrap();
        let change = |action: ChangeAction, id: &str| Change {
            action,
            logical_id: id.into(),
            resource_type: "AWS::Lambda::Permission".into(),
            replacement: None,
        };
        let backend = crate::render::permission_id(ORDERS);
        let whoami = crate::render::permission_id("whoami");
        let note = backend_permissions(&[change(ChangeAction::Add, &backend)], &inputs).unwrap();
        assert!(
            note.contains(ORDERS) && note.contains("admin's credentials"),
            "{note}"
        );
        // A backend no route calls any more: its permission goes.
        let gone = backend_permissions(
            &[change(ChangeAction::Remove, "Permission0a1b2c3d4e5f")],
            &inputs,
        );
        assert!(gone.unwrap().contains("Permission0a1b2c3d4e5f"));
        // The stack's own whoami, and anything else: nothing to say.
        assert_eq!(
            backend_permissions(&[change(ChangeAction::Add, &whoami)], &inputs),
            None
        );
        assert_eq!(
            backend_permissions(&[change(ChangeAction::Remove, &whoami)], &inputs),
            None
        );
        let route = Change {
            resource_type: "AWS::ApiGatewayV2::Route".into(),
            ..change(ChangeAction::Add, "Route0a1b2c3d4e5f")
        };
        assert_eq!(backend_permissions(&[route], &inputs), None);
        // A copy has no backend: never tell a pull request's job to find an admin.
        let mut copy = inputs.clone();
        copy.deployer_tags
            .insert(TAG_EPHEMERAL.into(), "true".into());
        assert_eq!(
            backend_permissions(&[change(ChangeAction::Remove, &backend)], &copy),
            None
        );
    }

    #[test]
    fn a_downgrade_is_read_from_the_deployed_stack_against_the_inputs() {
        let kept = deployed(&[(LIFECYCLE_TAG, "kept")]);
        assert_eq!(downgrades(Some(&kept), &inputs("disposable")).len(), 1);
        assert!(downgrades(Some(&kept), &inputs("kept")).is_empty());
        let disposable = deployed(&[(LIFECYCLE_TAG, "disposable")]);
        assert!(downgrades(Some(&disposable), &inputs("disposable")).is_empty());
        assert!(downgrades(None, &inputs("disposable")).is_empty());
        // Ephemeral tags on a stack that was not ephemeral.
        let mut copy = inputs("disposable");
        copy.deployer_tags
            .insert(TAG_EPHEMERAL.into(), "true".into());
        assert!(downgrades(Some(&disposable), &copy)[0].contains("ephemeral tags"));
        let already = deployed(&[(TAG_EPHEMERAL, "true")]);
        assert!(downgrades(Some(&already), &copy).is_empty());
    }
}
