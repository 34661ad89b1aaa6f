//! What to do with the stack, decided from what was observed and what the inputs ask for.
//! Pure: every decision is a value a test can look at; `execute` only follows it.

use super::recover;
use super::{
    ArtifactLocation, ChangeKind, ChangeSetRequest, Desired, Event, ParamValue, Stack, StackStatus,
    ARTIFACT_BUCKET, ARTIFACT_KEY, FINGERPRINT_OUTPUT, POOL_PROTECTION, TABLE_PROTECTION,
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
    /// A table of the name the stack would create, existing outside any stack.
    pub table: Option<TableClaim>,
}

/// Who a table of the stack's table name belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableClaim {
    /// Left behind by an earlier stack of this name (a kept stack's data, by its tags): the
    /// create brings it back in.
    Retained { name: String },
    /// Not made by this stack: the create would fail on it.
    Foreign { name: String },
}

/// Choices the user makes on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Take over a stack of this name that the deployer did not create.
    pub adopt: bool,
}

/// What `up` does with the stack.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// No stack, or a never-executed one (REVIEW_IN_PROGRESS): create it.
    Create,
    /// A failed first create left it in ROLLBACK_COMPLETE: delete it (that stack, by its id),
    /// then create it.
    Recreate {
        reason: Option<String>,
        stack_id: String,
    },
    /// Update it through a change set.
    Update,
    /// The deployed fingerprint equals this one: nothing to do.
    NoOp,
    /// Another operation is running on it: wait for it to settle, then decide again.
    Wait { status: StackStatus },
    /// A state only a person can resolve, or something that is not ours.
    Refuse(Refusal),
}

/// Why `up` will not go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The stack is in a failed state (exit 3).
    Stuck,
    /// The stack was not made by the deployer (exit 2).
    Foreign,
    /// The table name is taken by a table the stack did not make (exit 2).
    TableTaken,
}

/// Why `up` will not touch the stack, and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub status: String,
    pub why: String,
    pub help: String,
    /// The root cause, as one line, when the stack failed.
    pub cause: Option<String>,
}

impl Refusal {
    /// The error `up` ends with: a failed state is exit 3, what is not ours exit 2.
    pub fn to_error(&self, stack: &str) -> crate::error::Error {
        use crate::error::Error;
        match self.kind {
            RefusalKind::Stuck => Error::Stuck {
                stack: stack.into(),
                status: self.status.clone(),
                why: match &self.cause {
                    Some(cause) => format!("{}; root cause: {cause}", self.why),
                    None => self.why.clone(),
                },
                help: self.help.clone(),
            },
            RefusalKind::Foreign | RefusalKind::TableTaken => Error::Refused {
                stack: stack.into(),
                status: self.status.clone(),
                why: self.why.clone(),
                help: self.help.clone(),
            },
        }
    }
}

/// Everything `up` will do, decided before doing any of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub stack: String,
    pub action: Action,
    /// The change set to make, for Create, Recreate and Update.
    pub change_set: Option<ChangeSetRequest>,
    /// After a create, the update that switches deletion protection on (kept stacks): only a
    /// stack that exists has something to protect, and a failed first create must be able to
    /// delete what it made.
    pub protect: Option<ChangeSetRequest>,
    /// The artifact to upload first, for the same actions.
    pub upload: Option<ArtifactLocation>,
    /// A retained table the create brings back in.
    pub adopts_table: Option<String>,
    pub fingerprint: String,
}

/// The fingerprint a kept stack carries between its create and its protection: not the
/// desired one, so an interrupted `up` is not taken for a finished one.
pub fn unprotected(fingerprint: &str) -> String {
    format!("{fingerprint}-unprotected")
}

