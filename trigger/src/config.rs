//! The trigger's configuration: which row to read and how its attributes become claims.
//!
//! The deployer renders this from `stack-inputs.json` into the function's `TRIGGER_CONFIG`
//! environment variable (JSON); the trigger parses and checks it once at start. The same
//! type and the same checks run in the deployer before anything is deployed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// The row attribute holding the `sub` of the user the row belongs to (written by `users add`
/// and `users import`, checked at every login).
pub const ROW_SUB: &str = "sub";

/// The row attribute marking a machine client's row (`clients add` writes `client`): never a
/// user's, whatever key a user's attribute names.
pub const ROW_PRINCIPAL: &str = "deployer:principal";

/// Name of the environment variable holding the JSON configuration.
pub const CONFIG_ENV: &str = "TRIGGER_CONFIG";

/// Claims Cognito will not let a trigger add, change or suppress (developer guide,
/// "Pre token generation Lambda trigger", excluded claims). Claims starting with `dev:` are
/// reserved too.
pub const RESERVED_CLAIMS: &[&str] = &[
    "acr",
    "amr",
    "aud",
    "at_hash",
    "auth_time",
    "azp",
    "cognito:username",
    "device_key",
    "event_id",
    "exp",
    "iat",
    "identities",
    "iss",
    "jti",
    "nbf",
    "nonce",
    "origin_jti",
    "sub",
    "token_use",
];

/// ID-token claims a V2_0 / V3_0 answer may set to strings only (developer guide, "Pre token
/// generation Lambda trigger").
pub const ID_TOKEN_STRING_CLAIMS: &[&str] = &[
    "address",
    "email_verified",
    "phone_number_verified",
    "updated_at",
];

/// The lookup budget's bounds, in ms. At least 200: a cold function's first read opens a TLS
/// connection to DynamoDB before its GetItem, and a retry must fit. At most 3000: Cognito
/// waits 5 s for the whole invocation (cold start, lookup, answer).
pub const LOOKUP_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 200..=3000;

/// The largest size budget for added claims, in bytes of JSON: tokens travel in HTTP headers
/// (API Gateway takes 10240 bytes of them), and base64 grows 6144 bytes to 8192.
pub const MAX_CLAIMS_BYTES: usize = 6144;

/// Claims Cognito writes into tokens itself; any other claim in a token came from the trigger.
pub const COGNITO_ISSUED_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "token_use",
    "iat",
    "exp",
    "jti",
    "aud",
    "auth_time",
    "origin_jti",
    "cognito:username",
    "cognito:groups",
    "cognito:roles",
    "cognito:preferred_role",
    "client_id",
    "scope",
    "username",
    "event_id",
    "version",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "identities",
    "at_hash",
    "nonce",
];

/// Access-token claims that Cognito manages through other fields of the answer
/// (`scope` through scopesToAdd/scopesToSuppress) or that identify the client and user.
pub const ACCESS_TOKEN_MANAGED_CLAIMS: &[&str] = &["scope", "client_id", "username", "version"];

/// Why a configured claim name cannot be used, or `None` when it can.
pub fn reserved_reason(claim: &str, tokens: Tokens) -> Option<String> {
    if RESERVED_CLAIMS.contains(&claim) {
        return Some(format!("`{claim}` is a claim Cognito sets itself and will not let a trigger add, change or suppress"));
    }
    if claim.starts_with("dev:") {
        return Some("claims starting with `dev:` are reserved by Cognito".into());
    }
    if claim.starts_with("cognito:") {
        return Some(format!(
            "`{claim}` is in Cognito's `cognito:` namespace; groups go through the `groups` mapping, not a claim"
        ));
    }
    if tokens.access() && ACCESS_TOKEN_MANAGED_CLAIMS.contains(&claim) {
        // Scopes have their own way in: the inputs' `scopesAttribute`.
        let scopes = if claim == "scope" {
            " (add scopes with `scopesAttribute` in stack-inputs.json)"
        } else {
            ""
        };
        return Some(format!(
            "`{claim}` is managed by Cognito in the access token{scopes}; use another claim name or put it in the ID token only"
        ));
    }
    None
}

/// Which tokens a claim goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Tokens {
    /// The ID token only (the only token a V1_0 trigger can change).
    #[default]
    Id,
    /// The access token only (V2_0 and V3_0).
    Access,
    /// Both tokens (the access token from V2_0 on).
    Both,
}

