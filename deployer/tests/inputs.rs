//! Bad input of every kind is refused before any AWS call, with the JSON path, the value and
//! the rule, and exit code 2. These run `render`, which never touches AWS.

use std::process::Command;

fn render(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack-inputs.json");
    std::fs::write(&path, text).unwrap();
    // An endpoint nothing listens on: a bug that called AWS would fail differently.
    let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["--endpoint-url", "http://127.0.0.1:9", "-f"])
        .arg(&path)
        .arg("render")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn rejected(text: &str, expect: &[&str]) {
    let (code, stdout, stderr) = render(text);
    assert_eq!(code, 2, "expected exit 2 for {text}\nstderr: {stderr}");
    assert!(
        stdout.is_empty(),
        "nothing on stdout for bad input: {stdout}"
    );
    for e in expect {
        assert!(stderr.contains(e), "stderr lacks {e:?}:\n{stderr}");
    }
}

const OK: &str = r#"{"stackName": "demo", "userPoolDomainName": "demo-login"}"#;

#[test]
fn the_shortest_inputs_render_and_the_shipped_file_is_valid() {
    let (code, stdout, stderr) = render(OK);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("AWS::Cognito::UserPool"));
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../stack-inputs.json"))
            .unwrap();
    deployer::inputs::StackInputs::parse(&shipped, "stack-inputs.json").unwrap();
}

#[test]
fn malformed_json_points_at_line_and_column() {
    rejected("{\n  \"stackName\": \"demo\",\n  \"userPoolDomainName\": \"x\"\n  \"region\": \"us-east-1\"\n}", &["not valid JSON", "line 4", "fix the JSON"]);
}

#[test]
fn unknown_fields_are_named_with_their_path() {
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "colour": "red"}"#,
        &["unknown field `colour`"],
    );
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "trigger": {"memory": 256}}"#,
        &[
            "trigger",
            "unknown field `memory`",
            "stack-inputs.schema.json",
        ],
    );
}

#[test]
fn wrong_types_and_missing_fields_name_the_field() {
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "trigger": {"memoryMb": "lots"}}"#,
        &["trigger.memoryMb", "invalid type"],
    );
    rejected(
        r#"{"userPoolDomainName": "demo-login"}"#,
        &["missing field `stackName`"],
    );
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "eventVersion": "V9_0"}"#,
        &["eventVersion", "unknown variant `V9_0`"],
    );
}

#[test]
fn names_break_their_service_rules() {
    rejected(
        r#"{"stackName": "1demo", "userPoolDomainName": "demo-login"}"#,
        &["stackName: \"1demo\"", "a letter"],
    );
    rejected(
        r#"{"stackName": "demo_stack", "userPoolDomainName": "demo-login"}"#,
        &["stackName"],
    );
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "Demo"}"#,
        &["userPoolDomainName: \"Demo\"", "lower-case"],
    );
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "my-cognito-login"}"#,
        &["reserved words aws, amazon or cognito"],
    );
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "table": {"name": "a b"}}"#,
        &["table.name: \"a b\"", "DynamoDB table name"],
    );
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "region": "mars"}"#,
        &["region: \"mars\""],
    );
}

#[test]
fn reserved_and_duplicate_claims_are_refused() {
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "claims": [{"attribute": "x", "claim": "sub"}]}"#,
        &["claims[0].claim: \"sub\"", "will not let a trigger"],
    );
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "claims": [{"attribute": "t", "claim": "dev:team"}]}"#,
        &["claims[0].claim", "dev:"],
    );
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "claims": [{"attribute": "a", "claim": "c"}, {"attribute": "b", "claim": "c"}]}"#,
        &["claims[1].claim: \"c\"", "already mapped into the ID token"],
    );
}

#[test]
fn impossible_combinations_are_refused() {
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "eventVersion": "V2_0", "featurePlan": "LITE"}"#,
        &[
            "featurePlan: \"LITE\"",
            "need the ESSENTIALS or PLUS feature plan",
        ],
    );
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "eventVersion": "V1_0", "claims": [{"attribute": "role", "tokens": "access"}]}"#,
        &[
            "claims[0].tokens",
            "V1_0 trigger can change the ID token only",
        ],
    );
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "trigger": {"timeoutSeconds": 2, "lookupTimeoutMs": 2500}}"#,
        &["trigger.lookupTimeoutMs", "before the function's timeout"],
    );
}

#[test]
fn limits_and_urls_are_checked_and_every_broken_rule_is_listed_at_once() {
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login",
            "trigger": {"memoryMb": 64, "logRetentionDays": 10},
            "callbackUrls": ["http://example.com/cb"],
            "tags": {"aws:owner": "me"}}"#,
        &[
            "breaks 4 rules",
            "trigger.memoryMb: 64",
            "trigger.logRetentionDays: 10",
            "callbackUrls[0]: \"http://example.com/cb\"",
            "tags.aws:owner",
        ],
    );
}

