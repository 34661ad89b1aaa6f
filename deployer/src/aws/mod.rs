//! Every AWS client is built from one `SdkConfig`, made here from the target: real AWS
//! (profile, region, environment), an explicit endpoint, or the local emulator. The rest of
//! the code does not know which.

pub mod artifacts;
pub mod cloudformation;
pub mod verify;

use crate::local::{self, Paths};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use miette::Diagnostic;

/// Where AWS calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// AWS itself, as the profile and environment say.
    Aws,
    /// Another endpoint, with the usual credentials.
    Endpoint(String),
    /// The local emulator, started when it is not running, with dummy credentials.
    Local,
}

/// The SDK configuration and what it points at.
#[derive(Debug, Clone)]
pub struct Connection {
    pub sdk: SdkConfig,
    pub target: Target,
    /// The endpoint when it is not AWS's own.
    pub endpoint: Option<String>,
    pub region: String,
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ConnectError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Local(#[from] local::LocalError),
    #[error("no AWS region is set")]
    #[diagnostic(
        code(aws::no_region),
        help("set \"region\" in stack-inputs.json, pass --region, or set AWS_REGION")
    )]
    NoRegion,
}

/// Loads the SDK configuration for `target`; `region` overrides the profile's.
pub async fn connect(
    target: &Target,
    region: Option<&str>,
    profile: Option<&str>,
    paths: &Paths,
) -> Result<Connection, ConnectError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    let endpoint = match target {
        Target::Aws => None,
        Target::Endpoint(url) => Some(url.clone()),
        Target::Local => {
            let (emulator, reused) = local::start(paths, None)?;
            if !reused {
                tracing::info!(endpoint = %emulator.endpoint, "started the local emulator");
            }
            // Dummy credentials: the emulator does not check them, and real ones must never reach it.
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                "test", "test", None, None, "local",
            ));
            Some(emulator.endpoint)
        }
    };
    let local_default = (*target == Target::Local).then_some("us-east-1");
    if let Some(region) = region.or(local_default) {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(url) = &endpoint {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.load().await;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .ok_or(ConnectError::NoRegion)?;
    Ok(Connection {
        sdk,
        target: target.clone(),
        endpoint,
        region,
    })
}

/// An AWS call that failed, shown as `code: message`. Code branches on `code`, never on text.
#[derive(Debug, Clone, thiserror::Error, Diagnostic)]
#[error("{operation} failed: {code}: {message}")]
#[diagnostic(code(aws::call))]
pub struct AwsError {
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    #[help]
    pub help: Option<String>,
}

impl AwsError {
    pub fn from_sdk<E, R>(
        operation: &'static str,
        err: aws_smithy_runtime_api::client::result::SdkError<E, R>,
    ) -> Self
    where
        E: aws_sdk_cloudformation::error::ProvideErrorMetadata
            + std::error::Error
            + Send
            + Sync
            + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        use aws_smithy_runtime_api::client::result::SdkError;
        let (code, message) = match &err {
            SdkError::ServiceError(service) => (
                service.err().code().unwrap_or("Unknown").to_owned(),
                service.err().message().unwrap_or("").to_owned(),
            ),
            SdkError::TimeoutError(_) => ("Timeout".into(), "the request timed out".into()),
            SdkError::DispatchFailure(_) => (
                "Unreachable".into(),
                aws_sdk_cloudformation::error::DisplayErrorContext(&err).to_string(),
            ),
            _ => (
                "ClientError".into(),
                aws_sdk_cloudformation::error::DisplayErrorContext(&err).to_string(),
            ),
        };
        let help = match code.as_str() {
            "Unreachable" => Some("check the network or the endpoint; for the local emulator run `deployer local status`".into()),
            "ExpiredToken" | "InvalidClientTokenId" | "UnrecognizedClientException" | "AccessDenied" | "AccessDeniedException" => {
                Some("check the AWS credentials in use (AWS_PROFILE, --profile, `aws sts get-caller-identity`), or use --local".into())
            }
            "ClientError" if message.contains("credentials") => {
                Some("no AWS credentials were found: configure a profile or environment credentials, or use --local".into())
            }
            _ => None,
        };
        Self {
            operation,
            code,
            message,
            help,
        }
    }
}
