//! The policies, checked against the schema, and the decision on one call (pure).

use crate::config::{AuthzConfig, Route, CONFIG_FILE, POLICY_DIR};
use crate::request;
use crate::schema;
use cedar_policy::{
    Authorizer, Context, Entities, EntityUid, Policy, PolicyId, PolicySet, Request, Schema,
    ValidationError, ValidationMode, Validator,
};
use miette::Diagnostic;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// One policy file: the name to show (its path) and its text.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    pub name: String,
    pub text: String,
}

/// What is wrong with a policy file: where, what, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Byte offset and length in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<(usize, usize)>,
}

/// A decision and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub allow: bool,
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// The policies that decided (the permits that allowed, or the forbids that denied).
    pub policies: Vec<String>,
    /// Why the call could not be evaluated, or the policies' evaluation errors (either denies).
    pub errors: Vec<String>,
}

impl Decision {
    /// A denial before any policy was evaluated, and why.
    pub fn error(action: &str, error: String) -> Self {
        Self {
            allow: false,
            principal: String::new(),
            action: action.into(),
            resource: String::new(),
            policies: Vec::new(),
            errors: vec![error],
        }
    }
}

/// The schema, the validated policies and the routes: everything a decision needs.
#[derive(Debug)]
pub struct Engine {
    config: AuthzConfig,
    schema: Schema,
    policies: PolicySet,
    authorizer: Authorizer,
}

fn first_span(diagnostic: &dyn Diagnostic) -> Option<(usize, usize)> {
    let label = diagnostic.labels()?.next()?;
    Some((label.offset(), label.len()))
}

/// The policy ids of one file: `@id("...")` where given, else the file's stem, numbered when
/// the file holds more than one.
fn named(stem: &str, set: PolicySet) -> Vec<Policy> {
    let policies: Vec<Policy> = set.policies().cloned().collect();
    let many = policies.len() > 1;
    policies
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let id = match p.annotation("id") {
                Some(id) => id.to_owned(),
                None if many => format!("{stem}.{}", i + 1),
                None => stem.to_owned(),
            };
            p.new_id(PolicyId::new(id))
        })
        .collect()
}

/// The user, group and client entities `policy` names (type, id), from its JSON form.
fn principals_named(policy: &Policy, namespace: &str) -> Option<Vec<(String, String)>> {
    fn walk(v: &Value, types: &[String], out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                if let (Some(Value::String(t)), Some(Value::String(id))) =
                    (map.get("type"), map.get("id"))
                {
                    if types.contains(t) {
                        out.push((t.clone(), id.clone()));
                    }
                }
                map.values().for_each(|v| walk(v, types, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, types, out)),
            _ => {}
        }
    }
    let types: Vec<String> = [schema::USER, schema::GROUP, schema::CLIENT]
        .iter()
        .map(|t| format!("{namespace}::{t}"))
        .collect();
    let mut out = Vec::new();
    walk(&policy.to_json().ok()?, &types, &mut out);
    Some(out)
}

