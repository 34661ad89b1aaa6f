//! The DynamoDB path without AWS: mocked clients for found / missing / throttled / refused,
//! and a loopback listener that never answers for the deadline.

use aws_sdk_dynamodb::operation::get_item::{GetItemError, GetItemOutput};
use aws_sdk_dynamodb::types::error::ProvisionedThroughputExceededException;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use std::time::{Duration, Instant};
use trigger::config::TriggerConfig;
use trigger::store::{sdk_timeouts, DynamoStore, PrincipalStore, StoreError};

fn config() -> TriggerConfig {
    TriggerConfig::from_json(
        r#"{"table":"UserInfoTable","claims":[{"attribute":"projects"},{"attribute":"name","tokens":"both"}],
            "groups":{"attribute":"groups"},"lookupTimeoutMs":300}"#,
    )
    .unwrap()
}

#[tokio::test]
async fn found_reads_one_item_by_key_with_only_the_mapped_attributes_its_owner_and_kind() {
    let rule = mock!(Client::get_item)
        .match_requests(|req| {
            req.table_name() == Some("UserInfoTable")
                && req.key().and_then(|k| k.get("userName"))
                    == Some(&AttributeValue::S("jane".into()))
                && req.projection_expression() == Some("#a0, #a1, #a2, #a3, #a4")
                && req.expression_attribute_names().map(|n| {
                    (
                        n["#a0"].as_str(),
                        n["#a1"].as_str(),
                        n["#a2"].as_str(),
                        n["#a3"].as_str(),
                        n["#a4"].as_str(),
                    )
                }) == Some(("projects", "name", "groups", "sub", "deployer:principal"))
                && req.consistent_read() == Some(true)
        })
        .then_output(|| {
            GetItemOutput::builder()
                .item("projects", AttributeValue::S("p-1".into()))
                .build()
        });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule]);
    let row = DynamoStore::new(client, &config())
        .get("jane")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row["projects"], AttributeValue::S("p-1".into()));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn missing_is_none() {
    let rule = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, [&rule]);
    assert!(DynamoStore::new(client, &config())
        .get("nobody")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn throttling_is_reported_as_throttled_with_its_code() {
    let rule = mock!(Client::get_item).then_error(|| {
        GetItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("slow down")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_dynamodb, [&rule]);
    let err = DynamoStore::new(client, &config())
        .get("jane")
        .await
        .unwrap_err();
    match err {
        StoreError::Throttled { table, code } => {
            assert_eq!(table, "UserInfoTable");
            assert_eq!(code, "ProvisionedThroughputExceededException");
        }
        other => panic!("expected throttled, got {other:?}"),
    }
}

/// A DynamoDB JSON error as the service sends it, replayed through the real deserializer.
fn service_error(code: &'static str, message: &'static str) -> HttpResponse {
    let body =
        format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{message}"}}"#);
    let mut response = HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body));
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.0");
    response
}

#[tokio::test]
async fn a_missing_table_is_a_service_error_naming_code_and_table() {
    let rule = mock!(Client::get_item).then_http_response(|| {
        service_error("ResourceNotFoundException", "Requested resource not found")
    });
    let client = mock_client!(aws_sdk_dynamodb, [&rule]);
    let err = DynamoStore::new(client, &config())
        .get("jane")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "DynamoDB refused the read on UserInfoTable: ResourceNotFoundException: Requested resource not found"
    );
}

/// A mocked client with the production retry and timeout settings.
fn production_like(rule: &aws_smithy_mocks::Rule) -> Client {
    let (timeouts, retries) = sdk_timeouts(config().lookup_timeout());
    mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [rule], |b| b
        .retry_config(retries.clone())
        .timeout_config(timeouts.clone()))
}

