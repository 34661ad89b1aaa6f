//! End to end against the suite's emulator, as a user runs it: `up` from nothing, `up` again
//! (nothing to change), `up` after a mapping change (the plan shows a modify), logins through
//! the real Graviton trigger (V1_0 and V2_0), a failing deploy and its recovery, `down` with
//! nothing left behind.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{custom, deployer, login, Inputs};
use serde_json::{json, Value};

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// What is left of a stack in the emulator, by every service's own listing: its resources,
/// its zips and its log group.
async fn leftovers(stack: &str) -> Vec<String> {
    let emu = common::Emu::ministack();
    let mut left = emu.leftovers(stack).await;
    left.extend(emu.artifacts_and_logs(stack).await);
    left
}

#[tokio::test]
async fn up_login_no_change_mapping_change_and_down_leave_nothing_behind() {
    let inputs = Inputs::new(json!({
        "eventVersion": "V2_0",
        "claims": [
            {"attribute": "projects", "tokens": "both", "type": "list"},
            {"attribute": "role", "tokens": "both"},
            {"attribute": "tenant_id", "claim": "tenant", "tokens": "access"}
        ]
    }));

    // up from nothing
    let first = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded();
    let report = first.json();
    assert_eq!(report["action"], "created");
    let added: Vec<&str> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["logicalId"].as_str().unwrap())
        .collect();
    assert_eq!(added.len(), 10, "{added:?}");
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{}",
        report["checks"]
    );
    let outputs = report["outputs"].clone();
    for key in [
        "UserPoolId",
        "UserPoolArn",
        "UserPoolClientId",
        "UserPoolDomain",
        "HostedUiUrl",
        "TableName",
        "FunctionArn",
        "Region",
    ] {
        assert!(
            outputs[key].as_str().is_some_and(|v| !v.is_empty()),
            "output {key} missing: {outputs}"
        );
    }
    assert_eq!(outputs["UserPoolDomain"], inputs.domain.as_str());
    // The hosted UI address is the emulator's (AWS's domain does not resolve for a local
    // pool), and the emulator answers it.
    let hosted = outputs["HostedUiUrl"].as_str().unwrap();
    assert!(
        hosted.starts_with(&format!(
            "{}/oauth2/authorize?client_id=",
            common::endpoint()
        )),
        "{hosted}"
    );
    let port: u16 = common::endpoint()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let path = &hosted[common::endpoint().len()..];
    let status = deployer::local::http_status(port, "GET", path);
    assert!(
        status.is_some_and(|s| (200..400).contains(&s)),
        "GET {hosted}: {status:?}"
    );
    assert!(
        first.stderr.contains("CREATE_COMPLETE"),
        "progress lines on stderr:\n{}",
        first.stderr
    );

    // The zip it runs is tagged current, so the bucket's lifecycle rule never expires it.
    let sdk = common::sdk().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let tags = s3
        .get_object_tagging()
        .bucket(report["artifact"]["bucket"].as_str().unwrap())
        .key(report["artifact"]["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tag_set()
            .iter()
            .map(|t| (t.key(), t.value()))
            .collect::<Vec<_>>(),
        vec![("deployer-state", "current")]
    );

    // The function is the Graviton build, from S3, on provided.al2023.
    let function = aws_sdk_lambda::Client::new(&sdk)
        .get_function()
        .function_name(outputs["FunctionName"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let config = function.configuration.unwrap();
    assert_eq!(config.runtime.unwrap().as_str(), "provided.al2023");
    assert_eq!(config.architectures.unwrap()[0].as_str(), "arm64");
    assert!(
        deployer::build::aarch64_runs_here(),
        "binfmt for aarch64 must be registered (scripts/setup.sh) for the real trigger to run"
    );

    // A login through the real trigger: exactly the mapped claims, in the tokens the mapping names.
    let (id, access) = login(
        &outputs,
        "jane",
        &[
            ("projects", s("p-100, p-200")),
            ("role", s("engineer")),
            ("tenant_id", s("acme")),
        ],
    )
    .await;
    assert_eq!(
        Value::Object(custom(&id)),
        json!({"projects": ["p-100", "p-200"], "role": "engineer"})
    );
    assert_eq!(
        Value::Object(custom(&access)),
        json!({"projects": ["p-100", "p-200"], "role": "engineer", "tenant": "acme"})
    );

    // The row changes: the next login carries the new values.
    let (id, _) = login(
        &outputs,
        "jane",
        &[
            ("projects", AttributeValue::Ss(vec!["p-300".into()])),
            ("role", s("lead")),
        ],
    )
    .await;
    assert_eq!(
        Value::Object(custom(&id)),
        json!({"projects": ["p-300"], "role": "lead"})
    );

    // up again: nothing to change, no change set.
    let again = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded();
    assert_eq!(again.json()["action"], "unchanged");
    assert!(again.json()["changes"].as_array().unwrap().is_empty());
    assert!(again.stderr.contains("nothing changed"), "{}", again.stderr);
    let detailed = deployer(&inputs.path, &["up", "--detailed-exitcode"]).await;
    assert_eq!(detailed.code, 10, "{}", detailed.stderr);

    // A mapping change: the plan shows the function modified, and the new claim arrives.
    inputs.rewrite(json!({"claims": [
        {"attribute": "projects", "tokens": "both", "type": "list"},
        {"attribute": "role", "tokens": "both"},
        {"attribute": "tenant_id", "claim": "tenant", "tokens": "both"}
    ]}));
    let plan = deployer(&inputs.path, &["plan", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(plan["action"], "planned");
    let modified: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap(),
                c["logicalId"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        modified.contains(&("Modify", "TriggerFunction")),
        "{modified:?}"
    );
    let updated = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(updated["action"], "updated");
    let (id, _) = login(
        &outputs,
        "jane",
        &[
            ("projects", s("p-1")),
            ("role", s("lead")),
            ("tenant_id", s("acme")),
        ],
    )
    .await;
    assert_eq!(custom(&id)["tenant"], "acme");

    // outputs again, as JSON and into a file for CI.
    let file = inputs.dir.path().join("outputs.json");
    let shown = deployer(
        &inputs.path,
        &[
            "outputs",
            "--output",
            "json",
            "--outputs-file",
            file.to_str().unwrap(),
        ],
    )
    .await
    .succeeded()
    .json();
    assert_eq!(shown["UserPoolId"], outputs["UserPoolId"]);
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written, shown);

    // down: nothing of it remains.
    assert!(
        !leftovers(&inputs.stack).await.is_empty(),
        "the listing sees the deployed stack"
    );
    let down = deployer(&inputs.path, &["down", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(down["action"], "deleted");
    assert_eq!(down["artifactsRemoved"], 1);
    assert_eq!(leftovers(&inputs.stack).await, Vec::<String>::new());
    // A stack that is already gone is success.
    assert_eq!(
        deployer(&inputs.path, &["down", "--output", "json"])
            .await
            .succeeded()
            .json()["action"],
        "absent"
    );
    let missing = deployer(&inputs.path, &["outputs"]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("is not deployed"),
        "{}",
        missing.stderr
    );
}

#[tokio::test]
async fn a_v1_trigger_puts_string_claims_in_the_id_token_only() {
    let inputs = Inputs::new(json!({
        "eventVersion": "V1_0",
        "featurePlan": "LITE",
        "claims": [{"attribute": "projects"}, {"attribute": "level", "type": "number"}]
    }));
    let outputs = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json()["outputs"]
        .clone();
    assert_eq!(outputs["EventVersion"], "V1_0");
    let (id, access) = login(
        &outputs,
        "raj",
        &[
            ("projects", AttributeValue::Ss(vec!["p-9".into()])),
            ("level", AttributeValue::N("3".into())),
        ],
    )
    .await;
    // V1_0: claim values are strings; a set becomes its JSON text.
    assert_eq!(
        Value::Object(custom(&id)),
        json!({"projects": "[\"p-9\"]", "level": "3"})
    );
    assert_eq!(Value::Object(custom(&access)), json!({}));
    deployer(&inputs.path, &["down"]).await.succeeded();
}

#[tokio::test]
async fn a_failing_deploy_names_the_root_cause_and_the_next_up_recovers() {
    let holder = Inputs::new(json!({}));
    deployer(&holder.path, &["up"]).await.succeeded();
    // A second stack asking for the same (global) domain prefix fails at the domain.
    let clash = Inputs::new(json!({"userPoolDomainName": holder.domain}));
    let failed = deployer(&clash.path, &["up"]).await;
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains("UserPoolDomain (AWS::Cognito::UserPoolDomain) CREATE_FAILED"),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("already exists"),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("ROLLBACK_COMPLETE"),
        "{}",
        failed.stderr
    );
    assert!(
        !failed.stderr.contains("Resource creation cancelled\n"),
        "the cascade is not the cause"
    );

    // Fixed: the failed stack is deleted and created again.
    clash.rewrite(json!({"userPoolDomainName": common::unique("d")}));
    let recovered = deployer(&clash.path, &["up", "--output", "json"])
        .await
        .succeeded();
    assert_eq!(recovered.json()["action"], "created");
    assert!(
        recovered.stderr.contains("deleting it to create it again"),
        "{}",
        recovered.stderr
    );

    deployer(&clash.path, &["down"]).await.succeeded();
    deployer(&holder.path, &["down"]).await.succeeded();
    assert!(leftovers(&clash.stack).await.is_empty());
}

#[tokio::test]
async fn a_kept_stacks_life_protected_refused_forced_and_its_data_brought_back() {
    let inputs = Inputs::new(json!({"lifecycle": "kept"}));
    let created = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(created["action"], "created");
    let table = created["outputs"]["TableName"].as_str().unwrap().to_owned();
    let pool = created["outputs"]["UserPoolId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Protection goes on once the stack exists (the create itself ran unprotected).
    let sdk = common::sdk().await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let described = cognito
        .describe_user_pool()
        .user_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.user_pool.unwrap().deletion_protection,
        Some(aws_sdk_cognitoidentityprovider::types::DeletionProtectionType::Active)
    );
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    ddb.put_item()
        .table_name(&table)
        .item("userName", s("jane"))
        .item("projects", s("p-1"))
        .send()
        .await
        .unwrap();

    let refused = deployer(&inputs.path, &["down"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("deletion protection") && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );

    let forced = deployer(&inputs.path, &["down", "--force", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(forced["action"], "deleted");
    assert_eq!(
        leftovers(&inputs.stack).await,
        vec![format!("table {table}")],
        "only the table is retained"
    );

    // Up again: the retained table (its tags name this stack) is brought back, data and all.
    let again = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(again["action"], "created");
    assert_eq!(again["adoptedTable"], table.as_str());
    let row = ddb
        .get_item()
        .table_name(&table)
        .key("userName", s("jane"))
        .send()
        .await
        .unwrap();
    assert_eq!(row.item.unwrap()["projects"], s("p-1"), "the data survived");

    deployer(&inputs.path, &["down", "--force"])
        .await
        .succeeded();
    ddb.update_table()
        .table_name(&table)
        .deletion_protection_enabled(false)
        .send()
        .await
        .ok();
    ddb.delete_table().table_name(&table).send().await.unwrap();
    assert!(leftovers(&inputs.stack).await.is_empty());
}

#[tokio::test]
async fn replacing_the_table_needs_allow_replace() {
    let inputs = Inputs::new(json!({}));
    deployer(&inputs.path, &["up"]).await.succeeded();
    // A new partition key means a new table (under a new name: CloudFormation replaces a
    // named resource only so); the old table's rows would be lost.
    let renamed = format!("{}-users-v2", inputs.stack);
    inputs.rewrite(json!({"table": {"partitionKey": "sub", "name": renamed}}));
    let refused = deployer(&inputs.path, &["up"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("UsersTable (AWS::DynamoDB::Table)")
            && refused.stderr.contains("--allow-replace"),
        "{}",
        refused.stderr
    );
    let plan = deployer(&inputs.path, &["plan", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            // AWS documents KeySchema as "Update requires: Replacement" (True); the emulator
            // says Conditional. Both are refused as destructive.
            .any(|c| c["logicalId"] == "UsersTable"
                && (c["replacement"] == "True" || c["replacement"] == "Conditional")),
        "{}",
        plan["changes"]
    );
    let replaced = deployer(&inputs.path, &["up", "--allow-replace", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(replaced["action"], "updated");
    assert_eq!(replaced["outputs"]["TableName"], renamed.as_str());
    deployer(&inputs.path, &["down"]).await.succeeded();
    assert!(leftovers(&inputs.stack).await.is_empty());
}

#[tokio::test]
async fn a_no_op_up_notices_the_trigger_removed_behind_the_stacks_back() {
    let inputs = Inputs::new(json!({}));
    let outputs = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json()["outputs"]
        .clone();
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&common::sdk().await);
    cognito
        .update_user_pool()
        .user_pool_id(outputs["UserPoolId"].as_str().unwrap())
        .lambda_config(aws_sdk_cognitoidentityprovider::types::LambdaConfigType::builder().build())
        .send()
        .await
        .unwrap();
    let drifted = deployer(&inputs.path, &["up"]).await;
    assert_eq!(drifted.code, 4, "{}", drifted.stderr);
    assert!(
        drifted.stderr.contains("changed outside")
            && drifted
                .stderr
                .contains("trigger wired: the pool has no pre-token-generation trigger"),
        "{}",
        drifted.stderr
    );
    deployer(&inputs.path, &["down"]).await.succeeded();
}

/// A share of the logins routed to another version (the alias's RoutingConfig, set outside the
/// stack) runs code the checks never read: a no-op `up` names it.
#[tokio::test]
async fn a_no_op_up_notices_the_alias_routing_logins_to_another_version() {
    let inputs = Inputs::new(json!({}));
    let outputs = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json()["outputs"]
        .clone();
    let function = outputs["FunctionName"].as_str().unwrap();
    let lambda = aws_sdk_lambda::Client::new(&common::sdk().await);
    // A second version: a changed configuration, published (Lambda API reference,
    // PublishVersion publishes only when the code or configuration changed).
    lambda
        .update_function_configuration()
        .function_name(function)
        .description("changed outside the stack")
        .send()
        .await
        .unwrap();
    let other = lambda
        .publish_version()
        .function_name(function)
        .send()
        .await
        .unwrap()
        .version
        .unwrap();
    lambda
        .update_alias()
        .function_name(function)
        .name("live")
        .routing_config(
            aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
                .additional_version_weights(&other, 0.25)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let drifted = deployer(&inputs.path, &["up"]).await;
    assert_eq!(drifted.code, 4, "{}", drifted.stderr);
    assert!(
        drifted.stderr.contains("alias runs one version")
            && drifted.stderr.contains(&format!("25% to version {other}")),
        "{}",
        drifted.stderr
    );
    deployer(&inputs.path, &["down"]).await.succeeded();
}

/// The pool calls a published version through an alias: while an `up` changes the mapping
/// (a new configuration, so a new version), every login gets its tokens, and once it is done
/// the new claim is there.
#[tokio::test]
async fn logins_keep_working_while_an_up_changes_the_mapping() {
    let projects = json!({"attribute": "projects", "tokens": "both", "type": "list"});
    let inputs = Inputs::new(json!({"eventVersion": "V2_0", "claims": [projects]}));
    let first = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json();
    let outputs = first["outputs"].clone();
    assert!(
        outputs["TriggerArn"].as_str().unwrap().ends_with(":live"),
        "the pool calls the alias: {outputs}"
    );
    let row = [("projects", s("p-1")), ("tier", s("gold"))];
    let (id, _) = common::login(&outputs, "jane", &row).await;
    assert!(id.get("tier").is_none());

    inputs.rewrite(json!({"claims": [projects, {"attribute": "tier", "tokens": "both"}]}));
    let path = inputs.path.clone();
    let update = tokio::spawn(async move { deployer(&path, &["up", "--output", "json"]).await });
    let mut logins = 0;
    while !update.is_finished() || logins == 0 {
        // `login` panics on a refused login: a login during the update must succeed.
        let (id, _) = common::login(&outputs, "jane", &row).await;
        assert_eq!(id["projects"], json!(["p-1"]), "{id}");
        logins += 1;
    }
    let updated = update.await.unwrap().succeeded().json();
    assert_eq!(updated["action"], "updated");
    assert!(updated["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true));
    let (id, access) = common::login(&outputs, "jane", &row).await;
    assert_eq!(
        (id["tier"].clone(), access["tier"].clone()),
        (json!("gold"), json!("gold"))
    );
    eprintln!("{logins} logins during the update");
    deployer(&inputs.path, &["down"]).await.succeeded();
}
