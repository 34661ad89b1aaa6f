//! Mocked AWS for the engine's tests: clients built from aws-smithy-mocks rules with the
//! deployer's own retry settings (only the first backoff shortened), and AWS's answers
//! replayed as the services send them, so the SDK's real deserializers and retry classifier
//! read them. Each helper cites where the answer's shape is documented.

#![allow(dead_code)]

use aws_sdk_cloudformation::types::{
    Change, ChangeSetStatus, Output, ResourceChange, Stack, StackEvent, StackStatus, Tag,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleBuilder, RuleMode};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::DateTime;
use deployer::aws::wire::{ApiError, Call};
use deployer::aws::Clients;
use deployer::build::{Artifact, BuildTarget};
use deployer::cancel::Activity;
use deployer::commands::up::{self, UpOptions};
use deployer::ctx::Ctx;
use deployer::inputs::StackInputs;
use deployer::progress::{Poll, Progress};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

pub const ACCOUNT: &str = "111122223333";
pub const ROLE_ARN: &str = "arn:aws:sts::111122223333:assumed-role/ci-deployer/run-42";
pub const STACK: &str = "app";
/// The permissions boundary `deployer bootstrap` makes for the `app` project in us-east-1.
pub const BOUNDARY_ARN: &str =
    "arn:aws:iam::111122223333:policy/deployer/app-trigger-boundary-us-east-1";
pub const STACK_ID: &str =
    "arn:aws:cloudformation:us-east-1:111122223333:stack/app/6d9b1e20-aaaa-11ef-9e1a-0affd0f1a2b3";

/// Rules per service. Rules of one service are matched in any order; a sequence rule gives
/// its answers in order. A call no rule matches fails the test (`must_match`).
#[derive(Default, Clone)]
pub struct Mocks {
    pub cfn: Vec<Rule>,
    pub s3: Vec<Rule>,
    pub sts: Vec<Rule>,
    pub cognito: Vec<Rule>,
    pub lambda: Vec<Rule>,
    pub iam: Vec<Rule>,
    pub dynamodb: Vec<Rule>,
    pub logs: Vec<Rule>,
}

/// The deployer's retry settings, with a 1 ms first backoff so retries do not slow the suite.
fn retry() -> aws_config::retry::RetryConfig {
    deployer::aws::retry_config().with_initial_backoff(Duration::from_millis(1))
}

impl Mocks {
    /// The account's identity: every command asks STS first.
    pub fn new() -> Self {
        let mut m = Self::default();
        m.sts.push(
            mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
                aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput::builder()
                    .account(ACCOUNT)
                    .arn(ROLE_ARN)
                    .build()
            }),
        );
        // `deployer bootstrap` made the project's boundary (IAM API reference, GetPolicy).
        m.iam.push(
            wire("GetPolicy")
                .sequence()
                .http_response(|| {
                    iam_answer(
                        "GetPolicy",
                        &format!("<Policy><Arn>{BOUNDARY_ARN}</Arn><DefaultVersionId>v1</DefaultVersionId></Policy>"),
                    )
                })
                .repeatedly()
                .build(),
        );
        // Its default version is the one this deployer writes (IAM API reference,
        // GetPolicyVersion: the document "is URL-encoded compliant with RFC 3986").
        m.iam.push(
            wire("GetPolicyVersion")
                .sequence()
                .http_response(|| boundary_version(&current_boundary()))
                .repeatedly()
                .build(),
        );
        m
    }

    pub fn clients(&self) -> Clients {
        self.build(false)
    }

    /// Clients whose credential chain finds nothing, as on a runner with no profile or role.
    pub fn clients_without_credentials(&self) -> Clients {
        self.build(true)
    }

    fn build(&self, no_credentials: bool) -> Clients {
        macro_rules! client {
            ($krate:ident, $rules:expr) => {{
                let rules: Vec<&Rule> = $rules.iter().collect();
                mock_client!($krate, RuleMode::MatchAny, rules, |c| {
                    let c = c
                        .retry_config(retry())
                        .region(aws_config::Region::new("us-east-1"));
                    if no_credentials {
                        c.credentials_provider(NoCredentials)
                    } else {
                        c
                    }
                })
            }};
        }
        // IAM and Logs are called through the SDK's runtime (aws/wire.rs): the same mock
        // interceptor and HTTP client, on an SdkConfig with the same settings.
        let wire = wire_config(no_credentials);
        let identities = deployer::aws::wire::identity_cache(&wire);
        Clients::from_parts(
            client!(aws_sdk_cloudformation, self.cfn),
            client!(aws_sdk_s3, self.s3),
            client!(aws_sdk_sts, self.sts),
            client!(aws_sdk_cognitoidentityprovider, self.cognito),
            client!(aws_sdk_lambda, self.lambda),
            deployer::aws::wire::Iam::new(&wire, identities.clone())
                .with_interceptor(interceptor(&self.iam)),
            client!(aws_sdk_dynamodb, self.dynamodb),
            deployer::aws::wire::Logs::new(&wire, identities)
                .with_interceptor(interceptor(&self.logs)),
            "us-east-1",
            Some("ci"),
        )
    }
}

