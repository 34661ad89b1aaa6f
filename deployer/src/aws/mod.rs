//! Every AWS client is built from one `SdkConfig`, made here from the target: real AWS
//! (profile, region, environment), an explicit endpoint, or the local emulator. The rest of
//! the code does not know which. Calls are thin (`cfn`); errors are classified in `error`.

pub mod cfn;
pub mod error;
pub mod wire;

pub use error::{AwsError, ErrorKind};

use crate::local;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use miette::Diagnostic;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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
    /// The AWS profile in use (--profile or AWS_PROFILE), for messages.
    pub profile: Option<String>,
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
    #[error("{why}")]
    #[diagnostic(
        code(aws::region),
        help("the region comes from --region, else \"region\" in stack-inputs.json, else the profile or AWS_REGION: correct the one that set it")
    )]
    Region { region: String, why: String },
}

/// The ARN partition of a region (`aws-cn` in China, `aws-us-gov` in GovCloud...).
pub use crate::inputs::partition;

/// How often a call is tried before its error is reported: throttling on a busy account is
/// common during long CloudFormation waits, so more than the SDK's default of three.
pub const MAX_ATTEMPTS: u32 = 6;

/// The retry settings every client uses (standard mode: throttling and transient errors are
/// retried with jittered exponential backoff).
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_max_backoff(Duration::from_secs(20))
}

/// Loads the SDK configuration for `target` at `endpoint` (the emulator's, or the one given;
/// none for AWS); `region` overrides the profile's. The local emulator gets dummy
/// credentials: it does not check them, and real ones must never reach it.
pub async fn connect(
    target: &Target,
    endpoint: Option<String>,
    region: Option<&str>,
    (profile, waived): (Option<&str>, &[&str]),
) -> Result<Connection, ConnectError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry_config());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if *target == Target::Local {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "local",
        ));
    }
    let local_default = (*target == Target::Local).then_some("us-east-1");
    if let Some(region) = region.or(local_default) {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(url) = &endpoint {
        loader = loader.endpoint_url(url);
    }
    let sdk = loader.http_client(http_client(target)).load().await;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .ok_or(ConnectError::NoRegion)?;
    // Before any call: the same rule as the inputs' region, for --region and the profile's.
    let problem = crate::inputs::region_problem(&region).filter(|(id, _)| !waived.contains(id));
    if let Some((_, why)) = problem {
        return Err(ConnectError::Region { region, why });
    }
    let profile = profile.map(str::to_owned);
    Ok(Connection {
        sdk,
        target: target.clone(),
        endpoint,
        region,
        profile,
    })
}

/// The HTTP client of every SDK client and of the credential providers (SSO, STS, IMDS):
/// HTTPS on rustls with ring and the system's trust store, as the SDK's default client does
/// with aws-lc. The local emulator (plain HTTP, dummy credentials, so no provider ever calls
/// out) gets a plain HTTP client, which skips reading the system's certificates for nothing.
/// Any other endpoint keeps HTTPS: the credential providers still call AWS itself.
pub fn http_client(target: &Target) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    if *target == Target::Local {
        aws_smithy_http_client::Builder::new().build_http()
    } else {
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https()
    }
}

