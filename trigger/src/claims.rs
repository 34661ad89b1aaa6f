//! Row -> claims for the event's version. Pure: no I/O, no clock; most of the tests live here.

use crate::config::{ClaimType, GroupsMode, TriggerConfig, ID_TOKEN_STRING_CLAIMS};
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

/// Checks the event's version and source and names the principal to look up: a user by
/// name, or by the value of `key_attribute` (empty when the user has none: no row to read).
pub fn classify_keyed(
    event: &PreTokenEvent,
    key_attribute: Option<&str>,
) -> Result<Classified, EventError> {
    let mut classified = classify(event)?;
    if let (Principal::User(key), Some(attribute)) = (&mut classified.principal, key_attribute) {
        *key = key_value(&event.request.user_attributes, attribute)
            .unwrap_or_default()
            .to_owned();
    }
    Ok(classified)
}

/// The value of the attribute that keys the user's row. An email or phone number counts only
/// once verified: a user may set their own to anyone's, and would otherwise read that
/// person's row.
pub fn key_value<'a>(
    attributes: &'a crate::event::UserAttributes,
    attribute: &str,
) -> Option<&'a str> {
    let value = attributes.get(attribute).filter(|v| !v.is_empty())?;
    match attribute {
        "email" | "phone_number" => {
            let verified = attributes.get(&format!("{attribute}_verified"));
            (verified == Some("true")).then_some(value)
        }
        _ => Some(value),
    }
}

/// Whether the event's app client is one whose tokens get the claims (`clients`; empty: all).
pub fn serves_client(event: &PreTokenEvent, clients: &[String]) -> bool {
    let client = event
        .caller_context
        .as_ref()
        .and_then(|c| c.client_id.as_deref());
    clients.is_empty() || client.is_some_and(|c| clients.iter().any(|listed| listed == c))
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

/// A claim left out of a token because it would break the size budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Oversized {
    pub claim: String,
    /// "ID" or "access".
    pub token: &'static str,
    /// Its size as `"name":value` JSON.
    pub bytes: usize,
    /// The budget it broke: "per claim" or "per token".
    pub budget: &'static str,
}

/// The answer for one event, and what was left out of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub response: Response,
    /// Names of the claims added (values are not logged).
    pub added: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub oversized: Vec<Oversized>,
    /// Row values that are not OAuth scope tokens (RFC 6749, section 3.3), not sent.
    pub dropped_scopes: Vec<String>,
    /// Row values that cannot be Cognito group names, not sent.
    pub dropped_groups: Vec<String>,
}

/// Whose row it is. `users add` and `users import` store the user's immutable `sub` in the
/// row, so a user deleted and created again under the same name does not inherit the old
/// user's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// The row names this user's sub.
    Bound,
    /// The row names no sub (written by other tools, or an M2M client's row).
    Unbound,
    /// The row names another sub: it belonged to an earlier user of this name.
    Stale,
}

pub use crate::config::{ROW_PRINCIPAL, ROW_SUB};

/// Whether `row` belongs to the user of `event`.
pub fn binding(event: &PreTokenEvent, row: &Row) -> Binding {
    // A machine client's row is never a user's (a user's key attribute may name a client id).
    if matches!(row.get(ROW_PRINCIPAL), Some(AttributeValue::S(p)) if p == "client") {
        return Binding::Stale;
    }
    match (row.get(ROW_SUB), event.request.user_attributes.sub()) {
        (None, _) => Binding::Unbound,
        (Some(AttributeValue::S(stored)), Some(sub)) if stored == sub => Binding::Bound,
        // A row bound to a sub, read for an event without one (an M2M client whose id is a
        // user's name): not this principal's.
        _ => Binding::Stale,
    }
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
                let claim = mapping.claim_name();
                // Cognito takes these as strings only in the ID token (the deployer refuses
                // such a mapping; a hand-made configuration gets them as text).
                let value = match &value {
                    Value::String(_) => value.clone(),
                    other if ID_TOKEN_STRING_CLAIMS.contains(&claim) => {
                        Value::String(flatten(other))
                    }
                    other => other.clone(),
                };
                id_claims.insert(claim.to_owned(), value);
            }
            if mapping.tokens.access() && classified.version != EventVersion::V1 {
                access_claims.insert(mapping.claim_name().to_owned(), value);
            }
        }
    }

    let mut dropped_groups = Vec::new();
    let groups = group_override(
        event.request.group_configuration.as_ref(),
        row,
        config,
        &mut dropped_groups,
    );
    let mut oversized = Vec::new();
    let v1 = classified.version == EventVersion::V1;
    // V1_0 carries strings: the budget counts what is sent.
    if v1 {
        for v in id_claims.values_mut() {
            *v = Value::String(flatten(v));
        }
    }
    fit(&mut id_claims, "ID", config, &mut oversized);
    fit(&mut access_claims, "access", config, &mut oversized);
    let mut added: Vec<String> = id_claims
        .keys()
        .chain(access_claims.keys())
        .cloned()
        .collect();
    added.sort();
    added.dedup();

    let mut dropped_scopes = Vec::new();
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
                .map(|v| scopes(v, &mut dropped_scopes))
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
        oversized,
        dropped_scopes,
        dropped_groups,
    }
}

/// A claim's size in the token's JSON: `"name":value`.
fn claim_bytes(name: &str, value: &Value) -> usize {
    Value::String(name.to_owned()).to_string().len() + 1 + value.to_string().len()
}