#[test]
fn a_missing_inputs_file_says_how_to_pass_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["-f", "/nonexistent/stack-inputs.json", "render"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read /nonexistent/stack-inputs.json")
            && stderr.contains("-f/--inputs"),
        "{stderr}"
    );
}

#[test]
fn the_shipped_schema_is_generated_from_the_types() {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../stack-inputs.schema.json"
    ))
    .unwrap();
    // Compared as JSON values: key order depends on serde_json features the test build unifies.
    let shipped: serde_json::Value = serde_json::from_str(&shipped).unwrap();
    let generated: serde_json::Value = serde_json::from_str(&deployer::inputs::schema()).unwrap();
    assert_eq!(shipped, generated, "stack-inputs.schema.json is stale: run `cargo run -p deployer -- schema > stack-inputs.schema.json`");
}

#[test]
fn the_deployers_own_tag_keys_are_refused_in_any_letter_case() {
    // A kept stack tagged ephemeral by its inputs would be fair game for gc; a foreign
    // managed-by tag would pass for the deployer's.
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login",
            "tags": {"deployer:ephemeral": "true", "Deployer:Expires-At": "2000-01-01T00:00:00Z", "MANAGED-BY": "deployer"}}"#,
        &[
            "breaks 3 rules",
            "tags.deployer:ephemeral",
            "tags.Deployer:Expires-At",
            "tags.MANAGED-BY",
            "the deployer's own tag keys",
        ],
    );
}

