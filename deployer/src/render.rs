//! `StackInputs` -> CloudFormation template text. Pure; the templates are embedded.

use crate::inputs::{EventVersion, Lifecycle, StackInputs};
use handlebars::{handlebars_helper, Handlebars};
use miette::Diagnostic;
use serde::Serialize;

/// The embedded template sources, by name.
pub const TEMPLATES: &[(&str, &str)] = &[("stack", include_str!("../../templates/stack.yaml.hbs"))];

/// Resources and outputs the rest of the deployer relies on.
pub const REQUIRED_RESOURCES: &[(&str, &str)] = &[
    ("UsersTable", "AWS::DynamoDB::Table"),
    ("TriggerLogGroup", "AWS::Logs::LogGroup"),
    ("TriggerRole", "AWS::IAM::Role"),
    ("TriggerFunction", "AWS::Lambda::Function"),
    ("TriggerVersion", "AWS::Lambda::Version"),
    ("TriggerAlias", "AWS::Lambda::Alias"),
    ("UserPool", "AWS::Cognito::UserPool"),
    ("TriggerPermission", "AWS::Lambda::Permission"),
    ("UserPoolClient", "AWS::Cognito::UserPoolClient"),
    ("UserPoolDomain", "AWS::Cognito::UserPoolDomain"),
];

/// What a stack with an API adds (`api` in the inputs); the routes and their integrations
/// come on top, one of each per route and target.
pub const API_RESOURCES: &[(&str, &str)] = &[
    ("AuthorizerLogGroup", "AWS::Logs::LogGroup"),
    ("AuthorizerRole", "AWS::IAM::Role"),
    ("AuthorizerFunction", "AWS::Lambda::Function"),
    ("AuthorizerVersion", "AWS::Lambda::Version"),
    ("AuthorizerAlias", "AWS::Lambda::Alias"),
    ("HttpApi", "AWS::ApiGatewayV2::Api"),
    ("ApiAuthorizer", "AWS::ApiGatewayV2::Authorizer"),
    ("AuthorizerPermission", "AWS::Lambda::Permission"),
    ("ApiStage", "AWS::ApiGatewayV2::Stage"),
];
/// The types of the routes and integrations.
const API_ROUTE_TYPES: &[&str] = &["AWS::ApiGatewayV2::Route", "AWS::ApiGatewayV2::Integration"];

/// What a stack on an existing pool leaves out: the pool and its domain are not the
/// stack's, and the app client is made only when asked for (`userPool.appClient`).
const NOT_ON_EXISTING: &[&str] = &["UserPool", "UserPoolDomain"];
const EXISTING_OUTPUTS_LEFT_OUT: &[&str] = &["UserPoolDomain", "HostedUiUrl"];
/// The resource types the template uses, once each, sorted: a change set names them
/// (`ResourceTypes`), and the CI roles allow change sets of these alone.
pub fn resource_types() -> Vec<&'static str> {
    let mut types: Vec<&str> = REQUIRED_RESOURCES
        .iter()
        .chain(API_RESOURCES)
        .map(|(_, t)| *t)
        .chain(API_ROUTE_TYPES.iter().copied())
        .collect();
    types.sort_unstable();
    types.dedup();
    types
}

pub use crate::stack::output::ALL as REQUIRED_OUTPUTS;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum RenderError {
    #[error("the template did not render: {0}")]
    #[diagnostic(
        code(render::template),
        help("this is a bug in templates/; run `deployer render` to see the output")
    )]
    Template(String),
    #[error("the rendered template is not valid YAML: {0}")]
    #[diagnostic(
        code(render::yaml),
        help("this is a bug in templates/; run `deployer render` to see the output")
    )]
    Yaml(String),
    #[error("the rendered template lacks {0}")]
    #[diagnostic(
        code(render::incomplete),
        help("this is a bug in templates/: the deployer needs it")
    )]
    Missing(String),
}

