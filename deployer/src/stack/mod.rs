//! The deploy engine: `observe` reads the world into a value, `plan` decides what to do (pure),
//! `changeset` carries a change through (prepare, then run or discard), `wait` is the one place
//! that waits, `delete` removes a stack, `recover` explains failed states. The types here are
//! what they share; statuses and change actions are the SDK's enums.

pub mod changeset;
pub mod delete;
pub mod observe;
pub mod plan;
pub mod recover;
pub mod wait;

pub use aws_sdk_cloudformation::types::{ChangeAction, Replacement, ResourceStatus, StackStatus};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The tag that marks a stack as the deployer's.
pub const MANAGED_BY: (&str, &str) = ("managed-by", "deployer");
/// The tag naming the stack a resource belongs to: the CI roles' pool statements match it
/// (a pool's id is generated, so its ARN cannot say whose it is).
pub const STACK_TAG: &str = "deployer:stack";
/// The tag recording the lifecycle a stack was deployed with (`kept` or `disposable`): `down`
/// decides from it, never from the inputs file at hand.
pub const LIFECYCLE_TAG: &str = "deployer:lifecycle";
/// The output holding the fingerprint of the last deploy.
pub const FINGERPRINT_OUTPUT: &str = "DeployFingerprint";
/// The template parameters that switch deletion protection (kept stacks, once created).
pub const POOL_PROTECTION: &str = "PoolDeletionProtection";
pub const TABLE_PROTECTION: &str = "TableDeletionProtection";
/// The template's table, the one resource a kept stack leaves behind.
pub const TABLE_LOGICAL_ID: &str = "UsersTable";
/// The template parameters that say where the trigger's zip is.
pub const ARTIFACT_BUCKET: &str = "ArtifactBucket";
pub const ARTIFACT_KEY: &str = "ArtifactKey";
/// The API's zips (stacks with an `api`).
pub const AUTHORIZER_KEY: &str = "AuthorizerKey";
pub const WHOAMI_KEY: &str = "WhoamiKey";

/// The stack's outputs, by the names the template gives them.
pub mod output {
    pub const USER_POOL_ID: &str = "UserPoolId";
    pub const USER_POOL_ARN: &str = "UserPoolArn";
    pub const USER_POOL_CLIENT_ID: &str = "UserPoolClientId";
    pub const USER_POOL_DOMAIN: &str = "UserPoolDomain";
    pub const HOSTED_UI_URL: &str = "HostedUiUrl";
    pub const TABLE_NAME: &str = "TableName";
    pub const FUNCTION_NAME: &str = "FunctionName";
    pub const FUNCTION_ARN: &str = "FunctionArn";
    pub const TRIGGER_ARN: &str = "TriggerArn";
    pub const EVENT_VERSION: &str = "EventVersion";
    pub const REGION: &str = "Region";
    pub const STACK_NAME: &str = "StackName";
    /// A stack with an `api`.
    pub const API_ID: &str = "ApiId";
    pub const API_ENDPOINT: &str = "ApiEndpoint";
    pub const AUTHORIZER_FUNCTION_NAME: &str = "AuthorizerFunctionName";
    pub const AUTHORIZER_ARN: &str = "AuthorizerArn";
    /// A stack whose routes call the built-in `whoami`.
    pub const WHOAMI_FUNCTION_NAME: &str = "WhoamiFunctionName";
    /// Every output the template must declare.
    pub const ALL: &[&str] = &[
        USER_POOL_ID,
        USER_POOL_ARN,
        USER_POOL_CLIENT_ID,
        USER_POOL_DOMAIN,
        HOSTED_UI_URL,
        TABLE_NAME,
        FUNCTION_NAME,
        FUNCTION_ARN,
        TRIGGER_ARN,
        EVENT_VERSION,
        REGION,
        STACK_NAME,
        super::FINGERPRINT_OUTPUT,
    ];
}

/// The outputs as a person on this machine uses them: against a local emulator, the hosted
/// UI address points at the emulator (which serves it on its own endpoint, at Cognito's
/// `/oauth2/authorize`, where AWS's `/login` also starts), not at the AWS domain, which does
/// not resolve for a local pool.
pub fn localized(
    mut outputs: BTreeMap<String, String>,
    emulator: Option<&str>,
) -> BTreeMap<String, String> {
    // The emulator serves an HTTP API on its own endpoint, under `/_aws/execute-api/<api id>`
    // and the stage (`$default`).
    if let (Some(endpoint), Some(api)) = (emulator, outputs.get(output::API_ID).cloned()) {
        outputs.insert(
            output::API_ENDPOINT.to_owned(),
            format!(
                "{}/_aws/execute-api/{api}/$default",
                endpoint.trim_end_matches('/')
            ),
        );
    }
    if let (Some(endpoint), Some(url)) = (emulator, outputs.get_mut(output::HOSTED_UI_URL)) {
        if let Some((_, query)) = url.split_once("/login?") {
            *url = format!(
                "{}/oauth2/authorize?{query}",
                endpoint.trim_end_matches('/')
            );
        }
    }
    outputs
}