impl Tokens {
    pub fn id(self) -> bool {
        matches!(self, Self::Id | Self::Both)
    }
    pub fn access(self) -> bool {
        matches!(self, Self::Access | Self::Both)
    }
}

/// How the attribute's value is turned into the claim's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ClaimType {
    /// Follow the stored type: S -> string, N -> number, BOOL -> boolean, SS/NS/L -> array, M -> object.
    #[default]
    Auto,
    /// Always a string; numbers and booleans as text, lists and maps as JSON text.
    String,
    /// A number (an N attribute, or an S attribute holding a number).
    Number,
    /// A boolean (a BOOL attribute, or an S attribute holding "true" or "false").
    Boolean,
    /// An array; a string attribute is split on commas (the blog stored `projects` as "p1,p2").
    List,
    /// Any JSON value; a string attribute is parsed as JSON.
    Json,
}

/// One table attribute to one claim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimMapping {
    /// The attribute of the row to read.
    pub attribute: String,
    /// The claim to write; defaults to the attribute's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// Which tokens receive the claim.
    #[serde(default)]
    pub tokens: Tokens,
    /// How the value is converted.
    #[serde(default, rename = "type")]
    pub kind: ClaimType,
}

impl ClaimMapping {
    pub fn claim_name(&self) -> &str {
        self.claim.as_deref().unwrap_or(&self.attribute)
    }
}

/// What the row's groups attribute does to the user's `cognito:groups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum GroupsMode {
    /// Keep the user's pool groups and add the row's.
    #[default]
    Add,
    /// Replace the user's pool groups with the row's.
    Replace,
}

/// Groups from the row. Without it the user's pool groups are kept as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupsMapping {
    /// The attribute holding group names (string set, list, or comma-separated string).
    pub attribute: String,
    #[serde(default)]
    pub mode: GroupsMode,
}

/// What to do when something around the trigger is not as expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Issue the tokens without the custom claims.
    Issue,
    /// Fail the login (the user sees a generic error; the cause is in the function's log).
    Deny,
}

// The defaults, here once: the deployer's inputs take the same ones.

/// The table's partition key when none is given: the blog's `userName`.
pub fn default_partition_key() -> String {
    "userName".into()
}
/// A principal without a row gets tokens without the claims.
pub fn default_on_missing() -> Policy {
    Policy::Issue
}
/// A failed or slow lookup denies the login.
pub fn default_on_error() -> Policy {
    Policy::Deny
}
/// The lookup's whole budget, retries included.
pub fn default_timeout_ms() -> u64 {
    1500
}
/// One added claim's size budget, in bytes of JSON.
pub fn default_max_claim_bytes() -> usize {
    2048
}
/// The size budget of all the claims added to one token, in bytes of JSON.
pub fn default_max_claims_bytes() -> usize {
    4096
}
fn default_true() -> bool {
    true
}

/// A name that names something: not blank, no spaces at either end.
fn named(name: &str) -> bool {
    !name.trim().is_empty() && name.trim() == name
}

/// The whole trigger configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerConfig {
    /// The DynamoDB table holding one row per user (and per M2M client).
    pub table: String,
    /// The table's partition key; its value is the user name, or the client id for V3_0 M2M tokens.
    #[serde(default = "default_partition_key")]
    pub partition_key: String,
    /// Attributes to claims.
    pub claims: Vec<ClaimMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<GroupsMapping>,
    /// An attribute holding scopes to add to the access token (V2_0 / V3_0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_attribute: Option<String>,
    /// A user (or client) without a row.
    #[serde(default = "default_on_missing")]
    pub on_missing_row: Policy,
    /// DynamoDB failing or slower than `lookupTimeoutMs`.
    #[serde(default = "default_on_error")]
    pub on_lookup_error: Policy,
    /// The lookup's whole budget, retries included; Cognito gives the function 5 s in all.
    #[serde(default = "default_timeout_ms")]
    pub lookup_timeout_ms: u64,
    /// The most one added claim may take (bytes of JSON); a larger one is left out.
    #[serde(default = "default_max_claim_bytes")]
    pub max_claim_bytes: usize,
    /// The most all the claims added to one token may take together (bytes of JSON).
    #[serde(default = "default_max_claims_bytes")]
    pub max_claims_bytes: usize,
    /// Strongly consistent reads, so a row written just before a login is seen by it.
    #[serde(default = "default_true")]
    pub consistent_read: bool,
    /// The user attribute (from the event's `request.userAttributes`) whose value keys a
    /// user's row, instead of the user name: federated users' names (`okta_jane@example.com`)
    /// are the pool's, not the table's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_key_attribute: Option<String>,
    /// The app clients whose tokens get the claims; events for other clients are answered
    /// unchanged, with no lookup. Empty: every client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
}

