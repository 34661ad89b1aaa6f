//! The Lambda entry point: configuration, SDK client and tracing are set up once, at init.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use trigger::config::TriggerConfig;
use trigger::store::{https_client, sdk_config, sdk_timeouts, DynamoStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // TRIGGER_LOG: `level` and `target=level` pairs (default `info`). tracing-subscriber's
    // Targets, not EnvFilter: no regex engine in the zip or in the cold start.
    let filter: tracing_subscriber::filter::Targets = std::env::var("TRIGGER_LOG")
        .ok()
        .and_then(|spec| spec.parse().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
        });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_target(false)
                .with_ansi(false),
        )
        .with(filter)
        .init();

    let config = match TriggerConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            // Refuse to start: a bad mapping must not silently issue tokens without claims.
            tracing::error!(error = %err, "invalid configuration; the function will not start");
            return Err(err.into());
        }
    };
    let sdk = match sdk_config(
        |name| std::env::var(name).ok(),
        sdk_timeouts(config.lookup_timeout()),
        https_client(),
    ) {
        Ok(sdk) => sdk,
        Err(err) => {
            tracing::error!(error = %err, "the function will not start");
            return Err(err.into());
        }
    };
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(sdk), &config);
    tracing::info!(table = %config.table, claims = config.claims.len(), "ready");

    let (store, config) = (&store, &config);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        trigger::handler::handle(store, config, event.payload)
            .await
            .map_err(|err| Diagnostic {
                error_type: err.kind().to_owned(),
                error_message: err.to_string(),
            })
    }))
    .await
}