/// The configuration the wire clients are built from in tests: the mock HTTP client, test
/// credentials (or none), the deployer's retry settings.
fn wire_config(no_credentials: bool) -> aws_config::SdkConfig {
    use aws_credential_types::provider::SharedCredentialsProvider;
    let credentials = if no_credentials {
        SharedCredentialsProvider::new(NoCredentials)
    } else {
        SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
            "ANOTREAL",
            "notrealrnrELgWzOk3IfjzDKtFBhDby",
            None,
            None,
            "test",
        ))
    };
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .http_client(aws_smithy_mocks::create_mock_http_client())
        .retry_config(retry())
        .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .build()
}

/// aws-smithy-mocks' interceptor with `rules`, any order, every call matched.
fn interceptor(rules: &[Rule]) -> aws_smithy_runtime_api::client::interceptors::SharedInterceptor {
    let mut i = aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        i = i.with_rule(rule);
    }
    aws_smithy_runtime_api::client::interceptors::SharedInterceptor::new(i)
}

/// A rule for one IAM or Logs operation sent through aws/wire.rs; its answer is replayed as
/// the service sends it (`then_http_response`), so the deployer's own parsing reads it.
pub fn wire(operation: &'static str) -> RuleBuilder<Call, (), ApiError> {
    RuleBuilder::new().match_requests(move |c: &Call| c.operation == operation)
}

/// An IAM answer in the Query protocol's envelope, as the API reference's examples show it
/// (e.g. API_ListRolePolicies.html: `<ListRolePoliciesResponse><ListRolePoliciesResult>...`).
pub fn iam_answer(operation: &str, result: &str) -> HttpResponse {
    let body = format!(
        r#"<{operation}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <{operation}Result>{result}</{operation}Result>
  <ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata>
</{operation}Response>"#
    );
    let mut response = HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body));
    response.headers_mut().insert("content-type", "text/xml");
    response
}

/// The boundary `deployer bootstrap` writes for project `app` in us-east-1.
pub fn current_boundary() -> serde_json::Value {
    let scope = deployer::policy::Scope {
        partition: "aws".into(),
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        prefix: STACK.into(),
        table: None,
        role: deployer::policy::Role::Deployer,
        code_signing: None,
        existing_pool: None,
        api: false,
    };
    deployer::policy::boundary_document(&scope, deployer::policy::Kind::Base)
}

/// GetPolicyVersion's answer holding `document`, URL-encoded as IAM sends it.
pub fn boundary_version(document: &serde_json::Value) -> HttpResponse {
    let encoded: String = document
        .to_string()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    iam_answer(
        "GetPolicyVersion",
        &format!("<PolicyVersion><Document>{encoded}</Document><VersionId>v1</VersionId><IsDefaultVersion>true</IsDefaultVersion></PolicyVersion>"),
    )
}

