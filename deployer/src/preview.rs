//! `plan --claims` and `status --sizes`: what a mapping puts into real principals' tokens,
//! computed here with the trigger's own claim code (`trigger::claims`, linked, never copied),
//! before the mapping is deployed. Pure: the rows, users and mappings come in, the
//! differences and sizes go out; `commands/preview.rs` reads them from AWS.

use crate::commands::invoke::{answer, Answer};
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use trigger::claims::{self, Binding, Row};
use trigger::config::TriggerConfig;
use trigger::event::PreTokenEvent;

/// The limits a token meets downstream, in bytes of the encoded token: API Gateway's header
/// quota (API Gateway developer guide, "Amazon API Gateway quotas": 10,240 bytes for
/// headers), CloudFront's (CloudFront developer guide, "Quotas": 8,192 bytes for a header), and
/// a cookie (RFC 6265, section 6.1: at least 4,096 bytes per cookie, which browsers keep to).
pub const LIMITS: &[(&str, usize)] = &[
    ("API Gateway header (10,240 bytes)", 10_240),
    ("CloudFront header (8,192 bytes)", 8_192),
    ("cookie (4,096 bytes)", 4_096),
];

/// One principal to preview: its pre-token-generation event (as Cognito would send it, per
/// event version) and its rows by key (each mapping reads the one its key names; none: no
/// row).
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user name, or the client id.
    pub name: String,
    pub client: bool,
    /// The event for a version ("1", "2", "3" in `version`), attributes, groups and scopes
    /// as the pool has them.
    pub event: Event,
    pub rows: BTreeMap<String, Row>,
    /// Cognito's own claims for the principal, per token, for the size estimate.
    pub issued: Issued,
}

/// A principal's pre-token-generation event, whose version each mapping sets.
#[derive(Debug, Clone)]
pub struct Event(pub Value);

impl Event {
    /// The event as Cognito sends it for `version` (`V1_0`, `V2_0`, `V3_0`).
    pub fn for_version(&self, version: &str) -> Value {
        let mut e = self.0.clone();
        let number = match version {
            "V1_0" => "1",
            "V3_0" => "3",
            _ => "2",
        };
        e["version"] = Value::String(number.into());
        e["response"] = match number {
            "1" => json!({"claimsOverrideDetails": null}),
            _ => json!({"claimsAndScopeOverrideDetails": null}),
        };
        e
    }
}

/// Cognito's own claims in the principal's tokens (developer guide, "Understanding the
/// identity (ID) token" and "Understanding the access token"), with values of their real
/// lengths.
#[derive(Debug, Clone, Default)]
pub struct Issued {
    pub id: Map<String, Value>,
    pub access: Map<String, Value>,
}

/// A mapping as deployed or as the inputs give it.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub config: TriggerConfig,
    pub event_version: String,
}

/// What one principal's tokens carry under a mapping.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    #[serde(flatten)]
    pub answer: Answer,
    /// Claims left out by the size budgets (`maxClaimBytes`, `maxClaimsBytes`), "token:claim".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// Row attributes whose values cannot take the mapped type (left out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    /// The encoded ID and access tokens' sizes, in bytes (estimated: see `encoded_size`).
    pub id_token_bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_bytes: Option<usize>,
    /// Why the principal's tokens could not be computed (an event the trigger refuses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The claims, scopes and groups `mapping` gives `p`, through the trigger's own code: the
/// same classification, row binding and claim building a login runs.
pub fn tokens(p: &Principal, mapping: &Mapping) -> Tokens {
    let raw = p.event.for_version(&mapping.event_version);
    let event: PreTokenEvent = match serde_json::from_value(raw) {
        Ok(e) => e,
        Err(e) => return failed(e.to_string()),
    };
    let key = mapping.config.user_key_attribute.as_deref();
    // Another app client's tokens are Cognito's alone, as the trigger answers them.
    if !claims::serves_client(&event, &mapping.config.clients) {
        let answer = answer(&json!({ "response": {} }));
        let (id, access) = token_payloads(&p.issued, &answer);
        return Tokens {
            id_token_bytes: if p.client { 0 } else { encoded_size(&id) },
            access_token_bytes: Some(encoded_size(&access)),
            answer,
            ..Tokens::default()
        };
    }
    let classified = match claims::classify_keyed(&event, key) {
        Ok(c) => c,
        Err(e) => return failed(e.to_string()),
    };
    // A row bound to another user (or a client's row for a user) gives no claims.
    let row = p
        .rows
        .get(classified.principal.key())
        .filter(|row| p.client || claims::binding(&event, row) != Binding::Stale);
    let built = claims::build(&classified, &event, row, &mapping.config);
    let response = serde_json::to_value(&built.response).unwrap_or(Value::Null);
    let answer = answer(&json!({ "response": response }));
    let (id, access) = token_payloads(&p.issued, &answer);
    Tokens {
        dropped: built
            .oversized
            .iter()
            .map(|o| format!("{}:{}", o.token, o.claim))
            .collect(),
        unreadable: built.skipped.iter().map(|s| s.attribute.clone()).collect(),
        id_token_bytes: if p.client { 0 } else { encoded_size(&id) },
        access_token_bytes: answer.access_token.as_ref().map(|_| encoded_size(&access)),
        answer,
        error: None,
    }
}

