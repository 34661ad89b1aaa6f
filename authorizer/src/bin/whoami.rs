//! The built-in integration: answers 200 with the route, the path and the authorizer's
//! context, so a deploy can be checked end to end without a backend of one's own.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        std::future::ready(Ok::<_, lambda_runtime::Error>(authorizer::handler::whoami(
            &event.payload,
        )))
    }))
    .await
}
