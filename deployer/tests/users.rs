//! Users, tokens and the smoke test, end to end against the suite's emulator with the real
//! trigger: add a user, `token` shows (verified) the claims from the row, the row changes and
//! so do the claims, bad logins get clear messages, `verify` passes and then fails with a diff
//! when the deployed mapping no longer matches the inputs.

mod common;

use common::{deployer, deployer_with, Inputs};
use serde_json::json;

const PASSWORD: &str = "Sup3r-secret-passw0rd";

#[tokio::test]
async fn users_tokens_and_verify() {
    let inputs = Inputs::new(json!({
        "eventVersion": "V2_0",
        "claims": [
            {"attribute": "projects", "tokens": "both", "type": "list"},
            {"attribute": "level", "tokens": "access", "type": "number"}
        ]
    }));
    deployer(&inputs.path, &["up"]).await.ok();

    // Add with the password on stdin and a typed row.
    let added = deployer_with(
        &inputs.path,
        &[
            "users",
            "add",
            "jane",
            "--email",
            "jane@example.com",
            "--password-stdin",
            "--row",
            r#"{"projects":["p-1","p-2"],"level":3}"#,
            "--output",
            "json",
        ],
        &[],
        Some(&format!("{PASSWORD}\n")),
    )
    .await
    .ok();
    assert_eq!(added.json()["action"], "created");
    assert!(
        !added.stdout.contains(PASSWORD) && !added.stderr.contains(PASSWORD),
        "the password leaked"
    );

    // token: verified claims from the row, custom ones marked.
    let token = deployer_with(
        &inputs.path,
        &["token", "jane", "--output", "json"],
        &[("DEPLOYER_PASSWORD", PASSWORD)],
        None,
    )
    .await
    .ok()
    .json();
    assert_eq!(token["idToken"]["projects"], json!(["p-1", "p-2"]));
    assert!(token["idToken"].get("level").is_none());
    assert_eq!(token["accessToken"]["level"], 3);
    assert_eq!(token["customClaims"], json!(["projects", "level"]));
    assert!(token["verified"]
        .as_str()
        .unwrap()
        .contains("signatures verified"));

    // The row changes (adding an existing user updates it); the next login carries it.
    let updated = deployer_with(
        &inputs.path,
        &[
            "users",
            "add",
            "jane",
            "--set",
            "projects=p-9",
            "--password-stdin",
            "--output",
            "json",
        ],
        &[],
        Some(PASSWORD),
    )
    .await
    .ok()
    .json();
    assert_eq!(updated["action"], "updated");
    let token = deployer_with(
        &inputs.path,
        &["token", "jane", "--output", "json"],
        &[("DEPLOYER_PASSWORD", PASSWORD)],
        None,
    )
    .await
    .ok()
    .json();
    assert_eq!(token["idToken"]["projects"], json!(["p-9"]));

    // --raw prints Cognito's tokens for piping; they decode to the same claims.
    let raw = deployer_with(
        &inputs.path,
        &["token", "jane", "--raw"],
        &[("DEPLOYER_PASSWORD", PASSWORD)],
        None,
    )
    .await
    .ok()
    .json();
    assert_eq!(
        common::claims(raw["IdToken"].as_str().unwrap())["projects"],
        json!(["p-9"])
    );

    // A generated password is printed once.
    let generated = deployer(&inputs.path, &["users", "add", "raj", "--output", "json"])
        .await
        .ok()
        .json();
    let raj_password = generated["generatedPassword"].as_str().unwrap().to_owned();
    assert!(raj_password.len() >= 20);
    deployer_with(
        &inputs.path,
        &["token", "raj"],
        &[("DEPLOYER_PASSWORD", &raj_password)],
        None,
    )
    .await
    .ok();

    // list joins users and rows.
    let list = deployer(&inputs.path, &["users", "list", "--output", "json"])
        .await
        .ok()
        .json();
    let users: Vec<(&str, &serde_json::Value)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["user"].as_str().unwrap(), &u["row"]))
        .collect();
    assert_eq!(
        users,
        vec![("jane", &json!({"projects": "p-9"})), ("raj", &json!({}))]
    );

    // Bad logins: clear message, non-zero exit, no secret echoed.
    let wrong = deployer_with(
        &inputs.path,
        &["token", "jane"],
        &[("DEPLOYER_PASSWORD", "Wrong-passw0rd-x")],
        None,
    )
    .await;
    assert_eq!(wrong.code, 1, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("unknown user or wrong password")
            && !wrong.stderr.contains("Wrong-passw0rd-x"),
        "{}",
        wrong.stderr
    );
    let unknown = deployer_with(
        &inputs.path,
        &["token", "nobody"],
        &[("DEPLOYER_PASSWORD", PASSWORD)],
        None,
    )
    .await;
    assert_eq!(unknown.code, 1);
    let no_password = deployer(&inputs.path, &["token", "jane"]).await;
    assert_eq!(no_password.code, 2);
    assert!(
        no_password
            .stderr
            .contains("--password-stdin or set DEPLOYER_PASSWORD"),
        "{}",
        no_password.stderr
    );
    let sdk = common::sdk().await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let outputs = deployer(&inputs.path, &["outputs", "--output", "json"])
        .await
        .ok()
        .json();
    let pool = outputs["UserPoolId"].as_str().unwrap();
    cognito
        .admin_disable_user()
        .user_pool_id(pool)
        .username("raj")
        .send()
        .await
        .unwrap();
    let disabled = deployer_with(
        &inputs.path,
        &["token", "raj"],
        &[("DEPLOYER_PASSWORD", &raj_password)],
        None,
    )
    .await;
    assert_eq!(disabled.code, 1);
    assert!(
        disabled.stderr.contains("is disabled"),
        "{}",
        disabled.stderr
    );
    cognito
        .admin_create_user()
        .user_pool_id(pool)
        .username("temp")
        .temporary_password("Temp-passw0rd-123")
        .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress)
        .send()
        .await
        .unwrap();
    let must_change = deployer_with(
        &inputs.path,
        &["token", "temp"],
        &[("DEPLOYER_PASSWORD", "Temp-passw0rd-123")],
        None,
    )
    .await;
    assert_eq!(must_change.code, 1);
    assert!(
        must_change.stderr.contains("NEW_PASSWORD_REQUIRED"),
        "{}",
        must_change.stderr
    );

    // remove: pool and table both.
    let removed = deployer(
        &inputs.path,
        &["users", "remove", "jane", "--output", "json"],
    )
    .await
    .ok()
    .json();
    assert_eq!(
        (
            removed["removed_from_pool"].as_bool(),
            removed["removed_row"].as_bool()
        ),
        (Some(true), Some(true))
    );
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let row = ddb
        .get_item()
        .table_name(outputs["TableName"].as_str().unwrap())
        .key(
            "userName",
            aws_sdk_dynamodb::types::AttributeValue::S("jane".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(row.item.is_none());

    // verify passes on the deployed stack and leaves no user behind...
    let verified = deployer(&inputs.path, &["verify", "--output", "json"])
        .await
        .ok()
        .json();
    assert_eq!(
        verified["idClaims"],
        json!({"projects": ["verify-projects-a", "verify-projects-b"]})
    );
    assert_eq!(
        verified["accessClaims"],
        json!({"projects": ["verify-projects-a", "verify-projects-b"], "level": 42})
    );
    let after = deployer(&inputs.path, &["users", "list", "--output", "json"])
        .await
        .ok()
        .json();
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|u| !u["user"].as_str().unwrap().starts_with("deployer-verify-")),
        "{after}"
    );

    // ...and fails with a precise diff when the inputs' mapping is not what is deployed.
    inputs.rewrite(json!({"claims": [
        {"attribute": "projects", "tokens": "id", "type": "list"},
        {"attribute": "level", "tokens": "access", "type": "string"}
    ]}));
    let failed = deployer(&inputs.path, &["verify"]).await;
    assert_eq!(failed.code, 4, "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains("access token: missing claim level (expected \"verify-level\")"),
        "{}",
        failed.stderr
    );
    assert!(
        failed
            .stderr
            .contains("access token: unexpected claim projects"),
        "{}",
        failed.stderr
    );

    deployer(&inputs.path, &["down", "--output", "json"])
        .await
        .ok();
    let gone = deployer(&inputs.path, &["users", "list"]).await;
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("is not deployed"), "{}", gone.stderr);
}
