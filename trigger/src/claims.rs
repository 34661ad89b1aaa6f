//! Row -> claims for the event's version. Pure: no I/O, no clock; most of the tests live here.

use crate::config::{ClaimType, GroupsMode, TriggerConfig};
use crate::event::{
    ClaimsAndScopeOverrideDetails, ClaimsOverrideDetails, EventVersion, GroupConfiguration,
    PreTokenEvent, Response, TokenGeneration, TriggerSource,
};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// A DynamoDB row as the SDK returns it.
pub type Row = HashMap<String, AttributeValue>;

/// Who the tokens are for: a user, or an app client in the M2M flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(String),
    Client(String),
}

impl Principal {
    /// The value looked up under the table's partition key.
    pub fn key(&self) -> &str {
        match self {
            Self::User(name) | Self::Client(name) => name,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Client(_) => "client",
        }
    }
}

/// An event the trigger cannot answer.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    #[error("unsupported event version {0:?}: expected 1, 2 or 3")]
    Version(String),
    #[error(
        "unsupported trigger source {0:?}: this function handles TokenGeneration_* events only"
    )]
    Source(String),
    #[error("the event has no userName")]
    NoUser,
    #[error("a client-credentials event has no callerContext.clientId")]
    NoClient,
    #[error("a client-credentials event arrived with version {0}: Cognito sends it as V3_0 only")]
    ClientCredentialsVersion(&'static str),
}

/// What the handler needs to know about an event before the lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub version: EventVersion,
    pub source: TriggerSource,
    pub principal: Principal,
}

/// Checks the event's version and source and names the principal to look up.
pub fn classify(event: &PreTokenEvent) -> Result<Classified, EventError> {
    let version = EventVersion::parse(&event.version)
        .ok_or_else(|| EventError::Version(event.version.clone()))?;
    let source = TriggerSource::parse(&event.trigger_source)
        .ok_or_else(|| EventError::Source(event.trigger_source.clone()))?;
    let principal = if source == TriggerSource::ClientCredentials {
        if version != EventVersion::V3 {
            return Err(EventError::ClientCredentialsVersion(version.as_str()));
        }
        let client = event
            .caller_context
            .as_ref()
            .and_then(|c| c.client_id.clone())
            .filter(|c| !c.is_empty());
        Principal::Client(client.ok_or(EventError::NoClient)?)
    } else {
        Principal::User(
            event
                .user_name
                .clone()
                .filter(|u| !u.is_empty())
                .ok_or(EventError::NoUser)?,
        )
    };
    Ok(Classified {
        version,
        source,
        principal,
    })
}

/// A mapped attribute whose value could not take the configured type; the claim is left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub attribute: String,
    pub expected: ClaimType,
}

/// The answer for one event, and what was left out of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub response: Response,
    /// Names of the claims added (values are not logged).
    pub added: Vec<String>,
    pub skipped: Vec<Skipped>,
}

/// Builds the response for `event` from the principal's row (`None`: no row, no custom claims).
pub fn build(
    classified: &Classified,
    event: &PreTokenEvent,
    row: Option<&Row>,
    config: &TriggerConfig,
) -> Built {
    let mut id_claims = Map::new();
    let mut access_claims = Map::new();
    let mut skipped = Vec::new();
    let is_client = matches!(classified.principal, Principal::Client(_));

    if let Some(row) = row {
        for mapping in &config.claims {
            let Some(stored) = row.get(&mapping.attribute) else {
                continue;
            };
            let value = match convert(stored, mapping.kind) {
                Some(Value::Null) => continue,
                Some(value) => value,
                None => {
                    skipped.push(Skipped {
                        attribute: mapping.attribute.clone(),
                        expected: mapping.kind,
                    });
                    continue;
                }
            };
            // An M2M token has no ID token; V1_0 has no access token.
            if mapping.tokens.id() && !is_client {
                id_claims.insert(mapping.claim_name().to_owned(), value.clone());
            }
            if mapping.tokens.access() && classified.version != EventVersion::V1 {
                access_claims.insert(mapping.claim_name().to_owned(), value);
            }
        }
    }

    let groups = group_override(event.request.group_configuration.as_ref(), row, config);
    let mut added: Vec<String> = id_claims
        .keys()
        .chain(access_claims.keys())
        .cloned()
        .collect();
    added.sort();
    added.dedup();

    let response = match classified.version {
        EventVersion::V1 => Response::V1 {
            details: ClaimsOverrideDetails {
                claims_to_add_or_override: id_claims
                    .into_iter()
                    .map(|(k, v)| (k, flatten(&v)))
                    .collect(),
                claims_to_suppress: Vec::new(),
                group_override_details: groups,
            },
        },
        EventVersion::V2 | EventVersion::V3 => {
            let scopes_to_add = row
                .zip(config.scopes_attribute.as_ref())
                .and_then(|(row, attr)| row.get(attr))
                .map(string_list)
                .unwrap_or_default();
            Response::V2 {
                details: Box::new(ClaimsAndScopeOverrideDetails {
                    id_token_generation: (!is_client).then(|| TokenGeneration {
                        claims_to_add_or_override: id_claims,
                        ..Default::default()
                    }),
                    access_token_generation: Some(TokenGeneration {
                        claims_to_add_or_override: access_claims,
                        scopes_to_add,
                        ..Default::default()
                    }),
                    group_override_details: groups,
                }),
            }
        }
    };
    Built {
        response,
        added,
        skipped,
    }
}

