//! `stack-inputs.json` -> validated `StackInputs`. Pure: nothing here calls AWS.
//!
//! Errors carry the JSON path, the offending value and the rule, so a user can fix the file
//! without reading code. Syntax errors point at the line and column.

use crate::stack::{LIFECYCLE_TAG, MANAGED_BY, STACK_TAG};
use miette::{Diagnostic, NamedSource, SourceSpan};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use trigger::config::{
    default_max_claim_bytes, default_max_claims_bytes, default_on_error, default_on_missing,
    default_partition_key, default_timeout_ms as default_lookup_timeout, ClaimMapping,
    GroupsMapping, Policy, TriggerConfig,
};

/// Everything the stack is made from. Only `stackName` is required, and `userPoolDomainName`
/// for a new pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StackInputs {
    /// Editors' schema reference; ignored by the deployer.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The CloudFormation stack name; also prefixes the function and its log group.
    pub stack_name: String,
    /// The hosted UI domain prefix (`<prefix>.auth.<region>.amazoncognito.com`), unique across
    /// AWS. Required for a new pool; an existing pool keeps its own domain.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_pool_domain_name: String,
    /// A pool made outside the deployer to bring the claims to, instead of a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pool: Option<UserPoolInputs>,
    /// AWS region; else --region, the profile or AWS_REGION.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The DynamoDB table holding one row per user (and per M2M client).
    #[serde(default)]
    pub table: TableInputs,
    /// Table attributes to token claims. Default: `projects` into the ID token (the blog's case).
    #[serde(default = "default_claims")]
    pub claims: Vec<ClaimMapping>,
    /// Groups from the row (added to or replacing the user's pool groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupsMapping>,
    /// A row attribute holding scopes to add to the access token (V2_0 / V3_0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_attribute: Option<String>,
    /// The pre-token-generation event version: V1_0 (ID token only), V2_0 (ID and access
    /// tokens), V3_0 (also machine-to-machine tokens).
    #[serde(default)]
    pub event_version: EventVersion,
    /// Cognito feature plan; V2_0 and V3_0 need ESSENTIALS or PLUS.
    #[serde(default)]
    pub feature_plan: FeaturePlan,
    #[serde(default)]
    pub trigger: TriggerInputs,
    #[serde(default)]
    pub tokens: TokenInputs,
    /// Where the hosted UI may send users back after login (https, or http on localhost).
    #[serde(default = "default_callbacks")]
    pub callback_urls: Vec<String>,
    /// Where the hosted UI may send users after logout; defaults to the callback URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_urls: Option<Vec<String>>,
    /// `disposable`: everything deleted on `down`, no deletion protection. `kept`: the pool has
    /// deletion protection and the table's data is retained when the stack is deleted.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// Tags on the stack (CloudFormation copies them to the resources).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// An HTTP API whose authorizer decides every call with Cedar policies, from the token's
    /// claims alone. Without it, the stack has no API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiInputs>,
    /// The deployer's own tags (ephemeral runs: expiry, commit, pipeline); never from the file.
    #[serde(skip)]
    #[schemars(skip)]
    pub deployer_tags: BTreeMap<String, String>,
    /// The base stack's table name (`table.name`), which an ephemeral copy suffixes: the
    /// project's boundary covers both.
    #[serde(skip)]
    #[schemars(skip)]
    pub base_table: Option<String>,
}

/// An existing user pool: the stack adds the trigger to it and leaves everything else of it
/// (users, groups, clients, domain, identity providers, other triggers) as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserPoolInputs {
    /// The pool's id, `<region>_<id>` (for example `eu-west-1_AbC123xyz`), in the stack's
    /// account and region.
    pub existing: String,
    /// The app clients whose tokens get the claims; tokens for other clients are issued as
    /// Cognito makes them. Empty: every client of the pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    /// Make an app client of the deployer's own in the pool (`token`, `verify` and the viewer
    /// sign in with it; otherwise they use the first of `clients`, which must then allow
    /// ALLOW_ADMIN_USER_PASSWORD_AUTH).
    #[serde(default)]
    pub app_client: bool,
}

