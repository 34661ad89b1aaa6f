//! The four reads the deployer makes of IAM and CloudWatch Logs, sent through the SDK's own
//! runtime (aws-smithy-runtime's `Operation`) rather than the generated aws-sdk-iam and
//! aws-sdk-cloudwatchlogs crates. Those two crates model hundreds of operations and cost
//! about 100 of the 520 CPU-seconds of a cold deployer build, for three IAM reads in the
//! wiring check and one log query. What the generated clients would give is kept: the same
//! `SdkConfig` (credentials chain, region, HTTP client, timeouts), SigV4 signing, the standard
//! retry strategy with the AWS error-code classifiers (throttling is retried), clock-skew
//! correction, and errors as `SdkError<ApiError, _>` that [`super::AwsError`] classifies like
//! any other. Requests and answers follow the API references:
//! - IAM, the AWS Query protocol (form-encoded `Action=...&Version=2010-05-08`, XML answers,
//!   `<ErrorResponse><Error><Code>` errors): <https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRolePolicies.html>,
//!   `API_ListAttachedRolePolicies.html`, `API_GetRolePolicy.html`, `CommonErrors.html`.
//! - CloudWatch Logs, AWS JSON 1.1 (`X-Amz-Target: Logs_20140328.FilterLogEvents`, errors as
//!   `{"__type": ..., "message": ...}`): <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html>.
//! - Endpoints, as the generated clients' rules give them for the `aws` partition (the only
//!   one the deployer deploys to): IAM is global, `iam.amazonaws.com` signed for `us-east-1`
//!   (`iam-fips.amazonaws.com`, `iam.global.api.aws` and `iam-fips.global.api.aws` with FIPS
//!   or dual-stack); Logs is `logs[-fips].<region>.amazonaws.com` (`.api.aws` dual-stack). An
//!   endpoint set for the service (`AWS_ENDPOINT_URL_IAM`, `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`,
//!   a profile's `services` section) or for all (`--endpoint-url`, `AWS_ENDPOINT_URL`) wins.

use super::error::Modeled;
use aws_runtime::auth::sigv4::{SigV4AuthScheme, SCHEME_ID as SIGV4};
use aws_runtime::auth::{SigV4OperationSigningConfig, SigningOptions};
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime::client::retries::classifiers::{
    HttpStatusCodeClassifier, TransientErrorClassifier,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::auth::{AuthSchemeOptionResolverParams, SharedAuthScheme};
use aws_smithy_runtime_api::client::identity::SharedIdentityCache;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
use aws_smithy_runtime_api::client::runtime_plugin::StaticRuntimePlugin;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::Layer;
use aws_smithy_types::error::metadata::{ErrorMetadata, ProvideErrorMetadata};
use aws_types::region::SigningRegion;
use aws_types::service_config::ServiceConfigKey;
use aws_types::{SdkConfig, SigningName};
use std::fmt;
use std::marker::PhantomData;

/// A service the deployer reaches without its generated crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The SDK's service id (retry partition, traces) and the `services` profile key.
    id: &'static str,
    /// The SigV4 signing name.
    signing_name: &'static str,
    /// The service-specific endpoint variable.
    endpoint_env: &'static str,
    /// The profile's `services` section key.
    profile_key: &'static str,
}

const IAM: Service = Service {
    id: "IAM",
    signing_name: "iam",
    endpoint_env: "AWS_ENDPOINT_URL_IAM",
    profile_key: "iam",
};

const LOGS: Service = Service {
    id: "CloudWatch Logs",
    signing_name: "logs",
    endpoint_env: "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
    profile_key: "cloudwatch_logs",
};

/// Where a service's calls go and the region they are signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub signing_region: String,
}

