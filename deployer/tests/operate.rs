//! Operating a deployed stack, on the suite's emulator: `logs` shows a login's line, `invoke`
//! answers for users with and without a row and for a machine client, `status` is in sync
//! after `up` and drifted (exit 4, naming the pool) once the pool's trigger is changed behind
//! the stack's back.

mod common;

use common::{deployer, deployer_with, Inputs};
use serde_json::{json, Value};

const PASSWORD: &str = "Corr3ct-Horse-Battery!";

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

#[tokio::test]
async fn logs_invoke_and_status_on_a_v3_stack() {
    let inputs = Inputs::new(json!({
        "eventVersion": "V3_0",
        "claims": [
            {"attribute": "projects", "tokens": "both", "type": "list"},
            {"attribute": "tier", "tokens": "access"}
        ]
    }));
    let up = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json();
    let pool = up["outputs"]["UserPoolId"].as_str().unwrap().to_owned();

    // status right after up: in sync, drift detection and the wiring checks both clean.
    let status = deployer(&inputs.path, &["status", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(status["inSync"], true, "{status}");
    assert_eq!(status["drift"]["status"], "IN_SYNC");
    assert_eq!(status["eventVersion"], "V3_0");
    assert_eq!(status["artifact"], up["artifact"]["key"]);
    assert!(status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true));

    // A login; then its line in the logs.
    deployer_with(
        &inputs.path,
        &[
            "users",
            "add",
            "jane",
            "--password-stdin",
            "--set",
            "projects=p-1,p-2",
        ],
        &[],
        Some(&format!("{PASSWORD}\n")),
    )
    .await
    .succeeded();
    common::token(&inputs.path, "jane", PASSWORD).await;
    let logs = deployer(
        &inputs.path,
        &["logs", "--user", "jane", "--output", "json"],
    )
    .await
    .succeeded();
    let lines = json_lines(&logs.stdout);
    assert!(
        !lines.is_empty(),
        "no line for jane's login:\n{}",
        logs.stderr
    );
    let last = lines.last().unwrap();
    assert_eq!(last["outcome"], "enriched");
    assert_eq!(last["key"], "jane");
    assert_eq!(last["version"], "V3_0");
    assert_eq!(last["claims"], json!(["projects"]));
    assert!(last["totalMs"].as_f64().unwrap() > 0.0);
    let people = deployer(&inputs.path, &["logs", "--user", "jane"])
        .await
        .succeeded();
    assert!(
        people.stdout.contains("enriched") && people.stdout.contains("user jane"),
        "{}",
        people.stdout
    );
    // --follow prints a new login's line as it comes, and Ctrl-C ends it (exit 130).
    let mut follow = tokio::process::Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["--local", "-f"])
        .arg(&inputs.path)
        .args([
            "logs", "--follow", "--since", "1s", "--user", "jane", "--output", "json",
        ])
        .env("DEPLOYER_PLAIN", "1")
        .env("DEPLOYER_POLL_MS", "200")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    common::token(&inputs.path, "jane", PASSWORD).await;
    let mut out = tokio::io::BufReader::new(follow.stdout.take().unwrap());
    let mut first = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::io::AsyncBufReadExt::read_line(&mut out, &mut first),
    )
    .await
    .expect("--follow printed the new login within 30 s")
    .unwrap();
    let line: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(line["key"], "jane");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(follow.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = tokio::time::timeout(std::time::Duration::from_secs(5), follow.wait())
        .await
        .expect("Ctrl-C ends --follow")
        .unwrap();
    assert_eq!(status.code(), Some(130));

    let nobody = deployer(
        &inputs.path,
        &["logs", "--user", "nobody", "--output", "json"],
    )
    .await
    .succeeded();
    assert!(nobody.stdout.trim().is_empty(), "{}", nobody.stdout);

    // invoke: a user with a row gets its claims, one without gets none.
    let invoked = deployer(
        &inputs.path,
        &["invoke", "--user", "jane", "--output", "json"],
    )
    .await
    .succeeded()
    .json();
    assert_eq!(invoked["idToken"]["projects"], json!(["p-1", "p-2"]));
    assert_eq!(invoked["accessToken"]["projects"], json!(["p-1", "p-2"]));
    assert_eq!(invoked["source"], "TokenGeneration_Authentication");
    assert_eq!(invoked["version"], "V3_0");
    assert_eq!(invoked["log"]["outcome"], "enriched");
    // A pool user made outside the deployer: no row in the table.
    common::pool_user(&pool, "bob", None).await;
    let bare = deployer(
        &inputs.path,
        &["invoke", "--user", "bob", "--output", "json"],
    )
    .await
    .succeeded()
    .json();
    assert_eq!(bare["idToken"], json!({}), "{bare}");
    assert_eq!(bare["accessToken"], json!({}));
    assert_eq!(bare["log"]["outcome"], "no_row");
    let ghost = deployer(&inputs.path, &["invoke", "--user", "ghost"]).await;
    assert_eq!(ghost.code, 2, "{}", ghost.stderr);
    assert!(ghost.stderr.contains("no user ghost"), "{}", ghost.stderr);

    // A machine client on V3_0: its row's claims in the access token.
    let client = deployer(
        &inputs.path,
        &[
            "clients",
            "add",
            "billing",
            "--set",
            "tier=gold",
            "--output",
            "json",
        ],
    )
    .await
    .succeeded()
    .json();
    let id = client["clientId"].as_str().unwrap();
    let m2m = deployer(
        &inputs.path,
        &["invoke", "--client", id, "--output", "json"],
    )
    .await
    .succeeded()
    .json();
    assert_eq!(m2m["source"], "TokenGeneration_ClientCredentials");
    assert_eq!(m2m["accessToken"]["tier"], "gold");
    assert_eq!(m2m["log"]["principal"], "client");

    // The pool's trigger removed behind the stack's back: status says drifted, exit 4.
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&common::sdk().await);
    cognito
        .update_user_pool()
        .user_pool_id(&pool)
        .lambda_config(aws_sdk_cognitoidentityprovider::types::LambdaConfigType::builder().build())
        .send()
        .await
        .unwrap();
    let drifted = deployer(&inputs.path, &["status"]).await;
    assert_eq!(drifted.code, 4, "{}\n{}", drifted.stdout, drifted.stderr);
    assert!(
        drifted.stdout.contains(&format!("UserPool ({pool})"))
            && drifted.stdout.contains("no pre-token-generation trigger"),
        "{}",
        drifted.stdout
    );
    deployer(&inputs.path, &["down"]).await.succeeded();
}

#[tokio::test]
async fn invoke_shows_the_denial_of_a_deny_policy_with_exit_4() {
    let inputs = Inputs::new(json!({"trigger": {"onMissingRow": "deny"}}));
    let up = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json();
    common::pool_user(up["outputs"]["UserPoolId"].as_str().unwrap(), "norow", None).await;
    let denied = deployer(
        &inputs.path,
        &["invoke", "--user", "norow", "--output", "json"],
    )
    .await;
    assert_eq!(denied.code, 4, "{}", denied.stderr);
    let report = denied.json();
    // What Cognito would show the user, and nothing about the table.
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("sign-in is not available for this account right now"),
        "{report}"
    );
    assert_eq!(report["log"]["outcome"], "denied_no_row");
    // A V2_0 stack cannot run a client-credentials event: refused before any call.
    let m2m = deployer(&inputs.path, &["invoke", "--client", "abc"]).await;
    assert_eq!(m2m.code, 2, "{}", m2m.stderr);
    assert!(m2m.stderr.contains("V3_0"), "{}", m2m.stderr);
    deployer(&inputs.path, &["down"]).await.succeeded();
}
