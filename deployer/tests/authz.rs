//! `authz schema`, `authz check --claims` and `authz test` on the shipped example, and the
//! policies checked before any AWS call: a broken policy stops `render`, `plan` and `up`
//! with the file, line and column, and what the schema lacks (exit 2). No AWS here: the
//! endpoint is one nothing listens on, so a call would fail differently.

use std::path::{Path, PathBuf};
use std::process::Command;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/projects-api")
}

fn deployer(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .current_dir(dir)
        .args(["--endpoint-url", "http://127.0.0.1:9"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A copy of the example, to break.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = example();
    std::fs::copy(
        from.join("stack-inputs.json"),
        dir.path().join("stack-inputs.json"),
    )
    .unwrap();
    std::fs::copy(from.join("cases.json"), dir.path().join("cases.json")).unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::copy(
        from.join("policies/projects.cedar"),
        dir.path().join("policies/projects.cedar"),
    )
    .unwrap();
    dir
}

#[test]
fn the_schema_has_the_typed_claims_and_the_routes() {
    let (code, out, err) = deployer(&example(), &["authz", "schema"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"projects\"?: Set<String>"), "{out}");
    assert!(out.contains("\"role\"?: String"), "{out}");
    assert!(
        out.contains("action \"GET /projects/{projectId}\""),
        "{out}"
    );
    assert!(out.contains("entity Project"), "{out}");
}

#[test]
fn the_examples_cases_pass_and_a_wrong_expectation_fails_with_exit_7() {
    let (code, out, err) = deployer(&example(), &["authz", "test", "cases.json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("8 passed, 0 failed"), "{out}");

    let dir = copy();
    let cases = std::fs::read_to_string(dir.path().join("cases.json")).unwrap();
    let wrong = cases.replacen(
        r#""request": "GET /projects/beta", "expect": "deny""#,
        r#""request": "GET /projects/beta", "expect": "allow""#,
        1,
    );
    assert_ne!(cases, wrong);
    std::fs::write(dir.path().join("cases.json"), wrong).unwrap();
    let (code, out, _) = deployer(dir.path(), &["authz", "test", "cases.json"]);
    assert_eq!(code, 7, "{out}");
    assert!(out.contains("7 passed, 1 failed"), "{out}");
    assert!(
        out.contains("FAIL jane cannot read another project: GET /projects/beta expected ALLOW, got DENY (no policy permits it)"),
        "{out}"
    );
    let (code, out, _) = deployer(
        dir.path(),
        &["--output", "json", "authz", "test", "cases.json"],
    );
    assert_eq!(code, 7);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["failed"], 1);
    assert_eq!(report["cases"][1]["decision"]["allow"], false);
}

#[test]
fn check_decides_on_given_claims() {
    let dir = example();
    let (code, out, err) = deployer(
        &dir,
        &[
            "authz",
            "check",
            "GET /projects/alpha",
            "--user",
            "jane",
            "--claims",
            r#"{"projects": ["alpha"]}"#,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("decision     ALLOW"), "{out}");
    assert!(out.contains("by read-own-projects"), "{out}");
    let (code, out, _) = deployer(
        &dir,
        &[
            "--output",
            "json",
            "authz",
            "check",
            "GET /projects/beta",
            "--user",
            "jane",
            "--claims",
            r#"{"projects": ["alpha"]}"#,
        ],
    );
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["decision"]["allow"], false);
    assert_eq!(report["decision"]["resource"], r#"App::Project::"beta""#);
    // A claim of the wrong type is a denial with the reason.
    let (_, out, _) = deployer(
        &dir,
        &[
            "authz",
            "check",
            "GET /projects/alpha",
            "--user",
            "jane",
            "--claims",
            r#"{"projects": "alpha", "role": 7}"#,
        ],
    );
    assert!(
        out.contains("DENY") && out.contains("claim \"role\""),
        "{out}"
    );
    let (code, _, err) = deployer(
        &dir,
        &[
            "authz",
            "check",
            "GET /nowhere",
            "--claims",
            "{}",
            "--user",
            "j",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("no route of the API matches GET /nowhere"),
        "{err}"
    );
}

#[test]
fn a_policy_that_does_not_check_stops_render_plan_and_up_before_aws() {
    let dir = copy();
    let policy = dir.path().join("policies/projects.cedar");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        text.replace("context.token.role ==", "context.token.tier =="),
    )
    .unwrap();
    for command in [&["render"][..], &["plan"], &["up"]] {
        let (code, out, err) = deployer(dir.path(), command);
        assert_eq!(code, 2, "{command:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(
            err.contains("policies/projects.cedar:20:31:") && err.contains("`token.tier`"),
            "{command:?}: {err}"
        );
        // What the schema lacks, and what it has.
        assert!(
            err.contains("did you mean `role`?") && err.contains("(projects, role)"),
            "{err}"
        );
        assert!(err.contains("nothing was sent to AWS"), "{err}");
    }
    // A route the API lacks.
    std::fs::write(
        &policy,
        r#"permit (principal, action == App::Action::"PUT /projects/{projectId}", resource);"#,
    )
    .unwrap();
    let (code, _, err) = deployer(dir.path(), &["render"]);
    assert_eq!(code, 2);
    assert!(err.contains("add the route to api.routes"), "{err}");
    // A syntax error, with its place.
    std::fs::write(&policy, "permit (principal, action, resource").unwrap();
    let (code, _, err) = deployer(dir.path(), &["render"]);
    assert_eq!(code, 2);
    assert!(err.contains("policies/projects.cedar:1:"), "{err}");
    // No policies at all.
    std::fs::remove_file(&policy).unwrap();
    let (code, _, err) = deployer(dir.path(), &["render"]);
    assert_eq!(code, 2);
    assert!(err.contains("there are no policies"), "{err}");
    std::fs::remove_dir(dir.path().join("policies")).unwrap();
    let (code, _, err) = deployer(dir.path(), &["render"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot be read") && err.contains("api.policies"),
        "{err}"
    );
}

#[test]
fn without_an_api_the_authz_commands_say_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stack-inputs.json"),
        r#"{"stackName": "demo", "userPoolDomainName": "demo-login"}"#,
    )
    .unwrap();
    let (code, _, err) = deployer(dir.path(), &["authz", "schema"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no api section") && err.contains("examples/projects-api"),
        "{err}"
    );
    let (code, _, _) = deployer(dir.path(), &["render"]);
    assert_eq!(code, 0);
}