/// The endpoint of `service` for this configuration, as the generated client's rules give it.
fn endpoint(service: Service, sdk: &SdkConfig) -> Result<Endpoint, String> {
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let fips = sdk.use_fips().unwrap_or(false);
    let dual = sdk.use_dual_stack().unwrap_or(false);
    let configured = sdk
        .service_config()
        .and_then(|c| {
            c.load_config(
                ServiceConfigKey::builder()
                    .service_id(service.profile_key)
                    .profile("endpoint_url")
                    .env(service.endpoint_env)
                    .build()
                    .expect("all fields set"),
            )
        })
        .or_else(|| sdk.endpoint_url().map(str::to_owned));
    if let Some(url) = configured {
        // The generated clients refuse the same combinations.
        if fips {
            return Err("Invalid Configuration: FIPS and custom endpoint are not supported".into());
        }
        if dual {
            return Err(
                "Invalid Configuration: Dualstack and custom endpoint are not supported".into(),
            );
        }
        let signing_region = if service == IAM && region.is_empty() {
            "us-east-1".to_owned()
        } else {
            region
        };
        return Ok(Endpoint {
            url,
            signing_region,
        });
    }
    let fips_part = if fips { "-fips" } else { "" };
    Ok(if service == IAM {
        let host = if dual {
            "global.api.aws"
        } else {
            "amazonaws.com"
        };
        Endpoint {
            url: format!("https://iam{fips_part}.{host}"),
            signing_region: "us-east-1".into(),
        }
    } else {
        if region.is_empty() {
            return Err("no region is set".into());
        }
        let domain = if dual { "api.aws" } else { "amazonaws.com" };
        Endpoint {
            url: format!(
                "https://{}{fips_part}.{region}.{domain}",
                service.signing_name
            ),
            signing_region: region,
        }
    })
}

/// A service's error answer: its code and message, as every generated error carries them.
#[derive(Debug, Clone)]
pub struct ApiError {
    meta: ErrorMetadata,
}

impl ApiError {
    fn new(code: Option<String>, message: Option<String>) -> Self {
        let mut meta = ErrorMetadata::builder();
        if let Some(code) = code {
            meta = meta.code(code);
        }
        if let Some(message) = message {
            meta = meta.message(message);
        }
        Self { meta: meta.build() }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.meta.code().unwrap_or("Unknown"),
            self.meta.message().unwrap_or("")
        )
    }
}

impl std::error::Error for ApiError {}

impl ProvideErrorMetadata for ApiError {
    fn meta(&self) -> &ErrorMetadata {
        &self.meta
    }
}

// No typed predicates: the error code decides the kind (`ResourceNotFoundException` is NotFound).
impl Modeled for ApiError {}

/// What an operation sends: the protocol's body and, for JSON, its target header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The operation's name (`ListRolePolicies`, `FilterLogEvents`).
    pub operation: &'static str,
    pub content_type: &'static str,
    /// `X-Amz-Target`, for the JSON protocol.
    pub target: Option<String>,
    pub body: String,
}

type CallResult<T> = Result<T, SdkError<ApiError, HttpResponse>>;

/// The runtime settings one service's operations share.
#[derive(Debug, Clone)]
struct Api {
    service: Service,
    endpoint: Result<Endpoint, String>,
    sdk: SdkConfig,
    identity_cache: SharedIdentityCache,
    interceptors: Vec<SharedInterceptor>,
}

impl Api {
    fn new(service: Service, sdk: &SdkConfig, identity_cache: SharedIdentityCache) -> Self {
        Self {
            service,
            endpoint: endpoint(service, sdk),
            sdk: sdk.clone(),
            identity_cache,
            interceptors: Vec::new(),
        }
    }