/// What to do about a validation error, in this project's terms.
fn advice(error: &ValidationError, config: &AuthzConfig) -> Option<String> {
    let routes: Vec<&str> = config.routes.iter().map(|r| r.route.as_str()).collect();
    match error {
        ValidationError::UnrecognizedActionId(_) => Some(format!(
            "the actions are the API's routes ({}); add the route to api.routes in stack-inputs.json, or name one of them",
            routes.join(", ")
        )),
        ValidationError::UnrecognizedEntityType(_) => Some(
            "the entity types are User, UserGroup, Client, Api and the routes' resource types (api.routes[].resource.type); see `deployer authz schema`".into(),
        ),
        ValidationError::UnsafeAttributeAccess(_) => Some(format!(
            "the schema has the token's own claims and the claims typed for the API ({}); a claim of the mapping is there once claims[] gives it a type (string, number, boolean or list): see `deployer authz schema`",
            if config.claims.is_empty() {
                "none yet".to_owned()
            } else {
                config
                    .claims
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        )),
        ValidationError::UnsafeOptionalAttributeAccess(_) => Some(
            "the mapped claims are optional: a principal without a row has none".into(),
        ),
        _ => None,
    }
}

/// Which file each policy id came from.
type FileOf = BTreeMap<String, String>;

fn problem(file: &str, policy: Option<&str>, message: String, help: Option<String>) -> Problem {
    Problem {
        file: file.into(),
        policy: policy.map(str::to_owned),
        message,
        help,
        span: None,
    }
}

/// The policies of `files`, named (see `named`), with what is wrong with them: a file that
/// does not parse, a template, an id used twice, a principal literal of another pool.
fn parse(files: &[PolicyFile], config: &AuthzConfig) -> (PolicySet, FileOf, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut policies = PolicySet::new();
    let mut file_of = FileOf::new();
    if files.is_empty() {
        problems.push(problem(
            "(no policy files)",
            None,
            "there are no policies: every call would be denied".into(),
            Some("write at least one `permit` in a .cedar file of api.policies".into()),
        ));
    }
    for file in files {
        let stem = Path::new(&file.name)
            .file_stem()
            .map_or(file.name.clone(), |s| s.to_string_lossy().into_owned());
        let set: PolicySet = match file.text.parse() {
            Ok(set) => set,
            Err(err) => {
                let err: cedar_policy::ParseErrors = err;
                problems.push(Problem {
                    span: first_span(&err),
                    ..problem(
                        &file.name,
                        None,
                        err.to_string(),
                        err.help().map(|h| h.to_string()),
                    )
                });
                continue;
            }
        };
        if set.templates().next().is_some() {
            problems.push(problem(
                &file.name,
                None,
                "a policy template (with ?principal or ?resource) is not a policy".into(),
                Some("write the policy for its principals and resources".into()),
            ));
            continue;
        }
        for policy in named(&stem, set) {
            let id = policy.id().to_string();
            if let Some(other) = file_of.get(&id) {
                problems.push(problem(
                    &file.name,
                    Some(&id),
                    format!("the policy id {id:?} is also used in {other}"),
                    Some("give each policy its own @id(\"...\") or file".into()),
                ));
                continue;
            }
            problems.extend(foreign_principals(&policy, config, &file.name));
            file_of.insert(id, file.name.clone());
            policies
                .add(policy)
                .expect("ids are unique and templates are refused");
        }
    }
    (policies, file_of, problems)
}

/// How a policy tests a group by its name, for the API's token.
fn groups_by_name(config: &AuthzConfig) -> &'static str {
    match config.token {
        crate::token::TokenUse::Access => {
            "context.token has \"cognito:groups\" && context.token[\"cognito:groups\"].contains(\"admins\")"
        }
        crate::token::TokenUse::Id => {
            "principal has \"cognito:groups\" && principal[\"cognito:groups\"].contains(\"admins\")"
        }
    }
}

/// Users, groups and clients are `<pool id>|<name>`: a literal of another pool (or of a pool
/// not deployed yet, whose id is not known) never matches.
fn foreign_principals(policy: &Policy, config: &AuthzConfig, file: &str) -> Vec<Problem> {
    let pool = &config.user_pool_id;
    let placeholder = pool == crate::config::PLACEHOLDER_POOL;
    let id = policy.id().to_string();
    let Some(named) = principals_named(policy, &config.namespace) else {
        return vec![problem(
            file,
            Some(&id),
            "the policy's principals could not be read".into(),
            Some("report this: Cedar could not give the policy's JSON form".into()),
        )];
    };
    named
        .into_iter()
        .filter(|(_, named)| placeholder || !named.starts_with(&format!("{pool}|")))
        .map(|(ty, named)| {
            let why = match placeholder {
                true => "the pool is not deployed yet, so its id is not known".to_owned(),
                false => format!("this pool is {pool}"),
            };
            problem(
                file,
                Some(&id),
                format!("names {ty}::{named:?}, which is not of this pool"),
                Some(format!(
                    "users, groups and clients are \"<pool id>|<name>\" ({why}); a rule on a group reads its name from the token instead: {}",
                    groups_by_name(config)
                )),
            )
        })
        .collect()
}

