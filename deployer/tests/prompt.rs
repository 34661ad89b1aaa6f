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
    let helper = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pty_ctrl_c.py");
    let out = tokio::process::Command::new("python3")
        .args([helper, "Type yes", "60", env!("CARGO_BIN_EXE_deployer")])
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