/// The API: its routes, what each acts on and calls, which token it takes, and the policies
/// that decide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiInputs {
    /// The routes, by route key (`GET /projects/{projectId}`): also the Cedar actions' ids.
    pub routes: BTreeMap<String, RouteInputs>,
    /// Which token the API takes in the `Authorization` header: `access` (default) or `id`.
    #[serde(default)]
    pub token: authorizer::token::TokenUse,
    /// The app clients whose tokens it accepts. Default: the stack's app client, or
    /// userPool.clients for an existing pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    /// The folder of `.cedar` policy files, relative to the inputs file.
    #[serde(default = "default_policies")]
    pub policies: String,
    /// The Cedar namespace of the entity types and actions.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The authorizer's memory in MB (128 to 10240); more memory also means more CPU, and
    /// a faster cold start.
    #[serde(default = "default_authorizer_memory")]
    pub memory_mb: u32,
}

fn default_authorizer_memory() -> u32 {
    256
}

/// One route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteInputs {
    /// What the route acts on: a Cedar entity type, named by a path parameter. Without it,
    /// the route acts on the API itself (`Api::"api"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInputs>,
    /// What an allowed call reaches: `whoami` (built in: echoes what the backend receives),
    /// a Lambda function's ARN, or an HTTPS URL.
    #[serde(default = "default_target")]
    pub target: String,
}

/// A route's resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceInputs {
    /// The Cedar entity type (`Project`).
    #[serde(rename = "type")]
    pub entity_type: String,
    /// The path parameter whose value is the entity's id; default the path's only one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

/// The built-in target.
pub const WHOAMI: &str = "whoami";

/// The path parameter naming a route's resource: the one given, if the path has it, else
/// the path's only parameter.
pub fn resource_parameter(route: &str, resource: &ResourceInputs) -> Option<String> {
    let (_, path) = authorizer::route::split(route).ok()?;
    let params = authorizer::route::parameters(path);
    match &resource.parameter {
        Some(p) => params.contains(&p.as_str()).then(|| p.clone()),
        None if params.len() == 1 => Some(params[0].to_owned()),
        None => None,
    }
}

