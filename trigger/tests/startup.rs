//! The real binary refuses to start with a bad configuration, saying why in one JSON log line.

use std::process::Command;

fn start(config: Option<&str>) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bootstrap"));
    cmd.env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9");
    if let Some(config) = config {
        cmd.env("TRIGGER_CONFIG", config);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn error_line(output: &str) -> serde_json::Value {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no JSON error line in:\n{output}"))
}

#[test]
fn a_reserved_claim_in_the_configuration_stops_the_function_at_init() {
    let (code, output) = start(Some(
        r#"{"table":"t","claims":[{"attribute":"x","claim":"iss"}]}"#,
    ));
    assert_ne!(code, Some(0));
    let line = error_line(&output);
    assert_eq!(
        line["message"],
        "invalid configuration; the function will not start"
    );
    assert!(
        line["error"]
            .as_str()
            .unwrap()
            .contains("claims[0].claim `iss` cannot be used"),
        "{line}"
    );
}

#[test]
fn a_missing_configuration_says_where_it_comes_from() {
    let (code, output) = start(None);
    assert_ne!(code, Some(0));
    assert!(
        error_line(&output)["error"]
            .as_str()
            .unwrap()
            .contains("TRIGGER_CONFIG is not set"),
        "{output}"
    );
}
