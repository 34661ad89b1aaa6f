//! API Gateway's REQUEST authorizer event (HTTP API, payload 2.0) to a simple response, and
//! the `whoami` integration that echoes what the backend received.
//!
//! Event and response: "Working with AWS Lambda authorizers for HTTP APIs", API Gateway
//! developer guide (payload format 2.0; simple responses: `isAuthorized` and `context`).

use crate::decide::{Decision, Engine};
use crate::keys::{Fetch, KeyCache};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The parts of the authorizer event a decision reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default)]
    pub route_key: String,
    /// Header names arrive in lower case (payload 2.0).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `null` when the route has no parameters.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub path_parameters: BTreeMap<String, String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

/// The simple response.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub is_authorized: bool,
    /// What the integration receives in `requestContext.authorizer.lambda`: strings, numbers
    /// and booleans only.
    pub context: Map<String, Value>,
}

/// The token of the `Authorization` header: `Bearer <jwt>`, or the bare token.
pub fn bearer(headers: &BTreeMap<String, String>) -> Option<&str> {
    let value = headers.get("authorization")?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return None,
        None if value.eq_ignore_ascii_case("bearer") => return None,
        None => value,
    };
    (!token.is_empty()).then_some(token)
}

/// A claim for the integration's context: sets joined with commas.
fn flat(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::String(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::Object(_) | Value::Null => Value::String(value.to_string()),
        other => other.clone(),
    }
}

/// The decision on one authorizer event: the token verified with `keys`, then the policies.
/// Denies on any error.
pub fn authorize<F: Fetch>(
    engine: &Engine,
    keys: &mut KeyCache<F>,
    event: &Value,
    now: u64,
) -> (Answer, Decision) {
    let deny = |error: String, action: &str| {
        let answer = Answer {
            is_authorized: false,
            context: Map::new(),
        };
        (answer, Decision::error(action, error))
    };
    // Read in place: no copy of the event on every call.
    let event = match Event::deserialize(event) {
        Ok(e) => e,
        Err(e) => return deny(format!("not an authorizer event: {e}"), ""),
    };
    let Some(jwt) = bearer(&event.headers) else {
        return deny("no bearer token".into(), &event.route_key);
    };
    let config = engine.config();
    let claims = match keys.verify(jwt, &config.issuer, &config.clients, config.token, now) {
        Ok(c) => c,
        Err(e) => return deny(e, &event.route_key),
    };
    let decision = engine.decide(&claims, &event.route_key, &event.path_parameters);
    let mut context = Map::new();
    if decision.allow {
        // The mapped claims first, then the token's own and the decision's: a claim from a
        // row never stands in for what the authorizer itself says.
        for claim in &config.claims {
            if let Some(v) = claims.get(&claim.name) {
                context.insert(claim.name.clone(), flat(v));
            }
        }
        // Either token type's own names: a row's claim never takes one of them. (Not the
        // email: a user can change it without verifying it.)
        let own: &[&str] = match config.token {
            crate::token::TokenUse::Access => &["sub", "username", "client_id", "scope"],
            crate::token::TokenUse::Id => &["sub", "cognito:username", "aud"],
        };
        for name in [
            "sub",
            "username",
            "client_id",
            "scope",
            "cognito:username",
            "aud",
        ] {
            match claims.get(name).filter(|_| own.contains(&name)) {
                Some(v) => context.insert(name.into(), flat(v)),
                None => context.remove(name),
            };
        }
        context.insert("principal".into(), json!(decision.principal));
        context.insert("policies".into(), json!(decision.policies.join(",")));
    }
    (
        Answer {
            is_authorized: decision.allow,
            context,
        },
        decision,
    )
}

/// One JSON log line per decision: never the token.
pub fn log_line(decision: &Decision, micros: u128) -> String {
    json!({
        "decision": if decision.allow { "ALLOW" } else { "DENY" },
        "principal": decision.principal,
        "action": decision.action,
        "resource": decision.resource,
        "policies": decision.policies,
        "errors": decision.errors,
        "micros": micros,
    })
    .to_string()
}

/// The `whoami` integration's answer: the route, the path and what the authorizer passed on.
pub fn whoami(event: &Value) -> Value {
    let body = json!({
        "route": event.get("routeKey"),
        "path": event.get("rawPath"),
        "authorizer": event.pointer("/requestContext/authorizer/lambda"),
    });
    json!({
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_token_is_read_either_way() {
        let h = |v: &str| BTreeMap::from([("authorization".to_owned(), v.to_owned())]);
        assert_eq!(bearer(&h("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&h("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&h("abc")), Some("abc"));
        assert_eq!(bearer(&h("Basic abc")), None);
        assert_eq!(bearer(&h("Bearer ")), None);
        assert_eq!(bearer(&BTreeMap::new()), None);
    }

    #[test]
    fn whoami_echoes_the_authorizers_context() {
        let event = json!({"routeKey": "GET /me", "rawPath": "/me",
            "requestContext": {"authorizer": {"lambda": {"principal": "App::User::\"p|u\""}}}});
        let answer = whoami(&event);
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["authorizer"]["principal"], "App::User::\"p|u\"");
        assert_eq!(answer["statusCode"], 200);
    }
}
