//! Ctrl-C on a real `deployer up`: while it waits for another operation on the stack, SIGINT
//! ends it with exit 130 and a message that says what CloudFormation is doing and what the
//! next run will do. The stack is kept busy by a small fake endpoint on loopback that answers
//! STS and CloudFormation (query protocol) as AWS does, so no emulator is needed.

use axum::extract::Form;
use axum::response::IntoResponse;
use axum::Router;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const STACK_ID: &str =
    "arn:aws:cloudformation:us-east-1:111122223333:stack/app/6d9b1e20-aaaa-11ef-9e1a-0affd0f1a2b3";

/// One answer per Action: who the caller is, and a stack of the deployer's (its tag and its
/// fingerprint parameter) that another operation is updating.
async fn aws(Form(form): Form<HashMap<String, String>>) -> impl IntoResponse {
    let body = match form.get("Action").map(String::as_str) {
        Some("GetCallerIdentity") => r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/ci</Arn><UserId>AIDAEXAMPLE</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#.to_owned(),
        Some("DescribeStacks") => format!(r#"<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member><StackName>app</StackName><StackId>{STACK_ID}</StackId><CreationTime>2026-11-23T10:00:00Z</CreationTime><StackStatus>UPDATE_IN_PROGRESS</StackStatus><Parameters><member><ParameterKey>DeployFingerprint</ParameterKey><ParameterValue>f</ParameterValue></member></Parameters><Tags><member><Key>managed-by</Key><Value>deployer</Value></member></Tags></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>2</RequestId></ResponseMetadata></DescribeStacksResponse>"#),
        Some("DescribeStackEvents") => r#"<DescribeStackEventsResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStackEventsResult><StackEvents></StackEvents></DescribeStackEventsResult><ResponseMetadata><RequestId>3</RequestId></ResponseMetadata></DescribeStackEventsResponse>"#.to_owned(),
        other => panic!("the fake endpoint got an unexpected call: {other:?}"),
    };
    ([("content-type", "text/xml")], body)
}

#[tokio::test]
async fn ctrl_c_during_the_wait_ends_with_130_and_says_what_happens_next() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, Router::new().fallback(axum::routing::post(aws)))
            .await
            .unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("stack-inputs.json");
    std::fs::write(
        &inputs,
        r#"{"stackName": "app", "userPoolDomainName": "app-login", "region": "us-east-1"}"#,
    )
    .unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["--endpoint-url", &endpoint, "-f"])
        .arg(&inputs)
        .args(["up", "--wait-timeout", "1h"])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("DEPLOYER_CACHE_DIR", dir.path())
        .env("DEPLOYER_PLAIN", "1")
        .env_remove("AWS_PROFILE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    // Until the deployer says it waits for the other operation.
    loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the deployer said nothing for a minute")
            .unwrap()
            .unwrap_or_else(|| panic!("the deployer ended before waiting:\n{}", seen.join("\n")));
        let waiting = line.contains("waiting for that operation to finish");
        seen.push(line);
        if waiting {
            break;
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    // Not a speed assertion: without the cancellation path the wait (an hour) would go on.
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the deployer did not stop after SIGINT")
        .unwrap();
    while let Ok(Some(line)) = lines.next_line().await {
        seen.push(line);
    }
    let stderr = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr
            .contains("waiting for another operation on stack app (last seen UPDATE_IN_PROGRESS)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the next `deployer up` waits for it again"),
        "{stderr}"
    );
}