#[tokio::test]
async fn throttling_is_retried_inside_the_budget() {
    let rule = mock!(Client::get_item)
        .sequence()
        .http_response(|| service_error("ThrottlingException", "Rate exceeded"))
        .times(2)
        .output(|| {
            GetItemOutput::builder()
                .item("projects", AttributeValue::S("p-1".into()))
                .build()
        })
        .build();
    let row = DynamoStore::new(production_like(&rule), &config())
        .get("jane")
        .await
        .unwrap();
    assert!(row.is_some());
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn throttling_that_persists_is_reported_as_throttled_after_three_attempts() {
    let rule = mock!(Client::get_item)
        .sequence()
        .http_response(|| service_error("ThrottlingException", "Rate exceeded"))
        .repeatedly()
        .build();
    let err = DynamoStore::new(production_like(&rule), &config())
        .get("jane")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Throttled { ref code, .. } if code == "ThrottlingException"),
        "{err:?}"
    );
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn a_table_that_never_answers_times_out_within_the_budget_retries_included() {
    // A loopback listener that accepts connections and never writes a byte.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let cfg = config();
    let (timeouts, retries) = sdk_timeouts(cfg.lookup_timeout());
    let sdk = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
        .endpoint_url(format!("http://{addr}"))
        .http_client(trigger::store::https_client())
        .timeout_config(timeouts)
        .retry_config(retries)
        .build();
    let started = Instant::now();
    let err = DynamoStore::new(Client::from_conf(sdk), &cfg)
        .get("jane")
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    hold.abort();
    assert!(matches!(err, StoreError::Timeout { .. }), "{err:?}");
    // Not a timing assertion on speed: a correctness bound that the deadline held at all
    // (300 ms budget; anything near Cognito's 5 s would be the bug this guards against).
    assert!(
        elapsed < Duration::from_secs(3),
        "the deadline did not hold: {elapsed:?}"
    );
}

#[test]
fn the_compiled_in_amazon_roots_make_a_working_https_client() {
    // Panics if the embedded PEM bundle were not valid certificates.
    let _client = trigger::store::https_client();
    let pem = include_str!("../certs/amazon-roots.pem");
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 5);
}

/// A loopback DynamoDB that records each request's head and answers an empty GetItem.
fn recording_endpoint() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut head, mut length) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).ok();
            record.lock().unwrap().push(head);
            let reply = "{}";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, seen)
}

fn lambda_env(extra: &[(&'static str, String)]) -> impl Fn(&str) -> Option<String> {
    let mut vars: std::collections::HashMap<&str, String> = [
        ("AWS_REGION", "eu-west-2".to_owned()),
        ("AWS_ACCESS_KEY_ID", "ASIALAMBDAROLE".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "secret".to_owned()),
        ("AWS_SESSION_TOKEN", "session-token".to_owned()),
    ]
    .into_iter()
    .collect();
    vars.extend(extra.iter().cloned());
    move |name| vars.get(name).cloned()
}

#[tokio::test]
async fn the_client_signs_with_the_lambda_role_from_the_environment_and_honours_the_endpoint() {
    let (url, seen) = recording_endpoint();
    let env = lambda_env(&[
        ("AWS_ENDPOINT_URL_DYNAMODB", url.clone()),
        // The service's own variable wins over the global one.
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".to_owned()),
    ]);
    let cfg = config();
    let sdk = trigger::store::sdk_config(
        env,
        sdk_timeouts(Duration::from_secs(2)),
        trigger::store::https_client(),
    )
    .unwrap();
    assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-2"));
    let got = DynamoStore::new(Client::from_conf(sdk), &cfg)
        .get("jane")
        .await
        .unwrap();
    assert!(got.is_none());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let head = seen[0].to_ascii_lowercase();
    assert!(
        head.contains("credential=asialambdarole/")
            && head.contains("/eu-west-2/dynamodb/aws4_request"),
        "{head}"
    );
    assert!(
        head.contains("x-amz-security-token: session-token"),
        "{head}"
    );
    assert!(
        head.contains("x-amz-target: dynamodb_20120810.getitem"),
        "{head}"
    );
}

#[test]
fn a_missing_region_or_role_credential_refuses_to_start_naming_it() {
    for name in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        let full = lambda_env(&[]);
        let env = move |n: &str| if n == name { None } else { full(n) };
        let err = trigger::store::sdk_config(
            env,
            sdk_timeouts(Duration::from_secs(2)),
            trigger::store::https_client(),
        )
        .unwrap_err();
        assert!(
            err.to_string().starts_with(&format!("{name} is not set")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn configured_endpoints_can_be_ignored_as_in_every_sdk() {
    let (url, seen) = recording_endpoint();
    let env = lambda_env(&[
        ("AWS_ENDPOINT_URL", url),
        ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true".to_owned()),
    ]);
    let sdk = trigger::store::sdk_config(
        env,
        sdk_timeouts(Duration::from_millis(300)),
        trigger::store::https_client(),
    )
    .unwrap();
    // Offline here: the call to DynamoDB's own endpoint fails; the loopback hears nothing.
    let _ = DynamoStore::new(Client::from_conf(sdk), &config())
        .get("jane")
        .await;
    assert!(seen.lock().unwrap().is_empty());
}
