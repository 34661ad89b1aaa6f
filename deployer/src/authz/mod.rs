//! The API's authorization, before anything is deployed: the Cedar schema from the claim
//! mapping and the routes, the policy files checked strictly against it, and decisions
//! evaluated locally by the authorizer's own library (`authz check`, `authz test`).

pub mod cases;

use crate::inputs::{resource_parameter, ApiInputs, EventVersion, StackInputs};
use authorizer::config::{AuthzConfig, CedarType, ResourceRef, Route, TypedClaim};
use authorizer::decide::{read_policies, Engine, PolicyFile, Problem};
use authorizer::token::TokenUse;
use miette::Diagnostic;
use std::path::{Path, PathBuf};
use trigger::config::ClaimType;

/// The pool id decisions use when no pool is deployed (offline checks and tests).
pub const OFFLINE_POOL: &str = authorizer::config::PLACEHOLDER_POOL;
/// The client id offline decisions use when the inputs name none.
pub const OFFLINE_CLIENT: &str = "offline-client";

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum AuthzError {
    #[error("the API's policies ({dir}) cannot be read: {message}")]
    #[diagnostic(
        code(authz::policies),
        help("api.policies names a folder of .cedar files, relative to the inputs file")
    )]
    Folder { dir: String, message: String },
    #[error("the API's policies do not check against its schema ({} problem{}):\n{}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, list(.problems))]
    #[diagnostic(
        code(authz::invalid),
        help("fix the policies named above; nothing was sent to AWS. `deployer authz schema` prints the schema they are checked against")
    )]
    Invalid { problems: Vec<Problem> },
    #[error("{message}")]
    #[diagnostic(code(authz::usage))]
    Usage {
        message: String,
        #[help]
        help: String,
    },
}