/// A FilterLogEvents page as the API reference's response syntax gives it.
pub fn log_page(events: &[(&str, &str, i64, &str)], next_token: Option<&str>) -> HttpResponse {
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|(id, stream, ts, message)| {
            serde_json::json!({"eventId": id, "logStreamName": stream, "timestamp": ts,
                "ingestionTime": ts + 40, "message": message})
        })
        .collect();
    let mut body = serde_json::json!({ "events": events, "searchedLogStreams": [] });
    if let Some(token) = next_token {
        body["nextToken"] = token.into();
    }
    let mut response = HttpResponse::new(
        StatusCode::try_from(200).unwrap(),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    response
}

/// A credentials chain that finds nothing (the SDK's own "no providers in chain" outcome).
#[derive(Debug)]
struct NoCredentials;

impl aws_credential_types::provider::ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded(
                "no providers in chain provided credentials",
            ),
        ))
    }
}

/// An error as CloudFormation (and STS, IAM: the awsQuery protocol) sends it. Shape: the API
/// reference's "Common Errors"; e.g. throttling, in ansible/ansible-modules-core#224:
/// `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded`.
pub fn query_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(
        r#"<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <Error>
    <Type>Sender</Type>
    <Code>{code}</Code>
    <Message>{message}</Message>
  </Error>
  <RequestId>2ab5db0d-5bca-11e4-9592-272cff50ba2d</RequestId>
</ErrorResponse>"#
    );
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response.headers_mut().insert("content-type", "text/xml");
    response
}