/// What the template sees.
#[derive(Debug, Serialize)]
struct Context<'a> {
    description: String,
    stack_name: &'a str,
    domain: &'a str,
    table_name: String,
    partition_key: &'a str,
    function_name: String,
    code_signing_config_arn: Option<&'a str>,
    version_config: String,
    boundary_name: String,
    log_group_name: String,
    role_description: String,
    client_name: String,
    memory_mb: u32,
    timeout_seconds: u32,
    log_retention_days: u32,
    event_version: &'static str,
    v1: bool,
    feature_plan: &'static str,
    kept: bool,
    table_deletion_policy: &'static str,
    table_replace_policy: &'static str,
    trigger_config: String,
    callback_urls: &'a [String],
    logout_urls: &'a [String],
    first_callback_encoded: String,
    id_token_minutes: u32,
    access_token_minutes: u32,
    refresh_token_days: u32,
    existing_pool: bool,
    app_client: bool,
    pool_ref: &'static str,
    first_client: Option<&'a str>,
    api: Option<ApiContext>,
}

/// The API's part of the template.
#[derive(Debug, Serialize)]
struct ApiContext {
    authorizer_function: String,
    authorizer_log_group: String,
    authorizer_description: String,
    whoami: bool,
    whoami_function: String,
    whoami_log_group: String,
    whoami_description: String,
    memory_mb: u32,
    /// What the authorizer's published version depends on besides its zip, the pool and the
    /// clients (its memory, the template): a change publishes a new version.
    version_config: String,
    /// The accepted clients besides the stack's own app client (when there is one; else
    /// `first_client` is the first of them).
    first_client: Option<String>,
    more_clients: Vec<String>,
    integrations: Vec<IntegrationContext>,
    routes: Vec<RouteContext>,
}

#[derive(Debug, Serialize)]
struct IntegrationContext {
    /// From the target: adding or removing another route never renames it (a renamed
    /// Permission would be replaced, and a backend's permission is an admin's to make).
    id: String,
    whoami: bool,
    http: bool,
    uri: String,
}

#[derive(Debug, Serialize)]
struct RouteContext {
    /// From the route key, for the same reason.
    id: String,
    key: String,
    integration: String,
}

/// The invoke permissions the template gives the Lambda backends the routes call: logical id
/// and function ARN. Only an admin may make or remove them (docs/security.md).
pub fn backend_permissions(inputs: &StackInputs) -> Vec<(String, String)> {
    let Some(api) = &inputs.api else {
        return Vec::new();
    };
    let mut found: Vec<(String, String)> = api
        .routes
        .values()
        .filter(|r| r.target.starts_with("arn:"))
        .map(|r| (permission_id(&r.target), r.target.clone()))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The logical id of the invoke permission of a route target (a Lambda ARN, or `whoami`).
pub fn permission_id(target: &str) -> String {
    format!("Permission{}", stable_id(target))
}

/// A logical id suffix that depends on `what` alone: 16 hex digits of its SHA-256 (two
/// targets or route keys that collided would give the template a duplicate key, which
/// `parse` refuses: never a silent merge).
fn stable_id(what: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(what.as_bytes()))[..16].to_owned()
}

/// The API's context: one integration per distinct target, one route per route key.
fn api_context(inputs: &StackInputs, app_client: bool) -> Option<ApiContext> {
    let api = inputs.api.as_ref()?;
    let mut integrations: Vec<IntegrationContext> = Vec::new();
    let mut routes = Vec::new();
    for (key, route) in &api.routes {
        let id = stable_id(&route.target);
        if !integrations.iter().any(|i| i.uri == route.target) {
            integrations.push(IntegrationContext {
                id: id.clone(),
                whoami: route.target == crate::inputs::WHOAMI,
                http: route.target.starts_with("https://"),
                uri: route.target.clone(),
            });
        }
        routes.push(RouteContext {
            id: stable_id(key),
            key: key.clone(),
            integration: id,
        });
    }
    let mut clients = crate::authz::named_clients(inputs, api);
    // Without an app client of the stack's, the first named one leads (the inputs' rules
    // make sure there is one).
    let first_client = match (app_client, clients.is_empty()) {
        (false, false) => Some(clients.remove(0)),
        _ => None,
    };
    let authorizer = crate::inputs::authorizer_of_stack(&inputs.stack_name);
    let whoami = crate::inputs::whoami_of_stack(&inputs.stack_name);
    Some(ApiContext {
        authorizer_log_group: format!("/aws/lambda/{authorizer}"),
        authorizer_description: format!("API authorizer of {}", inputs.stack_name),
        authorizer_function: authorizer,
        whoami: integrations.iter().any(|i| i.whoami),
        whoami_log_group: format!("/aws/lambda/{whoami}"),
        whoami_description: format!("The whoami integration of {}", inputs.stack_name),
        whoami_function: whoami,
        memory_mb: api.memory_mb,
        version_config: {
            use sha2::{Digest, Sha256};
            let template = hex::encode(Sha256::digest(TEMPLATES[0].1.as_bytes()));
            format!("memory {} template {}", api.memory_mb, &template[..16])
        },
        first_client,
        more_clients: clients,
        integrations,
        routes,
    })
}

