//! A verified token's claims and a route to a Cedar request and its entities (pure).
//!
//! Verified Permissions' Cognito mapping where it has one (see [`crate::schema`]); every
//! value typed by the schema, so a claim of the wrong type is an error (and the call is
//! denied), never a silently different decision.

use crate::config::{AuthzConfig, CedarType, Route};
use crate::schema::{self, API, API_ID, CLIENT, GROUP, USER};
use crate::token::TokenUse;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A user: `User::"<pool id>|<sub>"`.
    User { sub: String },
    /// A machine client (client credentials): `Client::"<pool id>|<client id>"`.
    Client { client_id: String },
}

/// The request's parts in Cedar's JSON forms, before the schema types them.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    pub principal: Value,
    pub action: Value,
    pub resource: Value,
    pub context: Value,
    pub entities: Value,
}

/// The caller a token names: a user (it has a user name), or a machine client (an access
/// token whose `sub` is its `client_id`; developer guide, "Scopes, M2M, and APIs with
/// resource servers").
pub fn caller(claims: &Map<String, Value>, token: TokenUse) -> Result<Caller, String> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let sub = text("sub").ok_or("the token has no sub")?;
    let username = match token {
        TokenUse::Access => text("username"),
        TokenUse::Id => text("cognito:username"),
    };
    if username.is_some() {
        return Ok(Caller::User { sub: sub.into() });
    }
    match (token, text("client_id")) {
        (TokenUse::Access, Some(client)) if client == sub => Ok(Caller::Client {
            client_id: client.into(),
        }),
        _ => Err("the token names neither a user (no user name) nor a machine client".into()),
    }
}

/// A claim's value as `kind`: a set from an array of strings or a comma-separated string (a
/// V1_0 trigger can only add strings), a long from an integer.
pub fn typed(value: &Value, kind: CedarType) -> Result<Value, String> {
    let wrong = || format!("{value} is not a {}", kind.schema());
    match (kind, value) {
        (CedarType::String, Value::String(_)) | (CedarType::Bool, Value::Bool(_)) => {
            Ok(value.clone())
        }
        (CedarType::Long, Value::Number(n)) if n.is_i64() => Ok(value.clone()),
        (CedarType::Set, Value::Array(items)) => {
            if items.iter().all(Value::is_string) {
                Ok(value.clone())
            } else {
                Err(wrong())
            }
        }
        // A V1_0 trigger writes a list as JSON text (`["p1","p2"]`).
        (CedarType::Set, Value::String(s)) if s.starts_with('[') => {
            match serde_json::from_str::<Vec<String>>(s) {
                Ok(items) => Ok(json!(items)),
                Err(_) => Err(wrong()),
            }
        }
        (CedarType::Set, Value::String(s)) => {
            let items: Vec<&str> = s
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .collect();
            Ok(json!(items))
        }
        _ => Err(wrong()),
    }
}

/// The token's own claims (as the schema has them) and the mapped claims it carries.
fn token_record(
    config: &AuthzConfig,
    claims: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (name, ty, _) in schema::own_claims(config.token) {
        let Some(value) = claims.get(*name) else {
            continue;
        };
        let value = match (*ty, value) {
            // The access token's scopes are one space-separated string.
            ("Set<String>", Value::String(s)) => json!(s.split_whitespace().collect::<Vec<_>>()),
            ("Bool", Value::String(s)) => json!(s == "true"),
            _ => value.clone(),
        };
        out.insert((*name).into(), value);
    }
    for claim in &config.claims {
        if !schema::typed_claim_allowed(config.token, &claim.name) {
            continue;
        }
        if let Some(value) = claims.get(&claim.name) {
            let value =
                typed(value, claim.kind).map_err(|e| format!("claim {:?}: {e}", claim.name))?;
            out.insert(claim.name.clone(), value);
        }
    }
    Ok(out)
}

fn uid(namespace: &str, ty: &str, id: &str) -> Value {
    json!({"type": format!("{namespace}::{ty}"), "id": id})
}