/// A configuration the trigger refuses to run with.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("{CONFIG_ENV} is not set: the deployer writes it into the function's environment")]
    Missing,
    #[error("{CONFIG_ENV} is not valid: {0}")]
    Parse(String),
    #[error("claims[{index}].claim `{claim}` cannot be used: {reason}")]
    ReservedClaim {
        index: usize,
        claim: String,
        reason: String,
    },
    #[error("claims[{index}].claim `{claim}` is mapped twice into the {token} token")]
    DuplicateClaim {
        index: usize,
        claim: String,
        token: &'static str,
    },
    #[error("{field} is blank or has spaces at either end: name an attribute")]
    Empty { field: String },
    #[error("lookupTimeoutMs is {0}: it must be between 200 and 3000, so that a cold read fits and the lookup ends inside Cognito's 5 s")]
    Timeout(u64),
    #[error("the claim size budgets ({claim} per claim, {all} per token) must be between 64 and {MAX_CLAIMS_BYTES}, the first at most the second")]
    Budget { claim: usize, all: usize },
}

impl TriggerConfig {
    /// The blog's case: the `projects` attribute into the ID token as the `projects` claim.
    pub fn blog_default(table: &str) -> Self {
        Self {
            table: table.into(),
            partition_key: default_partition_key(),
            claims: vec![ClaimMapping {
                attribute: "projects".into(),
                claim: None,
                tokens: Tokens::Id,
                kind: ClaimType::Auto,
            }],
            groups: None,
            scopes_attribute: None,
            on_missing_row: default_on_missing(),
            on_lookup_error: default_on_error(),
            lookup_timeout_ms: default_timeout_ms(),
            max_claim_bytes: default_max_claim_bytes(),
            max_claims_bytes: default_max_claims_bytes(),
            consistent_read: true,
            user_key_attribute: None,
            clients: Vec::new(),
        }
    }

