//! A privilege-escalation analyzer over each printed policy: cloudsplaining
//! (`scan-policy-file --flag-all-risky-actions`, which flags a method whatever the conditions
//! and name scopes) lists the escalation methods a CI role holds. Each method it lists must
//! be one docs/security.md's "The CI roles" section says how it is closed, and that a test attempts
//! and sees refused; a new method fails here until both exist. The publisher holds none.
//!
//! Needs the analyzer venv scripts/setup.sh installs (`$DEPLOYER_CACHE_DIR/analyzer`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

/// The methods cloudsplaining lists for the deploying roles, and the tests that attempt them.
const CLOSED: &[(&str, &str)] = &[
    ("PassExistingRoleToNewLambdaThenInvoke", "ci_roles::the_escalations_an_analyzer_lists_are_refused; iam_policy (CreateFunction of another name, PassRole of another role)"),
    ("PassExistingRoleToNewLambdaThenAddPermission", "ci_roles::the_escalations_an_analyzer_lists_are_refused; iam_policy (CreateFunction of another name)"),
    ("EditExistingLambdaFunctionWithRole", "ci_roles::each_deploying_role_runs_its_own_stacks_and_nothing_of_the_other; iam_policy (UpdateFunctionCode of the base function)"),
    ("UpdateAndInvokeLambdaFunction", "ci_roles::each_deploying_role_runs_its_own_stacks_and_nothing_of_the_other; iam_policy (UpdateFunctionCode, Invoke of the base function)"),
    ("UpdateLambdaFunctionAndAddPermission", "ci_roles::each_deploying_role_runs_its_own_stacks_and_nothing_of_the_other (AddPermission)"),
    ("ExecuteCloudFormationChangeSet", "ci_roles::the_escalations_an_analyzer_lists_are_refused (no PassRole to CloudFormation); handler_permissions (what a change set can do is the role's own)"),
];

fn analyzer() -> PathBuf {
    let cache = std::env::var_os("DEPLOYER_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache"));
    let bin = cache.join("analyzer/bin/cloudsplaining");
    assert!(
        bin.is_file(),
        "{} is missing: run scripts/setup.sh (it installs the analyzer)",
        bin.display()
    );
    bin
}

/// A project without an API, and one whose API calls a Lambda backend.
const PROJECTS: &[&str] = &[
    r#"{"stackName": "app", "userPoolDomainName": "app-login", "region": "us-east-1"}"#,
    r#"{"stackName": "app", "userPoolDomainName": "app-login", "region": "us-east-1",
        "api": {"routes": {"GET /me": {}, "GET /projects/{projectId}":
            {"target": "arn:aws:lambda:us-east-1:111122223333:function:projects-backend"}}}}"#,
];

fn methods(role: &str, project: &str) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("stack-inputs.json");
    std::fs::write(&inputs, project).unwrap();
    let printed = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args([
            "-f",
            inputs.to_str().unwrap(),
            "policy",
            "--account",
            "111122223333",
            "--role",
            role,
        ])
        .output()
        .unwrap();
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let policy = dir.path().join("policy.json");
    std::fs::write(&policy, &printed.stdout).unwrap();
    let out = Command::new(analyzer())
        .args([
            "scan-policy-file",
            "--flag-all-risky-actions",
            "-i",
            policy.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || text.contains("Potential Issue"),
        "cloudsplaining failed:\n{text}"
    );
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("- Method: "))
        .map(|m| m.trim().to_owned())
        .collect()
}

#[test]
fn every_escalation_the_analyzer_lists_is_closed_documented_and_tested() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/security.md"))
            .unwrap();
    let known: BTreeSet<&str> = CLOSED.iter().map(|(m, _)| *m).collect();
    for (role, project) in ["deployer", "ephemeral"]
        .iter()
        .flat_map(|r| PROJECTS.iter().map(move |p| (*r, *p)))
    {
        let found = methods(role, project);
        assert!(
            !found.is_empty(),
            "{role}: the analyzer listed nothing (did its output change?)"
        );
        for m in &found {
            assert!(known.contains(m.as_str()), "{role}: the analyzer lists {m}: close it, test it, and list it here and in docs/security.md");
        }
    }
    for (method, tests) in CLOSED {
        assert!(
            readme.contains(method),
            "docs/security.md's CI-role section says how {method} is closed ({tests})"
        );
    }
    for project in PROJECTS {
        assert!(
            methods("publisher", project).is_empty(),
            "the publisher holds no escalation method"
        );
    }
}