/// The request for `route` with `params` (the path's parameters) by the caller the claims
/// name.
pub fn parts(
    config: &AuthzConfig,
    claims: &Map<String, Value>,
    route: &Route,
    params: &BTreeMap<String, String>,
) -> Result<Parts, String> {
    let ns = &config.namespace;
    let pool = &config.user_pool_id;
    // API Gateway decodes path parameters (%2F is /): a value with an empty, `.` or `..`
    // segment, a backslash, a `;` or a `%` (double encoding) could name another resource to a
    // backend that normalises paths.
    for (name, value) in params {
        let odd = value
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
            || value.contains(['\\', ';', '%'])
            || value.chars().any(char::is_control);
        if odd {
            return Err(format!(
                "the path parameter {name} ({value:?}) is not a plain name"
            ));
        }
    }
    let record = token_record(config, claims)?;
    // The mapped claims: the user's attributes with ID tokens, `context.token` with access
    // tokens (Verified Permissions' Cognito mapping).
    let (attrs, token) = match config.token {
        TokenUse::Id => {
            let text = |n: &str| claims.get(n).cloned().unwrap_or(Value::Null);
            let token =
                json!({"sub": text("sub"), "aud": text("aud"), "token_use": text("token_use")});
            (Value::Object(record), token)
        }
        TokenUse::Access => (json!({}), Value::Object(record)),
    };
    let mut entities = Vec::new();
    let principal = match caller(claims, config.token)? {
        Caller::User { sub } => {
            let mut groups = match claims.get("cognito:groups") {
                None => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|g| g.as_str().ok_or("cognito:groups holds a non-string"))
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => return Err("cognito:groups is not a list".into()),
            };
            groups.sort_unstable();
            groups.dedup();
            let parents: Vec<Value> = groups
                .iter()
                .map(|g| uid(ns, GROUP, &format!("{pool}|{g}")))
                .collect();
            for parent in &parents {
                entities.push(json!({"uid": parent, "attrs": {}, "parents": []}));
            }
            let principal = uid(ns, USER, &format!("{pool}|{sub}"));
            entities.push(json!({"uid": principal, "attrs": attrs, "parents": parents}));
            principal
        }
        Caller::Client { client_id } => {
            let principal = uid(ns, CLIENT, &format!("{pool}|{client_id}"));
            entities.push(json!({"uid": principal, "attrs": {}, "parents": []}));
            principal
        }
    };
    let resource = match &route.resource {
        Some(r) => {
            let id = params.get(&r.parameter).ok_or_else(|| {
                format!(
                    "the path has no parameter {:?} for the resource",
                    r.parameter
                )
            })?;
            let resource = uid(ns, &r.entity_type, id);
            entities.push(json!({"uid": resource, "attrs": {"id": id}, "parents": []}));
            resource
        }
        None => {
            let resource = uid(ns, API, API_ID);
            entities.push(json!({"uid": resource, "attrs": {}, "parents": []}));
            resource
        }
    };
    Ok(Parts {
        principal,
        action: uid(ns, "Action", &route.route),
        resource,
        context: json!({ "token": token }),
        entities: Value::Array(entities),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests::config;

    fn access(extra: Value) -> Map<String, Value> {
        let mut c = json!({"sub": "u-1", "username": "jane", "client_id": "client-1",
                           "token_use": "access", "scope": "openid profile",
                           "cognito:groups": ["admins"]});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c.as_object().unwrap().clone()
    }

    #[test]
    fn a_users_access_token_puts_its_claims_in_context_token() {
        let config = config(TokenUse::Access);
        let params = BTreeMap::from([("projectId".to_owned(), "alpha".to_owned())]);
        let p = parts(
            &config,
            &access(json!({"projects": ["alpha"], "level": 3})),
            &config.routes[0],
            &params,
        )
        .unwrap();
        assert_eq!(
            p.principal,
            json!({"type": "App::User", "id": "us-east-1_abc|u-1"})
        );
        assert_eq!(
            p.action,
            json!({"type": "App::Action", "id": "GET /projects/{projectId}"})
        );
        assert_eq!(p.resource, json!({"type": "App::Project", "id": "alpha"}));
        assert_eq!(p.context["token"]["projects"], json!(["alpha"]));
        assert_eq!(p.context["token"]["scope"], json!(["openid", "profile"]));
        assert_eq!(p.context["token"]["level"], json!(3));
        let user = &p.entities[1];
        assert_eq!(
            user["parents"],
            json!([{"type": "App::UserGroup", "id": "us-east-1_abc|admins"}])
        );
    }

    #[test]
    fn a_machine_client_is_its_own_principal_type() {
        let config = config(TokenUse::Access);
        let claims = json!({"sub": "m2m", "client_id": "m2m", "token_use": "access",
                            "scope": "api/read"});
        let p = parts(
            &config,
            claims.as_object().unwrap(),
            &config.routes[1],
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(
            p.principal,
            json!({"type": "App::Client", "id": "us-east-1_abc|m2m"})
        );
        assert_eq!(p.resource, json!({"type": "App::Api", "id": "api"}));
        // Not a user, not its own client: nobody.
        let claims = json!({"sub": "x", "client_id": "m2m", "token_use": "access"});
        assert!(caller(claims.as_object().unwrap(), TokenUse::Access).is_err());
    }

    #[test]
    fn an_id_tokens_claims_are_the_principals_attributes() {
        let config = config(TokenUse::Id);
        let claims = json!({"sub": "u-1", "cognito:username": "jane", "aud": "client-1",
                            "token_use": "id", "custom:tenant": "acme", "projects": "a, b"});
        let v1 = typed(&json!(r#"["p1","p2"]"#), CedarType::Set).unwrap();
        assert_eq!(v1, json!(["p1", "p2"]));
        let p = parts(
            &config,
            claims.as_object().unwrap(),
            &config.routes[1],
            &BTreeMap::new(),
        )
        .unwrap();
        let user = &p.entities[0];
        assert_eq!(user["attrs"]["custom:tenant"], "acme");
        assert_eq!(user["attrs"]["projects"], json!(["a", "b"]));
        assert_eq!(p.context["token"]["aud"], "client-1");
    }

    #[test]
    fn a_claim_of_the_wrong_type_is_an_error() {
        let config = config(TokenUse::Access);
        for bad in [
            json!({"level": "3"}),
            json!({"level": 1.5}),
            json!({"projects": [1]}),
        ] {
            let err = parts(
                &config,
                &access(bad.clone()),
                &config.routes[1],
                &BTreeMap::new(),
            )
            .unwrap_err();
            assert!(err.starts_with("claim "), "{bad}: {err}");
        }
    }
}