/// Where the trigger's zip is in S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactLocation {
    pub bucket: String,
    pub key: String,
}

/// Why a stack is not the deployer's to touch, in short (a table cell).
pub const NOT_OURS: &str = "not created by the deployer";

/// Why a stack is not the deployer's to touch: the one wording `up`, `down` and `gc` use.
pub fn not_ours() -> String {
    format!(
        "it was {NOT_OURS} (no {}={} tag and {} parameter), so it is left alone",
        MANAGED_BY.0, MANAGED_BY.1, FINGERPRINT_OUTPUT
    )
}

/// A change set name no other run uses: `deployer-<purpose>-<millis>-<random>`.
pub fn change_set_name(purpose: &str) -> String {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the OS random source");
    let millis = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("deployer-{purpose}-{millis}-{}", hex::encode(bytes))
}

/// A stack as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub name: String,
    pub id: String,
    pub status: StackStatus,
    pub reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    pub created: Option<SystemTime>,
    pub updated: Option<SystemTime>,
}

impl Stack {
    /// Another operation is running on it (REVIEW_IN_PROGRESS is a never-executed create: idle).
    pub fn in_progress(&self) -> bool {
        in_progress(&self.status)
    }

    /// Whether the deployer made it: its `managed-by` tag and its fingerprint, an output once
    /// the stack exists and a parameter from the first change set on (a failed first create
    /// has parameters but no outputs).
    pub fn is_ours(&self) -> bool {
        self.tags.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1)
            && (self.outputs.contains_key(FINGERPRINT_OUTPUT)
                || self.parameters.contains_key(FINGERPRINT_OUTPUT))
    }

    /// The project it belongs to: the base stack an ephemeral copy names in its tags, else
    /// its own name.
    pub fn project(&self) -> &str {
        crate::ephemeral::project_of(&self.name, &self.tags)
    }

    /// Whether it is a base stack or an ephemeral copy (its tags say).
    pub fn kind(&self) -> crate::policy::Kind {
        crate::ephemeral::kind_of(&self.tags)
    }

    /// Whether the deployed stack is disposable (its deletion protection may be lifted without
    /// --force): an ephemeral copy, or a stack deployed as disposable. A stack deployed before
    /// the lifecycle tag counts as kept (its next `up` tags it): older templates set the
    /// pool's protection without a parameter to read it from. Decided from the deployed stack
    /// alone: an inputs file that says `disposable` never makes a kept stack so.
    pub fn disposable(&self) -> bool {
        crate::ephemeral::is_ephemeral(&self.tags)
            || self.tags.get(LIFECYCLE_TAG).map(String::as_str) == Some("disposable")
    }

    /// Whether the stack was deployed to keep its data (so making it disposable would take
    /// protection away): the lifecycle tag says so, or, for a stack deployed before that tag,
    /// its parameters show the pool or the table protected, or say nothing either way.
    pub fn kept(&self) -> bool {
        if self.disposable() {
            return false;
        }
        if self.tags.contains_key(LIFECYCLE_TAG) {
            return true;
        }
        self.pool_protected()
            || self.parameters.get(TABLE_PROTECTION).map(String::as_str) != Some("false")
    }

    /// The key of the trigger's zip the stack runs, as its parameter says.
    pub fn artifact_key(&self) -> Option<&str> {
        self.parameters.get(ARTIFACT_KEY).map(String::as_str)
    }

    /// Whether the pool has deletion protection, as the stack's parameter says.
    pub fn pool_protected(&self) -> bool {
        self.parameters.get(POOL_PROTECTION).map(String::as_str) == Some("ACTIVE")
    }
}

/// `*_IN_PROGRESS`, except REVIEW_IN_PROGRESS (a change set waiting to be executed).
pub fn in_progress(status: &StackStatus) -> bool {
    status.as_str().ends_with("_IN_PROGRESS") && *status != StackStatus::ReviewInProgress
}

/// One stack event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: ResourceStatus,
    pub reason: Option<String>,
    /// Seconds since the epoch.
    pub timestamp: f64,
}

impl Event {
    pub fn failed(&self) -> bool {
        self.status.as_str().ends_with("_FAILED")
    }

    pub fn is_stack(&self) -> bool {
        self.resource_type == "AWS::CloudFormation::Stack"
    }
}