/// Whether an endpoint URL is on this machine's loopback (where the local emulators listen;
/// AWS never is).
fn loopback(url: &str) -> bool {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

/// The SDK clients, made once per command. Tests build them from mocked clients.
#[derive(Clone, Debug)]
pub struct Clients {
    pub cfn: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub iam: wire::Iam,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub logs: wire::Logs,
    pub region: String,
    /// Who calls: the profile, then the caller's ARN once STS has said it.
    pub principal: Arc<OnceLock<String>>,
    profile: Option<String>,
    /// The endpoint is a local emulator (on this machine's loopback), never AWS: the few
    /// places that make up for an emulator's known gaps look at this, and say so.
    pub emulator: bool,
    /// The endpoint the calls go to when it is not AWS's own.
    pub endpoint: Option<String>,
}

impl Clients {
    pub fn new(conn: &Connection) -> Self {
        let s3_config = aws_sdk_s3::config::Builder::from(&conn.sdk)
            // Custom endpoints (emulators, proxies) serve buckets by path, not by host name.
            .force_path_style(conn.endpoint.is_some())
            .build();
        let identities = wire::identity_cache(&conn.sdk);
        Self {
            cfn: aws_sdk_cloudformation::Client::new(&conn.sdk),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            sts: aws_sdk_sts::Client::new(&conn.sdk),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(&conn.sdk),
            lambda: aws_sdk_lambda::Client::new(&conn.sdk),
            iam: wire::Iam::new(&conn.sdk, identities.clone()),
            dynamodb: aws_sdk_dynamodb::Client::new(&conn.sdk),
            logs: wire::Logs::new(&conn.sdk, identities),
            region: conn.region.clone(),
            principal: Arc::default(),
            profile: conn.profile.clone(),
            emulator: conn.endpoint.as_deref().is_some_and(loopback),
            endpoint: conn.endpoint.clone(),
        }
    }

    /// Clients assembled from parts (tests hand in mocked ones).
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        cfn: aws_sdk_cloudformation::Client,
        s3: aws_sdk_s3::Client,
        sts: aws_sdk_sts::Client,
        cognito: aws_sdk_cognitoidentityprovider::Client,
        lambda: aws_sdk_lambda::Client,
        iam: wire::Iam,
        dynamodb: aws_sdk_dynamodb::Client,
        logs: wire::Logs,
        region: &str,
        profile: Option<&str>,
    ) -> Self {
        Self {
            cfn,
            s3,
            sts,
            cognito,
            lambda,
            iam,
            dynamodb,
            logs,
            region: region.into(),
            principal: Arc::default(),
            profile: profile.map(str::to_owned),
            emulator: false,
            endpoint: None,
        }
    }

    /// The caller for messages: "role ARN (profile P)", whatever is known.
    pub fn who(&self) -> Option<String> {
        match (self.principal.get(), &self.profile) {
            (Some(arn), Some(p)) => Some(format!("{arn}, profile {p}")),
            (Some(arn), None) => Some(arn.clone()),
            (None, Some(p)) => Some(format!("profile {p}")),
            (None, None) => None,
        }
    }

    /// Classifies an SDK error and names the caller in it.
    pub fn err<E>(
        &self,
        service: &'static str,
        operation: &'static str,
        err: aws_smithy_runtime_api::client::result::SdkError<
            E,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    ) -> AwsError
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata
            + error::Modeled
            + std::error::Error
            + Send
            + Sync
            + 'static,
    {
        AwsError::from_sdk(service, operation, err).with_principal(self.who().as_deref())
    }

    /// Names the caller, as now known, in an error classified before STS answered.
    pub fn name_caller(&self, mut err: AwsError) -> AwsError {
        if let Some(who) = self.who() {
            err.principal = Some(who);
        }
        err
    }

    /// The account id of the caller (GetCallerIdentity); remembers the caller's ARN.
    pub async fn account_id(&self) -> Result<String, AwsError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.err("sts", "GetCallerIdentity", e))?;
        if let Some(arn) = out.arn {
            self.principal.set(arn).ok();
        }
        Ok(out.account.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::loopback;

    #[test]
    fn only_this_machine_counts_as_an_emulator() {
        for url in [
            "http://127.0.0.1:4566",
            "http://127.8.0.1:4566",
            "http://localhost:4566",
            "http://[::1]:4566",
        ] {
            assert!(loopback(url), "{url}");
        }
        // Names that merely look local resolve elsewhere; AWS's endpoints never are loopback.
        for url in [
            "http://127.0.0.1.example.com:4566",
            "http://localhost.example.com",
            "https://cloudformation.us-east-1.amazonaws.com",
            "http://10.0.0.1:4566",
            "not a url",
        ] {
            assert!(!loopback(url), "{url}");
        }
    }
}
