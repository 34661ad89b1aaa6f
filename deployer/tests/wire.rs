//! IAM's and CloudWatch Logs' reads, sent through the SDK's runtime by `aws/wire.rs` instead of
//! the generated crates. Two kinds of test: the requests as they leave (a recording HTTP
//! client: endpoint, protocol, SigV4 scope), and AWS's documented answers replayed with
//! aws-smithy-mocks through the code that reads them (paging, retries, errors). Sources:
//! - IAM Query protocol: API_ListRolePolicies.html, API_ListAttachedRolePolicies.html and
//!   API_GetRolePolicy.html (sample requests and responses, `IsTruncated`/`Marker` paging,
//!   the URL-encoded policy document); CommonErrors.html (`Throttling`, `AccessDenied`,
//!   HTTP 400/403, in the `<ErrorResponse><Error><Code>` envelope).
//! - CloudWatch Logs: API_FilterLogEvents.html ("If the results don't include a nextToken,
//!   then pagination is finished"; pages may be empty while a token remains; the
//!   `ResourceNotFoundException` error, HTTP 400); CommonErrors.html (`ThrottlingException`).

mod mocks;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_http_client::test_util::infallible_client_fn;
use aws_smithy_types::body::SdkBody;
use deployer::aws::wire::{self, Iam, Logs};
use deployer::aws::ErrorKind;
use deployer::logs;
use mocks::*;
use std::sync::{Arc, Mutex};

/// A request as it left the client.
#[derive(Debug, Clone)]
struct Sent {
    uri: String,
    method: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Sent {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// SigV4 with the test credentials, scoped to `region/service`.
    fn assert_signed_for(&self, scope: &str) {
        let auth = self.header("authorization").unwrap_or_default();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDWIRETEST/")
                && auth.contains(&format!("/{scope}/aws4_request")),
            "{auth}"
        );
    }
}

/// An SdkConfig whose HTTP client records each request and answers it with `answer`.
fn recording(
    region: &str,
    endpoint: Option<&str>,
    status: u16,
    answer: &'static str,
) -> (aws_config::SdkConfig, Arc<Mutex<Vec<Sent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let http = infallible_client_fn(move |req: http::Request<SdkBody>| {
        log.lock().unwrap().push(Sent {
            uri: req.uri().to_string(),
            method: req.method().to_string(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect(),
            body: String::from_utf8_lossy(req.body().bytes().unwrap_or_default()).into_owned(),
        });
        http::Response::builder()
            .status(status)
            .body(SdkBody::from(answer))
            .unwrap()
    });
    let mut config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDWIRETEST",
            "secret",
            Some("session-token".into()),
            None,
            "test",
        )))
        .retry_config(
            deployer::aws::retry_config().with_initial_backoff(std::time::Duration::from_millis(1)),
        )
        .http_client(http);
    if let Some(url) = endpoint {
        config = config.endpoint_url(url);
    }
    (config.build(), seen)
}

const ROLE_POLICIES: &str = r#"<ListRolePoliciesResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <ListRolePoliciesResult>
    <PolicyNames><member>read-user-row</member><member>write-logs</member></PolicyNames>
    <IsTruncated>false</IsTruncated>
  </ListRolePoliciesResult>
  <ResponseMetadata><RequestId>8c7e1816-99f0-11e1-a4c3-27EXAMPLE804</RequestId></ResponseMetadata>
</ListRolePoliciesResponse>"#;

#[tokio::test]
async fn iam_reads_are_signed_query_calls_to_the_global_endpoint() {
    let (sdk, seen) = recording("eu-west-2", None, 200, ROLE_POLICIES);
    let iam = Iam::new(&sdk, wire::identity_cache(&sdk));
    let names = iam.role_policy_names("app-TriggerRole-X").await.unwrap();
    assert_eq!(names, ["read-user-row", "write-logs"]);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let sent = &seen[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.uri, "https://iam.amazonaws.com/");
    assert_eq!(
        sent.body,
        "Action=ListRolePolicies&Version=2010-05-08&RoleName=app-TriggerRole-X"
    );
    assert_eq!(
        sent.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    // IAM is global: signed for us-east-1 whatever the region.
    sent.assert_signed_for("us-east-1/iam");
    assert_eq!(sent.header("x-amz-security-token"), Some("session-token"));
    assert!(sent.header("x-amz-date").is_some());
    assert!(sent.header("amz-sdk-invocation-id").is_some());
    let agent = sent.header("x-amz-user-agent").unwrap_or_default();
    assert!(agent.contains("api/iam/deployer-"), "{agent}");
}

#[tokio::test]
async fn log_reads_are_signed_json_calls_to_the_regional_endpoint() {
    let (sdk, seen) = recording(
        "eu-west-2",
        None,
        200,
        r#"{"events":[{"logStreamName":"2026/11/24/[$LATEST]abc","timestamp":1795000000000,"message":"{\"outcome\":\"ok\"}","ingestionTime":1795000000040,"eventId":"3790"}],"searchedLogStreams":[]}"#,
    );
    let logs = Logs::new(&sdk, wire::identity_cache(&sdk));
    let page = logs
        .filter_log_events("/aws/lambda/app-pretoken", 1_795_000_000_000, None)
        .await
        .unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].event_id, "3790");
    assert_eq!(page.events[0].log_stream_name, "2026/11/24/[$LATEST]abc");
    assert_eq!(page.events[0].timestamp, 1_795_000_000_000);
    assert_eq!(page.next_token, None);

    let seen = seen.lock().unwrap();
    let sent = &seen[0];
    assert_eq!(sent.uri, "https://logs.eu-west-2.amazonaws.com/");
    assert_eq!(
        sent.header("x-amz-target"),
        Some("Logs_20140328.FilterLogEvents")
    );
    assert_eq!(
        sent.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    let body: serde_json::Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"logGroupName": "/aws/lambda/app-pretoken", "startTime": 1_795_000_000_000i64})
    );
    sent.assert_signed_for("eu-west-2/logs");
}