#[test]
fn down_from_an_outputs_file_checks_the_stack_name_before_calling_aws() {
    let dir = tempfile::tempdir().unwrap();
    for (outputs, expect) in [
        (
            r#"{"StackName": "prod-identity; rm -rf /", "Region": "us-east-1"}"#,
            "is not a stack name",
        ),
        (
            r#"{"StackName": "app", "Region": "us-east-"}"#,
            "is not an AWS region",
        ),
        (r#"{"Region": "us-east-1"}"#, "has no StackName"),
    ] {
        let file = dir.path().join("outputs.json");
        std::fs::write(&file, outputs).unwrap();
        // An endpoint nothing listens on: calling AWS would fail with exit 1, not 2.
        let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
            .args([
                "--endpoint-url",
                "http://127.0.0.1:9",
                "down",
                "--from-outputs",
            ])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{outputs}: {stderr}");
        assert!(stderr.contains(expect), "{outputs}: {stderr}");
    }
}

/// Runs the deployer on the smallest valid inputs with extra arguments, against an endpoint
/// nothing listens on (a call to AWS would fail with exit 1, not 2).
fn run_with(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack-inputs.json");
    std::fs::write(&path, OK).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["--endpoint-url", "http://127.0.0.1:9", "-f"])
        .arg(&path)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_region_outside_the_aws_partition_is_refused_before_any_call_from_any_source() {
    for region in ["cn-north-1", "us-gov-west-1"] {
        let (code, stderr) = run_with(&["--region", region, "plan"]);
        assert_eq!(code, 2, "{region}: {stderr}");
        assert!(
            stderr.contains(&format!("{region} is in the aws-"))
                && stderr.contains("the deployer supports regions of the aws partition only"),
            "{stderr}"
        );
    }
}

#[test]
fn an_ephemeral_suffix_is_checked_with_the_names_it_makes() {
    // The suffix is fine on its own; the domain it makes holds a reserved word.
    let (code, stderr) = run_with(&["--suffix", "aws1", "render"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("ephemeral copy, suffix aws1")
            && stderr.contains("userPoolDomainName: \"demo-login-aws1\"")
            && stderr.contains("[domain-reserved-words]"),
        "{stderr}"
    );
    // A ttl that would overflow the clock is refused as input, not a panic.
    let (code, stderr) = run_with(&["--suffix", "t1", "--ttl", "99999999999d", "render"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--ttl"), "{stderr}");
}

/// A region given as --region is held to the inputs' rules, in their words, before any call,
/// with the closest known name; the same value in the inputs gets the same message.
#[test]
fn a_mistyped_region_is_refused_the_same_way_from_the_flag_and_from_the_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack-inputs.json");
    std::fs::write(&path, OK).unwrap();
    for (region, says) in [
        ("us-est-1", "us-est-1 is not a region of the aws partition; did you mean us-east-1? (a region AWS launched after this deployer was built: pass --unlisted-region"),
        ("useast1", "\"useast1\" is not an AWS region name such as us-east-1 or eu-west-2; did you mean us-east-1?"),
        ("cn-north-1", "cn-north-1 is in the aws-cn partition"),
    ] {
        // An endpoint nothing listens on: a call would fail differently.
        let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
            .args(["--endpoint-url", "http://127.0.0.1:9", "--region", region, "-f"])
            .arg(&path)
            .arg("status")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{region}: {stderr}");
        assert!(stderr.contains(says), "{region}: {stderr}");
        assert!(!stderr.contains("127.0.0.1:9"), "no call was made: {stderr}");
        rejected(&OK.replace('}', &format!(r#", "region": "{region}"}}"#)), &[says]);
    }
    // A --region other than the inputs' is said before anything is done in it (its first
    // line; the run is then stopped: the endpoint answers nothing).
    std::fs::write(&path, OK.replace('}', r#", "region": "us-east-1"}"#)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args([
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            "us-east-2",
            "-f",
        ])
        .arg(&path)
        .arg("status")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("DEPLOYER_PLAIN", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stderr.take().unwrap()),
        &mut stderr,
    )
    .unwrap();
    child.kill().ok();
    child.wait().ok();
    assert!(
        stderr.contains("--region us-east-2 overrides the inputs' region us-east-1"),
        "{stderr}"
    );
}

/// The deployer's list of the aws partition's regions is the AWS SDK's: the `aws` partition
/// of the endpoint metadata compiled into aws-sdk-sts (its `partitions.json`), read from the
/// crate's sources as cargo resolved them. An SDK update that adds a region fails here until
/// the region is listed.
#[test]
fn the_known_regions_are_the_sdks() {
    // Only the host's packages: the others (chrono's Android and Windows time zone crates, a
    // dependency of cedar-policy) are never downloaded by a build here.
    let host = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("rustc names its host");
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sts = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "aws-sdk-sts")
        .expect("aws-sdk-sts in the dependency graph");
    let manifest = std::path::Path::new(sts["manifest_path"].as_str().unwrap());
    let source = std::fs::read_to_string(manifest.with_file_name("src/endpoint_lib.rs")).unwrap();
    let start = source
        .find("new_from_json(b\"")
        .expect("the partitions JSON")
        + "new_from_json(b\"".len();
    let end = start + source[start..].find("\")").unwrap();
    let json = source[start..end]
        .replace("\\\\", "\u{0}")
        .replace("\\\"", "\"")
        .replace('\u{0}', "\\");
    let partitions: serde_json::Value = serde_json::from_str(&json).unwrap();
    let aws = partitions["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "aws")
        .unwrap();
    let mut sdk: Vec<&str> = aws["regions"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|r| *r != "aws-global")
        .collect();
    sdk.sort_unstable();
    let mut ours = deployer::inputs::AWS_REGIONS.to_vec();
    ours.sort_unstable();
    assert_eq!(ours, sdk);
}

/// A claim Cognito manages in the access token is refused naming the way in that exists:
/// scopes through `scopesAttribute` (it once said `scopes`); other claims, no scope remark.
#[test]
fn a_managed_access_token_claim_names_the_field_that_exists() {
    rejected(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "claims": [{"attribute": "x", "claim": "scope", "tokens": "access"}]}"#,
        &["`scope` is managed by Cognito in the access token (add scopes with `scopesAttribute` in stack-inputs.json)"],
    );
    let (_, _, stderr) = render(
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login", "claims": [{"attribute": "x", "claim": "client_id", "tokens": "access"}]}"#,
    );
    assert!(
        stderr.contains("`client_id` is managed by Cognito in the access token;"),
        "{stderr}"
    );
    assert!(!stderr.contains("scopes go through"), "{stderr}");
}

/// A region AWS launched after this deployer was built is not blocked: --unlisted-region
/// waives the known-regions rule, in the inputs and for --region alike, and nothing else.
#[test]
fn an_unlisted_region_is_taken_when_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack-inputs.json");
    std::fs::write(&path, OK.replace('}', r#", "region": "eu-west-9"}"#)).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_deployer"))
            .args(["--endpoint-url", "http://127.0.0.1:9", "-f"])
            .arg(&path)
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(run(&["render"]).status.code(), Some(2));
    let out = run(&["--unlisted-region", "render"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Still a name of the aws partition: the other region rules hold.
    std::fs::write(&path, OK.replace('}', r#", "region": "cn-west-9"}"#)).unwrap();
    let out = run(&["--unlisted-region", "render"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --region too: past the region check, the run meets the (absent) endpoint instead.
    std::fs::write(&path, OK).unwrap();
    let refused = run(&[
        "--region",
        "eu-west-9",
        "policy",
        "--account",
        "111122223333",
        "--role",
        "deployer",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    let out = run(&["--unlisted-region", "--region", "eu-west-9", "render"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every example under examples/ is inputs the deployer accepts and renders (the same check
/// `render` makes before any call).
#[test]
fn every_example_is_valid_inputs_that_render() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path().join("stack-inputs.json");
        if !path.is_file() {
            continue;
        }
        let inputs = deployer::inputs::StackInputs::load(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        deployer::render::render(&inputs).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen >= 1, "no examples in {}", dir.display());
}