fn failed(error: String) -> Tokens {
    Tokens {
        error: Some(error),
        ..Tokens::default()
    }
}

/// A token's payload: its claims.
pub type Payload = Map<String, Value>;

/// The ID and access token payloads `mapping` gives `p`: Cognito's claims with the
/// trigger's over them, or why the trigger refuses the principal's event.
pub fn payloads(p: &Principal, mapping: &Mapping) -> Result<(Payload, Payload), String> {
    let tokens = tokens(p, mapping);
    match tokens.error {
        Some(e) => Err(e),
        None => Ok(token_payloads(&p.issued, &tokens.answer)),
    }
}

/// Cognito's claims with the trigger's over them (and its groups and scopes), per token.
fn token_payloads(issued: &Issued, answer: &Answer) -> (Map<String, Value>, Map<String, Value>) {
    let mut id = issued.id.clone();
    id.extend(answer.id_token.clone());
    let mut access = issued.access.clone();
    access.extend(answer.access_token.clone().unwrap_or_default());
    if let Some(groups) = &answer.groups {
        for token in [&mut id, &mut access] {
            match groups.is_empty() {
                true => token.remove("cognito:groups"),
                false => token.insert("cognito:groups".into(), json!(groups)),
            };
        }
    }
    if !answer.scopes_added.is_empty() {
        let scope = access
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let all: Vec<&str> = scope
            .split(' ')
            .chain(answer.scopes_added.iter().map(String::as_str))
            .filter(|s| !s.is_empty())
            .collect();
        access.insert("scope".into(), json!(all.join(" ")));
    }
    (id, access)
}

/// The encoded size of a Cognito token with this payload: base64url of the header (`kid`, a
/// 44-character key id, and `alg` RS256), a dot, base64url of the payload's JSON, a dot, and an
/// RS256 signature of a 2048-bit key (256 bytes: 342 characters).
pub fn encoded_size(payload: &Map<String, Value>) -> usize {
    let b64 = |bytes: &[u8]| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(bytes)
            .len()
    };
    let header = json!({"kid": "x".repeat(44), "alg": "RS256"}).to_string();
    let body = serde_json::to_string(payload).unwrap_or_default();
    b64(header.as_bytes()) + 1 + b64(body.as_bytes()) + 1 + 342
}

/// One difference in one principal's tokens.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// `ID` or `access` (or `scopes`, `groups`, `dropped`).
    pub token: String,
    pub claim: String,
    /// `added`, `removed`, `value` (same type, another value), `type` (another JSON type),
    /// `dropped` (left out by the size budget under the new mapping).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// What differs between two mappings' tokens for one principal.
pub fn diff(before: &Tokens, after: &Tokens) -> Vec<Change> {
    let mut out = Vec::new();
    let empty = Map::new();
    let tokens = [
        ("ID", &before.answer.id_token, &after.answer.id_token),
        (
            "access",
            before.answer.access_token.as_ref().unwrap_or(&empty),
            after.answer.access_token.as_ref().unwrap_or(&empty),
        ),
    ];
    for (token, old, new) in tokens {
        let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for name in names {
            let kind = match (old.get(name), new.get(name)) {
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (Some(a), Some(b)) if a == b => continue,
                (Some(a), Some(b)) if type_name(a) != type_name(b) => "type",
                (Some(_), Some(_)) => "value",
                (None, None) => continue,
            };
            out.push(Change {
                token: token.into(),
                claim: name.clone(),
                kind: kind.into(),
                before: old.get(name).cloned(),
                after: new.get(name).cloned(),
            });
        }
    }
    let set = |v: &[String]| v.iter().cloned().collect::<std::collections::BTreeSet<_>>();
    let (old, new) = (
        set(&before.answer.scopes_added),
        set(&after.answer.scopes_added),
    );
    for s in new.difference(&old) {
        out.push(named("scopes", s, "added"));
    }
    for s in old.difference(&new) {
        out.push(named("scopes", s, "removed"));
    }
    if before.answer.groups != after.answer.groups {
        out.push(Change {
            token: "groups".into(),
            claim: "cognito:groups".into(),
            kind: "value".into(),
            before: before.answer.groups.as_ref().map(|g| json!(g)),
            after: after.answer.groups.as_ref().map(|g| json!(g)),
        });
    }
    for d in after.dropped.iter().filter(|d| !before.dropped.contains(d)) {
        out.push(named("dropped", d, "dropped"));
    }
    out
}

fn named(token: &str, claim: &str, kind: &str) -> Change {
    Change {
        token: token.into(),
        claim: claim.into(),
        kind: kind.into(),
        before: None,
        after: None,
    }
}

/// How many principals each claim's change touches: `token:claim` -> kind -> count.
pub fn summary<'a>(
    changes: impl Iterator<Item = &'a Vec<Change>>,
) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for principal in changes {
        for c in principal {
            *out.entry(format!("{} {}", c.token, c.claim))
                .or_default()
                .entry(c.kind.clone())
                .or_default() += 1;
        }
    }
    out
}