/// The groups to send back. Cognito drops the user's groups when the answer carries an empty
/// or null override, so the request's configuration is always copied across, then changed
/// only as the `groups` mapping says.
fn group_override(
    request: Option<&GroupConfiguration>,
    row: Option<&Row>,
    config: &TriggerConfig,
) -> Option<GroupConfiguration> {
    let mut groups = request.cloned()?;
    let from_row = config
        .groups
        .as_ref()
        .and_then(|g| row?.get(&g.attribute).map(|v| (g.mode, string_list(v))));
    match from_row {
        Some((GroupsMode::Replace, names)) => groups.groups_to_override = names,
        Some((GroupsMode::Add, names)) => {
            for name in names {
                if !groups.groups_to_override.contains(&name) {
                    groups.groups_to_override.push(name);
                }
            }
        }
        None => {}
    }
    Some(groups)
}

/// The stored value as JSON, following its DynamoDB type. Binary values have no claim form.
pub fn natural(value: &AttributeValue) -> Option<Value> {
    Some(match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n).unwrap_or_else(|| Value::String(n.clone())),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => Value::Array(
            items
                .iter()
                .map(|n| number(n).unwrap_or_else(|| Value::String(n.clone())))
                .collect(),
        ),
        AttributeValue::L(items) => Value::Array(items.iter().filter_map(natural).collect()),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), natural(v)?)))
                .collect(),
        ),
        _ => return None,
    })
}

fn number(text: &str) -> Option<Value> {
    let text = text.trim();
    if let Ok(i) = text.parse::<i64>() {
        return Some(Value::Number(i.into()));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Some(Value::Number(u.into()));
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

/// Converts a stored value to the configured claim type; `None` when it cannot take that type.
pub fn convert(value: &AttributeValue, kind: ClaimType) -> Option<Value> {
    let natural = natural(value)?;
    match (kind, natural) {
        (_, Value::Null) => Some(Value::Null),
        (ClaimType::Auto, v) => Some(v),
        (ClaimType::String, v) => Some(Value::String(flatten(&v))),
        (ClaimType::Number, v @ Value::Number(_)) => Some(v),
        (ClaimType::Number, Value::String(s)) => number(&s),
        (ClaimType::Boolean, v @ Value::Bool(_)) => Some(v),
        (ClaimType::Boolean, Value::String(s)) => match s.trim() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        (ClaimType::List, v @ Value::Array(_)) => Some(v),
        (ClaimType::List, Value::String(s)) => {
            Some(Value::Array(split_commas(&s).map(Value::String).collect()))
        }
        (ClaimType::List, v @ (Value::Number(_) | Value::Bool(_))) => Some(Value::Array(vec![v])),
        (ClaimType::Json, Value::String(s)) => serde_json::from_str(&s).ok(),
        (ClaimType::Json, v) => Some(v),
        _ => None,
    }
}

/// The V1_0 form of a value: strings as they are, numbers and booleans as text,
/// arrays and objects as compact JSON text (`["p1","p2"]`).
pub fn flatten(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn split_commas(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
}

/// Group names or scopes from a set, a list, or a comma-separated string.
fn string_list(value: &AttributeValue) -> Vec<String> {
    match natural(value) {
        Some(Value::Array(items)) => items
            .iter()
            .map(flatten)
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) => split_commas(&s).collect(),
        _ => Vec::new(),
    }
}
