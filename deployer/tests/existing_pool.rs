//! Claims for a pool the team already has (`userPool.existing`), end to end on the suite's
//! emulator: a pool made outside the deployer, with a user in a group, a pre sign-up
//! trigger, its own app clients and another pre-token-generation trigger, gets the claims
//! from `up --replace-trigger`; `down` leaves it exactly as it was.

mod common;

use aws_sdk_cognitoidentityprovider::types::{
    AuthFlowType, ExplicitAuthFlowsType, LambdaConfigType, UserPoolTierType, UserPoolType,
};
use aws_sdk_cognitoidentityprovider::Client as Cognito;
use common::{claims, deployer, deployer_with, sdk, unique};
use serde_json::{json, Value};

const PASSWORD: &str = "Correct-Horse-42-battery";
const FOREIGN: &str = "arn:aws:lambda:us-east-1:000000000000:function:team-own-pretoken";
const SIGN_UP: &str = "arn:aws:lambda:us-east-1:000000000000:function:team-pre-sign-up";

/// The team's pool, as made in the console: a pre sign-up trigger, a pre-token-generation
/// trigger of its own, a user in a group, two app clients.
async fn teams_pool(cognito: &Cognito) -> (String, String, String) {
    let pool = cognito
        .create_user_pool()
        .pool_name(unique("team"))
        .user_pool_tier(UserPoolTierType::Essentials)
        .lambda_config(
            LambdaConfigType::builder()
                .pre_sign_up(SIGN_UP)
                .pre_token_generation(FOREIGN)
                .build(),
        )
        .user_pool_tags("owner", "identity-team")
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap()
        .id
        .unwrap();
    let client = |name: &str| {
        cognito
            .create_user_pool_client()
            .user_pool_id(&pool)
            .client_name(name)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
            .send()
    };
    let web = client("web")
        .await
        .unwrap()
        .user_pool_client
        .unwrap()
        .client_id
        .unwrap();
    let mobile = client("mobile")
        .await
        .unwrap()
        .user_pool_client
        .unwrap()
        .client_id
        .unwrap();
    cognito
        .create_group()
        .user_pool_id(&pool)
        .group_name("engineers")
        .send()
        .await
        .unwrap();
    common::pool_user(&pool, "jane", Some(PASSWORD)).await;
    cognito
        .admin_add_user_to_group()
        .user_pool_id(&pool)
        .username("jane")
        .group_name("engineers")
        .send()
        .await
        .unwrap();
    (pool, web, mobile)
}

async fn described(cognito: &Cognito, pool: &str) -> UserPoolType {
    cognito
        .describe_user_pool()
        .user_pool_id(pool)
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap()
}

/// The pool as it is, but for the time of its last change and the deprecated
/// UnusedAccountValidityDays (`deployer::pool::comparable`).
fn settled(p: UserPoolType) -> UserPoolType {
    deployer::pool::comparable(&p)
}

async fn id_token(cognito: &Cognito, pool: &str, client: &str) -> Value {
    let auth = cognito
        .admin_initiate_auth()
        .user_pool_id(pool)
        .client_id(client)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", "jane")
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await
        .unwrap();
    claims(auth.authentication_result.unwrap().id_token().unwrap())
}

