//! The question a destructive `up` asks at a terminal: Ctrl-C at it ends the run with exit 130
//! there and then, without waiting for Enter, nothing is executed, and the change set it had
//! prepared is removed. Run in a
//! pseudo-terminal against ministack, as a person would meet it.

mod common;

use common::{Emu, Inputs};
use serde_json::json;

#[tokio::test]
async fn ctrl_c_at_the_destructive_change_question_ends_the_run_at_once() {
    let emu = Emu::ministack();
    let inputs = Inputs::new(json!({"lifecycle": "kept"}));
    emu.bootstrap(&inputs.path).await;
    emu.run(&inputs.path, &["up"]).await.succeeded();
    // Kept to disposable is a downgrade: at a terminal, `up` asks before executing it.
    inputs.rewrite(json!({"lifecycle": "disposable"}));
    let helper = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/terminal.py");
    let out = tokio::process::Command::new("python3")
        .args([
            helper,
            "Type yes",
            "60",
            "ctrl-c",
            "--",
            env!("CARGO_BIN_EXE_deployer"),
        ])
        .args(["--endpoint-url", &emu.endpoint, "-f"])
        .arg(&inputs.path)
        .arg("up")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("DEPLOYER_PLAIN", "1")
        .env("DEPLOYER_POLL_MS", "100")
        .env_remove("CI")
        .env_remove("AWS_PROFILE")
        .output()
        .await
        .expect("python3 runs the pseudo-terminal helper");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PROMPTED=True"), "never asked:\n{text}");
    // Killed at the helper's limit (-9) means the question held the process until Enter.
    assert!(text.contains("EXIT=130"), "{text}");
    assert!(text.contains("interrupted"), "{text}");
    assert!(text.contains("the change set was removed"), "{text}");
    // Nothing ran: the stack is still the kept one.
    let cfn = aws_sdk_cloudformation::Client::new(&emu.sdk().await);
    let stacks = cfn
        .describe_stacks()
        .stack_name(&inputs.stack)
        .send()
        .await
        .unwrap();
    let stack = &stacks.stacks()[0];
    let lifecycle = stack
        .tags()
        .iter()
        .find(|t| t.key() == Some("deployer:lifecycle"));
    assert_eq!(lifecycle.and_then(|t| t.value()), Some("kept"));
    assert_eq!(
        stack.stack_status().map(|s| s.as_str()),
        Some("UPDATE_COMPLETE")
    );
    inputs.rewrite(json!({"lifecycle": "kept"}));
    emu.run(&inputs.path, &["down", "--force"])
        .await
        .succeeded();
}

/// At a terminal, `users add` of a new user and `token` ask for the password with echo off
/// (nothing piped, no variable set), as a person expects; the password never shows.
#[tokio::test]
async fn at_a_terminal_the_password_is_asked_for_with_echo_off() {
    let emu = Emu::ministack();
    let inputs = Inputs::new(
        json!({"claims": [{"attribute": "projects", "tokens": "both", "type": "list"}]}),
    );
    emu.bootstrap(&inputs.path).await;
    emu.run(&inputs.path, &["up"]).await.succeeded();
    let password = "Typed-at-the-tty-7";
    let answer = |prompt: &'static str, args: &'static [&'static str]| {
        let (endpoint, path) = (emu.endpoint.clone(), inputs.path.clone());
        async move {
            let helper = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/terminal.py");
            let out = tokio::process::Command::new("python3")
                .args([helper, prompt, "60", "answer", password, "--"])
                .arg(env!("CARGO_BIN_EXE_deployer"))
                .args(["--endpoint-url", &endpoint, "-f"])
                .arg(&path)
                .args(args)
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_REGION", "us-east-1")
                .env("DEPLOYER_PLAIN", "1")
                .env_remove("CI")
                .env_remove("DEPLOYER_PASSWORD")
                .output()
                .await
                .expect("python3 runs the pseudo-terminal helper");
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let added = answer(
        "password for henry (empty: generate one): ",
        &["users", "add", "henry", "--set", "projects=p1,p2"],
    )
    .await;
    assert!(added.contains("ANSWERED=True EXIT=0"), "{added}");
    assert!(added.contains("user henry created"), "{added}");
    assert!(
        !added.contains(password),
        "the password was echoed:\n{added}"
    );
    let token = answer("password for henry: ", &["token", "henry"]).await;
    assert!(token.contains("ANSWERED=True EXIT=0"), "{token}");
    assert!(token.contains("p1"), "the claims from the row: {token}");
    assert!(
        !token.contains(password),
        "the password was echoed:\n{token}"
    );
    emu.run(&inputs.path, &["down"]).await.succeeded();
}

/// Ctrl-C at a password question ends the run at once (exit 130) and gives the terminal its
/// echo back (the question had turned it off).
#[tokio::test]
async fn ctrl_c_at_a_password_question_ends_the_run_and_keeps_the_terminal_usable() {
    let emu = Emu::ministack();
    let inputs = Inputs::new(json!({}));
    emu.bootstrap(&inputs.path).await;
    emu.run(&inputs.path, &["up"]).await.succeeded();
    let helper = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/terminal.py");
    let out = tokio::process::Command::new("python3")
        .args([helper, "password for nobody: ", "60", "ctrl-c", "--"])
        .arg(env!("CARGO_BIN_EXE_deployer"))
        .args(["--endpoint-url", &emu.endpoint, "-f"])
        .arg(&inputs.path)
        .args(["token", "nobody"])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("CI")
        .env_remove("DEPLOYER_PASSWORD")
        .output()
        .await
        .expect("python3 runs the pseudo-terminal helper");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PROMPTED=True EXIT=130"), "{text}");
    assert!(
        text.contains("ECHO=True"),
        "the terminal was left without echo: {text}"
    );
    emu.run(&inputs.path, &["down"]).await.succeeded();
}