#[tokio::test]
async fn a_configured_endpoint_gets_the_calls_signed_for_the_region() {
    let (sdk, seen) = recording(
        "us-east-1",
        Some("http://127.0.0.1:4566"),
        200,
        ROLE_POLICIES,
    );
    let iam = Iam::new(&sdk, wire::identity_cache(&sdk));
    iam.role_policy_names("r").await.unwrap();
    assert_eq!(seen.lock().unwrap()[0].uri, "http://127.0.0.1:4566/");
}

#[tokio::test]
async fn a_throttled_iam_read_is_retried_with_the_standard_strategy() {
    let (sdk, seen) = recording(
        "us-east-1",
        None,
        400,
        r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>"#,
    );
    let iam = Iam::new(&sdk, wire::identity_cache(&sdk));
    let err = iam.role_policy("r", "p").await.unwrap_err();
    // Every attempt the deployer allows was made: Throttling is a retryable code.
    assert_eq!(
        seen.lock().unwrap().len(),
        deployer::aws::MAX_ATTEMPTS as usize
    );
    let err = deployer::aws::AwsError::from_sdk("iam", "GetRolePolicy", err);
    assert_eq!(err.kind, ErrorKind::Throttled);
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        ("Throttling", "Rate exceeded")
    );
}

#[tokio::test]
async fn role_policy_names_follow_the_marker_until_not_truncated() {
    let mut m = Mocks::new();
    m.iam.push(
        wire("ListRolePolicies")
            .match_requests(|c| c.operation == "ListRolePolicies" && !c.body.contains("Marker="))
            .then_http_response(|| {
                iam_answer(
                    "ListRolePolicies",
                    "<PolicyNames><member>one</member></PolicyNames><IsTruncated>true</IsTruncated><Marker>AAE+page/2</Marker>",
                )
            }),
    );
    m.iam.push(
        wire("ListRolePolicies")
            .match_requests(|c| c.body.ends_with("&Marker=AAE%2Bpage%2F2"))
            .then_http_response(|| {
                iam_answer(
                    "ListRolePolicies",
                    "<PolicyNames><member>two</member></PolicyNames><IsTruncated>false</IsTruncated>",
                )
            }),
    );
    let clients = m.clients();
    let names = clients
        .iam
        .role_policy_names("app-TriggerRole-X")
        .await
        .unwrap();
    assert_eq!(names, ["one", "two"]);
}

#[tokio::test]
async fn a_marker_that_does_not_move_ends_the_paging() {
    let mut m = Mocks::new();
    let stuck = wire("ListRolePolicies")
        .sequence()
        .http_response(|| {
            iam_answer(
                "ListRolePolicies",
                "<PolicyNames><member>one</member></PolicyNames><IsTruncated>true</IsTruncated><Marker>same</Marker>",
            )
        })
        .repeatedly()
        .build();
    m.iam.push(stuck.clone());
    let names = m.clients().iam.role_policy_names("r").await.unwrap();
    assert_eq!(names, ["one", "one"]);
    assert_eq!(stuck.num_calls(), 2);

    let mut m = Mocks::new();
    let stuck = wire("FilterLogEvents")
        .sequence()
        .http_response(|| log_page(&[], Some("same")))
        .repeatedly()
        .build();
    m.logs.push(stuck.clone());
    logs::fetch(&m.clients(), "/aws/lambda/app-pretoken", 0)
        .await
        .unwrap();
    assert_eq!(stuck.num_calls(), 2);
}

