//! The authorizer Lambda: the policies, the schema and the key set are loaded once, at init;
//! each event is one decision and one JSON log line.

use authorizer::decide::Engine;
use authorizer::handler;
use authorizer::keys::{Fetch, KeyCache};
use authorizer::token::{self, Jwks};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The key set over HTTPS (or HTTP to the local emulator), two seconds at most.
struct Https {
    url: String,
    agent: ureq::Agent,
}

impl Fetch for Https {
    fn fetch(&self) -> Result<Jwks, String> {
        let body = self
            .agent
            .get(&self.url)
            .call()
            .map_err(|e| format!("fetching {}: {e}", self.url))?
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("reading {}: {e}", self.url))?;
        serde_json::from_str(&body).map_err(|e| format!("{}: not a key set: {e}", self.url))
    }
}

/// Where the pool's keys are: AUTHZ_JWKS_URL, else the issuer's `/.well-known/jwks.json`, on
/// the endpoint AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER or AWS_ENDPOINT_URL names when
/// set (as every SDK reads them; an emulator sets them, and serves the keys on its own
/// endpoint while `iss` keeps the AWS form), unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS.
fn jwks_url(
    config: &authorizer::config::AuthzConfig,
    env: impl Fn(&str) -> Option<String>,
) -> String {
    if let Some(url) = env("AUTHZ_JWKS_URL") {
        return url;
    }
    let ignored =
        env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let endpoint = env("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .filter(|_| !ignored);
    authorizer::keys::jwks_url(&config.issuer, &config.user_pool_id, endpoint.as_deref())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = Instant::now();
    let root =
        std::env::var_os("LAMBDA_TASK_ROOT").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let loaded = Engine::read(&root).and_then(|(mut config, files)| {
        // The pool, its issuer and the accepted clients are the stack's, known once it is:
        // the function's environment has them.
        if let Some(pool) = env("AUTHZ_USER_POOL_ID") {
            config.user_pool_id = pool;
        }
        if let Some(issuer) = env("AUTHZ_ISSUER") {
            config.issuer = issuer;
        }
        if let Some(clients) = env("AUTHZ_CLIENTS") {
            config.clients = clients.split(',').map(str::to_owned).collect();
        }
        if config.issuer.is_empty() || config.clients.is_empty() {
            return Err("AUTHZ_ISSUER and AUTHZ_CLIENTS are not set: the stack sets them".into());
        }
        Engine::load(config, &files)
    });
    let engine = match loaded {
        Ok(engine) => engine,
        Err(err) => {
            // Refuse to start: every call is then refused by API Gateway (500), never allowed.
            println!(
                "{}",
                serde_json::json!({"level": "ERROR", "error": err, "message": "invalid configuration; the authorizer will not start"})
            );
            return Err(err.into());
        }
    };
    let url = jwks_url(engine.config(), env);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    let keys = RefCell::new(KeyCache::new(Https { url, agent }, token::now()));
    println!(
        "{}",
        serde_json::json!({"level": "INFO", "message": "ready", "policies": engine.policy_count(),
            "routes": engine.config().routes.len(), "keys": keys.borrow().len(),
            "keyError": keys.borrow().last_error, "initMicros": started.elapsed().as_micros()})
    );
    let (engine, keys) = (&engine, &keys);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let start = Instant::now();
        let (answer, decision) =
            handler::authorize(engine, &mut keys.borrow_mut(), &event.payload, token::now());
        println!(
            "{}",
            handler::log_line(&decision, start.elapsed().as_micros())
        );
        std::future::ready(Ok::<_, lambda_runtime::Error>(answer))
    }))
    .await
}
