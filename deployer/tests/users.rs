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
    deployer(&inputs.path, &["up"]).await.succeeded();

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
    .succeeded();
    assert_eq!(added.json()["action"], "created");
    assert!(
        !added.stdout.contains(PASSWORD) && !added.stderr.contains(PASSWORD),
        "the password leaked"
    );

    // A value its mapped claim cannot take is refused with the claim, and nothing written.
    let mistyped = deployer(
        &inputs.path,
        &["users", "add", "jane", "--set", "level=abc"],
    )
    .await;
    assert_eq!(mistyped.code, 2, "{}", mistyped.stderr);
    assert!(
        mistyped
            .stderr
            .contains("level=\"abc\" cannot be the number claim `level`"),
        "{}",
        mistyped.stderr
    );

    // token: verified claims from the row, custom ones marked.
    let token = common::token(&inputs.path, "jane", PASSWORD).await;
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
    .succeeded()
    .json();
    assert_eq!(updated["action"], "updated");
    let token = common::token(&inputs.path, "jane", PASSWORD).await;
    assert_eq!(token["idToken"]["projects"], json!(["p-9"]));
    // --set changes the attributes it names and keeps the others (UpdateItem).
    assert_eq!(token["accessToken"]["level"], 3);

    // --raw prints Cognito's tokens for piping; they decode to the same claims.
    let raw = deployer_with(
        &inputs.path,
        &["token", "jane", "--raw"],
        &[("DEPLOYER_PASSWORD", PASSWORD)],
        None,
    )
    .await
    .succeeded()
    .json();
    assert_eq!(
        common::claims(raw["IdToken"].as_str().unwrap())["projects"],
        json!(["p-9"])
    );

    // A generated password never goes where CI logs it: with stdout not a terminal and no
    // JSON asked for, a new user is refused before it is made; --secret-file takes it (0600).
    let refused = deployer(&inputs.path, &["users", "add", "kim"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--secret-file"),
        "{}",
        refused.stderr
    );
    let listed = deployer(&inputs.path, &["users", "list", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user"] == "kim"),
        "nothing was made: {listed}"
    );
    let file = inputs.dir.path().join("kim.password");
    let added = deployer(
        &inputs.path,
        &[
            "users",
            "add",
            "kim",
            "--secret-file",
            file.to_str().unwrap(),
        ],
    )
    .await
    .succeeded();
    assert!(!added.stdout.contains("shown once"), "{}", added.stdout);
    let kim_password = std::fs::read_to_string(&file).unwrap().trim().to_owned();
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    deployer_with(
        &inputs.path,
        &["token", "kim"],
        &[("DEPLOYER_PASSWORD", &kim_password)],
        None,
    )
    .await
    .succeeded();

    // A generated password is printed once.
    let generated = deployer(&inputs.path, &["users", "add", "raj", "--output", "json"])
        .await
        .succeeded()
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
    .succeeded();

    // list joins users and rows.
    let list = deployer(&inputs.path, &["users", "list", "--output", "json"])
        .await
        .succeeded()
        .json();
    let users: Vec<(&str, &serde_json::Value)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["user"].as_str().unwrap(), &u["row"]))
        .collect();
    assert_eq!(
        users,
        vec![
            ("jane", &json!({"projects": "p-9", "level": 3})),
            ("kim", &json!({})),
            ("raj", &json!({}))
        ]
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
        .succeeded()
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

    // A row belongs to one user (that a name in another letter case is the same user of the
    // case-insensitive pool is AWS's behaviour, which neither emulator has: tests/identity.rs
    // replays it).
    // jane leaves the pool behind the deployer's back, and a new jane comes: the old row,
    // bound to the old jane's sub, gives the new one nothing.
    cognito
        .admin_delete_user()
        .user_pool_id(pool)
        .username("jane")
        .send()
        .await
        .unwrap();
    common::pool_user(pool, "jane", Some(PASSWORD)).await;
    let list = deployer(&inputs.path, &["users", "list", "--output", "json"])
        .await
        .succeeded()
        .json();
    let jane = list
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"] == "jane")
        .unwrap();
    assert_eq!(jane["staleRow"], true, "{jane}");
    let token = common::token(&inputs.path, "jane", PASSWORD).await;
    assert!(token["idToken"].get("projects").is_none(), "{token}");
    assert_eq!(token["customClaims"], json!([]));
    // Adding her binds the row to her.
    deployer(
        &inputs.path,
        &["users", "add", "jane", "--set", "projects=p-8"],
    )
    .await
    .succeeded();
    let token = common::token(&inputs.path, "jane", PASSWORD).await;
    assert_eq!(token["idToken"]["projects"], json!(["p-8"]));

    // remove: pool and table both.
    let removed = deployer(
        &inputs.path,
        &["users", "remove", "jane", "--output", "json"],
    )
    .await
    .succeeded()
    .json();
    assert_eq!(
        (
            removed["removedFromPool"].as_bool(),
            removed["removedRow"].as_bool()
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
    // A machine client's row on a V2_0 stack would never reach its tokens: refused, nothing made.
    let m2m = deployer(
        &inputs.path,
        &["clients", "add", "reporting", "--set", "projects=p1"],
    )
    .await;
    assert_eq!(m2m.code, 2, "{}", m2m.stderr);
    assert!(
        m2m.stderr
            .contains("Cognito runs it for client-credentials tokens with V3_0 only"),
        "{}",
        m2m.stderr
    );
    let none = deployer(&inputs.path, &["clients", "list", "--output", "json"]).await;
    assert_eq!(none.succeeded().json(), json!([]));

    let verified = deployer(&inputs.path, &["verify", "--output", "json"])
        .await
        .succeeded()
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
        .succeeded()
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
        .succeeded();
    let gone = deployer(&inputs.path, &["users", "list"]).await;
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("is not deployed"), "{}", gone.stderr);
}

#[tokio::test]
async fn import_many_users_with_bad_lines_then_m2m_client_credentials_with_v3() {
    let inputs = Inputs::new(json!({
        "eventVersion": "V3_0",
        "claims": [
            {"attribute": "projects", "tokens": "both", "type": "list"},
            {"attribute": "tier", "tokens": "access"},
            {"attribute": "allowed_ops", "tokens": "access"}
        ]
    }));
    deployer(&inputs.path, &["up"]).await.succeeded();

    // 1,000 users, two bad lines among them.
    let mut csv = String::from("username,email,projects\n");
    for i in 0..1000 {
        csv.push_str(&format!(
            "user{i:04},user{i}@example.com,\"p-{i},p-shared\"\n"
        ));
    }
    csv.push_str("bad user,x@example.com,p-1\n");
    csv.push_str(",nobody@example.com,p-2\n");
    let file = inputs.dir.path().join("users.csv");
    std::fs::write(&file, &csv).unwrap();
    let first = deployer(
        &inputs.path,
        &[
            "users",
            "import",
            file.to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(
        first.code, 6,
        "some lines imported and some refused make the exit 6:\n{}",
        first.stderr
    );
    let report = first.json();
    assert_eq!(
        (report["created"].as_u64(), report["rowsWritten"].as_u64()),
        (Some(1000), Some(1000))
    );
    let bad: Vec<u64> = report["badLines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["line"].as_u64().unwrap())
        .collect();
    assert_eq!(bad, [1002, 1003]);
    assert!(report["badLines"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("not a valid Cognito user name"));

    // Running it twice is harmless: everyone is updated, nobody duplicated.
    let second = deployer(
        &inputs.path,
        &[
            "users",
            "import",
            file.to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(
        (second["created"].as_u64(), second["updated"].as_u64()),
        (Some(0), Some(1000))
    );
    let list = deployer(&inputs.path, &["users", "list", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(list.as_array().unwrap().len(), 1000);
    assert_eq!(list[7]["row"]["projects"], "p-7,p-shared");

    // An imported user's claims come from the imported row.
    deployer_with(
        &inputs.path,
        &["users", "add", "user0007", "--password-stdin"],
        &[],
        Some(PASSWORD),
    )
    .await
    .succeeded();
    let token = common::token(&inputs.path, "user0007", PASSWORD).await;
    assert_eq!(token["idToken"]["projects"], json!(["p-7", "p-shared"]));

    // M2M: a client with a secret; its client-credentials token carries its row's claims.
    let client = deployer(
        &inputs.path,
        &[
            "clients",
            "add",
            "billing",
            "--row",
            r#"{"tier":"gold","allowed_ops":["invoice:read","invoice:write"]}"#,
            "--output",
            "json",
        ],
    )
    .await
    .succeeded()
    .json();
    let (id, secret) = (
        client["clientId"].as_str().unwrap(),
        client["clientSecret"].as_str().unwrap(),
    );
    assert!(client["scope"].as_str().unwrap().ends_with("-api/access"));
    let token = deployer_with(
        &inputs.path,
        &["token", "--client", id, "--output", "json"],
        &[("DEPLOYER_CLIENT_SECRET", secret)],
        None,
    )
    .await
    .succeeded()
    .json();
    assert_eq!(token["accessToken"]["tier"], "gold");
    assert_eq!(
        token["accessToken"]["allowed_ops"],
        json!(["invoice:read", "invoice:write"])
    );
    assert_eq!(token["accessToken"]["client_id"], id);
    assert!(token["idToken"].is_null(), "no ID token for a machine");
    assert_eq!(token["customClaims"], json!(["tier", "allowed_ops"]));
    let wrong = deployer_with(
        &inputs.path,
        &["token", "--client", id],
        &[("DEPLOYER_CLIENT_SECRET", "not-the-secret")],
        None,
    )
    .await;
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.stderr.contains("refused client") && !wrong.stderr.contains("not-the-secret"),
        "{}",
        wrong.stderr
    );

    // Names are unique within the stack; list shows the machine clients (not the stack's own
    // app client); remove takes the client and its row away.
    let twice = deployer(&inputs.path, &["clients", "add", "billing"]).await;
    assert_eq!(twice.code, 2, "{}", twice.stderr);
    assert!(
        twice.stderr.contains(&format!(
            "has a machine client named billing already ({id})"
        )),
        "{}",
        twice.stderr
    );
    let listed = deployer(&inputs.path, &["clients", "list", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["name"], "billing");
    assert_eq!(listed[0]["clientId"], id);
    deployer(&inputs.path, &["clients", "remove", "billing"])
        .await
        .succeeded();
    let listed = deployer(&inputs.path, &["clients", "list", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(listed, json!([]));
    let gone = deployer_with(
        &inputs.path,
        &["token", "--client", id],
        &[("DEPLOYER_CLIENT_SECRET", secret)],
        None,
    )
    .await;
    assert_eq!(
        gone.code, 1,
        "the removed client gets no token: {}",
        gone.stderr
    );

    deployer(&inputs.path, &["down"]).await.succeeded();
}

/// A password the pool refuses never leaves a half-made user: `users add` checks it against
/// the pool's policy (read from the pool) before creating anything and says the policy; an
/// import refuses that line alone; and once the file is fixed, the user who never had a
/// password of their own takes the one given, without --reset-passwords.
#[tokio::test]
async fn a_refused_password_leaves_no_user_and_a_fixed_one_is_taken() {
    let inputs = Inputs::new(json!({
        "claims": [{"attribute": "projects", "tokens": "both", "type": "list"}]
    }));
    deployer(&inputs.path, &["up"]).await.succeeded();
    let add = |user: &'static str, password: &'static str| {
        let path = inputs.path.clone();
        async move {
            let args = [
                "users",
                "add",
                user,
                "--password-stdin",
                "--set",
                "projects=x",
            ];
            deployer_with(&path, &args, &[], Some(&format!("{password}\n"))).await
        }
    };
    let weak = add("henry", "weak").await;
    assert_eq!(weak.code, 2, "{}", weak.stderr);
    assert!(
        weak.stderr.contains(
            "the password does not meet the pool's policy: it has 4 characters, fewer than 12"
        ),
        "{}",
        weak.stderr
    );
    assert!(
        weak.stderr
            .contains("the pool asks for 12 to 256 characters"),
        "{}",
        weak.stderr
    );
    let listed = deployer(&inputs.path, &["users", "list", "--output", "json"])
        .await
        .succeeded();
    assert!(!listed.stdout.contains("henry"), "{}", listed.stdout);

    // An import refuses the line with the weak password alone.
    let csv = inputs.dir.path().join("users.csv");
    std::fs::write(
        &csv,
        "username,password,projects\nada,Str0ng-enough-1,p1\nbob,weak,p2\n",
    )
    .unwrap();
    let csv_arg = csv.to_str().unwrap().to_owned();
    let partial = deployer(
        &inputs.path,
        &["users", "import", &csv_arg, "--output", "json"],
    )
    .await;
    assert_eq!(partial.code, 6, "{}", partial.stderr);
    let report = partial.json();
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["badLines"][0]["line"], 3, "{report}");
    assert!(
        report["badLines"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("does not meet the pool's policy"),
        "{report}"
    );
    let listed = deployer(&inputs.path, &["users", "list", "--output", "json"])
        .await
        .succeeded();
    assert!(!listed.stdout.contains("\"bob\""), "{}", listed.stdout);

    // A user made without a password of their own (an invitation) takes the one an import
    // gives, without --reset-passwords; a user who has one keeps it.
    deployer(
        &inputs.path,
        &[
            "users",
            "add",
            "cleo",
            "--invite",
            "--email",
            "cleo@example.com",
        ],
    )
    .await
    .succeeded();
    std::fs::write(
        &csv,
        "username,password,projects\nada,weak,p1\nbob,Str0ng-enough-3,p2\ncleo,Str0ng-enough-4,p3\n",
    )
    .unwrap();
    // ada keeps her own password, so the file's (weak) one is neither used nor refused; the
    // report names who took the file's for want of their own.
    let fixed = deployer(
        &inputs.path,
        &["users", "import", &csv_arg, "--output", "json"],
    )
    .await
    .succeeded()
    .json();
    assert_eq!(fixed["passwordsGiven"], json!(["cleo"]), "{fixed}");
    assert_eq!(fixed["badLines"], json!([]), "{fixed}");
    common::token(&inputs.path, "bob", "Str0ng-enough-3").await;
    common::token(&inputs.path, "cleo", "Str0ng-enough-4").await;
    common::token(&inputs.path, "ada", "Str0ng-enough-1").await;
    deployer(&inputs.path, &["down"]).await.succeeded();
}
