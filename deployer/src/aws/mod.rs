//! Every AWS client is built from one `SdkConfig`, made here from the target: real AWS
//! (profile, region, environment), an explicit endpoint, or the local emulator. The rest of
//! the code does not know which.



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
            loader = loader.credentials_provider(aws_credential_types::Credentials::new("test", "test", None, None, "local"));
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
    let region = sdk.region().map(|r| r.to_string()).ok_or(ConnectError::NoRegion)?;
    Ok(Connection { sdk, target: target.clone(), endpoint, region })
}
