//! `authz test FILE`: a table of cases (who, with which claims, calls what, and the expected
//! decision), evaluated offline by the authorizer's own library. For CI: no AWS, no deploy.

use super::AuthzError;
use authorizer::decide::{Decision, Engine};
use authorizer::token::TokenUse;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::fmt;

/// The file: `{"cases": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub cases: Vec<Case>,
}

/// One case.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    pub name: String,
    /// A user's name (their `sub` too, unless `claims` gives one).
    #[serde(default)]
    pub user: Option<String>,
    /// A machine client's id (client credentials).
    #[serde(default)]
    pub client: Option<String>,
    /// The user's groups (`cognito:groups`).
    #[serde(default)]
    pub groups: Vec<String>,
    /// The token's claims, over the ones `user`/`client` give (the mapped claims, typically).
    #[serde(default)]
    pub claims: Map<String, Value>,
    /// `METHOD /concrete/path`.
    pub request: String,
    pub expect: Expected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    Allow,
    Deny,
}

/// The claims a token of `who` carries, as Cognito issues them (developer guide,
/// "Understanding the access token" / "... identity (ID) token"), then `extra` over them.
pub fn token_claims(
    token: TokenUse,
    user: Option<&str>,
    client: Option<&str>,
    app_client: &str,
    groups: &[String],
    extra: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let mut claims = match (user, client, token) {
        (Some(user), None, TokenUse::Access) => json!({"sub": user, "username": user,
            "client_id": app_client, "token_use": "access",
            "scope": "aws.cognito.signin.user.admin"}),
        (Some(user), None, TokenUse::Id) => json!({"sub": user, "cognito:username": user,
            "aud": app_client, "token_use": "id"}),
        (None, Some(client), TokenUse::Access) => json!({"sub": client, "client_id": client,
            "token_use": "access"}),
        (None, Some(_), TokenUse::Id) => {
            return Err("a machine client has no ID token (the API takes ID tokens)".into())
        }
        (None, None, _) if extra.contains_key("sub") => json!({}),
        _ => return Err("give one of user or client (or the whole token in claims)".into()),
    };
    let map = claims.as_object_mut().expect("an object");
    if !groups.is_empty() {
        map.insert("cognito:groups".into(), json!(groups));
    }
    map.extend(extra.clone());
    Ok(map.clone())
}

/// One case's outcome.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub name: String,
    pub request: String,
    pub expected: Expected,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The report of `authz test`.
#[derive(Debug, Serialize)]
pub struct TestReport {
    pub passed: usize,
    pub failed: usize,
    pub cases: Vec<Outcome>,
}

/// `GET /path` into its method and path.
pub fn request(text: &str) -> Result<(&str, &str), String> {
    authorizer::route::split(text.trim())
        .map_err(|e| format!("{e} (for example \"GET /projects/alpha\")"))
}

/// Runs every case.
pub fn run(engine: &Engine, file: &CaseFile) -> TestReport {
    let config = engine.config();
    let app_client = config.clients.first().map_or("", String::as_str);
    let cases: Vec<Outcome> = file
        .cases
        .iter()
        .map(|case| {
            let decided = token_claims(
                config.token,
                case.user.as_deref(),
                case.client.as_deref(),
                app_client,
                &case.groups,
                &case.claims,
            )
            .and_then(|claims| {
                let (method, path) = request(&case.request)?;
                engine.decide_path(&claims, method, path)
            });
            let (decision, error) = match decided {
                Ok(d) => (Some(d), None),
                Err(e) => (None, Some(e)),
            };
            let got = decision.as_ref().map(Expected::of);
            Outcome {
                name: case.name.clone(),
                request: case.request.clone(),
                expected: case.expect,
                passed: got == Some(case.expect),
                decision,
                error,
            }
        })
        .collect();
    let passed = cases.iter().filter(|c| c.passed).count();
    TestReport {
        passed,
        failed: cases.len() - passed,
        cases,
    }
}

/// Reads a case file.
pub fn load(path: &std::path::Path) -> Result<CaseFile, AuthzError> {
    let usage = |message: String| {
        AuthzError::Usage {
        message,
        help: "a case file is {\"cases\": [{\"name\", \"user\" or \"client\", \"claims\", \"request\": \"GET /path\", \"expect\": \"allow\" or \"deny\"}]}".into(),
    }
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("reading {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| usage(format!("{}: {e}", path.display())))
}

impl Expected {
    /// What a decision was, in the cases' terms.
    fn of(d: &Decision) -> Self {
        match d.allow {
            true => Self::Allow,
            false => Self::Deny,
        }
    }
}

fn word(e: Expected) -> &'static str {
    match e {
        Expected::Allow => "ALLOW",
        Expected::Deny => "DENY",
    }
}

/// Why a decision went the way it did, in a few words.
pub fn why(d: &Decision) -> String {
    if !d.errors.is_empty() {
        return format!("error: {}", d.errors.join("; "));
    }
    match (d.allow, d.policies.is_empty()) {
        (false, true) => "no policy permits it".into(),
        (_, _) => format!("by {}", d.policies.join(", ")),
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for case in &self.cases {
            let mark = if case.passed { "ok  " } else { "FAIL" };
            let got = match (&case.decision, &case.error) {
                (Some(d), _) => format!("{} ({})", word(Expected::of(d)), why(d)),
                (None, Some(e)) => format!("not evaluated: {e}"),
                (None, None) => String::new(),
            };
            writeln!(
                f,
                "{mark} {}: {} expected {}, got {got}",
                case.name,
                case.request,
                word(case.expected)
            )?;
        }
        writeln!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}