/// `file:line:column: message (policy id)` for each problem.
fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| {
            let at = p
                .span
                .and_then(|(offset, _)| {
                    let text = std::fs::read_to_string(&p.file).ok()?;
                    let before = text.get(..offset)?;
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    Some(format!(":{line}:{column}"))
                })
                .unwrap_or_default();
            // Cedar's messages name the policy ("for policy `x`, ..."); say it when not.
            let policy = p
                .policy
                .as_deref()
                .filter(|id| !p.message.contains(&format!("`{id}`")))
                .map(|id| format!(" (policy {id})"))
                .unwrap_or_default();
            let help = p
                .help
                .as_deref()
                .map(|h| format!("\n      {h}"))
                .unwrap_or_default();
            format!("  - {}{at}: {}{policy}{help}", p.file, p.message)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Cedar type the mapping gives a claim, if the policies can read it: `auto` and `json`
/// claims have no fixed type (give them one to use them in policies).
pub fn cedar_type(kind: ClaimType) -> Option<CedarType> {
    match kind {
        ClaimType::String => Some(CedarType::String),
        ClaimType::Number => Some(CedarType::Long),
        ClaimType::Boolean => Some(CedarType::Bool),
        ClaimType::List => Some(CedarType::Set),
        ClaimType::Auto | ClaimType::Json => None,
    }
}

/// The mapped claims that reach the token the API takes, with their Cedar types.
pub fn typed_claims(inputs: &StackInputs, api: &ApiInputs) -> Vec<TypedClaim> {
    inputs
        .claims
        .iter()
        .filter(|m| match api.token {
            TokenUse::Access => m.tokens.access() && inputs.event_version != EventVersion::V1_0,
            TokenUse::Id => m.tokens.id(),
        })
        .filter(|m| authorizer::schema::typed_claim_allowed(api.token, m.claim_name()))
        .filter_map(|m| {
            Some(TypedClaim {
                name: m.claim_name().to_owned(),
                kind: cedar_type(m.kind)?,
            })
        })
        .collect()
}

/// The authorizer's configuration for the pool `pool_id` (issuer `issuer`), accepting
/// `clients`.
pub fn config(
    inputs: &StackInputs,
    api: &ApiInputs,
    pool_id: &str,
    issuer: &str,
    clients: Vec<String>,
) -> AuthzConfig {
    AuthzConfig {
        namespace: api.namespace.clone(),
        user_pool_id: pool_id.into(),
        issuer: issuer.into(),
        token: api.token,
        clients,
        claims: typed_claims(inputs, api),
        routes: api
            .routes
            .iter()
            .map(|(key, route)| Route {
                route: key.clone(),
                resource: route.resource.as_ref().map(|r| ResourceRef {
                    entity_type: r.entity_type.clone(),
                    // The inputs' rules made sure there is one.
                    parameter: resource_parameter(key, r).unwrap_or_default(),
                }),
            })
            .collect(),
    }
}

/// The clients the API accepts as far as the inputs say (the stack's own app client is
/// known once deployed).
pub fn named_clients(inputs: &StackInputs, api: &ApiInputs) -> Vec<String> {
    if !api.clients.is_empty() {
        return api.clients.clone();
    }
    inputs
        .user_pool
        .as_ref()
        .map(|p| p.clients.clone())
        .unwrap_or_default()
}

/// The configuration for offline use: the existing pool's id or a placeholder, and the
/// named clients or a placeholder.
pub fn offline_config(inputs: &StackInputs, api: &ApiInputs) -> AuthzConfig {
    let pool = inputs
        .existing_pool()
        .map_or(OFFLINE_POOL.to_owned(), |p| p.existing.clone());
    let mut clients = named_clients(inputs, api);
    if clients.is_empty() {
        clients.push(OFFLINE_CLIENT.into());
    }
    let issuer = format!("https://cognito-idp.offline.amazonaws.com/{pool}");
    config(inputs, api, &pool, &issuer, clients)
}

/// The policy folder: api.policies, relative to the inputs file.
pub fn policy_dir(inputs_file: &Path, api: &ApiInputs) -> PathBuf {
    let base = inputs_file.parent().unwrap_or(Path::new("."));
    base.join(&api.policies)
}

/// The API's policy files, checked against `config`'s schema.
pub fn engine(
    config: AuthzConfig,
    inputs_file: &Path,
    api: &ApiInputs,
) -> Result<(Engine, Vec<PolicyFile>), AuthzError> {
    let dir = policy_dir(inputs_file, api);
    let files = read_policies(&dir).map_err(|message| AuthzError::Folder {
        dir: dir.display().to_string(),
        message,
    })?;
    let engine =
        Engine::new(config, &files).map_err(|problems| AuthzError::Invalid { problems })?;
    Ok((engine, files))
}

/// The files the authorizer's zip adds to its `bootstrap`: `authz.json` (the routes, the
/// claims' types, the token; the pool, its issuer and the accepted clients come from the
/// function's environment, known once the stack is) and `policies/*.cedar`.
pub type Bundle = Vec<(String, Vec<u8>)>;

/// Checks the API's policies (when the inputs have an API) before anything else happens:
/// `render`, `plan` and `up` call this before any AWS call. The files for the authorizer's
/// zip.
pub fn check(inputs: &StackInputs, inputs_file: &Path) -> Result<Option<Bundle>, AuthzError> {
    let Some(api) = &inputs.api else {
        return Ok(None);
    };
    let (engine, files) = engine(offline_config(inputs, api), inputs_file, api)?;
    let mut config = engine.config().clone();
    config.user_pool_id.clear();
    config.issuer.clear();
    config.clients.clear();
    let mut bundle = vec![(
        authorizer::config::CONFIG_FILE.to_owned(),
        serde_json::to_vec_pretty(&config).expect("the configuration serializes"),
    )];
    for file in files {
        let name = Path::new(&file.name)
            .file_name()
            .map_or(file.name.clone(), |n| n.to_string_lossy().into_owned());
        bundle.push((
            format!("{}/{name}", authorizer::config::POLICY_DIR),
            file.text.into_bytes(),
        ));
    }
    Ok(Some(bundle))
}

/// The inputs' API, or the error that says there is none.
pub fn api_of(inputs: &StackInputs) -> Result<&ApiInputs, AuthzError> {
    inputs.api.as_ref().ok_or_else(|| AuthzError::Usage {
        message: "the inputs have no api section".into(),
        help: "add an `api` section to stack-inputs.json (see examples/projects-api)".into(),
    })
}