/// One planned change of a change set.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    #[serde(serialize_with = "as_str")]
    pub action: ChangeAction,
    pub logical_id: String,
    pub resource_type: String,
    #[serde(serialize_with = "opt_as_str", skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Replacement>,
}

impl Change {
    /// The change takes the resource away: removed, or replaced by a new one.
    pub fn destroys(&self) -> bool {
        self.action == ChangeAction::Remove
            || (self.action == ChangeAction::Modify
                && matches!(
                    self.replacement,
                    Some(Replacement::True | Replacement::Conditional)
                ))
    }
}

fn as_str<S: Serializer>(v: &ChangeAction, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_str())
}

fn opt_as_str<S: Serializer>(v: &Option<Replacement>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(r) => s.serialize_str(r.as_str()),
        None => s.serialize_none(),
    }
}

/// Whether a change set creates the stack or updates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    Create,
    Update,
}

/// A parameter's value in a change set: given, or the one the stack has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Value(String),
    UsePrevious,
}

/// Everything a change set is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeSetRequest {
    pub stack: String,
    pub name: String,
    pub kind: ChangeKind,
    /// The template body; `None` reuses the stack's current template.
    pub template: Option<String>,
    pub parameters: BTreeMap<String, ParamValue>,
    pub tags: BTreeMap<String, String>,
    /// Let CloudFormation bring in named resources that exist already (a retained table),
    /// instead of failing on them ("ImportExistingResources").
    pub import_existing: bool,
}

/// What the inputs ask to be deployed: the template, its parameters, the stack's tags and the
/// fingerprint of all of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub stack: String,
    pub template: String,
    pub artifact: ArtifactLocation,
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub fingerprint: String,
    /// A kept stack: deletion protection on the pool and the table once it exists.
    pub protected: bool,
}

/// A stack operation that ended, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// `None`: the stack is gone (deleted, or replaced by another run).
    pub status: Option<StackStatus>,
    /// The stack's status reason at the end.
    pub reason: Option<String>,
    pub events: Vec<Event>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(tags: &[(&str, &str)], pool: &str) -> Stack {
        Stack {
            name: "app".into(),
            id: "arn:aws:cloudformation:us-east-1:1:stack/app/x".into(),
            status: StackStatus::UpdateComplete,
            reason: None,
            outputs: BTreeMap::new(),
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            parameters: BTreeMap::from([(POOL_PROTECTION.to_owned(), pool.to_owned())]),
            created: None,
            updated: None,
        }
    }

    #[test]
    fn a_local_hosted_ui_address_points_at_the_emulator() {
        let outputs = BTreeMap::from([(
            output::HOSTED_UI_URL.to_owned(),
            "https://app-login.auth.us-east-1.amazoncognito.com/login?client_id=abc&response_type=code".to_owned(),
        )]);
        let local = localized(outputs.clone(), Some("http://127.0.0.1:4566/"));
        assert_eq!(
            local[output::HOSTED_UI_URL],
            "http://127.0.0.1:4566/oauth2/authorize?client_id=abc&response_type=code"
        );
        assert_eq!(localized(outputs.clone(), None), outputs);
    }

    #[test]
    fn whether_a_stack_is_disposable_is_the_deployed_stacks_to_say() {
        assert!(!stack(&[(LIFECYCLE_TAG, "kept")], "ACTIVE").disposable());
        // Kept, whatever its protection is at the moment (a failed protect, an old deploy).
        assert!(!stack(&[(LIFECYCLE_TAG, "kept")], "INACTIVE").disposable());
        assert!(stack(&[(LIFECYCLE_TAG, "disposable")], "INACTIVE").disposable());
        assert!(stack(&[(crate::ephemeral::TAG_EPHEMERAL, "true")], "INACTIVE").disposable());
        // Deployed before the lifecycle tag: kept, whatever its parameters say (older
        // templates protected the pool without a parameter).
        assert!(!stack(&[], "ACTIVE").disposable());
        assert!(!stack(&[], "INACTIVE").disposable());
    }

    #[test]
    fn a_stack_from_before_the_lifecycle_tag_is_kept_unless_nothing_of_it_is_protected() {
        let mut legacy = stack(&[], "INACTIVE");
        assert!(
            legacy.kept(),
            "no table parameter: nothing says it is unprotected"
        );
        legacy
            .parameters
            .insert(TABLE_PROTECTION.into(), "false".into());
        assert!(!legacy.kept());
        assert!(stack(&[], "ACTIVE").kept());
        assert!(stack(&[(LIFECYCLE_TAG, "kept")], "INACTIVE").kept());
        assert!(stack(&[(LIFECYCLE_TAG, "other")], "INACTIVE").kept());
        assert!(!stack(&[(LIFECYCLE_TAG, "disposable")], "ACTIVE").kept());
    }
}