/// Cedar's strict validation of `policies` against `schema`, each mistake once, with its
/// file, span and what to do in this project's terms.
fn validate(
    schema: &Schema,
    policies: &PolicySet,
    file_of: &FileOf,
    config: &AuthzConfig,
) -> Vec<Problem> {
    let result = Validator::new(schema.clone()).validate(policies, ValidationMode::Strict);
    let mut seen = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for error in result.validation_errors() {
        let id = error.policy_id().to_string();
        // The same mistake is reported once per action the policy could apply to.
        if !seen.insert((id.clone(), first_span(error))) {
            continue;
        }
        let file = file_of.get(&id).cloned().unwrap_or_else(|| id.clone());
        let help = match (error.help().map(|h| h.to_string()), advice(error, config)) {
            (Some(h), Some(more)) => Some(format!("{h}; {more}")),
            (h, more) => h.or(more),
        };
        problems.push(Problem {
            span: first_span(error),
            ..problem(&file, Some(&id), error.to_string(), help)
        });
    }
    // A policy that can never apply is a mistake here (a `forbid` that never fires is a hole):
    // for example a `has` on a claim the API's token does not carry.
    for warning in result.validation_warnings() {
        if let cedar_policy::ValidationWarning::ImpossiblePolicy(_) = warning {
            let id = warning.policy_id().to_string();
            let file = file_of.get(&id).cloned().unwrap_or_else(|| id.clone());
            problems.push(Problem {
                span: first_span(warning),
                ..problem(
                    &file,
                    Some(&id),
                    warning.to_string(),
                    Some(format!(
                        "the policy can never apply to a call of this API: it tests something the schema says is never there (see `deployer authz schema`); a group by name: {}",
                        groups_by_name(config)
                    )),
                )
            });
        }
    }
    problems
}