    /// Sends `call` and reads a successful answer with `parse`; an error answer with
    /// `parse_error`.
    async fn send<O>(
        &self,
        call: Call,
        parse: fn(&[u8]) -> Result<O, String>,
        parse_error: fn(&HttpResponse) -> ApiError,
    ) -> CallResult<O>
    where
        O: fmt::Debug + Send + Sync + 'static,
    {
        let endpoint = self
            .endpoint
            .as_ref()
            .map_err(|e| SdkError::construction_failure(e.clone()))?;
        let mut builder = Operation::builder()
            .service_name(self.service.id)
            .operation_name(call.operation)
            .endpoint_url(&endpoint.url)
            .runtime_plugin(self.signing(endpoint))
            .with_connection_poisoning()
            .interceptor(aws_runtime::service_clock_skew::ServiceClockSkewInterceptor::new())
            .interceptor(aws_runtime::user_agent::UserAgentInterceptor::new())
            .interceptor(aws_runtime::invocation_id::InvocationIdInterceptor::new())
            .interceptor(aws_runtime::request_info::RequestInfoInterceptor::new())
            .interceptor(aws_runtime::recursion_detection::RecursionDetectionInterceptor::new())
            .retry_classifier(HttpStatusCodeClassifier::default())
            .retry_classifier(TransientErrorClassifier::<ApiError>::new())
            .retry_classifier(aws_runtime::retries::classifiers::AwsErrorCodeClassifier::<
                ApiError,
            >::new())
            .retry_classifier(
                aws_runtime::service_clock_skew::ServiceClockSkewClassifier::<ApiError>::new(),
            );
        if let Some(v) = self.sdk.behavior_version() {
            builder = builder.behavior_version(v);
        }
        if let Some(http) = self.sdk.http_client() {
            builder = builder.http_client(http);
        }
        if let Some(retry) = self.sdk.retry_config() {
            builder = builder.standard_retry(retry);
        }
        if let Some(timeouts) = self.sdk.timeout_config() {
            builder = builder.timeout_config(timeouts.clone());
        }
        if let Some(sleep) = self.sdk.sleep_impl() {
            builder = builder.sleep_impl(sleep);
        }
        if let Some(time) = self.sdk.time_source() {
            builder = builder.time_source(time);
        }
        if let Some(stalled) = self.sdk.stalled_stream_protection() {
            builder = builder.stalled_stream_protection(stalled);
        }
        for interceptor in &self.interceptors {
            builder = builder.interceptor(interceptor.clone());
        }
        let operation = builder
            .serializer(serialize)
            .deserializer(move |response: &HttpResponse| {
                if !response.status().is_success() {
                    return Err(OrchestratorError::operation(parse_error(response)));
                }
                let body = response.body().bytes().unwrap_or_default();
                parse(body).map_err(OrchestratorError::other)
            })
            .build();
        operation.invoke(call).await
    }

    /// SigV4 with the configuration's credentials, for this service and endpoint.
    fn signing(&self, endpoint: &Endpoint) -> StaticRuntimePlugin {
        let mut layer = Layer::new("wire-signing");
        layer.store_put(AuthSchemeOptionResolverParams::new(()));
        let mut options = SigningOptions::default();
        // The Query and JSON protocols sign like the generated clients of IAM and Logs do.
        options.double_uri_encode = true;
        options.content_sha256_header = false;
        options.normalize_uri_path = true;
        layer.store_put(SigV4OperationSigningConfig {
            region: Some(SigningRegion::from(aws_types::region::Region::new(
                endpoint.signing_region.clone(),
            ))),
            name: Some(SigningName::from_static(self.service.signing_name)),
            signing_options: options,
            ..Default::default()
        });
        // The user agent CloudTrail records: the SDK's, naming the service and this tool.
        layer.store_put(aws_runtime::user_agent::ApiMetadata::new(
            self.service.signing_name,
            concat!("deployer-", env!("CARGO_PKG_VERSION")),
        ));
        if let Some(app) = self.sdk.app_name() {
            layer.store_put(app.clone());
        }
        let mut components = RuntimeComponentsBuilder::new("wire-signing")
            .with_auth_scheme_option_resolver(Some(StaticAuthSchemeOptionResolver::new(vec![
                SIGV4,
            ])))
            .with_auth_scheme(SharedAuthScheme::new(SigV4AuthScheme::new()))
            .with_identity_cache(Some(self.identity_cache.clone()));
        if let Some(credentials) = self.sdk.credentials_provider() {
            components = components.with_identity_resolver(SIGV4, credentials);
        }
        StaticRuntimePlugin::new()
            .with_config(layer.freeze())
            .with_runtime_components(components)
    }
}

