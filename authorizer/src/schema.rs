//! The Cedar schema, generated from the claims' types and the routes, so the policies are
//! validated against what the tokens carry and what the API routes.
//!
//! It follows Verified Permissions' Cognito mapping: the principal is `User` with the id
//! `<pool id>|<sub>`, a member of `UserGroup::"<pool id>|<group>"` for each of its
//! `cognito:groups`; an ID token's claims are the principal's attributes, an access token's
//! are `context.token` ("Mapping Amazon Cognito tokens to schema", Verified Permissions user
//! guide). A machine client (client credentials, an access token whose `sub` is its client
//! id) is the distinct principal type `Client`. Each route is an action whose id is the route
//! key, acting on the resource its path names (or on `Api::"api"`).

use crate::config::AuthzConfig;
use crate::token::TokenUse;

pub const USER: &str = "User";
pub const GROUP: &str = "UserGroup";
pub const CLIENT: &str = "Client";
/// The resource of a route that names none.
pub const API: &str = "Api";
pub const API_ID: &str = "api";

/// An access token's own claims that the policies can read in `context.token` (developer
/// guide, "Understanding the access token"). `username` is a user's only.
pub const ACCESS_CLAIMS: &[(&str, &str, bool)] = &[
    ("sub", "String", true),
    ("client_id", "String", true),
    ("token_use", "String", true),
    ("scope", "Set<String>", false),
    ("username", "String", false),
    // Also the principal's parents (`UserGroup::"<pool id>|<group>"`); as a set of names a
    // policy needs no pool id, which a new pool only gets at deploy.
    ("cognito:groups", "Set<String>", false),
];
/// An ID token's own claims, as the principal's attributes (developer guide, "Understanding
/// the identity (ID) token").
pub const ID_CLAIMS: &[(&str, &str, bool)] = &[
    ("sub", "String", true),
    ("cognito:username", "String", false),
    ("email", "String", false),
    ("email_verified", "Bool", false),
    ("cognito:groups", "Set<String>", false),
];

/// The names of the token's own claims the schema carries for `token`.
pub fn own_claims(token: TokenUse) -> &'static [(&'static str, &'static str, bool)] {
    match token {
        TokenUse::Access => ACCESS_CLAIMS,
        TokenUse::Id => ID_CLAIMS,
    }
}

fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The record of the token's own claims and the mapped claims (optional: a user without a
/// row has none).
fn record(config: &AuthzConfig) -> String {
    let own = own_claims(config.token);
    let mut fields: Vec<String> = own
        .iter()
        .map(|(name, ty, required)| {
            format!(
                "    {}{}: {ty},",
                quoted(name),
                if *required { "" } else { "?" }
            )
        })
        .collect();
    for claim in &config.claims {
        if own.iter().any(|(n, _, _)| *n == claim.name) {
            continue;
        }
        fields.push(format!(
            "    {}?: {},",
            quoted(&claim.name),
            claim.kind.schema()
        ));
    }
    fields.join("\n")
}

/// The schema in Cedar's schema syntax (what `deployer authz schema` prints).
pub fn text(config: &AuthzConfig) -> String {
    let mut out = format!("namespace {} {{\n", config.namespace);
    out.push_str(&format!("  entity {GROUP};\n"));
    match config.token {
        TokenUse::Id => {
            out.push_str(&format!(
                "  entity {USER} in [{GROUP}] {{\n{}\n  }};\n",
                record(config)
            ));
            out.push_str(&format!("  entity {CLIENT};\n"));
            out.push_str(
                "  type Token = {\n    \"sub\": String,\n    \"aud\": String,\n    \"token_use\": String,\n  };\n",
            );
        }
        TokenUse::Access => {
            out.push_str(&format!("  entity {USER} in [{GROUP}];\n"));
            out.push_str(&format!("  entity {CLIENT};\n"));
            out.push_str(&format!("  type Token = {{\n{}\n  }};\n", record(config)));
        }
    }
    let mut types: Vec<&str> = Vec::new();
    for route in &config.routes {
        let ty = route
            .resource
            .as_ref()
            .map_or(API, |r| r.entity_type.as_str());
        if !types.contains(&ty) {
            types.push(ty);
        }
    }
    for ty in &types {
        if *ty == API {
            out.push_str(&format!("  entity {API};\n"));
        } else {
            out.push_str(&format!("  entity {ty} {{\n    \"id\": String,\n  }};\n"));
        }
    }
    for route in &config.routes {
        let ty = route
            .resource
            .as_ref()
            .map_or(API, |r| r.entity_type.as_str());
        out.push_str(&format!(
            "  action {} appliesTo {{\n    principal: [{USER}, {CLIENT}],\n    resource: [{ty}],\n    context: {{ \"token\": Token }},\n  }};\n",
            quoted(&route.route)
        ));
    }
    out.push_str("}\n");
    out
}

/// The schema, parsed.
pub fn schema(config: &AuthzConfig) -> Result<cedar_policy::Schema, String> {
    cedar_policy::Schema::from_cedarschema_str(&text(config))
        .map(|(schema, _warnings)| schema)
        .map_err(|e| format!("the generated Cedar schema does not parse: {e}"))
}

/// Whether `name` can be a Cedar identifier (a namespace, an entity type).
pub fn identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&name)
}

const RESERVED: &[&str] = &[
    "true",
    "false",
    "if",
    "then",
    "else",
    "in",
    "is",
    "like",
    "has",
    "__cedar",
    "principal",
    "action",
    "resource",
    "context",
    "permit",
    "forbid",
    "when",
    "unless",
];

/// Whether a claim is one the mapping may type for the policies (not one of the token's own).
pub fn typed_claim_allowed(token: TokenUse, name: &str) -> bool {
    !own_claims(token).iter().any(|(n, _, _)| *n == name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{CedarType, ResourceRef, Route, TypedClaim};

    pub(crate) fn config(token: TokenUse) -> AuthzConfig {
        AuthzConfig {
            namespace: "App".into(),
            user_pool_id: "us-east-1_abc".into(),
            issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc".into(),
            token,
            clients: vec!["client-1".into()],
            claims: vec![
                TypedClaim {
                    name: "projects".into(),
                    kind: CedarType::Set,
                },
                TypedClaim {
                    name: "custom:tenant".into(),
                    kind: CedarType::String,
                },
                TypedClaim {
                    name: "level".into(),
                    kind: CedarType::Long,
                },
            ],
            routes: vec![
                Route {
                    route: "GET /projects/{projectId}".into(),
                    resource: Some(ResourceRef {
                        entity_type: "Project".into(),
                        parameter: "projectId".into(),
                    }),
                },
                Route {
                    route: "GET /me".into(),
                    resource: None,
                },
            ],
        }
    }

    #[test]
    fn the_schema_parses_for_either_token() {
        for token in [TokenUse::Access, TokenUse::Id] {
            let text = text(&config(token));
            schema(&config(token)).unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert!(text.contains("\"custom:tenant\"?: String"), "{text}");
            assert!(
                text.contains("action \"GET /projects/{projectId}\""),
                "{text}"
            );
            assert!(text.contains("entity Project"), "{text}");
            assert!(text.contains("entity Api;"), "{text}");
        }
    }

    #[test]
    fn identifiers_are_cedars() {
        assert!(identifier("Project"));
        assert!(identifier("_x1"));
        assert!(!identifier("1x"));
        assert!(!identifier("my-type"));
        assert!(!identifier("in"));
        assert!(!identifier(""));
    }
}