#[tokio::test]
async fn attached_policies_are_read_by_arn() {
    let mut m = Mocks::new();
    m.iam.push(wire("ListAttachedRolePolicies").then_http_response(|| {
        iam_answer(
            "ListAttachedRolePolicies",
            "<AttachedPolicies><member><PolicyName>AdministratorAccess</PolicyName><PolicyArn>arn:aws:iam::aws:policy/AdministratorAccess</PolicyArn></member></AttachedPolicies><IsTruncated>false</IsTruncated>",
        )
    }));
    let arns = m
        .clients()
        .iam
        .attached_role_policies("app-TriggerRole-X")
        .await
        .unwrap();
    assert_eq!(arns, ["arn:aws:iam::aws:policy/AdministratorAccess"]);
}

#[tokio::test]
async fn a_denied_iam_read_names_the_action_and_the_caller() {
    let mut m = Mocks::new();
    m.iam.push(wire("GetRolePolicy").then_http_response(|| {
        query_error(
            403,
            "AccessDenied",
            "User: arn:aws:sts::111122223333:assumed-role/ci-deployer/run-42 is not authorized to perform: iam:GetRolePolicy on resource: role app-TriggerRole-X because no identity-based policy allows the iam:GetRolePolicy action",
        )
    }));
    let clients = m.clients();
    let err = clients
        .iam
        .role_policy("app-TriggerRole-X", "read-user-row")
        .await
        .map_err(|e| clients.err("iam", "GetRolePolicy", e))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::AccessDenied);
    let help = err.advice().unwrap();
    assert!(help.contains("iam:GetRolePolicy"), "{help}");
    assert!(help.contains("profile ci"), "{help}");
}

#[tokio::test]
async fn no_credentials_is_reported_before_any_call() {
    let mut m = Mocks::new();
    // The mock matches before signing; the answer is never sent for want of credentials.
    m.logs
        .push(wire("FilterLogEvents").then_http_response(|| log_page(&[], None)));
    let clients = m.clients_without_credentials();
    let err = clients
        .logs
        .filter_log_events("/aws/lambda/app-pretoken", 0, None)
        .await
        .map_err(|e| clients.err("logs", "FilterLogEvents", e))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NoCredentials, "{err:?}");
}

#[tokio::test]
async fn log_pages_are_read_to_the_last_token_and_put_in_time_order() {
    let mut m = Mocks::new();
    m.logs.push(
        wire("FilterLogEvents")
            .match_requests(|c| !c.body.contains("nextToken"))
            .then_http_response(|| {
                log_page(
                    &[("2", "s", 2_000, "b"), ("3", "s", 3_000, "c")],
                    Some("t1"),
                )
            }),
    );
    // An empty page with a token: "Partially full or empty pages don't necessarily mean that
    // pagination is finished".
    m.logs.push(
        wire("FilterLogEvents")
            .match_requests(|c| c.body.contains(r#""nextToken":"t1""#))
            .then_http_response(|| log_page(&[], Some("t2"))),
    );
    m.logs.push(
        wire("FilterLogEvents")
            .match_requests(|c| c.body.contains(r#""nextToken":"t2""#))
            .then_http_response(|| log_page(&[("1", "s", 1_000, "a")], None)),
    );
    let events = logs::fetch(&m.clients(), "/aws/lambda/app-pretoken", 0)
        .await
        .unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
}

#[tokio::test]
async fn a_log_group_not_made_yet_is_no_events() {
    let mut m = Mocks::new();
    m.logs.push(wire("FilterLogEvents").then_http_response(|| {
        json_error(
            400,
            "ResourceNotFoundException",
            "The specified log group does not exist.",
        )
    }));
    let events = logs::fetch(&m.clients(), "/aws/lambda/app-pretoken", 0)
        .await
        .unwrap();
    assert!(events.is_empty());
}

#[tokio::test]
async fn throttled_log_reads_are_retried_then_reported_as_throttling() {
    let mut m = Mocks::new();
    let throttled = wire("FilterLogEvents")
        .sequence()
        .http_response(|| json_error(400, "ThrottlingException", "Rate exceeded"))
        .times(2)
        .http_response(|| log_page(&[("1", "s", 1_000, "a")], None))
        .build();
    m.logs.push(throttled.clone());
    let events = logs::fetch(&m.clients(), "/aws/lambda/app-pretoken", 0)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(throttled.num_calls(), 3);

    let mut m = Mocks::new();
    m.logs.push(
        wire("FilterLogEvents")
            .sequence()
            .http_response(|| json_error(400, "ThrottlingException", "Rate exceeded"))
            .repeatedly()
            .build(),
    );
    let err = logs::fetch(&m.clients(), "/aws/lambda/app-pretoken", 0)
        .await
        .unwrap_err();
    match err {
        deployer::error::Error::Aws(e) => {
            assert_eq!(e.kind, ErrorKind::Throttled);
            assert_eq!(e.code, "ThrottlingException");
        }
        other => panic!("expected a throttling error, got {other:?}"),
    }
}