/// The request of a call: a POST to the endpoint's root, as both protocols send.
fn serialize(call: Call) -> Result<HttpRequest, BoxError> {
    let length = call.body.len();
    let mut request = HttpRequest::new(SdkBody::from(call.body));
    request.set_method("POST")?;
    request.set_uri("/")?;
    let headers = request.headers_mut();
    headers.insert("content-type", call.content_type);
    headers.insert("content-length", length.to_string());
    if let Some(target) = call.target {
        headers.insert("x-amz-target", target);
    }
    Ok(request)
}

/// A client of one service: [`Iam`] or [`Logs`].
#[derive(Debug, Clone)]
pub struct Client<S> {
    api: Api,
    service: PhantomData<S>,
}

/// Which service a [`Client`] calls.
pub trait ServiceApi {
    const SERVICE: Service;
}

impl<S: ServiceApi> Client<S> {
    pub fn new(sdk: &SdkConfig, identity_cache: SharedIdentityCache) -> Self {
        Self {
            api: Api::new(S::SERVICE, sdk, identity_cache),
            service: PhantomData,
        }
    }

    /// Adds an interceptor to every call (tests hand in aws-smithy-mocks' here).
    pub fn with_interceptor(mut self, interceptor: SharedInterceptor) -> Self {
        self.api.interceptors.push(interceptor);
        self
    }
}

/// An identity cache for the clients of one command (the generated clients' default).
pub fn identity_cache(sdk: &SdkConfig) -> SharedIdentityCache {
    sdk.identity_cache()
        .unwrap_or_else(|| IdentityCache::lazy().build())
}

// ---------------------------------------------------------------------------------------
// IAM: the Query protocol.

/// The IAM reads of the wiring check.
pub type Iam = Client<IamApi>;

/// Marks a [`Client`] as IAM's.
#[derive(Debug, Clone)]
pub enum IamApi {}

impl ServiceApi for IamApi {
    const SERVICE: Service = IAM;
}

impl Iam {
    /// ListAttachedRolePolicies, every page: the managed policies' ARNs.
    pub async fn attached_role_policies(&self, role: &str) -> CallResult<Vec<String>> {
        self.pages("ListAttachedRolePolicies", role, |body| {
            xml_values(body, &["PolicyArn"])
        })
        .await
    }

    /// ListRolePolicies, every page: the inline policies' names.
    pub async fn role_policy_names(&self, role: &str) -> CallResult<Vec<String>> {
        self.pages("ListRolePolicies", role, |body| {
            xml_values(body, &["member"])
        })
        .await
    }

    /// GetRolePolicy: the inline policy's document, as IAM sends it (URL-encoded JSON).
    pub async fn role_policy(&self, role: &str, name: &str) -> CallResult<String> {
        let call = query_call("GetRolePolicy", &[("RoleName", role), ("PolicyName", name)]);
        self.api
            .send(
                call,
                |body| {
                    let page = xml_values(body, &["PolicyDocument"])?;
                    page.values
                        .into_iter()
                        .next()
                        .ok_or_else(|| "GetRolePolicy's answer has no PolicyDocument".to_owned())
                },
                query_error,
            )
            .await
    }

    /// One Query call whose answer's `wanted` elements are read, in document order.
    async fn query(
        &self,
        operation: &'static str,
        params: &[(&str, &str)],
        parse: fn(&[u8]) -> Result<XmlPage, String>,
    ) -> CallResult<Vec<String>> {
        let page = self
            .api
            .send(query_call(operation, params), parse, query_error)
            .await?;
        Ok(page.values)
    }

    /// GetPolicy: the managed policy's default version id.
    pub async fn policy_default_version(&self, arn: &str) -> CallResult<String> {
        let values = self
            .query("GetPolicy", &[("PolicyArn", arn)], |body| {
                xml_values(body, &["DefaultVersionId"])
            })
            .await?;
        Ok(values.into_iter().next().unwrap_or_default())
    }

    /// GetPolicyVersion: the version's document, as IAM sends it (URL-encoded JSON).
    pub async fn policy_document(&self, arn: &str, version: &str) -> CallResult<String> {
        let values = self
            .query(
                "GetPolicyVersion",
                &[("PolicyArn", arn), ("VersionId", version)],
                |body| xml_values(body, &["Document"]),
            )
            .await?;
        Ok(values.into_iter().next().unwrap_or_default())
    }

