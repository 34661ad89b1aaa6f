//! The pre-token-generation event and response, defined from the Cognito developer guide.
//!
//! We do not use `aws_lambda_events` here: its types lagged the service (string-only claim
//! values, no V3 event, a V2 type that rejects V1 events). Only the fields the trigger reads
//! are typed; the handler echoes the event back as Cognito expects, with `response` filled.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The event version Cognito sent, which fixes the shape of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventVersion {
    /// ID token only; claim values are strings (`claimsOverrideDetails`).
    V1,
    /// ID and access tokens, typed values (`claimsAndScopeOverrideDetails`).
    V2,
    /// V2 plus machine-to-machine client-credentials tokens.
    V3,
}

impl EventVersion {
    /// Reads the `version` field: Cognito sends "1", "2" or "3"; "V2_0"-style names are accepted too.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "1" | "V1_0" => Some(Self::V1),
            "2" | "V2_0" => Some(Self::V2),
            "3" | "V3_0" => Some(Self::V3),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "V1_0",
            Self::V2 => "V2_0",
            Self::V3 => "V3_0",
        }
    }
}

/// Why Cognito is asking for tokens (`triggerSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerSource {
    HostedAuth,
    Authentication,
    NewPasswordChallenge,
    AuthenticateDevice,
    RefreshTokens,
    /// Machine-to-machine: no user, the principal is the app client.
    ClientCredentials,
    /// A `TokenGeneration_*` source this build does not know yet; treated as a user login.
    OtherUserFlow,
}

impl TriggerSource {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "TokenGeneration_HostedAuth" => Self::HostedAuth,
            "TokenGeneration_Authentication" => Self::Authentication,
            "TokenGeneration_NewPasswordChallenge" => Self::NewPasswordChallenge,
            "TokenGeneration_AuthenticateDevice" => Self::AuthenticateDevice,
            "TokenGeneration_RefreshTokens" => Self::RefreshTokens,
            "TokenGeneration_ClientCredentials" => Self::ClientCredentials,
            other if other.starts_with("TokenGeneration_") => Self::OtherUserFlow,
            _ => return None,
        })
    }
}

/// The fields of the event the trigger reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreTokenEvent {
    pub version: String,
    pub trigger_source: String,
    #[serde(default)]
    pub user_pool_id: Option<String>,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub caller_context: Option<CallerContext>,
    #[serde(default)]
    pub request: Request,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallerContext {
    #[serde(default)]
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    #[serde(default)]
    pub group_configuration: Option<GroupConfiguration>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub scopes: Vec<String>,
    /// The user's attributes; absent in a machine-to-machine event.
    #[serde(default, deserialize_with = "null_as_default")]
    pub user_attributes: UserAttributes,
}

/// The user's attributes: the immutable `sub` its row is bound to, and the one that keys the
/// row when the mapping says so (`userKeyAttribute`). Cognito sends every value as a string
/// (a `null` reads as absent).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserAttributes(pub std::collections::HashMap<String, Option<String>>);

impl UserAttributes {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.as_deref())
    }
    pub fn sub(&self) -> Option<&str> {
        self.get("sub")
    }
}

/// The user's groups as Cognito would write them (`cognito:groups`), and their IAM roles.
/// Cognito may send `null` for an empty list: it reads as empty.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupConfiguration {
    #[serde(default, deserialize_with = "null_as_default")]
    pub groups_to_override: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub iam_roles_to_override: Vec<String>,
    #[serde(default)]
    pub preferred_role: Option<String>,
}

/// `null` as the type's default (an empty list), as if the field were absent.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// V1_0 answer: `response.claimsOverrideDetails`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimsOverrideDetails {
    pub claims_to_add_or_override: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims_to_suppress: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_override_details: Option<GroupConfiguration>,
}

/// V2_0 / V3_0 answer: `response.claimsAndScopeOverrideDetails`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimsAndScopeOverrideDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_generation: Option<TokenGeneration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_generation: Option<TokenGeneration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_override_details: Option<GroupConfiguration>,
}

/// One token's changes in a V2_0 / V3_0 answer. Scopes apply to the access token only.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenGeneration {
    pub claims_to_add_or_override: Map<String, Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims_to_suppress: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_to_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_to_suppress: Vec<String>,
}

/// The `response` object the trigger writes into the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Response {
    V1 {
        #[serde(rename = "claimsOverrideDetails")]
        details: ClaimsOverrideDetails,
    },
    V2 {
        #[serde(rename = "claimsAndScopeOverrideDetails")]
        details: Box<ClaimsAndScopeOverrideDetails>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_the_event_and_the_pool_setting() {
        assert_eq!(EventVersion::parse("1"), Some(EventVersion::V1));
        assert_eq!(EventVersion::parse("2"), Some(EventVersion::V2));
        assert_eq!(EventVersion::parse("V3_0"), Some(EventVersion::V3));
        assert_eq!(EventVersion::parse("4"), None);
        assert_eq!(EventVersion::parse(""), None);
    }

    #[test]
    fn trigger_sources_cover_the_documented_list_and_reject_others() {
        for (raw, want) in [
            ("TokenGeneration_HostedAuth", TriggerSource::HostedAuth),
            (
                "TokenGeneration_Authentication",
                TriggerSource::Authentication,
            ),
            (
                "TokenGeneration_NewPasswordChallenge",
                TriggerSource::NewPasswordChallenge,
            ),
            (
                "TokenGeneration_AuthenticateDevice",
                TriggerSource::AuthenticateDevice,
            ),
            (
                "TokenGeneration_RefreshTokens",
                TriggerSource::RefreshTokens,
            ),
            (
                "TokenGeneration_ClientCredentials",
                TriggerSource::ClientCredentials,
            ),
            ("TokenGeneration_Future", TriggerSource::OtherUserFlow),
        ] {
            assert_eq!(TriggerSource::parse(raw), Some(want), "{raw}");
        }
        assert_eq!(TriggerSource::parse("PreSignUp_SignUp"), None);
    }
}
