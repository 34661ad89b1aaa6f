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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    let started = Instant::now();
    let root =
        std::env::var_os("LAMBDA_TASK_ROOT").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let engine = match Engine::load(&root) {
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
    // Where the keys are fetched from is configuration: the emulator serves them on its own
    // endpoint while `iss` keeps the AWS form.
    let url = std::env::var("AUTHZ_JWKS_URL")
        .unwrap_or_else(|_| format!("{}/.well-known/jwks.json", engine.config().issuer));
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