    /// CreatePolicy: a managed policy at `path`.
    pub async fn create_policy(
        &self,
        name: &str,
        path: &str,
        document: &str,
        description: &str,
    ) -> CallResult<()> {
        self.query(
            "CreatePolicy",
            &[
                ("PolicyName", name),
                ("Path", path),
                ("PolicyDocument", document),
                ("Description", description),
            ],
            |body| xml_values(body, &["Arn"]),
        )
        .await
        .map(drop)
    }

    /// ListPolicyVersions (IAM keeps at most five): each version's id and whether it is the
    /// default, oldest last as IAM lists them.
    pub async fn policy_versions(&self, arn: &str) -> CallResult<Vec<(String, bool)>> {
        let values = self
            .query("ListPolicyVersions", &[("PolicyArn", arn)], |body| {
                xml_values(body, &["VersionId", "IsDefaultVersion"])
            })
            .await?;
        Ok(values
            .chunks(2)
            .filter_map(|pair| match pair {
                [id, default] => Some((id.clone(), default.trim() == "true")),
                _ => None,
            })
            .collect())
    }

    /// DeletePolicyVersion.
    pub async fn delete_policy_version(&self, arn: &str, version: &str) -> CallResult<()> {
        self.query(
            "DeletePolicyVersion",
            &[("PolicyArn", arn), ("VersionId", version)],
            |body| xml_values(body, &[]),
        )
        .await
        .map(drop)
    }

    /// CreatePolicyVersion, made the default.
    pub async fn create_policy_version(&self, arn: &str, document: &str) -> CallResult<()> {
        self.query(
            "CreatePolicyVersion",
            &[
                ("PolicyArn", arn),
                ("PolicyDocument", document),
                ("SetAsDefault", "true"),
            ],
            |body| xml_values(body, &["VersionId"]),
        )
        .await
        .map(drop)
    }

    /// PutRolePermissionsBoundary.
    pub async fn put_role_boundary(&self, role: &str, boundary: &str) -> CallResult<()> {
        self.query(
            "PutRolePermissionsBoundary",
            &[("RoleName", role), ("PermissionsBoundary", boundary)],
            |body| xml_values(body, &[]),
        )
        .await
        .map(drop)
    }

    /// GetRole: the role's permissions boundary ARN, if it has one.
    pub async fn role_boundary(&self, role: &str) -> CallResult<Option<String>> {
        let values = self
            .query("GetRole", &[("RoleName", role)], |body| {
                xml_values(body, &["PermissionsBoundaryArn"])
            })
            .await?;
        Ok(values.into_iter().next())
    }

    /// A list operation's values, read by `parse`, following `Marker` while `IsTruncated`.
    async fn pages(
        &self,
        operation: &'static str,
        role: &str,
        parse: fn(&[u8]) -> Result<XmlPage, String>,
    ) -> CallResult<Vec<String>> {
        let mut values = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut params = vec![("RoleName", role)];
            if let Some(m) = &marker {
                params.push(("Marker", m));
            }
            let call = query_call(operation, &params);
            let page = self.api.send(call, parse, query_error).await?;
            values.extend(page.values);
            // A marker that does not move would page forever: the SDK's paginators stop there too.
            let next = page
                .marker
                .filter(|m| page.truncated && Some(m) != marker.as_ref());
            if next.is_none() {
                return Ok(values);
            }
            marker = next;
        }
    }
}

/// A Query protocol call: `Action`, IAM's API version, then the parameters, form-encoded.
fn query_call(operation: &'static str, params: &[(&str, &str)]) -> Call {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", operation);
    form.append_pair("Version", "2010-05-08");
    for (k, v) in params {
        form.append_pair(k, v);
    }
    Call {
        operation,
        content_type: "application/x-www-form-urlencoded",
        target: None,
        body: form.finish(),
    }
}