    /// Reads and checks the configuration from `TRIGGER_CONFIG`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let raw = std::env::var(CONFIG_ENV).map_err(|_| ConfigError::Missing)?;
        Self::from_json(&raw)
    }

    pub fn from_json(raw: &str) -> Result<Self, ConfigError> {
        let config: Self =
            serde_json::from_str(raw).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The checks shared with the deployer: names present, no reserved or duplicate claims, a sane deadline.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let key_attribute = self.user_key_attribute.iter();
        let clients = self.clients.iter();
        for (field, value) in [
            ("table", &self.table),
            ("partitionKey", &self.partition_key),
        ]
        .into_iter()
        .chain(key_attribute.map(|a| ("userKeyAttribute", a)))
        .chain(clients.map(|c| ("clients[]", c)))
        {
            if !named(value) {
                return Err(ConfigError::Empty {
                    field: field.into(),
                });
            }
        }
        let mut id_claims = BTreeSet::new();
        let mut access_claims = BTreeSet::new();
        for (index, mapping) in self.claims.iter().enumerate() {
            if !named(&mapping.attribute) {
                return Err(ConfigError::Empty {
                    field: format!("claims[{index}].attribute"),
                });
            }
            let claim = mapping.claim_name();
            if !named(claim) {
                return Err(ConfigError::Empty {
                    field: format!("claims[{index}].claim"),
                });
            }
            if let Some(reason) = reserved_reason(claim, mapping.tokens) {
                return Err(ConfigError::ReservedClaim {
                    index,
                    claim: claim.into(),
                    reason,
                });
            }
            if mapping.tokens.id() && !id_claims.insert(claim) {
                return Err(ConfigError::DuplicateClaim {
                    index,
                    claim: claim.into(),
                    token: "ID",
                });
            }
            if mapping.tokens.access() && !access_claims.insert(claim) {
                return Err(ConfigError::DuplicateClaim {
                    index,
                    claim: claim.into(),
                    token: "access",
                });
            }
        }
        if let Some(groups) = &self.groups {
            if !named(&groups.attribute) {
                return Err(ConfigError::Empty {
                    field: "groups.attribute".into(),
                });
            }
        }
        if let Some(scopes) = &self.scopes_attribute {
            if !named(scopes) {
                return Err(ConfigError::Empty {
                    field: "scopesAttribute".into(),
                });
            }
        }
        if !LOOKUP_TIMEOUT_MS.contains(&self.lookup_timeout_ms) {
            return Err(ConfigError::Timeout(self.lookup_timeout_ms));
        }
        let budget = 64..=MAX_CLAIMS_BYTES;
        if !budget.contains(&self.max_claim_bytes)
            || !budget.contains(&self.max_claims_bytes)
            || self.max_claim_bytes > self.max_claims_bytes
        {
            return Err(ConfigError::Budget {
                claim: self.max_claim_bytes,
                all: self.max_claims_bytes,
            });
        }
        Ok(())
    }

    pub fn lookup_timeout(&self) -> Duration {
        Duration::from_millis(self.lookup_timeout_ms)
    }

    /// The attributes a lookup needs: those the mapping names and the row's owner, each once.
    pub fn projected_attributes(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        let names = self
            .claims
            .iter()
            .map(|m| m.attribute.as_str())
            .chain(self.groups.as_ref().map(|g| g.attribute.as_str()))
            .chain(self.scopes_attribute.as_deref())
            .chain([ROW_SUB, ROW_PRINCIPAL]);
        names.filter(|name| seen.insert(*name)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_claim(claim: &str, tokens: Tokens) -> TriggerConfig {
        let mut config = TriggerConfig::blog_default("t");
        config.claims[0].claim = Some(claim.into());
        config.claims[0].tokens = tokens;
        config
    }

    #[test]
    fn the_blog_default_is_valid_and_reads_only_projects() {
        let config = TriggerConfig::blog_default("UserInfoTable");
        config.validate().unwrap();
        assert_eq!(config.partition_key, "userName");
        assert_eq!(
            config.projected_attributes(),
            vec!["projects", "sub", "deployer:principal"]
        );
    }

    #[test]
    fn every_reserved_claim_and_prefix_is_rejected() {
        for claim in
            RESERVED_CLAIMS
                .iter()
                .copied()
                .chain(["dev:team", "cognito:groups", "cognito:roles"])
        {
            let err = with_claim(claim, Tokens::Both).validate().unwrap_err();
            assert!(
                matches!(err, ConfigError::ReservedClaim { index: 0, .. }),
                "{claim}: {err:?}"
            );
        }
    }

    #[test]
    fn scope_is_rejected_in_the_access_token_but_allowed_in_the_id_token() {
        assert!(with_claim("scope", Tokens::Access).validate().is_err());
        with_claim("scope", Tokens::Id).validate().unwrap();
    }

    #[test]
    fn a_claim_mapped_twice_into_one_token_is_rejected() {
        let mut config = TriggerConfig::blog_default("t");
        config.claims.push(ClaimMapping {
            attribute: "other".into(),
            claim: Some("projects".into()),
            tokens: Tokens::Both,
            kind: ClaimType::Auto,
        });
        assert_eq!(
            config.validate().unwrap_err(),
            ConfigError::DuplicateClaim {
                index: 1,
                claim: "projects".into(),
                token: "ID"
            }
        );
    }

    #[test]
    fn unknown_fields_and_bad_deadlines_are_rejected_with_the_field_named() {
        let err =
            TriggerConfig::from_json(r#"{"table":"t","claims":[],"colour":"red"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
        let err = TriggerConfig::from_json(r#"{"table":"t","claims":[],"lookupTimeoutMs":6000}"#)
            .unwrap_err();
        assert_eq!(err, ConfigError::Timeout(6000));
    }

    #[test]
    fn projection_lists_each_needed_attribute_once() {
        let config = TriggerConfig::from_json(
            r#"{"table":"t","claims":[{"attribute":"role"},{"attribute":"role","claim":"r2","tokens":"access"},{"attribute":"tenant_id"}],
               "groups":{"attribute":"groups"},"scopesAttribute":"scopes"}"#,
        )
        .unwrap();
        assert_eq!(
            config.projected_attributes(),
            vec![
                "role",
                "tenant_id",
                "groups",
                "scopes",
                "sub",
                "deployer:principal"
            ]
        );
    }
}
