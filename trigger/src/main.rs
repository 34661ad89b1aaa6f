//! The Lambda entry point: configuration, SDK client and tracing are set up once, at init.

use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;
use trigger::config::TriggerConfig;
use trigger::store::{https_client, sdk_timeouts, DynamoStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRIGGER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let config = match TriggerConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            // Refuse to start: a bad mapping must not silently issue tokens without claims.
            tracing::error!(error = %err, "invalid configuration; the function will not start");
            return Err(err.into());
        }
    };
    let (timeouts, retries) = sdk_timeouts(config.lookup_timeout());
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(retries)
        .http_client(https_client())
        .load()
        .await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config);
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