/// What a Query answer holds for the deployer: the text of the wanted elements, and the
/// paging fields.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct XmlPage {
    pub values: Vec<String>,
    pub truncated: bool,
    pub marker: Option<String>,
}

/// The text of every element named in `wanted`, anywhere in the document, in order, with
/// `IsTruncated` and `Marker`.
pub fn xml_values(body: &[u8], wanted: &[&str]) -> Result<XmlPage, String> {
    let mut page = XmlPage::default();
    let paging = |name: &str| name == "IsTruncated" || name == "Marker";
    xml_leaves(
        body,
        &|name| wanted.contains(&name) || paging(name),
        &mut |name, value| match name {
            "IsTruncated" => page.truncated = value.trim() == "true",
            "Marker" => page.marker = Some(value),
            _ => page.values.push(value),
        },
    )?;
    Ok(page)
}

/// Hands `found` the name and text of every element `leaf` picks, anywhere in the document,
/// in document order; other elements are descended into.
fn xml_leaves(
    body: &[u8],
    leaf: &dyn Fn(&str) -> bool,
    found: &mut dyn FnMut(&str, String),
) -> Result<(), String> {
    fn walk(
        scope: &mut aws_smithy_xml::decode::ScopedDecoder<'_, '_>,
        leaf: &dyn Fn(&str) -> bool,
        found: &mut dyn FnMut(&str, String),
    ) -> Result<(), String> {
        while let Some(mut tag) = scope.next_tag() {
            let name = tag.start_el().local().to_owned();
            if leaf(&name) {
                let value = aws_smithy_xml::decode::try_data(&mut tag)
                    .map_err(|e| format!("the answer's {name} is not text: {e}"))?;
                found(&name, value.into_owned());
            } else {
                walk(&mut tag, leaf, found)?;
            }
        }
        Ok(())
    }
    let text = std::str::from_utf8(body).map_err(|e| format!("the answer is not UTF-8: {e}"))?;
    let mut doc = aws_smithy_xml::decode::Document::new(text);
    let mut root = doc
        .root_element()
        .map_err(|e| format!("the answer is not XML: {e}"))?;
    walk(&mut root, leaf, found)
}

/// A Query protocol error: `<ErrorResponse><Error><Code>..</Code><Message>..</Message>`; an
/// answer that is not that shape leaves both unset.
fn query_error(response: &HttpResponse) -> ApiError {
    let (mut code, mut message) = (None, None);
    let _ = xml_leaves(
        response.body().bytes().unwrap_or_default(),
        &|name| name == "Code" || name == "Message",
        &mut |name, value| {
            let slot = if name == "Code" {
                &mut code
            } else {
                &mut message
            };
            slot.get_or_insert(value);
        },
    );
    ApiError::new(code, message)
}

// ---------------------------------------------------------------------------------------
// CloudWatch Logs: AWS JSON 1.1.

/// The log reads of `logs` and the viewer.
pub type Logs = Client<LogsApi>;

/// Marks a [`Client`] as CloudWatch Logs'.
#[derive(Debug, Clone)]
pub enum LogsApi {}

impl ServiceApi for LogsApi {
    const SERVICE: Service = LOGS;
}

/// One log event of a FilterLogEvents page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEvent {
    #[serde(default)]
    pub event_id: String,
    #[serde(default)]
    pub log_stream_name: String,
    #[serde(default)]
    pub timestamp: i64,
    #[serde(default)]
    pub message: String,
}

/// A FilterLogEvents page.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogPage {
    #[serde(default)]
    pub events: Vec<LogEvent>,
    pub next_token: Option<String>,
}

impl Logs {
    /// One page of FilterLogEvents for `group` from `start_ms` on.
    pub async fn filter_log_events(
        &self,
        group: &str,
        start_ms: i64,
        next_token: Option<&str>,
    ) -> CallResult<LogPage> {
        let mut body = serde_json::json!({ "logGroupName": group, "startTime": start_ms });
        if let Some(token) = next_token {
            body["nextToken"] = token.into();
        }
        let call = Call {
            operation: "FilterLogEvents",
            content_type: "application/x-amz-json-1.1",
            target: Some("Logs_20140328.FilterLogEvents".into()),
            body: body.to_string(),
        };
        self.api
            .send(
                call,
                |body| {
                    serde_json::from_slice(body).map_err(|e| {
                        format!("FilterLogEvents' answer is not the documented JSON: {e}")
                    })
                },
                json_error,
            )
            .await
    }
}