handlebars_helper!(json: |value: Json| serde_json::to_string(value).expect("json values serialize"));

fn engine() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_helper("json", Box::new(json));
    for (name, source) in TEMPLATES {
        hb.register_template_string(name, *source)
            .expect("embedded templates compile");
    }
    hb
}

/// Renders the stack template and checks that it parses and holds what the deployer needs.
pub fn render(inputs: &StackInputs) -> Result<String, RenderError> {
    let kept = inputs.lifecycle == Lifecycle::Kept;
    let existing = inputs.existing_pool();
    let shape = Shape::of(inputs);
    let function_name = inputs.function_name();
    let context = Context {
        description: match existing {
            Some(p) => format!(
                "Claims from DynamoDB for the existing user pool {} (managed by deployer)",
                p.existing
            ),
            None => format!(
                "Cognito user pool {} with claims from DynamoDB (managed by deployer)",
                inputs.stack_name
            ),
        },
        stack_name: &inputs.stack_name,
        domain: &inputs.user_pool_domain_name,
        table_name: inputs.table_name(),
        partition_key: &inputs.table.partition_key,
        log_group_name: format!("/aws/lambda/{function_name}"),
        role_description: format!("Pre-token-generation trigger of {}", inputs.stack_name),
        boundary_name: crate::policy::boundary_name(
            inputs.project(),
            "${AWS::Region}",
            inputs.stack_kind(),
        ),
        code_signing_config_arn: inputs.trigger.code_signing_config_arn.as_deref(),
        version_config: version_config(inputs),
        client_name: format!("{}-web", inputs.stack_name),
        function_name,
        memory_mb: inputs.trigger.memory_mb,
        timeout_seconds: inputs.trigger.timeout_seconds,
        log_retention_days: inputs.trigger.log_retention_days,
        event_version: inputs.event_version.as_str(),
        v1: inputs.event_version == EventVersion::V1_0,
        feature_plan: inputs.feature_plan.as_str(),
        kept,
        // Kept data survives a delete, but a failed first create removes what it made, so
        // the next create does not meet a table of its own name.
        table_deletion_policy: if kept {
            "RetainExceptOnCreate"
        } else {
            "Delete"
        },
        table_replace_policy: if kept { "Retain" } else { "Delete" },
        trigger_config: serde_json::to_string(&inputs.trigger_config())
            .expect("trigger config serializes"),
        callback_urls: &inputs.callback_urls,
        logout_urls: inputs.logout_urls(),
        first_callback_encoded: encode_uri_component(
            inputs
                .callback_urls
                .first()
                .map(String::as_str)
                .unwrap_or_default(),
        ),
        id_token_minutes: inputs.tokens.id_token_minutes,
        access_token_minutes: inputs.tokens.access_token_minutes,
        refresh_token_days: inputs.tokens.refresh_token_days,
        existing_pool: shape.existing_pool,
        app_client: shape.app_client,
        pool_ref: match existing {
            Some(_) => "ExistingUserPool",
            None => "UserPool",
        },
        first_client: existing.and_then(|p| p.clients.first().map(String::as_str)),
        api: api_context(inputs, shape.app_client),
    };
    let text = engine()
        .render("stack", &context)
        .map_err(|e| RenderError::Template(e.to_string()))?;
    check_shape(&text, shape)?;
    Ok(text)
}

/// Which of the resources and outputs a template must have.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shape {
    /// On a pool made outside the stack.
    pub existing_pool: bool,
    /// With the deployer's own app client (always, on a pool of its own).
    pub app_client: bool,
    /// With the UserPoolClientId output (the deployer's client or a listed one).
    pub client_output: bool,
}