fn default_policies() -> String {
    "policies".into()
}
fn default_namespace() -> String {
    "App".into()
}
fn default_target() -> String {
    WHOAMI.into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TableInputs {
    /// Table name; defaults to `<stackName>-users`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Partition key attribute: the user name (or M2M client id). Default `userName`, as in the blog.
    #[serde(default = "default_partition_key")]
    pub partition_key: String,
    /// The user attribute whose value keys a user's row (for example `email` or
    /// `custom:employee_id`), instead of the pool's user name: for users who sign in through
    /// an identity provider, whose user names (`okta_jane@example.com`) the table does not
    /// know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_key_attribute: Option<String>,
}

impl Default for TableInputs {
    fn default() -> Self {
        Self {
            name: None,
            partition_key: default_partition_key(),
            user_key_attribute: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerInputs {
    /// Function memory in MB (128 to 10240); more memory also means more CPU.
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
    /// Function timeout in seconds (1 to 5: Cognito stops waiting after 5 s).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
    /// Days the function's logs are kept (a CloudWatch Logs retention value).
    #[serde(default = "default_retention")]
    pub log_retention_days: u32,
    /// A user or client without a row: `issue` the tokens without the claims, or `deny` the login.
    #[serde(default = "default_on_missing")]
    pub on_missing_row: Policy,
    /// DynamoDB failing or too slow: `deny` the login (default) or `issue` tokens without the claims.
    #[serde(default = "default_on_error")]
    pub on_lookup_error: Policy,
    /// The lookup's whole budget in ms, retries included (200 to 3000).
    #[serde(default = "default_lookup_timeout")]
    pub lookup_timeout_ms: u64,
    /// The most one added claim may take, in bytes of JSON; a larger one is left out of the
    /// token (and logged) rather than failing the login. 64 to 6144, default 2048.
    #[serde(default = "default_max_claim_bytes")]
    pub max_claim_bytes: usize,
    /// The most all the claims added to one token may take together, in bytes of JSON; the
    /// largest are left out until the rest fit. 64 to 6144, default 4096.
    #[serde(default = "default_max_claims_bytes")]
    pub max_claims_bytes: usize,
    /// A Lambda code signing configuration (`deployer bootstrap --signing-profile` makes one
    /// and prints its ARN): Lambda then refuses any zip its signing profiles did not sign, and
    /// `up` deploys the publisher's signed build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_signing_config_arn: Option<String>,
}

impl Default for TriggerInputs {
    fn default() -> Self {
        Self {
            memory_mb: default_memory(),
            timeout_seconds: default_timeout(),
            log_retention_days: default_retention(),
            on_missing_row: default_on_missing(),
            on_lookup_error: default_on_error(),
            lookup_timeout_ms: default_lookup_timeout(),
            max_claim_bytes: default_max_claim_bytes(),
            max_claims_bytes: default_max_claims_bytes(),
            code_signing_config_arn: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenInputs {
    /// ID token validity in minutes (5 to 1440).
    #[serde(default = "default_token_minutes")]
    pub id_token_minutes: u32,
    /// Access token validity in minutes (5 to 1440).
    #[serde(default = "default_token_minutes")]
    pub access_token_minutes: u32,
    /// Refresh token validity in days (1 to 3650).
    #[serde(default = "default_refresh_days")]
    pub refresh_token_days: u32,
}

impl Default for TokenInputs {
    fn default() -> Self {
        Self {
            id_token_minutes: default_token_minutes(),
            access_token_minutes: default_token_minutes(),
            refresh_token_days: default_refresh_days(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum EventVersion {
    V1_0,
    #[default]
    V2_0,
    V3_0,
}

impl EventVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => "V1_0",
            Self::V2_0 => "V2_0",
            Self::V3_0 => "V3_0",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum FeaturePlan {
    Lite,
    #[default]
    Essentials,
    Plus,
}

impl FeaturePlan {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lite => "LITE",
            Self::Essentials => "ESSENTIALS",
            Self::Plus => "PLUS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lifecycle {
    Disposable,
    #[default]
    Kept,
}

fn default_claims() -> Vec<ClaimMapping> {
    TriggerConfig::blog_default("").claims
}
fn default_callbacks() -> Vec<String> {
    vec!["http://localhost:8081/".into()]
}
fn default_memory() -> u32 {
    128
}
fn default_timeout() -> u32 {
    5
}
fn default_retention() -> u32 {
    14
}
fn default_token_minutes() -> u32 {
    60
}
fn default_refresh_days() -> u32 {
    30
}

/// What the stack's trigger function is named after the stack: `<stackName>-pretoken`.
const FUNCTION_SUFFIX: &str = "-pretoken";

/// The trigger function of stack `stack`.
pub fn function_of_stack(stack: &str) -> String {
    format!("{stack}{FUNCTION_SUFFIX}")
}

/// What the API's functions (with `api`) are named after the stack.
const AUTHORIZER_SUFFIX: &str = "-authz";
const WHOAMI_SUFFIX: &str = "-whoami";

/// The API authorizer function of stack `stack` (with `api`).
pub fn authorizer_of_stack(stack: &str) -> String {
    format!("{stack}{AUTHORIZER_SUFFIX}")
}

/// The built-in `whoami` integration function of stack `stack` (with `api`).
pub fn whoami_of_stack(stack: &str) -> String {
    format!("{stack}{WHOAMI_SUFFIX}")
}

/// Whether `function` is named as some stack's function would be (a trigger, an authorizer,
/// a whoami, or any function of an ephemeral copy, `<stack>--<suffix>...`).
pub fn named_like_a_stacks_function(function: &str) -> bool {
    function.contains(crate::policy::COPY_SEPARATOR)
        || [FUNCTION_SUFFIX, AUTHORIZER_SUFFIX, WHOAMI_SUFFIX]
            .iter()
            .any(|s| function.ends_with(s))
}

/// The stack a trigger function's name says it belongs to (`None`: not a trigger's name).
pub fn stack_of_function(function: &str) -> Option<&str> {
    function
        .strip_suffix(FUNCTION_SUFFIX)
        .filter(|s| valid_stack_name(s))
}

/// The longest stack name that keeps `<stackName>-pretoken` within Lambda's 64 characters.
pub const MAX_STACK_NAME: usize = 55;

pub mod rules;
pub use rules::{
    deployer_tag, partition, region_problem, valid_region, valid_stack_name, AWS_REGIONS,
    REGION_KNOWN,
};

/// One broken rule: where, what was there, and what the rule is.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub path: String,
    pub value: String,
    pub rule: String,
    /// The rule's id (rules::RULES) and where AWS documents it.
    pub id: &'static str,
    pub doc: &'static str,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} — {}\n    [{}] {}",
            self.path, self.value, self.rule, self.id, self.doc
        )
    }
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    #[diagnostic(code(inputs::unreadable), help("pass the inputs file with -f/--inputs, or run from the folder that holds stack-inputs.json"))]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} is not valid JSON: {message}")]
    #[diagnostic(code(inputs::syntax), help("fix the JSON at the marked place"))]
    Syntax {
        file: String,
        message: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        at: SourceSpan,
    },
    #[error("{file}: {path}: {message}")]
    #[diagnostic(
        code(inputs::shape),
        help("see stack-inputs.schema.json (or `deployer schema`) for every field and its type")
    )]
    Shape {
        file: String,
        path: String,
        message: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        at: SourceSpan,
    },
    #[error("{file} breaks {} rule{}:\n{}", .violations.len(), if .violations.len() == 1 { "" } else { "s" }, list(.violations))]
    #[diagnostic(
        code(inputs::invalid),
        help("fix the fields named above; nothing was sent to AWS")
    )]
    Invalid {
        file: String,
        violations: Vec<Violation>,
    },
}

fn list(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("  - {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl StackInputs {
    /// Reads, parses and validates the inputs file.
    pub fn load(path: &Path) -> Result<Self, InputError> {
        let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// `load`, with the rules named in `waived` not applied (what a flag such as
    /// --unlisted-region lets through).
    pub fn load_waiving(path: &Path, waived: &[&str]) -> Result<Self, InputError> {
        let text = std::fs::read_to_string(path).map_err(|source| InputError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse_waiving(&text, &path.display().to_string(), waived)
    }

    /// Parses and validates inputs text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, InputError> {
        Self::parse_waiving(text, file, &[])
    }

    /// `parse`, with the rules named in `waived` not applied.
    pub fn parse_waiving(text: &str, file: &str, waived: &[&str]) -> Result<Self, InputError> {
        let offset = |line: usize, column: usize| -> usize {
            text.split_inclusive('\n')
                .take(line.saturating_sub(1))
                .map(str::len)
                .sum::<usize>()
                + column.saturating_sub(1)
        };
        // Syntax first, so a typo is reported as one, not as a type error.
        if let Err(err) = serde_json::from_str::<Value>(text) {
            let at = offset(err.line(), err.column()).min(text.len());
            return Err(InputError::Syntax {
                file: file.into(),
                message: err.to_string(),
                src: NamedSource::new(file, text.to_owned()),
                at: (at, 0).into(),
            });
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let inputs: Self = serde_path_to_error::deserialize(&mut de).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let at = offset(inner.line(), inner.column()).min(text.len());
            let message = inner.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            InputError::Shape {
                file: file.into(),
                path: if path == "." {
                    "(top level)".into()
                } else {
                    path
                },
                message,
                src: NamedSource::new(file, text.to_owned()),
                at: (at, 0).into(),
            }
        })?;
        let mut violations = inputs.violations();
        violations.retain(|v| !waived.contains(&v.id));
        if violations.is_empty() {
            Ok(inputs)
        } else {
            Err(InputError::Invalid {
                file: file.into(),
                violations,
            })
        }
    }

    pub fn table_name(&self) -> String {
        self.table
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-users", self.stack_name))
    }

    pub fn function_name(&self) -> String {
        function_of_stack(&self.stack_name)
    }

    pub fn logout_urls(&self) -> &[String] {
        self.logout_urls.as_deref().unwrap_or(&self.callback_urls)
    }

    /// The trigger's configuration, as it goes into the function's environment.
    pub fn trigger_config(&self) -> TriggerConfig {
        TriggerConfig {
            table: self.table_name(),
            partition_key: self.table.partition_key.clone(),
            claims: self.claims.clone(),
            groups: self.groups.clone(),
            scopes_attribute: self.scopes_attribute.clone(),
            on_missing_row: self.trigger.on_missing_row,
            on_lookup_error: self.trigger.on_lookup_error,
            lookup_timeout_ms: self.trigger.lookup_timeout_ms,
            max_claim_bytes: self.trigger.max_claim_bytes,
            max_claims_bytes: self.trigger.max_claims_bytes,
            consistent_read: true,
            user_key_attribute: self.table.user_key_attribute.clone(),
            clients: self
                .user_pool
                .as_ref()
                .map(|p| p.clients.clone())
                .unwrap_or_default(),
        }
    }

    /// The existing pool the claims are brought to, when the inputs name one.
    pub fn existing_pool(&self) -> Option<&UserPoolInputs> {
        self.user_pool.as_ref()
    }

    /// Every rule the inputs break (empty when they are valid): the rules of
    /// `rules::RULES`, then, as a safety net, the trigger's own start-up checks, so inputs the
    /// deployer accepts never make a function that refuses to start.
    pub fn violations(&self) -> Vec<Violation> {
        let mut out = rules::violations(self);
        if out.is_empty() {
            if let Err(err) = self.trigger_config().validate() {
                out.push(Violation {
                    path: "claims".into(),
                    value: String::new(),
                    rule: err.to_string(),
                    id: "trigger-config",
                    doc: "trigger/src/config.rs",
                });
            }
        }
        out
    }

    /// The stack's tags: the inputs' own and the deployer's (which mark what it made).
    pub fn stack_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.extend(self.deployer_tags.clone());
        tags.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
        tags.insert(STACK_TAG.into(), self.stack_name.clone());
        let lifecycle = match self.lifecycle {
            Lifecycle::Kept => "kept",
            Lifecycle::Disposable => "disposable",
        };
        tags.insert(LIFECYCLE_TAG.into(), lifecycle.into());
        tags
    }

    /// The project: the base stack's name, which an ephemeral copy records in its tags. The
    /// CI roles, the boundary and the shared builds are per project.
    pub fn project(&self) -> &str {
        crate::ephemeral::project_of(&self.stack_name, &self.deployer_tags)
    }

    /// Whether these inputs are the base stack or an ephemeral copy of it.
    pub fn stack_kind(&self) -> crate::policy::Kind {
        crate::ephemeral::kind_of(&self.deployer_tags)
    }

    /// The base stack's table name when the inputs set one (`table.name`, before an
    /// ephemeral copy suffixes it).
    pub fn base_table_name(&self) -> Option<&str> {
        if self.deployer_tags.contains_key(crate::ephemeral::TAG_BASE) {
            self.base_table.as_deref()
        } else {
            self.table.name.as_deref()
        }
    }
}

/// The JSON Schema of the inputs file, for editors (`stack-inputs.schema.json`).
pub fn schema() -> String {
    let schema = schemars::schema_for!(StackInputs);
    serde_json::to_string_pretty(&schema).expect("schema serializes") + "\n"
}
