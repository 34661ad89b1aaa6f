//! What the authorizer is told, written by the deployer into its zip (`authz.json`, beside
//! `policies/*.cedar`): the pool, the accepted clients, which token, the claims' Cedar types
//! and the routes.

use crate::token::TokenUse;
use serde::{Deserialize, Serialize};

/// The pool id of offline decisions (`authz check --claims`, `authz test`) for a pool that is
/// not deployed yet: no policy may name a user, group or client of it.
pub const PLACEHOLDER_POOL: &str = "offline";

/// The file in the zip (and the Lambda task root) holding the [`AuthzConfig`].
pub const CONFIG_FILE: &str = "authz.json";
/// The folder in the zip holding the policies, one or more per `.cedar` file.
pub const POLICY_DIR: &str = "policies";

/// The authorizer's whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthzConfig {
    /// The Cedar namespace of every entity type and action.
    pub namespace: String,
    /// The user pool: its id prefixes principal ids (`<pool id>|<sub>`), as in Verified
    /// Permissions.
    pub user_pool_id: String,
    /// The pool's issuer (`https://cognito-idp.<region>.amazonaws.com/<pool id>`).
    pub issuer: String,
    /// Which token the API takes.
    #[serde(default)]
    pub token: TokenUse,
    /// The app clients whose tokens the API accepts.
    pub clients: Vec<String>,
    /// The claims the policies can read, with their Cedar types.
    #[serde(default)]
    pub claims: Vec<TypedClaim>,
    /// The API's routes.
    pub routes: Vec<Route>,
}

/// A claim the mapping adds, as the policies see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TypedClaim {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: CedarType,
}

/// A claim's Cedar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CedarType {
    String,
    Long,
    Bool,
    /// `Set<String>`: a JSON array of strings, or a comma-separated string.
    Set,
}

impl CedarType {
    pub fn schema(self) -> &'static str {
        match self {
            Self::String => "String",
            Self::Long => "Long",
            Self::Bool => "Bool",
            Self::Set => "Set<String>",
        }
    }
}

/// One route of the API and the Cedar resource it acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// The route key, `METHOD /path/{param}`: also the Cedar action's id.
    pub route: String,
    /// The resource: an entity of this type whose id is the path parameter's value. Without
    /// it the route acts on the API itself (`Api::"api"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceRef>,
}

/// The entity type of a route's resource and the path parameter that names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceRef {
    #[serde(rename = "type")]
    pub entity_type: String,
    pub parameter: String,
}
