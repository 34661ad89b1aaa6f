//! The principal's row, read with one `GetItem` and a hard deadline.

use crate::claims::Row;
use crate::config::TriggerConfig;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

/// Why a lookup gave no answer. Messages name the table and the cause, never row values.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB throttled the read on {table}: {code}")]
    Throttled { table: String, code: String },
    #[error("the read on {table} did not finish within {budget:?}")]
    Timeout { table: String, budget: Duration },
    #[error("DynamoDB refused the read on {table}: {code}: {message}")]
    Service {
        table: String,
        code: String,
        message: String,
    },
    #[error("could not reach DynamoDB for {table}: {detail}")]
    Transport { table: String, detail: String },
}

/// Where rows come from: DynamoDB in the function, a fixture in tests.
pub trait PrincipalStore: Send + Sync {
    /// The row whose partition key equals `key`, reduced to the attributes the mapping needs.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Row>, StoreError>> + Send;
}

/// The DynamoDB table, read with a projection and a deadline.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    partition_key: String,
    projection: String,
    names: HashMap<String, String>,
    consistent_read: bool,
    budget: Duration,
}

impl DynamoStore {
    pub fn new(client: Client, config: &TriggerConfig) -> Self {
        // Attribute names go through placeholders: `projects`, `role` or `name` may be reserved words.
        let attributes = config.projected_attributes();
        let names: HashMap<String, String> = attributes
            .iter()
            .enumerate()
            .map(|(i, name)| (format!("#a{i}"), (*name).to_owned()))
            .collect();
        let mut placeholders: Vec<&String> = names.keys().collect();
        placeholders.sort_by_key(|p| p[2..].parse::<usize>().unwrap_or(usize::MAX));
        let projection = placeholders
            .into_iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            client,
            table: config.table.clone(),
            partition_key: config.partition_key.clone(),
            projection,
            names,
            consistent_read: config.consistent_read,
            budget: config.lookup_timeout(),
        }
    }

    fn classify(&self, err: SdkError<GetItemError, HttpResponse>) -> StoreError {
        let table = self.table.clone();
        match &err {
            SdkError::TimeoutError(_) => StoreError::Timeout {
                table,
                budget: self.budget,
            },
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or(match e {
                    GetItemError::ProvisionedThroughputExceededException(_) => {
                        "ProvisionedThroughputExceededException"
                    }
                    GetItemError::RequestLimitExceeded(_) => "RequestLimitExceeded",
                    GetItemError::ResourceNotFoundException(_) => "ResourceNotFoundException",
                    _ => "Unknown",
                });
                let code = code.to_owned();
                // Branch on the error code, never on its text.
                if e.is_provisioned_throughput_exceeded_exception()
                    || e.is_request_limit_exceeded()
                    || code == "ThrottlingException"
                {
                    StoreError::Throttled { table, code }
                } else {
                    StoreError::Service {
                        table,
                        code,
                        message: e.message().unwrap_or("").to_owned(),
                    }
                }
            }
            _ => StoreError::Transport {
                table,
                detail: DisplayErrorContext(&err).to_string(),
            },
        }
    }
}

impl PrincipalStore for DynamoStore {
    async fn get(&self, key: &str) -> Result<Option<Row>, StoreError> {
        let mut request = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(&self.partition_key, AttributeValue::S(key.to_owned()))
            .consistent_read(self.consistent_read);
        if !self.names.is_empty() {
            request = request
                .projection_expression(&self.projection)
                .set_expression_attribute_names(Some(self.names.clone()));
        }
        // The SDK's own timeouts bound each attempt; this bounds the whole call, retries included,
        // whatever the SDK does, so the answer always reaches Cognito inside its 5 s.
        match tokio::time::timeout(self.budget, request.send()).await {
            Err(_) => Err(StoreError::Timeout {
                table: self.table.clone(),
                budget: self.budget,
            }),
            Ok(Err(err)) => Err(self.classify(err)),
            Ok(Ok(output)) => Ok(output.item),
        }
    }
}

/// SDK settings that keep the read inside `budget`: short connect timeout, per-attempt
/// timeout, at most three attempts with a short first backoff.
pub fn sdk_timeouts(
    budget: Duration,
) -> (
    aws_sdk_dynamodb::config::timeout::TimeoutConfig,
    aws_sdk_dynamodb::config::retry::RetryConfig,
) {
    let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(budget.min(Duration::from_millis(500)))
        .operation_attempt_timeout(budget / 2)
        .operation_timeout(budget)
        .build();
    let retries = aws_sdk_dynamodb::config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(20))
        .with_max_backoff(budget / 4);
    (timeouts, retries)
}

/// What is missing from the function's environment for the DynamoDB client.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not set: Lambda sets it for every function (the region and the execution role's credentials)")]
pub struct MissingEnv(pub &'static str);

/// The DynamoDB client's configuration, straight from what Lambda puts in the environment
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime):
/// `AWS_REGION` and the execution role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`, which stay valid for the execution environment's life. This is what
/// aws-config's default chain would pick, without its loader (profile files, IMDS, STS and
/// SSO providers) in the zip or in the cold start. `AWS_ENDPOINT_URL_DYNAMODB` or
/// `AWS_ENDPOINT_URL` move the endpoint as in every SDK (emulators set them), unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true
/// (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
pub fn sdk_config(
    env: impl Fn(&str) -> Option<String>,
    (timeouts, retries): (
        aws_sdk_dynamodb::config::timeout::TimeoutConfig,
        aws_sdk_dynamodb::config::retry::RetryConfig,
    ),
    http: aws_sdk_dynamodb::config::SharedHttpClient,
) -> Result<aws_sdk_dynamodb::Config, MissingEnv> {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let var = |name: &'static str| env(name).filter(|v| !v.is_empty());
    let need = |name: &'static str| var(name).ok_or(MissingEnv(name));
    let credentials = Credentials::new(
        need("AWS_ACCESS_KEY_ID")?,
        need("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "LambdaEnvironment",
    );
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(need("AWS_REGION")?))
        .credentials_provider(credentials)
        .timeout_config(timeouts)
        .retry_config(retries)
        .http_client(http);
    let ignore =
        var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !ignore {
        if let Some(url) = var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|| var("AWS_ENDPOINT_URL")) {
            config = config.endpoint_url(url);
        }
    }
    Ok(config.build())
}

/// The Amazon Trust Services roots AWS endpoints chain to, compiled in.
const AMAZON_ROOTS: &[u8] = include_bytes!("../certs/amazon-roots.pem");

/// The function's HTTPS client. Its trust store is the Amazon roots only: loading the system
/// store reads every file in /etc/ssl/certs, which was most of the cold start, and a trigger
/// only ever talks to AWS. `TRIGGER_NATIVE_ROOTS=1` uses the system store instead.
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let native = std::env::var("TRIGGER_NATIVE_ROOTS").is_ok_and(|v| v == "1");
    let trust = if native {
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(AMAZON_ROOTS)
    };
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .expect("the compiled-in roots are valid PEM");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}