impl Engine {
    /// Parses and strictly validates `files` against the schema generated from `config`.
    pub fn new(config: AuthzConfig, files: &[PolicyFile]) -> Result<Self, Vec<Problem>> {
        let schema = schema::schema(&config).map_err(|message| {
            vec![Problem {
                file: "(the generated schema)".into(),
                policy: None,
                message,
                help: Some("report this: the inputs passed their checks".into()),
                span: None,
            }]
        })?;
        let (policies, file_of, mut problems) = parse(files, &config);
        problems.extend(validate(&schema, &policies, &file_of, &config));
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            config,
            schema,
            policies,
            authorizer: Authorizer::new(),
        })
    }

    /// The configuration and policies of a Lambda task root: `authz.json` and
    /// `policies/*.cedar`.
    pub fn read(dir: &Path) -> Result<(AuthzConfig, Vec<PolicyFile>), String> {
        let path = dir.join(CONFIG_FILE);
        let raw = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let config: AuthzConfig =
            serde_json::from_str(&raw).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok((config, read_policies(&dir.join(POLICY_DIR))?))
    }

    /// [`Engine::new`], with the problems in one line (for a log).
    pub fn load(config: AuthzConfig, files: &[PolicyFile]) -> Result<Self, String> {
        Self::new(config, files).map_err(|problems| {
            problems
                .iter()
                .map(|p| format!("{}: {}", p.file, p.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    pub fn config(&self) -> &AuthzConfig {
        &self.config
    }

    pub fn policy_count(&self) -> usize {
        self.policies.policies().count()
    }

    /// The route with the key `route_key` (as API Gateway sends it).
    pub fn route(&self, route_key: &str) -> Option<&Route> {
        self.config.routes.iter().find(|r| r.route == route_key)
    }

    /// The decision on `route_key` with the path's `params`, for the caller of `claims` (a
    /// token already verified). Denies on any error.
    pub fn decide(
        &self,
        claims: &Map<String, Value>,
        route_key: &str,
        params: &BTreeMap<String, String>,
    ) -> Decision {
        let Some(route) = self.route(route_key) else {
            return Decision::error(
                route_key,
                format!("{route_key:?} is not a route of the API"),
            );
        };
        self.decide_route(claims, route, params)
    }

    /// The decision on `route`, found already. Denies on any error.
    fn decide_route(
        &self,
        claims: &Map<String, Value>,
        route: &Route,
        params: &BTreeMap<String, String>,
    ) -> Decision {
        self.evaluate(claims, route, params)
            .unwrap_or_else(|error| Decision::error(&route.route, error))
    }

    /// The decision on `METHOD /concrete/path`, the route found as API Gateway finds it.
    pub fn decide_path(
        &self,
        claims: &Map<String, Value>,
        method: &str,
        path: &str,
    ) -> Result<Decision, String> {
        let (route, params) =
            crate::route::pick(&self.config.routes, |r| r.route.as_str(), method, path)
                .ok_or_else(|| {
                    format!(
                        "no route of the API matches {method} {path} (the routes: {})",
                        self.config
                            .routes
                            .iter()
                            .map(|r| r.route.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
        Ok(self.decide_route(claims, route, &params))
    }

    fn evaluate(
        &self,
        claims: &Map<String, Value>,
        route: &Route,
        params: &BTreeMap<String, String>,
    ) -> Result<Decision, String> {
        let parts = request::parts(&self.config, claims, route, params)?;
        let uid = |v: Value| EntityUid::from_json(v).map_err(|e| e.to_string());
        let principal = uid(parts.principal)?;
        let action = uid(parts.action)?;
        let resource = uid(parts.resource)?;
        let shown = (
            principal.to_string(),
            action.to_string(),
            resource.to_string(),
        );
        let entities = Entities::from_json_value(parts.entities, Some(&self.schema))
            .map_err(|e| format!("the caller's claims do not fit the schema: {e}"))?;
        let context = Context::from_json_value(parts.context, Some((&self.schema, &action)))
            .map_err(|e| format!("the token's claims do not fit the schema: {e}"))?;
        let request = Request::new(principal, action, resource, context, Some(&self.schema))
            .map_err(|e| e.to_string())?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        let mut policies: Vec<String> = response
            .diagnostics()
            .reason()
            .map(ToString::to_string)
            .collect();
        policies.sort();
        Ok(Decision {
            // An evaluation error skips its policy; a skipped forbid must not let a permit
            // through, so any error denies.
            allow: response.decision() == cedar_policy::Decision::Allow && errors.is_empty(),
            principal: shown.0,
            action: shown.1,
            resource: shown.2,
            policies,
            errors,
        })
    }
}

/// The `.cedar` files of `dir`, sorted by name.
pub fn read_policies(dir: &Path) -> Result<Vec<PolicyFile>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            Ok(PolicyFile {
                name: path.display().to_string(),
                text,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::tests::config;
    use crate::token::TokenUse;
    use serde_json::json;

    const PROJECTS: &str = r#"
// A user may read a project named in their projects claim.
permit (
    principal is App::User,
    action == App::Action::"GET /projects/{projectId}",
    resource is App::Project
) when {
    context.token has projects && context.token.projects.contains(resource.id)
};
"#;

    fn engine(policies: &[(&str, &str)]) -> Result<Engine, Vec<Problem>> {
        let files: Vec<PolicyFile> = policies
            .iter()
            .map(|(n, t)| PolicyFile {
                name: format!("policies/{n}.cedar"),
                text: (*t).into(),
            })
            .collect();
        Engine::new(config(TokenUse::Access), &files)
    }

    fn claims(extra: Value) -> Map<String, Value> {
        let mut c = json!({"sub": "u-1", "username": "jane", "client_id": "client-1",
                           "token_use": "access", "scope": "openid"});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c.as_object().unwrap().clone()
    }

    #[test]
    fn the_blogs_project_rule_allows_only_the_users_projects() {
        let engine = engine(&[("projects", PROJECTS)]).unwrap();
        let mine = claims(json!({"projects": ["alpha"]}));
        let d = engine.decide_path(&mine, "GET", "/projects/alpha").unwrap();
        assert!(d.allow, "{d:?}");
        assert_eq!(d.policies, ["projects"]);
        assert_eq!(d.principal, r#"App::User::"us-east-1_abc|u-1""#);
        let d = engine.decide_path(&mine, "GET", "/projects/beta").unwrap();
        assert!(
            !d.allow && d.policies.is_empty() && d.errors.is_empty(),
            "{d:?}"
        );
        // No row, no projects claim: denied, without an error.
        let d = engine
            .decide_path(&claims(json!({})), "GET", "/projects/alpha")
            .unwrap();
        assert!(!d.allow && d.errors.is_empty(), "{d:?}");
        // A claim of the wrong type denies with the reason.
        let d = engine
            .decide_path(&claims(json!({"projects": [1]})), "GET", "/projects/alpha")
            .unwrap();
        assert!(!d.allow && d.errors[0].contains("projects"), "{d:?}");
        assert!(engine
            .decide_path(&mine, "POST", "/projects/alpha")
            .is_err());
    }

    #[test]
    fn a_forbid_wins_and_is_named() {
        let forbid = r#"@id("no-interns")
forbid (principal, action, resource) when { context.token has level && context.token.level < 2 };"#;
        let engine = engine(&[("projects", PROJECTS), ("guard", forbid)]).unwrap();
        let d = engine
            .decide_path(
                &claims(json!({"projects": ["alpha"], "level": 1})),
                "GET",
                "/projects/alpha",
            )
            .unwrap();
        assert!(!d.allow);
        assert_eq!(d.policies, ["no-interns"]);
    }

    #[test]
    fn a_policy_naming_a_user_or_group_of_another_pool_is_refused() {
        let named = |pool: &str| {
            format!(
                r#"forbid (principal in App::UserGroup::"{pool}|suspended", action, resource);"#
            )
        };
        // The schema test config's pool is us-east-1_abc.
        assert!(engine(&[("ok", &named("us-east-1_abc"))]).is_ok());
        let problems = engine(&[("other", &named("us-east-1_xyz"))]).unwrap_err();
        assert!(
            problems[0].message.contains("not of this pool"),
            "{problems:?}"
        );
        assert!(problems[0]
            .help
            .as_deref()
            .unwrap()
            .contains("cognito:groups"));
        let mut offline = config(TokenUse::Access);
        offline.user_pool_id = crate::config::PLACEHOLDER_POOL.into();
        let files = [PolicyFile {
            name: "p.cedar".into(),
            text: named("offline"),
        }];
        let problems = Engine::new(offline, &files).unwrap_err();
        assert!(problems[0]
            .help
            .as_deref()
            .unwrap()
            .contains("not deployed yet"));
        // Groups by name, from the token: no pool id needed.
        let by_name = r#"forbid (principal, action, resource) when { context.token has "cognito:groups" && context.token["cognito:groups"].contains("suspended") };"#;
        let engine = engine(&[("projects", PROJECTS), ("suspended", by_name)]).unwrap();
        let mut c = claims(json!({"projects": ["alpha"], "cognito:groups": ["suspended"]}));
        let d = engine.decide_path(&c, "GET", "/projects/alpha").unwrap();
        assert!(!d.allow && d.policies == ["suspended"], "{d:?}");
        c.insert("cognito:groups".into(), json!(["engineers", "engineers"]));
        let d = engine.decide_path(&c, "GET", "/projects/alpha").unwrap();
        assert!(d.allow, "duplicate groups are one: {d:?}");
        // API Gateway decodes %2F: an id with a `..` segment is refused, even when a claim
        // names it.
        c.insert("projects".into(), json!(["alpha/../beta"]));
        let params = BTreeMap::from([("projectId".to_owned(), "alpha/../beta".to_owned())]);
        let d = engine.decide(&c, "GET /projects/{projectId}", &params);
        assert!(
            !d.allow && d.errors[0].contains("not a plain name"),
            "{d:?}"
        );
    }

    #[test]
    fn a_policy_that_can_never_apply_is_refused() {
        let mut id = config(TokenUse::Id);
        id.user_pool_id = "us-east-1_abc".into();
        let files = [PolicyFile {
            name: "groups.cedar".into(),
            text: r#"forbid (principal, action, resource) when { context.token has "cognito:groups" && context.token["cognito:groups"].contains("suspended") };"#.into(),
        }];
        let problems = Engine::new(id.clone(), &files).unwrap_err();
        assert!(
            problems[0]
                .help
                .as_deref()
                .unwrap()
                .contains("principal has"),
            "{problems:?}"
        );
        let files = [PolicyFile {
            name: "groups.cedar".into(),
            text: r#"forbid (principal, action, resource) when { principal has "cognito:groups" && principal["cognito:groups"].contains("suspended") };"#.into(),
        }];
        assert!(Engine::new(id, &files).is_ok());
    }

    #[test]
    fn policies_are_checked_strictly_against_the_schema() {
        let problems = engine(&[(
            "bad",
            r#"permit (principal, action, resource) when { context.token.tenant == "acme" };"#,
        )])
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let p = &problems[0];
        assert_eq!(p.file, "policies/bad.cedar");
        assert!(p.message.contains("tenant"), "{p:?}");
        assert!(p.help.as_deref().unwrap().contains("claims typed"), "{p:?}");
        let (at, len) = p.span.unwrap();
        assert!(len > 0 && at > 40, "{p:?}");

        let problems = engine(&[(
            "route",
            r#"permit (principal, action == App::Action::"DELETE /projects/{projectId}", resource);"#,
        )])
        .unwrap_err();
        assert!(problems[0]
            .help
            .as_deref()
            .unwrap()
            .contains("GET /projects/{projectId}"));

        let problems = engine(&[(
            "unsafe",
            r#"permit (principal, action, resource) when { context.token.projects.contains("a") };"#,
        )])
        .unwrap_err();
        assert!(
            problems[0]
                .help
                .as_deref()
                .unwrap()
                .contains("without a row"),
            "{problems:?}"
        );

        let problems = engine(&[("syntax", "permit (principal, action, resource")]).unwrap_err();
        assert!(problems[0].span.is_some(), "{problems:?}");
        assert!(engine(&[]).unwrap_err()[0].message.contains("no policies"));
    }
}
