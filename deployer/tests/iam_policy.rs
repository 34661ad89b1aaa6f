//! The README's CI policy, proven on fakecloud with `--iam strict`: an IAM user holding
//! exactly what `deployer policy` prints runs `up` (with its post-deploy checks), `users add`
//! and `down`; without any one statement that fakecloud enforces, a named step fails with
//! AccessDenied and a message naming the permission.
//!
//! fakecloud evaluates identity policies for STS, S3, IAM, Lambda and DynamoDB, and neither
//! for CloudFormation, Cognito and CloudWatch Logs nor for what CloudFormation provisions on
//! the caller's behalf (its startup log lists the enforced services). The statements only
//! AWS can prove are listed in AWS_ONLY below, and in the README. Two more differences, both
//! fakecloud's: it names S3 actions after the operations (s3:HeadBucket where AWS checks
//! s3:ListBucket), so its names are added beside AWS's; and it serves plain HTTP, which the
//! artifacts bucket's TLS-only policy rightly denies to any real identity, so the bucket is
//! made beforehand by the account's admin, as a bootstrap step would.

mod common;

use common::{Emu, Inputs};
use serde_json::{json, Value};

/// Statements whose actions fakecloud does not enforce, and why.
const AWS_ONLY: &[(&str, &str)] = &[
    ("ReadStacks", "CloudFormation is not enforced"),
    ("DeployStacks", "CloudFormation is not enforced"),
    (
        "PassTriggerRole",
        "checked when CloudFormation creates the function, which is not enforced",
    ),
    ("TriggerLogs", "only CloudFormation's provisioning uses it"),
    (
        "ListLogGroups",
        "only CloudFormation's provisioning uses it",
    ),
    ("UserPools", "Cognito is not enforced"),
    ("CreateUserPools", "Cognito is not enforced"),
    ("UserPoolDomains", "Cognito is not enforced"),
    (
        "OperateTrigger",
        "CloudWatch Logs is not enforced, and fakecloud runs no function without Docker",
    ),
];

/// Each enforced statement, the command that needs it, and a permission its denial names.
const ENFORCED: &[(&str, &str, &str)] = &[
    ("WhoAmI", "up", "sts:GetCallerIdentity"),
    ("ArtifactsBucket", "up", "s3:ListBucket"),
    ("Artifacts", "up", "s3:GetObject"),
    ("SharedBuilds", "up", "s3:GetObject"),
    ("TriggerRole", "up", "iam:List"),
    ("TriggerFunction", "up", "lambda:GetFunction"),
    ("UsersTable", "up", "dynamodb:DescribeTable"),
    ("UsersTableRows", "users", "dynamodb:PutItem"),
];

/// fakecloud's names for S3 actions, added beside AWS's.
fn for_fakecloud(mut policy: Value) -> Value {
    let alias = |a: &str| -> &[&str] {
        match a {
            "s3:ListBucket" => &["s3:HeadBucket", "s3:ListObjectsV2"],
            "s3:GetObject" => &["s3:HeadObject"],
            "s3:PutBucketPublicAccessBlock" => &["s3:PutPublicAccessBlock"],
            "s3:PutEncryptionConfiguration" => &["s3:PutBucketEncryption"],
            "s3:PutLifecycleConfiguration" => &["s3:PutBucketLifecycleConfiguration"],
            _ => &[],
        }
    };
    for s in policy["Statement"].as_array_mut().unwrap() {
        let actions: Vec<String> = s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        let mut all = actions.clone();
        for a in &actions {
            all.extend(alias(a).iter().map(|x| (*x).to_owned()));
        }
        s["Action"] = json!(all);
    }
    policy
}

async fn put_policy(iam: &aws_sdk_iam::Client, user: &str, policy: &Value) {
    iam.put_user_policy()
        .user_name(user)
        .policy_name("deployer")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_ci_policy_is_enough_and_each_enforced_statement_is_needed() {
    let emu = Emu::fakecloud();
    let inputs = Inputs::new(json!({"region": "us-east-1"}));
    let printed = emu
        .run(&inputs.path, &["policy", "--account", "000000000000"])
        .await
        .ok();
    let policy: Value = serde_json::from_str(&printed.stdout).unwrap();
    let sids: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap().to_owned())
        .collect();
    // Every statement is proven here or listed as AWS's alone: a new one must be classified.
    let mut classified: Vec<String> = AWS_ONLY
        .iter()
        .map(|(s, _)| *s)
        .chain(ENFORCED.iter().map(|(s, _, _)| *s))
        .map(str::to_owned)
        .collect();
    classified.sort();
    let mut all = sids.clone();
    all.sort();
    assert_eq!(all, classified);

    // The admin: the artifacts bucket (plain HTTP here), the user and its key.
    let admin = emu.sdk().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&admin)
            .force_path_style(true)
            .build(),
    );
    let bucket = "deployer-artifacts-000000000000-us-east-1";
    s3.create_bucket().bucket(bucket).send().await.ok();
    s3.delete_bucket_policy().bucket(bucket).send().await.ok();
    let iam = aws_sdk_iam::Client::new(&admin);
    let user = format!("ci-{}", inputs.stack);
    iam.create_user().user_name(&user).send().await.unwrap();
    let key = iam
        .create_access_key()
        .user_name(&user)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let key = (key.access_key_id, key.secret_access_key);
    let key = (key.0.as_str(), key.1.as_str());
    let full = for_fakecloud(policy.clone());

    // Exactly the policy: up (its checks included), a user and its row, down.
    put_policy(&iam, &user, &full).await;
    let up = emu
        .run_as(&inputs.path, &["up", "--output", "json"], key)
        .await
        .ok();
    assert!(up.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true));
    emu.run_as(
        &inputs.path,
        &["users", "add", "jane", "--set", "projects=p-1"],
        key,
    )
    .await
    .ok();
    emu.run_as(&inputs.path, &["down"], key).await.ok();

    // Without each enforced statement, the step that needs it fails, naming the permission.
    for (sid, step, permission) in ENFORCED {
        if *step == "users" {
            // The stack must exist for `users add`: deployed with the whole policy.
            put_policy(&iam, &user, &full).await;
            emu.run_as(&inputs.path, &["up"], key).await.ok();
        }
        let mut without = policy.clone();
        without["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["Sid"] != *sid);
        put_policy(&iam, &user, &for_fakecloud(without)).await;
        let args: &[&str] = match *step {
            "up" => &["up"],
            _ => &["users", "add", "jane", "--set", "projects=p-1"],
        };
        let denied = emu.run_as(&inputs.path, args, key).await;
        assert_eq!(denied.code, 1, "without {sid}: {}", denied.stderr);
        assert!(
            denied.stderr.contains(permission),
            "without {sid}, the message names {permission}:\n{}",
            denied.stderr
        );
        assert!(
            denied
                .stderr
                .contains(&format!("arn:aws:iam::000000000000:user/{user}")),
            "the message names the caller:\n{}",
            denied.stderr
        );
        // Clean up as the admin (a denied up may have created the stack before its checks).
        emu.run(&inputs.path, &["down"]).await.ok();
    }
    assert!(emu.leftovers(&inputs.stack).await.is_empty());
}