/// Decides what `up` does. `change_set_name` names the change sets it would make.
pub fn decide(
    observed: &Observed,
    desired: &Desired,
    options: Options,
    change_set_name: &str,
) -> Plan {
    let action = action(observed, desired, options);
    let creating = matches!(action, Action::Create | Action::Recreate { .. });
    let kind = match &action {
        Action::Create | Action::Recreate { .. } => Some(ChangeKind::Create),
        Action::Update => Some(ChangeKind::Update),
        _ => None,
    };
    let adopts_table = match &observed.table {
        Some(TableClaim::Retained { name }) if creating => Some(name.clone()),
        _ => None,
    };
    let values = |overrides: &[(&str, &str)]| -> BTreeMap<String, ParamValue> {
        desired
            .parameters
            .iter()
            .map(|(k, v)| {
                let v = overrides
                    .iter()
                    .find(|(name, _)| name == k)
                    .map(|(_, value)| (*value).to_owned())
                    .unwrap_or_else(|| v.clone());
                (k.clone(), ParamValue::Value(v))
            })
            .collect()
    };
    let protect_later = creating && desired.protected;
    let unprotected_fingerprint = unprotected(&desired.fingerprint);
    let change_set = kind.map(|kind| ChangeSetRequest {
        stack: desired.stack.clone(),
        name: change_set_name.to_owned(),
        kind,
        template: Some(desired.template.clone()),
        parameters: if protect_later {
            values(&[
                (POOL_PROTECTION, "INACTIVE"),
                (TABLE_PROTECTION, "false"),
                (FINGERPRINT_OUTPUT, &unprotected_fingerprint),
            ])
        } else {
            values(&[])
        },
        tags: desired.tags.clone(),
        import_existing: adopts_table.is_some(),
    });
    let protect = protect_later.then(|| protect_request(desired, change_set_name));
    let upload = change_set.as_ref().map(|_| desired.artifact.clone());
    Plan {
        stack: desired.stack.clone(),
        action,
        change_set,
        protect,
        upload,
        adopts_table,
        fingerprint: desired.fingerprint.clone(),
    }
}

/// After a kept stack's create, the update that switches its protection on and changes
/// nothing else (the template and every other parameter as they are).
fn protect_request(desired: &Desired, change_set_name: &str) -> ChangeSetRequest {
    ChangeSetRequest {
        stack: desired.stack.clone(),
        name: format!("{change_set_name}-protect"),
        kind: ChangeKind::Update,
        template: None,
        parameters: desired
            .parameters
            .iter()
            .map(|(k, v)| {
                let value = match k.as_str() {
                    POOL_PROTECTION | TABLE_PROTECTION | FINGERPRINT_OUTPUT => {
                        ParamValue::Value(v.clone())
                    }
                    _ => ParamValue::UsePrevious,
                };
                (k.clone(), value)
            })
            .collect(),
        tags: desired.tags.clone(),
        import_existing: false,
    }
}

/// Whether `up` would create the stack from this state.
pub fn creates(stack: Option<&Stack>) -> bool {
    match stack {
        None => true,
        Some(s) => matches!(
            s.status,
            StackStatus::ReviewInProgress | StackStatus::RollbackComplete
        ),
    }
}

/// Why `up` will not touch the stack whatever the inputs ask for: a stack the deployer did
/// not make, a failed state only a person can resolve, or a create that would fail on a table
/// the stack did not make. Decided from the observed world and the options alone, so `up`
/// refuses before it builds anything.
pub fn refusal(stack_name: &str, observed: &Observed, options: Options) -> Option<Refusal> {
    if let Some(stack) = &observed.stack {
        if stack.status != StackStatus::ReviewInProgress && !stack.is_ours() && !options.adopt {
            return Some(Refusal {
                kind: RefusalKind::Foreign,
                status: stack.status.as_str().to_owned(),
                why: super::not_ours(),
                help: "pick another stackName, or run `deployer up --adopt` to take this stack over on purpose (its resources are then changed to match the inputs, destructive changes still need --allow-replace)".into(),
                cause: None,
            });
        }
        if let Some(stuck) = recover::stuck(&stack.status, &stack.name) {
            return Some(Refusal {
                kind: RefusalKind::Stuck,
                status: stack.status.as_str().to_owned(),
                why: stuck.why,
                help: stuck.help,
                cause: observed.cause.as_ref().map(recover::describe),
            });
        }
    }
    match &observed.table {
        Some(TableClaim::Foreign { name }) if creates(observed.stack.as_ref()) => Some(Refusal {
            kind: RefusalKind::TableTaken,
            status: "not created".into(),
            why: format!(
                "the table {name} exists and was not made by stack {stack_name} (its tags do not say so), so creating the stack would fail on it"
            ),
            help: format!(
                "set \"table\": {{\"name\": ...}} in stack-inputs.json to another name, or move the data out of {name} and delete it; the deployer never takes over a table it did not make"
            ),
            cause: None,
        }),
        _ => None,
    }
}

