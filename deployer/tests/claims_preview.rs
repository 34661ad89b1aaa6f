//! `plan --claims` end to end on the suite's emulator: real users and rows, the deployed
//! mapping read from the function, the inputs' mapping changed (a type, a claim's name, a
//! claim removed, a claim too large); the preview names exactly those changes per user and in
//! the summary, the tokens over each size limit, and equals what the tokens carry after `up`.

mod common;

use common::{custom, deployer, deployer_with, Inputs};
use serde_json::{json, Value};

const PASSWORD: &str = "Correct-Horse-42-battery";

async fn add(inputs: &Inputs, user: &str, row: Value) {
    deployer_with(
        &inputs.path,
        &["users", "add", user, "--row", &row.to_string()],
        &[("DEPLOYER_PASSWORD", PASSWORD)],
        None,
    )
    .await
    .succeeded();
}

fn principal<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["principal"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

/// `(token, claim, kind)` of each change, sorted.
fn changes(p: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["token"].as_str().unwrap().to_owned(),
                c["claim"].as_str().unwrap().to_owned(),
                c["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn triples(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = list
        .iter()
        .map(|(a, b, c)| ((*a).into(), (*b).into(), (*c).into()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_mapping_change_is_previewed_per_user_and_equals_the_tokens_after_up() {
    let inputs = Inputs::new(json!({
        "eventVersion": "V2_0",
        "claims": [
            {"attribute": "projects", "tokens": "both", "type": "list"},
            {"attribute": "role", "tokens": "both"},
            {"attribute": "tenant_id", "claim": "tenant", "tokens": "access"}
        ],
        "trigger": {"maxClaimBytes": 6144, "maxClaimsBytes": 6144}
    }));
    deployer(&inputs.path, &["up"]).await.succeeded();
    add(
        &inputs,
        "alice",
        json!({"projects": ["a1", "a2"], "role": "admin", "tenant_id": "acme"}),
    )
    .await;
    add(
        &inputs,
        "bob",
        json!({"projects": ["b1"], "role": "viewer"}),
    )
    .await;
    add(&inputs, "carol", json!({"role": "auditor", "tenant_id": "globex", "bio": "x".repeat(3500), "notes": "n".repeat(7000)})).await;

    // The mapping as deployed: nothing changes, exit 0 even with --detailed-exitcode.
    let same = deployer(
        &inputs.path,
        &[
            "plan",
            "--claims",
            "--detailed-exitcode",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(same.code, 0, "{}\n{}", same.stdout, same.stderr);
    let same = same.json();
    assert_eq!(same["changed"], false, "{same}");
    assert_eq!(same["principals"].as_array().unwrap().len(), 3, "{same}");
    assert!(same["summary"].as_object().unwrap().is_empty(), "{same}");

    // projects becomes a string, role is renamed, tenant goes, bio and notes come in.
    inputs.rewrite(json!({"claims": [
        {"attribute": "projects", "tokens": "both", "type": "string"},
        {"attribute": "role", "claim": "app_role", "tokens": "both"},
        {"attribute": "bio", "tokens": "id"},
        {"attribute": "notes", "tokens": "id"}
    ]}));
    let run = deployer(
        &inputs.path,
        &[
            "plan",
            "--claims",
            "--detailed-exitcode",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(run.code, 10, "{}\n{}", run.stdout, run.stderr);
    let report = run.json();
    assert_eq!(report["changed"], true);
    // Every user: role renamed app_role in both tokens.
    let renamed = [
        ("ID", "role", "removed"),
        ("access", "role", "removed"),
        ("ID", "app_role", "added"),
        ("access", "app_role", "added"),
    ];
    let projects = [("ID", "projects", "type"), ("access", "projects", "type")];
    let tenant = [("access", "tenant", "removed")];
    let expect = |parts: &[&[(&str, &str, &str)]]| triples(&parts.concat());
    assert_eq!(
        changes(principal(&report, "alice")),
        expect(&[&renamed, &projects, &tenant])
    );
    assert_eq!(
        changes(principal(&report, "bob")),
        expect(&[&renamed, &projects])
    );
    // carol's notes are over the per-claim budget: listed as dropped, not added.
    let carol = [("ID", "bio", "added"), ("dropped", "ID:notes", "dropped")];
    assert_eq!(
        changes(principal(&report, "carol")),
        expect(&[&renamed, &tenant, &carol])
    );
    // Named users instead of a sample: those alone, with the same answer.
    let named = deployer(
        &inputs.path,
        &["plan", "--claims", "--users", "alice", "--output", "json"],
    )
    .await
    .succeeded()
    .json();
    assert_eq!(named["principals"].as_array().unwrap().len(), 1, "{named}");
    assert_eq!(
        changes(principal(&named, "alice")),
        changes(principal(&report, "alice"))
    );
    let summary = &report["summary"];
    assert_eq!(summary["ID projects"]["type"], 2, "{summary}");
    assert_eq!(summary["ID app_role"]["added"], 3, "{summary}");
    assert_eq!(summary["access tenant"]["removed"], 2, "{summary}");
    // carol's ID token, with bio, passes a cookie's 4,096 bytes and no header limit.
    let over = &report["overLimits"];
    assert_eq!(over["cookie (4,096 bytes)"][0][0], "carol", "{over}");
    assert_eq!(
        over["cookie (4,096 bytes)"].as_array().unwrap().len(),
        1,
        "{over}"
    );
    assert!(
        over["CloudFront header (8,192 bytes)"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{over}"
    );

    // The preview is what the tokens then carry, and their size within a few percent.
    deployer(&inputs.path, &["up"]).await.succeeded();
    for user in ["alice", "bob", "carol"] {
        let token = common::token(&inputs.path, user, PASSWORD).await;
        let previewed = &principal(&report, user)["tokens"];
        assert_eq!(
            Value::Object(custom(&token["idToken"])),
            previewed["idToken"],
            "{user} ID"
        );
        assert_eq!(
            Value::Object(custom(&token["accessToken"])),
            previewed["accessToken"],
            "{user} access"
        );
        let raw = deployer_with(
            &inputs.path,
            &["token", user, "--raw"],
            &[("DEPLOYER_PASSWORD", PASSWORD)],
            None,
        )
        .await
        .succeeded()
        .json();
        let real = raw["IdToken"].as_str().unwrap().len() as f64;
        let estimated = previewed["idTokenBytes"].as_f64().unwrap();
        assert!(
            (estimated - real).abs() / real < 0.1,
            "{user}: estimated {estimated}, real {real}"
        );
    }
    // Deployed now: the same mapping again changes nothing.
    let after = deployer(&inputs.path, &["plan", "--claims", "--detailed-exitcode"]).await;
    assert_eq!(after.code, 0, "{}", after.stdout);
    // Keying the rows by email instead: the rows are under user names, and these users have
    // no email, so every claim goes.
    inputs.rewrite(json!({"table": {"userKeyAttribute": "email"}}));
    let keyed = deployer(&inputs.path, &["plan", "--claims", "--output", "json"])
        .await
        .succeeded()
        .json();
    let bob = changes(principal(&keyed, "bob"));
    assert!(
        !bob.is_empty() && bob.iter().all(|(_, _, kind)| kind == "removed"),
        "{bob:?}"
    );
    inputs.rewrite(json!({"table": {}}));
    let sizes = deployer(&inputs.path, &["status", "--sizes", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(
        sizes["overLimits"]["cookie (4,096 bytes)"][0][0], "carol",
        "{sizes}"
    );
    deployer(&inputs.path, &["down"]).await.succeeded();
}

/// On a stack that has never been deployed there is no deployed mapping: every claim is
/// added, and a table that does not exist yet has no rows to preview.
#[tokio::test]
async fn a_stack_never_deployed_is_previewed_as_everything_added() {
    let inputs = Inputs::new(json!({}));
    let run = deployer(&inputs.path, &["plan", "--claims", "--output", "json"])
        .await
        .succeeded();
    let report = run.json();
    assert_eq!(report["deployed"], false, "{report}");
    let notes = report["notes"].to_string();
    assert!(
        notes.contains("not deployed") && notes.contains("does not exist yet"),
        "{notes}"
    );
}