/// The principals whose tokens pass each limit, largest first.
pub fn over_limits(
    sizes: &[(String, usize, Option<usize>)],
) -> Vec<(String, Vec<(String, usize)>)> {
    LIMITS
        .iter()
        .map(|(limit, bytes)| {
            let mut over: Vec<(String, usize)> = sizes
                .iter()
                .filter_map(|(name, id, access)| {
                    let largest = (*id).max(access.unwrap_or(0));
                    (largest > *bytes).then(|| (name.clone(), largest))
                })
                .collect();
            over.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            ((*limit).to_owned(), over)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    fn principal(row: &[(&str, AttributeValue)]) -> Principal {
        let event = json!({
            "version": "2", "triggerSource": "TokenGeneration_Authentication", "region": "us-east-1",
            "userPoolId": "us-east-1_A", "userName": "jane",
            "callerContext": {"clientId": "c"},
            "request": {"userAttributes": {"sub": "s-1"}, "groupConfiguration": {"groupsToOverride": ["engineers"]}, "scopes": ["openid"]},
            "response": {}
        });
        Principal {
            name: "jane".into(),
            client: false,
            event: Event(event),
            rows: BTreeMap::from([(
                "jane".to_owned(),
                row.iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            )]),
            issued: Issued::default(),
        }
    }

    fn mapping(claims: Value) -> Mapping {
        Mapping {
            config: TriggerConfig::from_json(&json!({"table": "t", "claims": claims}).to_string())
                .unwrap(),
            event_version: "V2_0".into(),
        }
    }

    #[test]
    fn a_type_change_a_rename_and_a_removal_are_each_named() {
        let p = principal(&[
            ("projects", AttributeValue::Ss(vec!["a".into(), "b".into()])),
            ("role", AttributeValue::S("admin".into())),
            ("tenant_id", AttributeValue::S("acme".into())),
        ]);
        let before = tokens(
            &p,
            &mapping(json!([
                {"attribute": "projects", "type": "list", "tokens": "both"},
                {"attribute": "role", "tokens": "id"},
                {"attribute": "tenant_id", "tokens": "access"}
            ])),
        );
        let after = tokens(
            &p,
            &mapping(json!([
                {"attribute": "projects", "type": "string", "tokens": "both"},
                {"attribute": "role", "claim": "app_role", "tokens": "id"}
            ])),
        );
        let changes: Vec<(String, String, String)> = diff(&before, &after)
            .into_iter()
            .map(|c| (c.token, c.claim, c.kind))
            .collect();
        let want = [
            ("ID", "app_role", "added"),
            ("ID", "projects", "type"),
            ("ID", "role", "removed"),
            ("access", "projects", "type"),
            ("access", "tenant_id", "removed"),
        ];
        assert_eq!(
            changes,
            want.map(|(a, b, c)| (a.into(), b.into(), c.into()))
        );
        assert!(
            diff(&after, &after).is_empty(),
            "the same mapping changes nothing"
        );
        let s = summary([diff(&before, &after)].iter());
        assert_eq!(s["ID projects"]["type"], 1);
    }

    #[test]
    fn a_row_bound_to_another_user_gives_no_claims_in_the_preview_either() {
        let p = principal(&[
            ("role", AttributeValue::S("admin".into())),
            ("sub", AttributeValue::S("someone-else".into())),
        ]);
        let t = tokens(&p, &mapping(json!([{"attribute": "role"}])));
        assert!(t.answer.id_token.is_empty(), "{t:?}");
    }

    #[test]
    fn claims_over_the_budget_are_listed_as_dropped() {
        let p = principal(&[("blob", AttributeValue::S("x".repeat(3000)))]);
        let small = Mapping {
            config: TriggerConfig::from_json(
                &json!({"table": "t", "claims": [{"attribute": "blob"}], "maxClaimBytes": 2048})
                    .to_string(),
            )
            .unwrap(),
            event_version: "V2_0".into(),
        };
        let t = tokens(&p, &small);
        assert_eq!(t.dropped, ["ID:blob"]);
        let before = tokens(&p, &mapping(json!([])));
        assert!(diff(&before, &t)
            .iter()
            .any(|c| c.kind == "dropped" && c.claim == "ID:blob"));
    }

    #[test]
    fn the_encoded_size_is_the_jwt_length_and_limits_name_the_largest_first() {
        let mut payload = Map::new();
        payload.insert("sub".into(), json!("a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"));
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"kid": "x".repeat(44), "alg": "RS256"}).to_string());
        let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_string(&payload).unwrap());
        let jwt = format!("{header}.{body}.{}", "s".repeat(342));
        assert_eq!(encoded_size(&payload), jwt.len());
        let sizes = vec![
            ("a".into(), 5000, Some(9000)),
            ("b".into(), 11_000, None),
            ("c".into(), 100, Some(100)),
        ];
        let over = over_limits(&sizes);
        assert_eq!(over[0].1, vec![("b".to_owned(), 11_000)]);
        assert_eq!(
            over[2].1,
            vec![("b".to_owned(), 11_000), ("a".to_owned(), 9000)]
        );
    }
}
