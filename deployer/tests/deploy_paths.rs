//! The deploy paths against both local references, ministack and the stricter fakecloud: one
//! test body, the emulator as a parameter. Where an emulator cannot give AWS's documented
//! answer, the body says so beside the assertion (and docs/emulators.md lists
//! it). No logins here: fakecloud's Lambda needs Docker, so the trigger runs only on
//! ministack (e2e.rs, users.rs).

mod common;

use common::{unique, Emu, Inputs};
use serde_json::json;

/// One #[tokio::test] per emulator for a body `async fn name(emu: &Emu)`.
macro_rules! on_both {
    ($($body:ident),* $(,)?) => {$(
        mod $body {
            #[tokio::test]
            async fn ministack() {
                super::$body(&super::Emu::ministack()).await
            }
            #[tokio::test]
            async fn fakecloud() {
                super::$body(&super::Emu::fakecloud()).await
            }
        }
    )*};
}

on_both!(
    up_no_op_plan_and_down,
    a_kept_stacks_life,
    a_taken_domain_prefix_is_named_not_retried_and_leaves_nothing,
    ephemeral_up_gc_and_down_from_outputs,
);

async fn up_no_op_plan_and_down(emu: &Emu) {
    let inputs = Inputs::new(
        json!({"claims": [{"attribute": "projects", "tokens": "both", "type": "list"}]}),
    );
    emu.bootstrap(&inputs.path).await;
    let created = emu
        .run(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(created["action"], "created", "{}", emu.name);
    assert!(
        created["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{}",
        created["checks"]
    );

    let again = emu
        .run(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded();
    assert_eq!(again.json()["action"], "unchanged");
    assert_eq!(
        emu.run(&inputs.path, &["up", "--detailed-exitcode"])
            .await
            .code,
        10
    );
    assert_eq!(
        emu.run(&inputs.path, &["plan", "--output", "json"])
            .await
            .succeeded()
            .json()["action"],
        "unchanged"
    );

    inputs.rewrite(json!({"claims": [{"attribute": "projects", "tokens": "id", "type": "list"}]}));
    let plan = emu
        .run(&inputs.path, &["plan", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(plan["action"], "planned");
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["logicalId"] == "TriggerFunction" && c["action"] == "Modify"),
        "{}",
        plan["changes"]
    );
    // plan changed nothing: the next up still has the change to make. On AWS (and ministack)
    // only the function changes; fakecloud's change set calls every resource a possible
    // replacement, which the deployer rightly refuses without --allow-replace.
    let update: &[&str] = if emu.precise_change_sets {
        &["up", "--output", "json"]
    } else {
        let refused = emu.run(&inputs.path, &["up"]).await;
        assert_eq!(refused.code, 2, "{}", refused.stderr);
        &["up", "--allow-replace", "--output", "json"]
    };
    let updated = emu.run(&inputs.path, update).await.succeeded().json();
    assert_eq!(updated["action"], "updated");

    let down = emu
        .run(&inputs.path, &["down", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(down["action"], "deleted");
    assert_eq!(
        emu.leftovers(&inputs.stack).await,
        Vec::<String>::new(),
        "{}",
        emu.name
    );
    assert_eq!(emu.stack_status(&inputs.stack).await, None);
    assert_eq!(
        emu.run(&inputs.path, &["down", "--output", "json"])
            .await
            .succeeded()
            .json()["action"],
        "absent"
    );
}

async fn a_kept_stacks_life(emu: &Emu) {
    let inputs = Inputs::new(json!({"lifecycle": "kept"}));
    emu.bootstrap(&inputs.path).await;
    let created = emu
        .run(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json();
    let table = created["outputs"]["TableName"].as_str().unwrap().to_owned();
    let pool = created["outputs"]["UserPoolId"]
        .as_str()
        .unwrap()
        .to_owned();
    let sdk = emu.sdk().await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let protection = || async {
        cognito
            .describe_user_pool()
            .user_pool_id(&pool)
            .send()
            .await
            .unwrap()
            .user_pool
            .unwrap()
            .deletion_protection
    };
    // Switched on by an update once the stack exists (the create itself ran without).
    assert_eq!(
        protection().await,
        Some(aws_sdk_cognitoidentityprovider::types::DeletionProtectionType::Active)
    );
    // Deletion protection is real: the pool cannot be deleted behind the stack's back (AWS:
    // InvalidParameterException; fakecloud enforces it, ministack does not).
    if emu.name == "fakecloud" {
        let refused = cognito.delete_user_pool().user_pool_id(&pool).send().await;
        assert!(refused.is_err(), "a protected pool was deleted");
    }
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    ddb.put_item()
        .table_name(&table)
        .item(
            "userName",
            aws_sdk_dynamodb::types::AttributeValue::S("jane".into()),
        )
        .item(
            "projects",
            aws_sdk_dynamodb::types::AttributeValue::S("p-1".into()),
        )
        .send()
        .await
        .unwrap();

    let refused = emu.run(&inputs.path, &["down"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    // An inputs file of the same stack name that says `disposable` (the shipped one does)
    // changes nothing: the deployed stack says it is kept.
    let disposable = Inputs::new(json!({"stackName": inputs.stack, "lifecycle": "disposable"}));
    let refused = emu.run(&disposable.path, &["down"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("deployed as kept"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        protection().await,
        Some(aws_sdk_cognitoidentityprovider::types::DeletionProtectionType::Active),
        "the pool keeps its protection"
    );
    assert_eq!(
        emu.stack_status(&inputs.stack).await.as_deref(),
        Some("UPDATE_COMPLETE")
    );

    let forced = emu
        .run(&inputs.path, &["down", "--force", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(forced["action"], "deleted");
    assert_eq!(
        emu.leftovers(&inputs.stack).await,
        vec![format!("table {table}")],
        "only the data stays"
    );

    // Up again. AWS (CloudFormation tags what it creates) and ministack: the table comes back
    // into the new stack with its data. fakecloud does not tag resources, so the table's owner
    // cannot be told and the deployer refuses it by name, changing nothing.
    let again = emu.run(&inputs.path, &["up", "--output", "json"]).await;
    if emu.tags_resources {
        let again = again.succeeded().json();
        assert_eq!(again["adoptedTable"], table.as_str());
        let row = ddb
            .get_item()
            .table_name(&table)
            .key(
                "userName",
                aws_sdk_dynamodb::types::AttributeValue::S("jane".into()),
            )
            .send()
            .await
            .unwrap();
        assert!(row.item.is_some(), "the data came back with the table");
        emu.run(&inputs.path, &["down", "--force"])
            .await
            .succeeded();
    } else {
        assert_eq!(again.code, 2, "{}", again.stderr);
        assert!(
            again.stderr.contains(&format!(
                "the table {table} exists and was not made by stack"
            )),
            "{}",
            again.stderr
        );
        assert_eq!(
            emu.stack_status(&inputs.stack).await,
            None,
            "nothing was created"
        );
    }
    ddb.update_table()
        .table_name(&table)
        .deletion_protection_enabled(false)
        .send()
        .await
        .ok();
    ddb.delete_table().table_name(&table).send().await.unwrap();
    assert!(emu.leftovers(&inputs.stack).await.is_empty());
}

async fn a_taken_domain_prefix_is_named_not_retried_and_leaves_nothing(emu: &Emu) {
    let holder = Inputs::new(json!({}));
    emu.bootstrap(&holder.path).await;
    emu.run(&holder.path, &["up"]).await.succeeded();
    // A kept stack whose (global) domain prefix is taken: the create fails at the domain.
    let clash = Inputs::new(json!({"userPoolDomainName": holder.domain, "lifecycle": "kept"}));
    emu.bootstrap(&clash.path).await;
    let failed = emu.run(&clash.path, &["up"]).await;
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("UserPoolDomain") && failed.stderr.contains("already exists"),
        "the root cause is named: {}",
        failed.stderr
    );
    assert!(
        !failed.stderr.contains("another operation got to stack"),
        "a resource that exists is not a lost race: {}",
        failed.stderr
    );
    // Protection was off during the create, so the stack rolled back completely:
    // ROLLBACK_COMPLETE, not ROLLBACK_FAILED, and (AWS, ministack) no resource of it is left;
    // fakecloud keeps them until the stack is deleted, which the next up does.
    assert_eq!(
        emu.stack_status(&clash.stack).await.as_deref(),
        Some("ROLLBACK_COMPLETE")
    );
    if !emu.rolls_back_creates {
        // fakecloud keeps a failed create's resources even after the stack is deleted, so no
        // create of that name can follow; AWS's rollback deletes them. Remove them as an
        // operator would, and stop here: the recovery below is AWS's path.
        emu.run(&clash.path, &["down", "--force"]).await.succeeded();
        purge(emu, &clash.stack).await;
        emu.run(&holder.path, &["down"]).await.succeeded();
        assert!(emu.leftovers(&holder.stack).await.is_empty());
        return;
    }
    assert_eq!(
        emu.leftovers(&clash.stack).await,
        Vec::<String>::new(),
        "{}",
        emu.name
    );

    // With a free prefix the next up deletes the failed stack and creates it anew.
    clash.rewrite(json!({"userPoolDomainName": unique("d")}));
    let recovered = emu
        .run(&clash.path, &["up", "--output", "json"])
        .await
        .succeeded();
    assert_eq!(recovered.json()["action"], "created");
    emu.run(&clash.path, &["down", "--force"]).await.succeeded();
    emu.run(&holder.path, &["down"]).await.succeeded();
    let table = format!("{}-users", clash.stack);
    let ddb = aws_sdk_dynamodb::Client::new(&emu.sdk().await);
    ddb.update_table()
        .table_name(&table)
        .deletion_protection_enabled(false)
        .send()
        .await
        .ok();
    ddb.delete_table().table_name(&table).send().await.ok();
    assert!(emu.leftovers(&clash.stack).await.is_empty());
    assert!(emu.leftovers(&holder.stack).await.is_empty());
}

async fn ephemeral_up_gc_and_down_from_outputs(emu: &Emu) {
    let inputs = Inputs::new(json!({}));
    emu.bootstrap(&inputs.path).await;
    let file = inputs.dir.path().join("outputs.json");
    let out = file.to_str().unwrap();
    let short_args = ["--suffix", "e1", "--ttl", "1s", "up", "--output", "json"];
    let long_args = [
        "--suffix",
        "e2",
        "--ttl",
        "2h",
        "up",
        "--outputs-file",
        out,
        "--output",
        "json",
    ];
    let (short, long) = tokio::join!(
        emu.run(&inputs.path, &short_args),
        emu.run(&inputs.path, &long_args)
    );
    let short = short.succeeded().json()["stack"]
        .as_str()
        .unwrap()
        .to_owned();
    let long = long.succeeded().json()["stack"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let gc = emu
        .run(&inputs.path, &["gc", "--output", "json"])
        .await
        .succeeded()
        .json();
    let result = |stack: &str| {
        gc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["stack"] == stack)
            .map(|e| e["result"].as_str().unwrap().to_owned())
    };
    assert_eq!(result(&short).as_deref(), Some("deleted"), "{gc}");
    assert!(
        result(&long).is_some_and(|r| r.starts_with("skipped: expires at")),
        "{gc}"
    );
    assert_eq!(emu.stack_status(&short).await, None);

    // The teardown step needs only the file `up` wrote.
    let down = common::run_binary(
        std::path::Path::new("/nonexistent.json"),
        &[
            "--endpoint-url",
            &emu.endpoint,
            "down",
            "--from-outputs",
            out,
            "--output",
            "json",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    )
    .await
    .succeeded()
    .json();
    assert_eq!(down["action"], "deleted");
    assert!(emu.leftovers(&short).await.is_empty() && emu.leftovers(&long).await.is_empty());
}

/// Deletes what an emulator left of a stack outside any stack (fakecloud's failed creates).
async fn purge(emu: &Emu, stack: &str) {
    let sdk = emu.sdk().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("{stack}-users");
    ddb.update_table()
        .table_name(&table)
        .deletion_protection_enabled(false)
        .send()
        .await
        .ok();
    ddb.delete_table().table_name(&table).send().await.ok();
    aws_sdk_lambda::Client::new(&sdk)
        .delete_function()
        .function_name(format!("{stack}-pretoken"))
        .send()
        .await
        .ok();
    let iam = aws_sdk_iam::Client::new(&sdk);
    for role in iam.list_roles().send().await.unwrap().roles {
        if role.role_name.starts_with(&format!("{stack}-")) {
            for name in iam
                .list_role_policies()
                .role_name(&role.role_name)
                .send()
                .await
                .unwrap()
                .policy_names
            {
                iam.delete_role_policy()
                    .role_name(&role.role_name)
                    .policy_name(name)
                    .send()
                    .await
                    .ok();
            }
            iam.delete_role()
                .role_name(&role.role_name)
                .send()
                .await
                .ok();
        }
    }
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    for pool in cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .unwrap()
        .user_pools
        .unwrap_or_default()
    {
        if common::stacks_pool(pool.name.as_deref().unwrap_or_default(), stack) {
            cognito
                .delete_user_pool()
                .user_pool_id(pool.id.unwrap_or_default())
                .send()
                .await
                .ok();
        }
    }
    assert_eq!(emu.leftovers(stack).await, Vec::<String>::new(), "purged");
}