fn action(observed: &Observed, desired: &Desired, options: Options) -> Action {
    if let Some(refusal) = refusal(&desired.stack, observed, options) {
        return Action::Refuse(refusal);
    }
    let Some(stack) = &observed.stack else {
        return Action::Create;
    };
    match &stack.status {
        // A change set never executed: the stack has no resources yet.
        StackStatus::ReviewInProgress => Action::Create,
        StackStatus::RollbackComplete => Action::Recreate {
            reason: stack.reason.clone().filter(|r| !r.is_empty()),
            stack_id: stack.id.clone(),
        },
        s if stack.in_progress() => Action::Wait { status: s.clone() },
        // After a rolled-back update the outputs are the old ones: deploy again even if equal.
        s if stack.outputs.get(FINGERPRINT_OUTPUT) == Some(&desired.fingerprint)
            && !s.as_str().contains("ROLLBACK") =>
        {
            Action::NoOp
        }
        _ => Action::Update,
    }
}

/// Tags left out of the fingerprint: a redeploy with nothing else changed is a no-op (and
/// keeps its first expiry).
pub const VOLATILE_TAGS: &[&str] = &[crate::ephemeral::TAG_EXPIRES];

/// What the inputs ask for, with the fingerprint of the template, parameters and stable tags.
/// `protected` (a kept stack) asks for deletion protection on the pool and the table.
pub fn desired(
    stack: &str,
    template: String,
    artifact: &ArtifactLocation,
    tags: BTreeMap<String, String>,
    protected: bool,
    extra: BTreeMap<String, String>,
) -> Desired {
    // A stack on an existing pool (`pool::EXISTING_POOL`) holds no pool to protect.
    let own_pool = !extra.contains_key(crate::pool::EXISTING_POOL);
    let mut parameters = extra;
    parameters.insert(ARTIFACT_BUCKET.to_owned(), artifact.bucket.clone());
    parameters.insert(ARTIFACT_KEY.to_owned(), artifact.key.clone());
    if own_pool {
        parameters.insert(
            POOL_PROTECTION.into(),
            if protected { "ACTIVE" } else { "INACTIVE" }.into(),
        );
    }
    parameters.insert(
        TABLE_PROTECTION.into(),
        if protected { "true" } else { "false" }.into(),
    );
    let stable: BTreeMap<String, String> = tags
        .iter()
        .filter(|(k, _)| !VOLATILE_TAGS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let fingerprint = fingerprint(&template, &parameters, &stable);
    parameters.insert(FINGERPRINT_OUTPUT.into(), fingerprint.clone());
    Desired {
        stack: stack.into(),
        template,
        artifact: artifact.clone(),
        parameters,
        tags,
        fingerprint,
        protected,
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
    use crate::stack::MANAGED_BY;

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
            tags: BTreeMap::from([(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned())]),
            parameters: BTreeMap::from([(FINGERPRINT_OUTPUT.to_owned(), "p".to_owned())]),
            created: None,
            updated: None,
        }
    }

    fn location() -> ArtifactLocation {
        ArtifactLocation {
            bucket: "b".into(),
            key: "k".into(),
        }
    }

    fn want_kept(kept: bool) -> Desired {
        desired(
            "s",
            "tpl".into(),
            &location(),
            BTreeMap::new(),
            kept,
            BTreeMap::new(),
        )
    }

    fn want() -> Desired {
        want_kept(false)
    }

    fn observed(stack: Option<Stack>) -> Observed {
        Observed {
            account: "1".into(),
            stack,
            cause: None,
            table: None,
        }
    }

    fn act(stack: Option<Stack>) -> Action {
        decide(&observed(stack), &want(), Options::default(), "cs").action
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
            Action::Recreate {
                reason: None,
                stack_id: stack(StackStatus::RollbackComplete, None).id
            }
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
                matches!(
                    act(Some(stack(status.clone(), None))),
                    Action::Refuse(Refusal {
                        kind: RefusalKind::Stuck,
                        ..
                    })
                ),
                "{status:?}"
            );
        }
    }

    #[test]
    fn a_stack_the_deployer_did_not_create_is_refused_unless_adopted() {
        let mut foreign = stack(StackStatus::UpdateComplete, Some("x"));
        foreign.tags.clear();
        let refused = decide(
            &observed(Some(foreign.clone())),
            &want(),
            Options::default(),
            "cs",
        );
        assert!(
            matches!(&refused.action, Action::Refuse(r) if r.kind == RefusalKind::Foreign && r.help.contains("--adopt"))
        );
        assert_eq!((refused.change_set, refused.upload), (None, None));
        // The tag alone is not enough: the fingerprint must be there too.
        let mut tag_only = stack(StackStatus::UpdateComplete, None);
        tag_only.parameters.clear();
        assert!(matches!(
            act(Some(tag_only)),
            Action::Refuse(Refusal {
                kind: RefusalKind::Foreign,
                ..
            })
        ));
        // Even busy, a foreign stack is not waited for.
        let mut busy = foreign.clone();
        busy.status = StackStatus::UpdateInProgress;
        assert!(matches!(act(Some(busy)), Action::Refuse(_)));
        let adopted = decide(
            &observed(Some(foreign)),
            &want(),
            Options { adopt: true },
            "cs",
        );
        assert_eq!(adopted.action, Action::Update);
    }

    #[test]
    fn a_create_or_update_plans_the_upload_and_a_change_set_of_its_kind() {
        let plan = decide(&observed(None), &want(), Options::default(), "deployer-1");
        assert_eq!(plan.upload, Some(location()));
        let cs = plan.change_set.unwrap();
        assert_eq!(
            (cs.kind, cs.name.as_str()),
            (ChangeKind::Create, "deployer-1")
        );
        assert_eq!(
            cs.parameters[FINGERPRINT_OUTPUT],
            ParamValue::Value(want().fingerprint)
        );
        assert_eq!(
            cs.parameters[POOL_PROTECTION],
            ParamValue::Value("INACTIVE".into())
        );
        assert_eq!(plan.protect, None, "a disposable stack is never protected");
        let noop = decide(
            &observed(Some(stack(
                StackStatus::UpdateComplete,
                Some(&want().fingerprint),
            ))),
            &want(),
            Options::default(),
            "x",
        );
        assert_eq!((noop.change_set, noop.upload), (None, None));
    }

    #[test]
    fn a_kept_stack_is_created_unprotected_then_protected_by_an_update() {
        let kept = want_kept(true);
        let plan = decide(&observed(None), &kept, Options::default(), "c");
        let create = plan.change_set.unwrap();
        assert_eq!(
            create.parameters[POOL_PROTECTION],
            ParamValue::Value("INACTIVE".into())
        );
        assert_eq!(
            create.parameters[TABLE_PROTECTION],
            ParamValue::Value("false".into())
        );
        assert_eq!(
            create.parameters[FINGERPRINT_OUTPUT],
            ParamValue::Value(unprotected(&kept.fingerprint)),
            "until protected, the stack does not look finished"
        );
        let protect = plan.protect.unwrap();
        assert_eq!(
            (protect.kind, protect.template.as_deref()),
            (ChangeKind::Update, None)
        );
        assert_eq!(
            protect.parameters[POOL_PROTECTION],
            ParamValue::Value("ACTIVE".into())
        );
        assert_eq!(
            protect.parameters[TABLE_PROTECTION],
            ParamValue::Value("true".into())
        );
        assert_eq!(
            protect.parameters[FINGERPRINT_OUTPUT],
            ParamValue::Value(kept.fingerprint.clone())
        );
        assert_eq!(protect.parameters["ArtifactKey"], ParamValue::UsePrevious);
        // A kept stack left unprotected (an interrupted up) is updated, which protects it.
        let half = stack(
            StackStatus::CreateComplete,
            Some(&unprotected(&kept.fingerprint)),
        );
        let again = decide(&observed(Some(half)), &kept, Options::default(), "c2");
        assert_eq!(again.action, Action::Update);
        assert_eq!(
            again.change_set.unwrap().parameters[POOL_PROTECTION],
            ParamValue::Value("ACTIVE".into())
        );
        assert_eq!(again.protect, None);
    }

    #[test]
    fn a_retained_table_is_brought_back_and_a_foreign_one_refused() {
        let mut world = observed(None);
        world.table = Some(TableClaim::Retained {
            name: "s-users".into(),
        });
        let plan = decide(&world, &want_kept(true), Options::default(), "c");
        assert_eq!(plan.adopts_table.as_deref(), Some("s-users"));
        assert!(plan.change_set.unwrap().import_existing);
        world.table = Some(TableClaim::Foreign {
            name: "s-users".into(),
        });
        let plan = decide(&world, &want_kept(true), Options::default(), "c");
        assert!(
            matches!(&plan.action, Action::Refuse(r) if r.kind == RefusalKind::TableTaken && r.why.contains("s-users"))
        );
        assert_eq!((plan.change_set, plan.upload), (None, None));
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
                &location(),
                BTreeMap::from([(crate::ephemeral::TAG_EXPIRES.to_owned(), at.to_owned())]),
                false,
                BTreeMap::new(),
            )
            .fingerprint
        };
        assert_eq!(
            with_expiry("2026-01-01T00:00:00Z"),
            with_expiry("2027-01-01T00:00:00Z")
        );
        assert_ne!(want_kept(true).fingerprint, want_kept(false).fingerprint);
    }
}