/// Keeps one token's claims within the budgets: a claim over the per-claim budget is left
/// out, then the largest (by name on a tie) until the rest fit the per-token budget.
fn fit(
    claims: &mut Map<String, Value>,
    token: &'static str,
    config: &TriggerConfig,
    oversized: &mut Vec<Oversized>,
) {
    let mut sizes: Vec<(usize, String)> = claims
        .iter()
        .map(|(k, v)| (claim_bytes(k, v), k.clone()))
        .collect();
    sizes.retain(|(bytes, claim)| {
        let fits = *bytes <= config.max_claim_bytes;
        if !fits {
            oversized.push(Oversized {
                claim: claim.clone(),
                token,
                bytes: *bytes,
                budget: "per claim",
            });
        }
        fits
    });
    // Largest first; among equals, the name decides, so every login drops the same ones.
    sizes.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    // The object's braces and the commas between claims count too.
    let total = |s: &[(usize, String)]| s.iter().map(|(b, _)| b + 1).sum::<usize>() + 1;
    let mut i = 0;
    while total(&sizes[i..]) > config.max_claims_bytes {
        let (bytes, claim) = &sizes[i];
        oversized.push(Oversized {
            claim: claim.clone(),
            token,
            bytes: *bytes,
            budget: "per token",
        });
        i += 1;
    }
    // `retain` keeps the others in their order, whichever map serde_json was built with.
    claims.retain(|k, _| !oversized.iter().any(|o| o.token == token && &o.claim == k));
}

/// The groups to send back. Cognito drops the user's groups when the answer carries an empty
/// or null override, so the request's configuration is always copied across, then changed
/// only as the `groups` mapping says.
fn group_override(
    request: Option<&GroupConfiguration>,
    row: Option<&Row>,
    config: &TriggerConfig,
    dropped: &mut Vec<String>,
) -> Option<GroupConfiguration> {
    let mut groups = request.cloned()?;
    let from_row = config.groups.as_ref().and_then(|g| {
        row?.get(&g.attribute)
            .map(|v| (g.mode, group_names(v, dropped)))
    });
    match from_row {
        Some((GroupsMode::Replace, names)) => {
            // Roles come with pool groups, and the event does not say which role is whose:
            // when the row takes away any of the user's groups, no role of theirs is kept,
            // so a token never carries the role of a group the row removed.
            let kept_all = groups.groups_to_override.iter().all(|g| names.contains(g));
            if !kept_all {
                groups.iam_roles_to_override.clear();
                groups.preferred_role = None;
            }
            groups.groups_to_override = names;
        }
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
        // DynamoDB keeps no order in a set: sorted (and without duplicates), so a token is
        // the same at every login.
        AttributeValue::Ss(items) => {
            let mut items = items.clone();
            items.sort();
            items.dedup();
            Value::Array(items.into_iter().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => {
            let mut items: Vec<(f64, &String)> = items
                .iter()
                .map(|n| (n.trim().parse::<f64>().unwrap_or(f64::NAN), n))
                .collect();
            items.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            items.dedup_by(|a, b| a.0 == b.0 || a.1 == b.1);
            Value::Array(
                items
                    .into_iter()
                    .map(|(_, n)| number(n).unwrap_or_else(|| Value::String(n.clone())))
                    .collect(),
            )
        }
        AttributeValue::L(items) => Value::Array(items.iter().filter_map(natural).collect()),
        // Keys sorted, for the same reason.
        AttributeValue::M(map) => {
            let sorted: std::collections::BTreeMap<&String, &AttributeValue> = map.iter().collect();
            Value::Object(
                sorted
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.clone(), natural(v)?)))
                    .collect(),
            )
        }
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

/// Group names from a set, a list, or a comma-separated string; each once, in order. Values
/// that cannot be Cognito group names are put in `dropped`, not sent.
fn group_names(value: &AttributeValue, dropped: &mut Vec<String>) -> Vec<String> {
    let (names, bad): (Vec<String>, Vec<String>) =
        string_list(value).into_iter().partition(|n| group_name(n));
    dropped.extend(bad);
    names
}

/// A Cognito group name: 1 to 128 letters, marks, symbols, numbers and punctuation (no
/// spaces or control characters).
pub fn group_name(s: &str) -> bool {
    (1..=128).contains(&s.chars().count())
        && s.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

/// Names from a set, a list, or a comma-separated string; each once, in order.
fn string_list(value: &AttributeValue) -> Vec<String> {
    let names: Vec<String> = match natural(value) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| flatten(i).trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        Some(Value::String(s)) => split_commas(&s).collect(),
        _ => Vec::new(),
    };
    once_each(names)
}

/// Scopes from a set, a list, or a string, split on whitespace and commas; each once, in
/// order. Values that are not OAuth scope tokens are put in `dropped`, not sent: Cognito
/// would fail the login on them.
fn scopes(value: &AttributeValue, dropped: &mut Vec<String>) -> Vec<String> {
    let items: Vec<String> = match natural(value) {
        Some(Value::Array(items)) => items.iter().map(flatten).collect(),
        Some(Value::String(s)) => vec![s],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for item in &items {
        for scope in item.split(|c: char| c.is_whitespace() || c == ',') {
            if scope.is_empty() {
                continue;
            }
            if scope_token(scope) {
                out.push(scope.to_owned());
            } else {
                dropped.push(scope.to_owned());
            }
        }
    }
    once_each(out)
}

/// RFC 6749, section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
pub fn scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// The first of each value, in order.
fn once_each(items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}