impl Shape {
    pub fn of(inputs: &StackInputs) -> Self {
        let existing = inputs.existing_pool();
        Self {
            existing_pool: existing.is_some(),
            app_client: existing.is_none_or(|p| p.app_client),
            client_output: existing.is_none_or(|p| p.app_client || !p.clients.is_empty()),
        }
    }

    fn resources(self) -> impl Iterator<Item = &'static (&'static str, &'static str)> {
        REQUIRED_RESOURCES.iter().filter(move |(name, _)| {
            !(self.existing_pool && NOT_ON_EXISTING.contains(name)
                || !self.app_client && *name == "UserPoolClient")
        })
    }

    fn outputs(self) -> impl Iterator<Item = &'static &'static str> {
        REQUIRED_OUTPUTS.iter().filter(move |name| {
            !(self.existing_pool && EXISTING_OUTPUTS_LEFT_OUT.contains(name)
                || !self.client_output && **name == "UserPoolClientId")
        })
    }
}

/// What of the function's configuration a published version depends on, hashed: a change
/// of it publishes a new version (with the artifact key in the description, a new zip does).
fn version_config(inputs: &StackInputs) -> String {
    use sha2::{Digest, Sha256};
    let config = serde_json::json!({
        // The template itself: runtime, architecture, handler, role... as this deployer writes them.
        "template": hex::encode(Sha256::digest(TEMPLATES[0].1.as_bytes())),
        "trigger": inputs.trigger_config(),
        "memory": inputs.trigger.memory_mb,
        "timeout": inputs.trigger.timeout_seconds,
        "signing": inputs.trigger.code_signing_config_arn,
    });
    format!(
        "config {}",
        &hex::encode(Sha256::digest(config.to_string().as_bytes()))[..16]
    )
}

/// The rendered template as JSON values (a CloudFormation template is JSON's data model in
/// YAML's syntax): one document, string keys, each key once, no aliases or tags.
pub fn parse(text: &str) -> Result<serde_json::Value, RenderError> {
    use yaml_rust2::{Yaml, YamlLoader};
    fn json(y: &Yaml) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        Ok(match y {
            Yaml::String(s) => Value::String(s.clone()),
            Yaml::Integer(i) => Value::from(*i),
            Yaml::Real(r) => r
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("{r} is not a number CloudFormation reads"))?,
            Yaml::Boolean(b) => Value::Bool(*b),
            Yaml::Null => Value::Null,
            Yaml::Array(items) => Value::Array(items.iter().map(json).collect::<Result<_, _>>()?),
            Yaml::Hash(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let Yaml::String(k) = k else {
                        return Err(format!("a key that is not a string: {k:?}"));
                    };
                    if out.insert(k.clone(), json(v)?).is_some() {
                        return Err(format!("the key {k} appears twice"));
                    }
                }
                Value::Object(out)
            }
            Yaml::Alias(_) | Yaml::BadValue => return Err("an alias or a bad value".into()),
        })
    }
    let docs = YamlLoader::load_from_str(text).map_err(|e| RenderError::Yaml(e.to_string()))?;
    match docs.as_slice() {
        [doc] => json(doc).map_err(RenderError::Yaml),
        _ => Err(RenderError::Yaml(format!(
            "{} YAML documents where one is expected",
            docs.len()
        ))),
    }
}

/// The template parses as YAML and has every resource (of the right type) and output needed
/// by a stack that makes its own pool.
pub fn check(text: &str) -> Result<serde_json::Value, RenderError> {
    check_shape(
        text,
        Shape {
            existing_pool: false,
            app_client: true,
            client_output: true,
        },
    )
}

/// `check`, for a template of this shape.
pub fn check_shape(text: &str, shape: Shape) -> Result<serde_json::Value, RenderError> {
    let doc = parse(text)?;
    for (name, kind) in shape.resources() {
        let found = doc
            .get("Resources")
            .and_then(|r| r.get(*name))
            .and_then(|r| r.get("Type"))
            .and_then(|t| t.as_str());
        if found != Some(kind) {
            return Err(RenderError::Missing(format!(
                "resource {name} of type {kind}"
            )));
        }
    }
    for name in shape.outputs() {
        if doc.get("Outputs").and_then(|o| o.get(*name)).is_none() {
            return Err(RenderError::Missing(format!("output {name}")));
        }
    }
    Ok(doc)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (for URL query values).
pub fn encode_uri_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