/// An error as Cognito, DynamoDB and the other awsJson services send it.
pub fn json_error(status: u16, code: &str, message: &str) -> HttpResponse {
    let body = format!(r#"{{"__type":"{code}","message":"{message}"}}"#);
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    response
}

/// An S3 error: a REST-XML body, or none for HEAD requests.
pub fn s3_error(status: u16, code: Option<&str>) -> HttpResponse {
    let body = match code {
        Some(code) => SdkBody::from(format!(
            "<Error><Code>{code}</Code><Message>{code}</Message><RequestId>R</RequestId></Error>"
        )),
        None => SdkBody::empty(),
    };
    let mut response = HttpResponse::new(StatusCode::try_from(status).unwrap(), body);
    response
        .headers_mut()
        .insert("content-type", "application/xml");
    response
}

/// DescribeStacks for a stack that does not exist. API reference, DescribeStacks: "If the
/// stack doesn't exist, a ValidationError is returned" (message as rusoto's recorded fixture
/// cloudformation-cancel-update-stack.xml shows the form).
pub fn no_such_stack() -> HttpResponse {
    query_error(400, "ValidationError", "Stack with id app does not exist")
}

/// A stack as DescribeStacks returns it.
pub fn stack(status: StackStatus, outputs: &[(&str, &str)], tags: &[(&str, &str)]) -> Stack {
    let mut b = Stack::builder()
        .stack_name(STACK)
        .stack_id(STACK_ID)
        .stack_status(status)
        .creation_time(DateTime::from_secs(1_795_000_000));
    for (k, v) in outputs {
        b = b.outputs(Output::builder().output_key(*k).output_value(*v).build());
    }
    for (k, v) in tags {
        b = b.tags(Tag::builder().key(*k).value(*v).build());
        // The deployer's stacks carry the fingerprint parameter from the first change set on,
        // even when a failed create left no outputs.
        if *k == "managed-by" {
            b = b.parameters(
                aws_sdk_cloudformation::types::Parameter::builder()
                    .parameter_key("DeployFingerprint")
                    .parameter_value("p")
                    .build(),
            );
        }
    }
    b.build()
}

/// The stack's resources (ListStackResources), as `(logical id, type, physical id)`.
pub fn resources(
    list: &[(&str, &str, &str)],
) -> aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput {
    let mut b =
        aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput::builder(
        );
    for (logical, kind, physical) in list {
        b = b.stack_resource_summaries(
            aws_sdk_cloudformation::types::StackResourceSummary::builder()
                .logical_resource_id(*logical)
                .resource_type(*kind)
                .physical_resource_id(*physical)
                .resource_status("CREATE_COMPLETE".into())
                .last_updated_timestamp(DateTime::from_secs(1_795_000_000))
                .build(),
        );
    }
    b.build()
}

pub fn described(
    stack: Stack,
) -> aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput {
    aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput::builder()
        .stacks(stack)
        .build()
}

/// A stack event.
pub fn event(n: u32, logical: &str, kind: &str, status: &str, reason: &str) -> StackEvent {
    StackEvent::builder()
        .stack_id(STACK_ID)
        .stack_name(STACK)
        .event_id(format!("ev-{n}"))
        .logical_resource_id(logical)
        .resource_type(kind)
        .resource_status(status.into())
        .resource_status_reason(reason)
        .timestamp(DateTime::from_secs(1_795_000_000 + i64::from(n)))
        .build()
}

/// DescribeStackEvents output, newest first as CloudFormation lists them.
pub fn events(
    mut list: Vec<StackEvent>,
) -> aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput {
    list.reverse();
    aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput::builder()
        .set_stack_events(Some(list))
        .build()
}

/// A change set's status and changes (DescribeChangeSet).
pub fn change_set(
    status: ChangeSetStatus,
    reason: Option<&str>,
    changes: &[(&str, &str, &str)],
) -> aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput {
    let mut b =
        aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput::builder()
            .change_set_id("arn:aws:cloudformation:us-east-1:111122223333:changeSet/deployer/1")
            .stack_id(STACK_ID)
            .status(status)
            .set_status_reason(reason.map(str::to_owned));
    for (action, logical, kind) in changes {
        b = b.changes(
            Change::builder()
                .resource_change(
                    ResourceChange::builder()
                        .action((*action).into())
                        .logical_resource_id(*logical)
                        .resource_type(*kind)
                        .build(),
                )
                .build(),
        );
    }
    b.build()
}

/// The inputs every engine test deploys.
pub fn inputs() -> StackInputs {
    StackInputs::parse(
        r#"{"stackName": "app", "userPoolDomainName": "app-login", "region": "us-east-1", "lifecycle": "disposable"}"#,
        "test.json",
    )
    .unwrap()
}

/// A trigger zip already built: in this machine's cache (a temp folder kept alive by the
/// caller) under the trigger's real source key, where `up` looks before building.
pub fn artifact(dir: &tempfile::TempDir) -> Artifact {
    let paths = paths_in(dir.path());
    let target = BuildTarget::Graviton;
    let key =
        deployer::build::source_key(&deployer::build::workspace(), &target, &paths.cache).unwrap();
    let origin = deployer::build::Origin::LocalCache;
    deployer::build::store(&paths, &target, &key, b"PK pretend zip", origin).unwrap()
}

/// The deployer's folders with the cache at `cache`.
pub fn paths_in(cache: &std::path::Path) -> deployer::local::Paths {
    deployer::local::Paths {
        cache: cache.to_owned(),
        venv: cache.join("venv"),
        local: cache.join("local"),
    }
}

/// The cache `artifact` made the zip in (`<cache>/artifacts/<zip>`).
fn cache_of(artifact: &Artifact) -> &std::path::Path {
    artifact.path.parent().and_then(|p| p.parent()).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn bucket() -> String {
    format!("deployer-artifacts-{ACCOUNT}-us-east-1")
}

pub fn key(artifact: &Artifact) -> String {
    format!("{STACK}/trigger-{}.zip", artifact.sha256)
}

/// The fingerprint `up` must compute for `inputs()` and `artifact`, worked out here from its
/// definition (SHA-256 of the template, then "parameters" and "tags", each entry as its
/// length-prefixed key and value, little-endian u64 lengths; the first 32 hex digits), not by
/// the code under test, so a change in what the fingerprint covers fails the tests.
pub fn fingerprint(artifact: &Artifact) -> String {
    let inputs = inputs();
    let template = deployer::render::render(&inputs).unwrap();
    let parameters = BTreeMap::from([
        ("ArtifactBucket".to_owned(), bucket()),
        ("ArtifactKey".to_owned(), key(artifact)),
        ("PoolDeletionProtection".to_owned(), "INACTIVE".to_owned()),
        ("TableDeletionProtection".to_owned(), "false".to_owned()),
    ]);
    let mut tags = inputs.stack_tags();
    tags.remove("deployer:expires-at");
    let mut hash = Sha256::new();
    hash.update(template.as_bytes());
    for (section, map) in [("parameters", &parameters), ("tags", &tags)] {
        hash.update(section.as_bytes());
        for (k, v) in map {
            for part in [k, v] {
                hash.update((part.len() as u64).to_le_bytes());
                hash.update(part.as_bytes());
            }
        }
    }
    hex(&hash.finalize())[..32].to_owned()
}

/// The outputs of a deployed `app` stack.
pub fn outputs(fingerprint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("UserPoolId", "us-east-1_Abc123".into()),
        (
            "UserPoolArn",
            "arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_Abc123".into(),
        ),
        ("UserPoolClientId", "client123".into()),
        ("TableName", "app-users".into()),
        ("FunctionName", "app-pretoken".into()),
        (
            "FunctionArn",
            "arn:aws:lambda:us-east-1:111122223333:function:app-pretoken".into(),
        ),
        (
            "TriggerArn",
            "arn:aws:lambda:us-east-1:111122223333:function:app-pretoken:live".into(),
        ),
        ("EventVersion", "V2_0".into()),
        ("StackName", STACK.into()),
        ("Region", "us-east-1".into()),
        ("DeployFingerprint", fingerprint.into()),
    ]
}

/// A deployed stack of ours in `status`, deployed with `fingerprint`.
pub fn ours(status: StackStatus, fingerprint: &str) -> Stack {
    let outputs = outputs(fingerprint);
    let outputs: Vec<(&str, &str)> = outputs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    stack(
        status,
        &outputs,
        &[
            ("managed-by", "deployer"),
            ("deployer:lifecycle", "disposable"),
        ],
    )
}

/// What the wiring checks read after a deploy, as a correctly wired stack running `artifact`
/// answers.
pub fn wiring(m: &mut Mocks, artifact: &Artifact) {
    wiring_with(
        m,
        artifact,
        aws_sdk_cognitoidentityprovider::types::PreTokenGenerationLambdaVersionType::V20,
    );
}

/// The same, with the pool calling the trigger with `version`.
pub fn wiring_with(
    m: &mut Mocks,
    artifact: &Artifact,
    version: aws_sdk_cognitoidentityprovider::types::PreTokenGenerationLambdaVersionType,
) {
    use aws_sdk_cognitoidentityprovider::types::{
        LambdaConfigType, PreTokenGenerationVersionConfigType, UserPoolType,
    };
    // The pool calls the function's alias (a published version), and the code and permission
    // are read through it (Lambda API reference, GetFunction and GetPolicy: Qualifier).
    let function_arn = "arn:aws:lambda:us-east-1:111122223333:function:app-pretoken:live";
    let code_sha256 = deployer::artifacts::checksum(&artifact.sha256);
    m.cognito.push(
        mock!(aws_sdk_cognitoidentityprovider::Client::describe_user_pool).then_output(move || {
            aws_sdk_cognitoidentityprovider::operation::describe_user_pool::DescribeUserPoolOutput::builder()
                .user_pool(
                    UserPoolType::builder()
                        .id("us-east-1_Abc123")
                        .lambda_config(
                            LambdaConfigType::builder()
                                .pre_token_generation_config(
                                    PreTokenGenerationVersionConfigType::builder()
                                        .lambda_arn(function_arn)
                                        .lambda_version(version.clone())
                                        .build()
                                        .unwrap(),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build()
        }),
    );
    m.lambda.push(
        mock!(aws_sdk_lambda::Client::get_function)
            .match_requests(|r| r.qualifier() == Some("live"))
            .then_output(move || {
                aws_sdk_lambda::operation::get_function::GetFunctionOutput::builder()
                    .configuration(
                        aws_sdk_lambda::types::FunctionConfiguration::builder()
                            .function_name("app-pretoken")
                            .code_size(2_700_000)
                            .code_sha256(code_sha256.clone())
                            .role("arn:aws:iam::111122223333:role/app-pretoken")
                            .build(),
                    )
                    .build()
            }),
    );
    // GetAlias (Lambda API reference): the version it runs and no RoutingConfig.
    m.lambda.push(
        mock!(aws_sdk_lambda::Client::get_alias)
            .match_requests(|r| r.name() == Some("live"))
            .then_output(|| {
                aws_sdk_lambda::operation::get_alias::GetAliasOutput::builder()
                    .name("live")
                    .function_version("2")
                    .build()
            }),
    );
    // The unqualified function has no policy of its own (Lambda API reference, GetPolicy:
    // ResourceNotFoundException, 404).
    m.lambda.push(
        mock!(aws_sdk_lambda::Client::get_policy)
            .match_requests(|r| r.qualifier().is_none())
            .then_http_response(|| {
                let mut r = json_error(
                    404,
                    "ResourceNotFoundException",
                    "The resource you requested does not exist.",
                );
                r.headers_mut()
                    .insert("x-amzn-errortype", "ResourceNotFoundException");
                r
            }),
    );
    m.lambda.push(mock!(aws_sdk_lambda::Client::get_policy)
        .match_requests(|r| r.qualifier() == Some("live"))
        .then_output(|| {
        aws_sdk_lambda::operation::get_policy::GetPolicyOutput::builder()
            .policy(r#"{"Statement":[{"Sid":"s","Effect":"Allow","Principal":{"Service":"cognito-idp.amazonaws.com"},"Action":"lambda:InvokeFunction","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_Abc123"},"StringEquals":{"AWS:SourceAccount":"111122223333"}}}]}"#)
            .build()
    }));
    m.iam
        .push(wire("ListAttachedRolePolicies").then_http_response(|| {
            iam_answer(
                "ListAttachedRolePolicies",
                "<IsTruncated>false</IsTruncated><AttachedPolicies/>",
            )
        }));
    m.iam.push(wire("ListRolePolicies").then_http_response(|| {
        iam_answer(
            "ListRolePolicies",
            "<PolicyNames><member>read-user-row</member></PolicyNames><IsTruncated>false</IsTruncated>",
        )
    }));
    // IAM sends the document URL-encoded (API_GetRolePolicy.html: "The policy document
    // returned in this structure is URL-encoded compliant with RFC 3986").
    m.iam.push(wire("GetRolePolicy").then_http_response(|| {
        let document = r#"{"Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:us-east-1:111122223333:table/app-users"},{"Effect":"Allow","Action":["logs:CreateLogStream","logs:PutLogEvents"],"Resource":"arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/app-pretoken:*"}]}"#;
        let encoded: String = url::form_urlencoded::byte_serialize(document.as_bytes()).collect();
        iam_answer(
            "GetRolePolicy",
            &format!("<RoleName>app-pretoken</RoleName><PolicyName>read-user-row</PolicyName><PolicyDocument>{}</PolicyDocument>", encoded.replace('+', "%20")),
        )
    }));
    // The role carries the project's boundary (IAM API reference, GetRole: Role.PermissionsBoundary).
    m.iam.push(wire("GetRole").then_http_response(|| {
        iam_answer(
            "GetRole",
            &format!("<Role><RoleName>app-pretoken</RoleName><PermissionsBoundary><PermissionsBoundaryType>Policy</PermissionsBoundaryType><PermissionsBoundaryArn>{BOUNDARY_ARN}</PermissionsBoundaryArn></PermissionsBoundary></Role>"),
        )
    }));
    table_there(m);
}

/// DescribeTable finds the stack's table.
pub fn table_there(m: &mut Mocks) {
    m.dynamodb.push(
        mock!(aws_sdk_dynamodb::Client::describe_table).then_output(|| {
            aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput::builder()
                .table(
                    aws_sdk_dynamodb::types::TableDescription::builder()
                        .table_arn("arn:aws:dynamodb:us-east-1:111122223333:table/app-users")
                        .build(),
                )
                .build()
        }),
    );
}

/// Every S3 call names the account as the bucket's expected owner.
pub fn owner_checked(owner: Option<&str>) -> bool {
    owner == Some(ACCOUNT)
}

/// The S3 calls of a first upload: the bucket (made by `deployer bootstrap`) is there, the
/// object is put with its checksum, then the stack's artifacts are tagged by use. Every rule
/// checks the expected bucket owner.
pub fn first_upload(m: &mut Mocks) {
    bucket_exists(m);
    new_object(m);
    tagging(m);
}

/// The lifecycle rules: only artifacts tagged superseded expire, and shared builds (under
/// `_builds/`, which no stack's artifacts are), after 90 days.
pub fn lifecycle(m: &mut Mocks) {
    m.s3.push(
        mock!(aws_sdk_s3::Client::put_bucket_lifecycle_configuration)
            .match_requests(|r| {
                let superseded = |rule: &aws_sdk_s3::types::LifecycleRule| {
                    rule.filter().and_then(|f| f.tag()).is_some_and(|t| {
                        t.key() == "deployer-state" && t.value() == "superseded"
                    })
                };
                let builds = |rule: &aws_sdk_s3::types::LifecycleRule| {
                    rule.filter().and_then(|f| f.prefix()) == Some("_builds/")
                        && rule.expiration().and_then(|e| e.days()) == Some(90)
                };
                owner_checked(r.expected_bucket_owner())
                    && r.lifecycle_configuration().is_some_and(|c| {
                        c.rules().iter().any(superseded)
                            && c.rules().iter().all(|rule| superseded(rule) || builds(rule))
                    })
            })
            .then_output(|| {
                aws_sdk_s3::operation::put_bucket_lifecycle_configuration::PutBucketLifecycleConfigurationOutput::builder().build()
            }),
    );
}

/// The zip is not in the bucket yet: HeadObject finds nothing, PutObject stores it with its
/// SHA-256 (S3 checks it on arrival), owner-checked.
pub fn new_object(m: &mut Mocks) {
    m.s3.push(
        mock!(aws_sdk_s3::Client::head_object)
            .match_requests(|r| owner_checked(r.expected_bucket_owner()))
            .then_http_response(|| s3_error(404, None)),
    );
    m.s3.push(
        mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| {
                owner_checked(r.expected_bucket_owner())
                    && r.checksum_sha256().is_some_and(|c| c.ends_with('='))
            })
            .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build()),
    );
}

/// After a deploy the stack's artifacts are listed and tagged by use.
pub fn tagging(m: &mut Mocks) {
    m.s3.push(
        mock!(aws_sdk_s3::Client::list_objects_v2)
            .match_requests(|r| owner_checked(r.expected_bucket_owner()))
            .then_output(|| {
                aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output::builder().build()
            }),
    );
    m.s3.push(
        mock!(aws_sdk_s3::Client::put_object_tagging)
            .match_requests(|r| owner_checked(r.expected_bucket_owner()))
            .then_output(|| {
                aws_sdk_s3::operation::put_object_tagging::PutObjectTaggingOutput::builder().build()
            }),
    );
}

/// The bucket exists and is ours.
pub fn bucket_exists(m: &mut Mocks) {
    m.s3.push(
        mock!(aws_sdk_s3::Client::head_bucket)
            .match_requests(|r| owner_checked(r.expected_bucket_owner()))
            .then_output(|| {
                aws_sdk_s3::operation::head_bucket::HeadBucketOutput::builder().build()
            }),
    );
}

/// No table of the stack's table name exists (DynamoDB API reference, DescribeTable:
/// ResourceNotFoundException), however often it is asked.
pub fn no_table(m: &mut Mocks) {
    m.dynamodb.push(
        mock!(aws_sdk_dynamodb::Client::describe_table)
            .match_requests(|r| r.table_name() == Some("app-users"))
            .then_http_response(table_not_found),
    );
}

/// No table before the create; the one the stack made afterwards (for the wiring checks,
/// whose rule must come after this one).
pub fn no_table_yet(m: &mut Mocks) {
    m.dynamodb.push(
        mock!(aws_sdk_dynamodb::Client::describe_table)
            .match_requests(|r| r.table_name() == Some("app-users"))
            .sequence()
            .http_response(table_not_found)
            .build(),
    );
}

fn table_not_found() -> HttpResponse {
    json_error(
        400,
        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
        "Requested resource not found: Table: app-users not found",
    )
}

/// The engine's context over mocked clients, polling without waiting.
pub struct Harness {
    pub clients: Clients,
    pub progress: Progress,
    pub activity: Activity,
}

impl Harness {
    pub fn new(mocks: &Mocks) -> Self {
        Self {
            clients: mocks.clients(),
            progress: Progress::plain(),
            activity: Activity::default(),
        }
    }

    pub fn without_credentials(mocks: &Mocks) -> Self {
        Self {
            clients: mocks.clients_without_credentials(),
            progress: Progress::plain(),
            activity: Activity::default(),
        }
    }

    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            clients: &self.clients,
            progress: &self.progress,
            activity: &self.activity,
            poll: Poll::immediate(),
        }
    }

    /// `up` (or `plan` with `dry_run`) on `inputs()` with the given zip.
    pub async fn up(
        &self,
        artifact: &Artifact,
        dry_run: bool,
        wait: Duration,
    ) -> Result<up::UpReport, deployer::error::Error> {
        self.up_with(artifact, dry_run, wait, |_| {}).await
    }

    /// `up` with options changed by `change` (adopt, allow_replace).
    pub async fn up_with(
        &self,
        artifact: &Artifact,
        dry_run: bool,
        wait: Duration,
        change: impl FnOnce(&mut UpOptions),
    ) -> Result<up::UpReport, deployer::error::Error> {
        self.up_inputs(&inputs(), artifact, dry_run, wait, change)
            .await
    }

    /// `up` of other inputs.
    pub async fn up_inputs(
        &self,
        inputs: &StackInputs,
        artifact: &Artifact,
        dry_run: bool,
        wait: Duration,
        change: impl FnOnce(&mut UpOptions),
    ) -> Result<up::UpReport, deployer::error::Error> {
        let paths = paths_in(cache_of(artifact));
        let mut options = UpOptions {
            dry_run,
            wait_timeout: wait,
            trigger: BuildTarget::Graviton,
            adopt: false,
            allow_replace: false,
            confirm: up::Confirm::Never,
            publish: false,
            bootstrap_itself: false,
            replace_trigger: false,
            api_bundle: None,
        };
        change(&mut options);
        up::up(self.ctx(), &paths, inputs, &options).await
    }
}

/// The deployed `app` stack's references, as the identity commands read them.
pub fn refs() -> deployer::identity::refs::StackRefs {
    deployer::identity::refs::StackRefs {
        stack: "app".into(),
        pool_id: "us-east-1_EXAMPLE".into(),
        client_id: "client".into(),
        table: "app-users".into(),
        partition_key: "userName".into(),
        user_key_attribute: None,
        domain: "app-login".into(),
        region: "us-east-1".into(),
        event_version: "V2_0".into(),
        function: "app-pretoken".into(),
        trigger: "arn:aws:lambda:us-east-1:111122223333:function:app-pretoken:live".into(),
        endpoint: None,
        api_endpoint: None,
        authorizer: None,
    }
}