/// Sets the stack's `ExistingUserPool` parameter as a deploying role could (UpdateStack with
/// the previous template and every other parameter as it is).
async fn forge_recorded_pool(stack: &str, pool: &str) {
    use aws_sdk_cloudformation::types::Parameter;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk().await);
    let described = cfn
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .unwrap();
    let params = described.stacks()[0].parameters().to_vec();
    let mut update = cfn
        .update_stack()
        .stack_name(stack)
        .use_previous_template(true);
    for p in params {
        let key = p.parameter_key().unwrap().to_owned();
        let param = match key.as_str() {
            "ExistingUserPool" => Parameter::builder()
                .parameter_key(key)
                .parameter_value(pool),
            _ => Parameter::builder()
                .parameter_key(key)
                .use_previous_value(true),
        };
        update = update.parameters(param.build());
    }
    update.send().await.unwrap();
    for _ in 0..100 {
        let s = cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .unwrap();
        let status = s.stacks()[0].stack_status().unwrap().as_str().to_owned();
        if !status.ends_with("IN_PROGRESS") {
            assert_eq!(status, "UPDATE_COMPLETE");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the update did not finish");
}

/// The table row under `key` (the stack's outputs name the table).
async fn row_under(
    ddb: &aws_sdk_dynamodb::Client,
    outputs: &Value,
    key: &str,
) -> aws_sdk_dynamodb::operation::get_item::GetItemOutput {
    ddb.get_item()
        .table_name(outputs["TableName"].as_str().unwrap())
        .key(
            "userName",
            aws_sdk_dynamodb::types::AttributeValue::S(key.into()),
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_pool_made_outside_gets_the_claims_and_is_left_as_it_was() {
    let cognito = Cognito::new(&sdk().await);
    let (pool, web, mobile) = teams_pool(&cognito).await;
    let before = described(&cognito, &pool).await;

    let stack = unique("t");
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("stack-inputs.json");
    let file = json!({
        "stackName": stack,
        "region": "us-east-1",
        "userPool": {"existing": pool, "clients": [web]},
        "claims": [{"attribute": "projects", "tokens": "both", "type": "list"}],
        "lifecycle": "disposable",
    });
    std::fs::write(&inputs, file.to_string()).unwrap();

    // The slot holds the team's own trigger: refused, nothing made.
    let refused = deployer(&inputs, &["up"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!(
            "user pool {pool}: its pre-token-generation slot already calls {FOREIGN}"
        )) && refused.stderr.contains("--replace-trigger"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        settled(described(&cognito, &pool).await),
        settled(before.clone())
    );
    let status = deployer(&inputs, &["status", "--output", "json"]).await;
    assert_ne!(status.code, 0, "no stack was made: {}", status.stdout);

    let outputs_file = dir.path().join("outputs.json");
    let up = deployer(
        &inputs,
        &[
            "up",
            "--replace-trigger",
            "--output",
            "json",
            "--outputs-file",
            outputs_file.to_str().unwrap(),
        ],
    )
    .await
    .succeeded()
    .json();
    let outputs = &up["outputs"];
    assert_eq!(outputs["UserPoolId"], pool.as_str());
    assert_eq!(outputs["UserPoolClientId"], web.as_str());
    assert!(outputs.get("UserPoolDomain").is_none(), "{outputs}");
    let made: Vec<&str> = up["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["logicalId"].as_str().unwrap())
        .collect();
    assert!(
        !made.contains(&"UserPool")
            && !made.contains(&"UserPoolClient")
            && !made.contains(&"UserPoolDomain"),
        "the stack makes only what the deployer owns: {made:?}"
    );
    assert!(
        up["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{}",
        up["checks"]
    );

    // Between up and down the pool differs only in its pre-token-generation slot.
    let during = described(&cognito, &pool).await;
    assert_eq!(
        deployer::pool::changed_besides_slot(&before, &during),
        Vec::<String>::new()
    );
    let slot = deployer::pool::Slot::of(during.lambda_config());
    assert!(slot.calls(&format!("{stack}-pretoken")), "{slot:?}");
    assert_eq!(during.lambda_config().unwrap().pre_sign_up(), Some(SIGN_UP));

    // The team's user gets a row and the claims, through the team's client.
    deployer(
        &inputs,
        &["users", "add", "jane", "--set", "projects=p-1,p-2"],
    )
    .await
    .succeeded();
    let token = common::token(&inputs, "jane", PASSWORD).await;
    assert_eq!(
        token["idToken"]["projects"],
        json!(["p-1", "p-2"]),
        "{token}"
    );
    let id = id_token(&cognito, &pool, &web).await;
    assert_eq!(id["projects"], json!(["p-1", "p-2"]), "{id}");
    assert_eq!(id["cognito:groups"], json!(["engineers"]), "{id}");
    // A client the mapping does not serve gets Cognito's tokens as they were.
    let other = id_token(&cognito, &pool, &mobile).await;
    assert!(other.get("projects").is_none(), "{other}");

    // The other commands work on it: verify's temporary user comes and goes through the
    // team's client, invoke runs the trigger on jane's event, logs shows her logins, and the
    // users list shows her row.
    let verified = deployer(&inputs, &["verify", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(
        verified["idClaims"]["projects"],
        json!(["verify-projects-a", "verify-projects-b"]),
        "{verified}"
    );
    let invoked = deployer(&inputs, &["invoke", "--user", "jane", "--output", "json"])
        .await
        .succeeded();
    assert!(invoked.stdout.contains("p-1"), "{}", invoked.stdout);
    let logs = deployer(&inputs, &["logs", "--since", "10m"])
        .await
        .succeeded();
    assert!(logs.stdout.contains("jane"), "{}", logs.stdout);
    let users = deployer(&inputs, &["users", "list", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(
        users.as_array().unwrap().len(),
        1,
        "verify's user is gone: {users}"
    );
    assert_eq!(users[0]["row"]["projects"], "p-1,p-2", "{users}");

    // status sees the slot changed behind the stack's back; up sets it back.
    let update = cognito.update_user_pool().user_pool_id(&pool);
    deployer::commands::down::keep_configuration(update, &during)
        .lambda_config(LambdaConfigType::builder().pre_sign_up(SIGN_UP).build())
        .send()
        .await
        .unwrap();
    let drift = deployer(&inputs, &["status"]).await;
    assert_ne!(drift.code, 0, "{}", drift.stdout);
    assert!(
        format!("{}{}", drift.stdout, drift.stderr)
            .contains("the pool has no pre-token-generation trigger"),
        "{}\n{}",
        drift.stdout,
        drift.stderr
    );
    deployer(&inputs, &["up"]).await.succeeded();
    let id = id_token(&cognito, &pool, &web).await;
    assert_eq!(id["projects"], json!(["p-1", "p-2"]), "{id}");

    // A deploying role points the stack's record at another pool (an update of its
    // parameters): the pool the inputs name still calls the function, so down deletes nothing.
    forge_recorded_pool(&stack, "us-east-1_Forged123").await;
    let refused = deployer(&inputs, &["down"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("holds no record of what the slot called before"),
        "{}",
        refused.stderr
    );
    assert!(common::Emu::ministack()
        .stack_status(&stack)
        .await
        .is_some());
    forge_recorded_pool(&stack, &pool).await;

    // down decides from the stack, and writes to the pool only if the file at hand names
    // the pool the stack records: another pool named, nothing is changed or deleted.
    let mut other = file.clone();
    other["userPool"]["existing"] = json!("us-east-1_Other123");
    std::fs::write(&inputs, other.to_string()).unwrap();
    let refused = deployer(&inputs, &["down"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("the file at hand names us-east-1_Other123"),
        "{}",
        refused.stderr
    );
    assert!(
        common::Emu::ministack()
            .stack_status(&stack)
            .await
            .is_some(),
        "the stack is still there"
    );
    std::fs::write(&inputs, file.to_string()).unwrap();

    // down: the team's trigger back, the user, group, clients and other trigger untouched.
    // From the outputs file `up` wrote, as a CI teardown does: it names the pool too.
    let down = deployer(
        &inputs,
        &["down", "--from-outputs", outputs_file.to_str().unwrap()],
    )
    .await
    .succeeded();
    assert!(
        down.stdout.contains(&format!(
            "user pool {pool}: pre-token-generation slot restored to {FOREIGN}"
        )),
        "{}",
        down.stdout
    );
    let after = described(&cognito, &pool).await;
    assert_eq!(
        deployer::pool::changed_besides_slot(&before, &after),
        Vec::<String>::new()
    );
    assert_eq!(settled(after.clone()), settled(before.clone()));
    assert_eq!(
        deployer::pool::Slot::of(after.lambda_config()).effective(),
        deployer::pool::Slot::of(before.lambda_config()).effective()
    );
    cognito
        .admin_get_user()
        .user_pool_id(&pool)
        .username("jane")
        .send()
        .await
        .unwrap();
    let groups = cognito
        .list_groups()
        .user_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.groups().len(), 1);
    let clients = cognito
        .list_user_pool_clients()
        .user_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(clients.user_pool_clients().len(), 2);
    let left = common::Emu::ministack().leftovers(&stack).await;
    assert!(left.is_empty(), "{left:?}");
}

/// Rows keyed by an attribute (`table.userKeyAttribute`): a federated user's pool name
/// (`okta_jane@example.com` here) is not what the table knows; its email is. `users add`
/// writes the row under the email, the login reads it from the event's attributes, `users
/// list` shows it and `users remove` removes it.
#[tokio::test]
async fn rows_keyed_by_email_reach_a_federated_style_user() {
    let inputs = common::Inputs::new(json!({
        "table": {"userKeyAttribute": "email"},
        "claims": [{"attribute": "role", "tokens": "both"}],
    }));
    deployer(&inputs.path, &["up"]).await.succeeded();
    let user = "okta_jane@example.com";
    deployer_with(
        &inputs.path,
        &[
            "users",
            "add",
            user,
            "--email",
            "jane@corp.example",
            "--set",
            "role=site-engineer",
        ],
        &[("DEPLOYER_PASSWORD", PASSWORD)],
        None,
    )
    .await
    .succeeded();
    let outputs = deployer(&inputs.path, &["outputs", "--output", "json"])
        .await
        .succeeded()
        .json();
    let ddb = aws_sdk_dynamodb::Client::new(&sdk().await);
    let row = row_under(&ddb, &outputs, "jane@corp.example").await;
    assert!(row.item.is_some(), "the row is under the email");
    let token = common::token(&inputs.path, user, PASSWORD).await;
    assert_eq!(token["idToken"]["role"], "site-engineer", "{token}");
    // Another user who shares the email never takes jane's row: refused, and removing that
    // user leaves her row alone.
    let other = deployer_with(
        &inputs.path,
        &[
            "users",
            "add",
            "mallory",
            "--email",
            "jane@corp.example",
            "--set",
            "role=admin",
        ],
        &[("DEPLOYER_PASSWORD", PASSWORD)],
        None,
    )
    .await;
    assert_eq!(other.code, 2, "{}", other.stderr);
    assert!(
        other.stderr.contains("belongs to another user"),
        "{}",
        other.stderr
    );
    // A user who later takes the same email (an attribute change): removing them deletes no
    // row of jane's.
    deployer_with(
        &inputs.path,
        &["users", "add", "mallory", "--email", "mallory@corp.example"],
        &[("DEPLOYER_PASSWORD", PASSWORD)],
        None,
    )
    .await
    .succeeded();
    let cognito = Cognito::new(&sdk().await);
    let pool = deployer(&inputs.path, &["outputs", "--output", "json"])
        .await
        .succeeded()
        .json()["UserPoolId"]
        .as_str()
        .unwrap()
        .to_owned();
    cognito
        .admin_update_user_attributes()
        .user_pool_id(&pool)
        .username("mallory")
        .user_attributes(
            aws_sdk_cognitoidentityprovider::types::AttributeType::builder()
                .name("email")
                .value("jane@corp.example")
                .build()
                .unwrap(),
        )
        .user_attributes(
            aws_sdk_cognitoidentityprovider::types::AttributeType::builder()
                .name("email_verified")
                .value("true")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    deployer(&inputs.path, &["users", "remove", "mallory"])
        .await
        .succeeded();
    let token = common::token(&inputs.path, user, PASSWORD).await;
    assert_eq!(token["idToken"]["role"], "site-engineer", "{token}");
    let list = deployer(&inputs.path, &["users", "list", "--output", "json"])
        .await
        .succeeded()
        .json();
    let jane = list
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user"] == user)
        .unwrap()
        .clone();
    assert_eq!(jane["row"]["role"], "site-engineer", "{list}");
    deployer(&inputs.path, &["users", "remove", user])
        .await
        .succeeded();
    let row = row_under(&ddb, &outputs, "jane@corp.example").await;
    assert!(row.item.is_none(), "removed with the user");
    deployer(&inputs.path, &["down"]).await.succeeded();
}