/// A JSON protocol error: the code from `x-amzn-ErrorType` or the body's `__type` (or
/// `code`), without its namespace (`aws.logs#`) or URL suffix (`:http://...`); the message
/// from `message` or `Message`.
fn json_error(response: &HttpResponse) -> ApiError {
    let body: serde_json::Value =
        serde_json::from_slice(response.body().bytes().unwrap_or_default()).unwrap_or_default();
    let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let code = response
        .headers()
        .get("x-amzn-errortype")
        .map(str::to_owned)
        .or_else(|| text("__type"))
        .or_else(|| text("code"))
        .map(|c| {
            let c = c.split(':').next().unwrap_or_default();
            c.rsplit('#').next().unwrap_or_default().to_owned()
        })
        .filter(|c| !c.is_empty());
    ApiError::new(code, text("message").or_else(|| text("Message")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk(
        configure: impl FnOnce(aws_types::sdk_config::Builder) -> aws_types::sdk_config::Builder,
    ) -> SdkConfig {
        configure(SdkConfig::builder().region(aws_types::region::Region::new("eu-west-2"))).build()
    }

    #[test]
    fn endpoints_follow_the_generated_rules_for_the_aws_partition() {
        let plain = sdk(|b| b);
        assert_eq!(
            endpoint(IAM, &plain).unwrap(),
            Endpoint {
                url: "https://iam.amazonaws.com".into(),
                signing_region: "us-east-1".into()
            }
        );
        assert_eq!(
            endpoint(LOGS, &plain).unwrap(),
            Endpoint {
                url: "https://logs.eu-west-2.amazonaws.com".into(),
                signing_region: "eu-west-2".into()
            }
        );
        let fips = sdk(|b| b.use_fips(true));
        assert_eq!(
            endpoint(IAM, &fips).unwrap().url,
            "https://iam-fips.amazonaws.com"
        );
        assert_eq!(
            endpoint(LOGS, &fips).unwrap().url,
            "https://logs-fips.eu-west-2.amazonaws.com"
        );
        let dual = sdk(|b| b.use_dual_stack(true));
        assert_eq!(
            endpoint(IAM, &dual).unwrap().url,
            "https://iam.global.api.aws"
        );
        assert_eq!(
            endpoint(LOGS, &dual).unwrap().url,
            "https://logs.eu-west-2.api.aws"
        );
        let both = sdk(|b| b.use_dual_stack(true).use_fips(true));
        assert_eq!(
            endpoint(IAM, &both).unwrap().url,
            "https://iam-fips.global.api.aws"
        );
        assert_eq!(
            endpoint(LOGS, &both).unwrap().url,
            "https://logs-fips.eu-west-2.api.aws"
        );
    }

    #[test]
    fn a_configured_endpoint_wins_and_refuses_fips() {
        let custom = sdk(|b| b.endpoint_url("http://127.0.0.1:4566"));
        assert_eq!(
            endpoint(IAM, &custom).unwrap(),
            Endpoint {
                url: "http://127.0.0.1:4566".into(),
                signing_region: "eu-west-2".into()
            }
        );
        let fips = sdk(|b| b.endpoint_url("http://127.0.0.1:4566").use_fips(true));
        assert!(endpoint(LOGS, &fips)
            .unwrap_err()
            .contains("FIPS and custom endpoint"));
    }

    #[test]
    fn query_calls_are_form_encoded() {
        let call = query_call(
            "GetRolePolicy",
            &[("RoleName", "app-Role"), ("PolicyName", "a b/c")],
        );
        assert_eq!(
            call.body,
            "Action=GetRolePolicy&Version=2010-05-08&RoleName=app-Role&PolicyName=a+b%2Fc"
        );
    }
}
