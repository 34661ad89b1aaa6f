//! The CI roles of `deployer policy`, proven on fakecloud with `--iam strict`. Three IAM users
//! hold exactly what `policy --role deployer|ephemeral|publisher` prints:
//! - the ephemeral role runs `up`, `users add` and `down` of its copy, and is refused (with the
//!   action named) everything of the base stack: a role without the boundary, a policy on
//!   the base role, the base table, its current artifact and function, and any write to the
//!   shared builds;
//! - the deployer role runs `up` and `down --force` of the kept stack, and cannot make a role
//!   without the boundary or write a shared build;
//! - the publisher alone shares a build, once; a forged object at a build's key is refused
//!   to the deploying roles, and `up` on a runner with an empty cache deploys what the
//!   publisher put there.
//!
//! Then, for each statement fakecloud enforces, the ephemeral role without it fails a named
//! step with the missing action.
//!
//! fakecloud evaluates identity policies for STS, S3, IAM, Lambda and DynamoDB, not for
//! CloudFormation, Cognito and CloudWatch Logs, nor for what CloudFormation provisions. It
//! sets no `iam:PermissionsBoundary` key (so CreateRole/PutRolePolicy are refused here with
//! or without the boundary; tests/ci_roles.rs proves the condition) and does not evaluate
//! Cognito's tags (ci_roles.rs proves the `deployer:stack` scoping). Its S3 action names
//! follow the operations (s3:HeadBucket where AWS checks s3:ListBucket): they are added beside
//! AWS's. It serves plain HTTP, which the bucket's TLS-only statement rightly denies to any
//! real identity, so the admin puts the bucket policy back without that statement.

mod common;

use common::{Emu, Inputs, Run};
use serde_json::{json, Value};

const ACCOUNT: &str = "000000000000";
const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const BUCKET: &str = "deployer-artifacts-000000000000-us-east-1";

/// Statements whose actions fakecloud does not enforce, or that deny (proven by the
/// refusals below and by ci_roles.rs), and why.
const NOT_HERE: &[(&str, &str)] = &[
    ("ReadStacks", "CloudFormation is not enforced"),
    ("DeployStacks", "CloudFormation is not enforced"),
    ("CreateChangeSets", "CloudFormation is not enforced"),
    (
        "CreateTriggerFunction",
        "only CloudFormation's provisioning uses it, which is not enforced",
    ),
    ("NoRolePaths", "a deny: ci_roles.rs"),
    (
        "TriggerRoleBounded",
        "only CloudFormation's provisioning uses it, which is not enforced",
    ),
    (
        "PassTriggerRole",
        "checked when CloudFormation creates the function, which is not enforced",
    ),
    ("TriggerLogs", "only CloudFormation's provisioning uses it"),
    (
        "ListLogGroups",
        "only CloudFormation's provisioning uses it",
    ),
    (
        "CognitoInvokePermission",
        "only CloudFormation's provisioning uses it; ci_roles.rs proves the condition",
    ),
    ("UserPools", "Cognito is not enforced"),
    ("TagUserPools", "Cognito is not enforced"),
    ("CreateUserPools", "Cognito is not enforced"),
    ("UserPoolDomains", "Cognito is not enforced"),
    (
        "OperateTrigger",
        "CloudWatch Logs is not enforced, and fakecloud runs no function without Docker",
    ),
    (
        "NeverWriteSharedBuilds",
        "a deny: the shared-build writes below are refused",
    ),
    (
        "NoRoleWithoutBoundary",
        "a deny: the CreateRole below is refused",
    ),
    ("NoBoundaryRemoval", "a deny: ci_roles.rs"),
    ("NoBoundaryChange", "a deny: ci_roles.rs"),
];

/// Each enforced statement of the ephemeral role, the command that needs it, and a permission
/// its denial names. `fresh` runs with an empty build cache (the zip from the shared builds).
const ENFORCED: &[(&str, &str, &str, bool)] = &[
    ("WhoAmI", "up", "sts:GetCallerIdentity", false),
    ("Bootstrapped", "up", "s3:ListBucket", false),
    ("ReadBoundary", "up", "iam:GetPolicy", false),
    ("Artifacts", "up", "s3:GetObject", false),
    ("ReadSharedBuilds", "up", "s3:GetObject", true),
    ("TriggerRole", "up", "iam:GetRole", false),
    ("TriggerFunction", "up", "lambda:GetFunction", false),
    ("UsersTable", "up", "dynamodb:DescribeTable", false),
    ("UsersTableRows", "users", "dynamodb:UpdateItem", false),
];

/// fakecloud's names for S3 actions, added beside AWS's; and without the conditions on
/// `s3:if-none-match`, a key fakecloud does not set (its S3 answers a taken key with 412 as
/// AWS does; ci_roles.rs proves the condition).
fn for_fakecloud(mut policy: Value) -> Value {
    let alias = |a: &str| -> &[&str] {
        match a {
            "s3:ListBucket" => &["s3:HeadBucket", "s3:ListObjectsV2"],
            "s3:GetObject" => &["s3:HeadObject"],
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
        if s["Condition"]["Null"].get("s3:if-none-match").is_some() {
            s.as_object_mut().unwrap().remove("Condition");
        }
    }
    policy
}

/// An IAM user holding `policy`, and its access key.
struct User {
    name: String,
    key: (String, String),
}

impl User {
    async fn new(iam: &aws_sdk_iam::Client, name: String, policy: &Value) -> Self {
        iam.create_user().user_name(&name).send().await.unwrap();
        let key = iam
            .create_access_key()
            .user_name(&name)
            .send()
            .await
            .unwrap()
            .access_key
            .unwrap();
        let user = Self {
            name,
            key: (key.access_key_id, key.secret_access_key),
        };
        user.allow(iam, policy).await;
        user
    }
    async fn allow(&self, iam: &aws_sdk_iam::Client, policy: &Value) {
        iam.put_user_policy()
            .user_name(&self.name)
            .policy_name("deployer")
            .policy_document(for_fakecloud(policy.clone()).to_string())
            .send()
            .await
            .unwrap();
    }
    fn key(&self) -> (&str, &str) {
        (&self.key.0, &self.key.1)
    }
    fn arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT}:user/{}", self.name)
    }
    async fn sdk(&self, emu: &Emu) -> aws_config::SdkConfig {
        emu.sdk_as(&self.key.0, &self.key.1).await
    }
}

fn s3(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// A call refused by IAM, with the action named.
fn refused<T, E>(
    what: &str,
    action: &str,
    result: Result<T, aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) where
    T: std::fmt::Debug,
    E: std::error::Error + aws_smithy_types::error::metadata::ProvideErrorMetadata + 'static,
{
    let err = result.expect_err(what);
    let code = aws_smithy_types::error::metadata::ProvideErrorMetadata::code(&err)
        .unwrap_or_default()
        .to_owned();
    let text = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&err));
    assert!(
        code.starts_with("AccessDenied") || text.contains("AccessDenied"),
        "{what}: {text}"
    );
    assert!(
        text.contains(action),
        "{what}: the denial names {action}: {text}"
    );
}

/// `up` of the copy with `suffix`, as `user`, on a runner whose build cache is `cache`.
async fn up_copy(emu: &Emu, base: &Inputs, user: &User, suffix: &str, cache: &str) -> Value {
    emu.run_with(
        &base.path,
        &["--suffix", suffix, "up", "--output", "json"],
        user.key(),
        &[("DEPLOYER_CACHE_DIR", cache)],
    )
    .await
    .succeeded()
    .json()
}

/// The admin's set-up: bootstrap, then the bucket policy without its TLS-only statement
/// (plain HTTP here) and its write-once statement (fakecloud sets no `s3:if-none-match` key,
/// so it would refuse every write). The admin's SDK configuration.
async fn bootstrapped(emu: &Emu, base: &Inputs, bucket: &str) -> aws_config::SdkConfig {
    emu.bootstrap(&base.path).await;
    let admin = emu.sdk().await;
    let current = s3(&admin)
        .get_bucket_policy()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    let mut bucket_policy: Value = serde_json::from_str(&current).unwrap();
    bucket_policy["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["Sid"] != "TlsOnly" && s["Sid"] != "SharedBuildsWriteOnce");
    s3(&admin)
        .put_bucket_policy()
        .bucket(bucket)
        .policy(bucket_policy.to_string())
        .send()
        .await
        .unwrap();
    admin
}

fn policy_of(printed: &Run) -> Value {
    serde_json::from_str(&printed.stdout).unwrap()
}

#[tokio::test]
async fn each_ci_role_does_its_job_and_nothing_of_the_others() {
    let emu = Emu::fakecloud();
    let base = Inputs::new(json!({"region": "us-east-1", "lifecycle": "kept"}));
    let stack = base.stack.clone();
    let copy = format!("{stack}--e1");
    let role = |r: &'static str| ["policy", "--account", ACCOUNT, "--role", r];
    let ephemeral_policy = policy_of(&emu.run(&base.path, &role("ephemeral")).await.succeeded());
    let deployer_policy = policy_of(&emu.run(&base.path, &role("deployer")).await.succeeded());
    let publisher_policy = policy_of(&emu.run(&base.path, &role("publisher")).await.succeeded());

    // Every statement is proven here or listed: a new one must be classified.
    let mut sids: Vec<&str> = ephemeral_policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    sids.sort();
    let mut classified: Vec<&str> = NOT_HERE
        .iter()
        .map(|(s, _)| *s)
        .chain(ENFORCED.iter().map(|(s, ..)| *s))
        .collect();
    classified.sort();
    assert_eq!(sids, classified);

    let admin = bootstrapped(&emu, &base, BUCKET).await;
    let iam = aws_sdk_iam::Client::new(&admin);
    let ephemeral = User::new(&iam, format!("eph-{stack}"), &ephemeral_policy).await;
    let deployer = User::new(&iam, format!("dep-{stack}"), &deployer_policy).await;
    let publisher = User::new(&iam, format!("pub-{stack}"), &publisher_policy).await;

    // The publisher shares the build, once; a second publish finds it there.
    let publish = || {
        emu.run_as(
            &base.path,
            &["build", "--publish", "--output", "json"],
            publisher.key(),
        )
    };
    let published = publish().await.succeeded().json();
    let build_key = published["published"]["key"].as_str().unwrap().to_owned();
    let again = publish().await.succeeded().json();
    assert_eq!(again["published"]["uploaded"], false);

    // The deployer role: the kept stack, up twice (the second switches protection on).
    let up = emu
        .run_as(&base.path, &["up", "--output", "json"], deployer.key())
        .await
        .succeeded()
        .json();
    assert!(
        up["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{}",
        up["checks"]
    );
    let base_artifact = up["artifact"]["key"].as_str().unwrap().to_owned();
    emu.run_as(&base.path, &["up"], deployer.key())
        .await
        .succeeded();

    // The ephemeral role: its copy, from a runner whose cache is empty (the zip comes from
    // the publisher's shared build), and a user.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_cache = fresh.path().to_str().unwrap();
    let copy_up = up_copy(&emu, &base, &ephemeral, "e1", fresh_cache).await;
    assert_eq!(copy_up["artifact"]["from"], "shared-cache", "{copy_up}");
    assert_eq!(copy_up["artifact"]["sha256"], published["sha256"]);
    assert!(copy_up["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true));
    // A new user's generated password goes to a file, never to the job's log.
    let jane_password = fresh.path().join("jane.password");
    emu.run_as(
        &base.path,
        &[
            "--suffix",
            "e1",
            "users",
            "add",
            "jane",
            "--set",
            "projects=p-1",
            "--secret-file",
            jane_password.to_str().unwrap(),
        ],
        ephemeral.key(),
    )
    .await
    .succeeded();

    // What the ephemeral role must never do to the base stack, nor either deploying role to
    // the shared builds.
    let eph = ephemeral.sdk(&emu).await;
    let eph_iam = aws_sdk_iam::Client::new(&eph);
    refused(
        "a role without the boundary",
        "iam:CreateRole",
        eph_iam
            .create_role()
            .role_name(format!("{copy}-pretoken2"))
            .assume_role_policy_document(LAMBDA_TRUST)
            .send()
            .await,
    );
    refused(
        "a policy on the base stack's role",
        "iam:PutRolePolicy",
        eph_iam
            .put_role_policy()
            .role_name(format!("{stack}-pretoken"))
            .policy_name("admin")
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
            .send()
            .await,
    );
    let eph_ddb = aws_sdk_dynamodb::Client::new(&eph);
    refused(
        "lifting the base table's protection",
        "dynamodb:UpdateTable",
        eph_ddb
            .update_table()
            .table_name(format!("{stack}-users"))
            .deletion_protection_enabled(false)
            .send()
            .await,
    );
    refused(
        "deleting the base table",
        "dynamodb:DeleteTable",
        eph_ddb
            .delete_table()
            .table_name(format!("{stack}-users"))
            .send()
            .await,
    );
    refused(
        "a row of the base table",
        "dynamodb:PutItem",
        eph_ddb
            .put_item()
            .table_name(format!("{stack}-users"))
            .item(
                "userName",
                aws_sdk_dynamodb::types::AttributeValue::S("mallory".into()),
            )
            .send()
            .await,
    );
    let eph_lambda = aws_sdk_lambda::Client::new(&eph);
    refused(
        "the base function's code",
        "lambda:UpdateFunctionCode",
        eph_lambda
            .update_function_code()
            .function_name(format!("{stack}-pretoken"))
            .s3_bucket(BUCKET)
            .s3_key(format!("{copy}/x.zip"))
            .send()
            .await,
    );
    refused(
        "invoking the base function",
        "lambda:InvokeFunction",
        eph_lambda
            .invoke()
            .function_name(format!("{stack}-pretoken"))
            .send()
            .await,
    );
    refused(
        "a function of another name, running the base role",
        "lambda:CreateFunction",
        eph_lambda
            .create_function()
            .function_name("payments-export")
            .role(format!("arn:aws:iam::{ACCOUNT}:role/{stack}-pretoken"))
            .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .s3_bucket(BUCKET)
                    .s3_key(&base_artifact)
                    .build(),
            )
            .send()
            .await,
    );
    let eph_s3 = s3(&eph);
    refused(
        "the base stack's current artifact",
        "s3:DeleteObject",
        eph_s3
            .delete_object()
            .bucket(BUCKET)
            .key(&base_artifact)
            .send()
            .await,
    );
    let forged = b"PK forged".to_vec();
    let forged_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&forged));
    for (who, client) in [
        ("ephemeral", eph_s3.clone()),
        ("deployer", s3(&deployer.sdk(&emu).await)),
    ] {
        for key in [build_key.clone(), build_key.replace(".zip", "-2.zip")] {
            refused(
                &format!("a shared build written by the {who} role"),
                "s3:PutObject",
                client
                    .put_object()
                    .bucket(BUCKET)
                    .key(&key)
                    .if_none_match("*")
                    .metadata("sha256", &forged_sha)
                    .body(forged.clone().into())
                    .send()
                    .await,
            );
        }
    }
    let dep_iam = aws_sdk_iam::Client::new(&deployer.sdk(&emu).await);
    refused(
        "the deployer role making a role without the boundary",
        "iam:CreateRole",
        dep_iam
            .create_role()
            .role_name(format!("{stack}-pretoken"))
            .assume_role_policy_document(LAMBDA_TRUST)
            .send()
            .await,
    );
    // The shared build is still the publisher's: a runner with an empty cache deploys it.
    let copy2 = up_copy(&emu, &base, &ephemeral, "e2", fresh_cache).await;
    assert_eq!(copy2["artifact"]["sha256"], published["sha256"]);
    emu.run_as(&base.path, &["--suffix", "e2", "down"], ephemeral.key())
        .await
        .succeeded();

    // Without each enforced statement, the ephemeral role's step fails naming the permission.
    for (sid, step, permission, fresh_run) in ENFORCED {
        let mut without = ephemeral_policy.clone();
        without["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["Sid"] != *sid);
        ephemeral.allow(&iam, &without).await;
        let empty = tempfile::tempdir().unwrap();
        let joe_password = empty.path().join("joe.password");
        let args: &[&str] = match *step {
            "up" => &["--suffix", "e3", "up"],
            _ => &[
                "--suffix",
                "e1",
                "users",
                "add",
                "joe",
                "--set",
                "projects=p-1",
                "--secret-file",
                joe_password.to_str().unwrap(),
            ],
        };
        let env: &[(&str, &str)] = if *fresh_run {
            &[("DEPLOYER_CACHE_DIR", empty.path().to_str().unwrap())]
        } else {
            &[]
        };
        let denied = emu.run_with(&base.path, args, ephemeral.key(), env).await;
        assert_eq!(denied.code, 1, "without {sid}: {}", denied.stderr);
        assert!(
            denied.stderr.contains(permission),
            "without {sid}, the message names {permission}:\n{}",
            denied.stderr
        );
        assert!(
            denied.stderr.contains(&ephemeral.arn()),
            "the message names the caller:\n{}",
            denied.stderr
        );
        // Clean up as the admin (a denied up may have created the stack before its checks).
        emu.run(&base.path, &["--suffix", "e3", "down"])
            .await
            .succeeded();
    }
    ephemeral.allow(&iam, &ephemeral_policy).await;

    // Down: the copy by the ephemeral role, the kept stack by the deployer role (--force).
    emu.run_as(&base.path, &["--suffix", "e1", "down"], ephemeral.key())
        .await
        .succeeded();
    emu.run_as(&base.path, &["down", "--force"], deployer.key())
        .await
        .succeeded();
    for name in [&copy, &format!("{stack}--e2"), &format!("{stack}--e3")] {
        assert!(
            emu.leftovers(name).await.is_empty(),
            "{name}: {:?}",
            emu.leftovers(name).await
        );
    }
    // The kept stack's table is retained, as documented; the admin removes it.
    assert_eq!(
        emu.leftovers(&stack).await,
        vec![format!("table {stack}-users")]
    );
    let ddb = aws_sdk_dynamodb::Client::new(&admin);
    ddb.update_table()
        .table_name(format!("{stack}-users"))
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    ddb.delete_table()
        .table_name(format!("{stack}-users"))
        .send()
        .await
        .unwrap();
}

/// The API statements of a project with an `api`: which ones fakecloud enforces (the
/// deployer's own reads of the authorizer), and why the others are proven elsewhere.
const API_NOT_HERE: &[&str] = &[
    "ApiFunctionRolesBounded",
    "PassApiFunctionRoles",
    "CreateApiFunctions",
    "ApiInvokePermissions",
    "ApiLogs",
    "OperateApi",
    "CreateApis",
    "Apis",
    "UpdateApiParts",
    "ReadApiTags",
    "TagApis",
    "NoOtherStacksApiTag",
    "RoutesOnlyThroughTheAuthorizer",
    "RoutesSayTheirAuthorizer",
    "OnlyLambdaAuthorizers",
    "OnlyTheStacksAuthorizer",
];

/// The API statements fakecloud enforces, and the permission `up` names without each.
const API_ENFORCED: &[(&str, &str)] = &[
    ("ApiFunctions", "lambda:GetFunction"),
    ("ApiFunctionRoles", "iam:GetRole"),
];

/// A copy of a stack with an API, deployed and torn down by the ephemeral role holding
/// exactly what `policy --role ephemeral` prints for it: the API's functions and zips, and
/// the wiring checks' reads of the authorizer, which fakecloud enforces (CloudFormation's
/// provisioning and API Gateway it does not: tests/ci_roles.rs proves those statements).
/// Without each statement fakecloud enforces, `up` fails naming the read it needs.
#[tokio::test]
async fn the_ephemeral_role_deploys_a_copy_with_its_api() {
    let emu = Emu::fakecloud();
    // A region of its own: another test strips us-east-1's bucket policy while it runs.
    let base = Inputs::new(json!({"region": "us-west-2", "api": {"routes": {"GET /me": {}}}}));
    std::fs::create_dir(base.dir.path().join("policies")).unwrap();
    std::fs::write(
        base.dir.path().join("policies/me.cedar"),
        "permit(principal, action == App::Action::\"GET /me\", resource);\n",
    )
    .unwrap();
    let printed = emu
        .run(
            &base.path,
            &["policy", "--account", ACCOUNT, "--role", "ephemeral"],
        )
        .await
        .succeeded();
    let policy = policy_of(&printed);
    let api_sids: Vec<&str> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .filter(|sid| sid.contains("Api") || sid.contains("Authorizer"))
        .collect();
    let mut classified: Vec<&str> = API_NOT_HERE
        .iter()
        .copied()
        .chain(API_ENFORCED.iter().map(|(sid, _)| *sid))
        .collect();
    classified.sort();
    let mut sorted = api_sids.clone();
    sorted.sort();
    assert_eq!(sorted, classified, "every API statement is classified");

    let admin = bootstrapped(&emu, &base, "deployer-artifacts-000000000000-us-west-2").await;
    let iam = aws_sdk_iam::Client::new(&admin);
    let ephemeral = User::new(&iam, format!("eph-{}", base.stack), &policy).await;
    // Every read of the wiring checks is allowed: the one check that fails is fakecloud's,
    // which files the permission CloudFormation adds on the authorizer's alias under the
    // unqualified function (GetPolicy with the `live` qualifier: none), where Lambda keeps
    // an alias's own policy (Lambda developer guide, "Viewing resource-based IAM policies in
    // Lambda": a qualified ARN's policy applies to that alias). tests/api.rs passes it on
    // ministack.
    let up = emu
        .run_as(&base.path, &["--suffix", "a1", "up"], ephemeral.key())
        .await;
    assert_eq!(up.code, 4, "{}", up.stderr);
    assert!(
        up.stderr.contains("1 check failed")
            && up.stderr.contains("only this API invokes the authorizer: no statement lets API Gateway invoke the authorizer"),
        "{}",
        up.stderr
    );
    assert!(!up.stderr.contains("AccessDenied"), "{}", up.stderr);

    for (sid, permission) in API_ENFORCED {
        let mut without = policy.clone();
        without["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["Sid"] != *sid);
        ephemeral.allow(&iam, &without).await;
        let denied = emu
            .run_as(&base.path, &["--suffix", "a1", "up"], ephemeral.key())
            .await;
        assert_eq!(denied.code, 1, "without {sid}: {}", denied.stderr);
        assert!(
            denied.stderr.contains(permission) && denied.stderr.contains(&ephemeral.arn()),
            "without {sid}, the message names {permission} and the caller:\n{}",
            denied.stderr
        );
    }
    ephemeral.allow(&iam, &policy).await;
    emu.run_as(&base.path, &["--suffix", "a1", "down"], ephemeral.key())
        .await
        .succeeded();
    let copy = format!("{}--a1", base.stack);
    assert!(
        emu.leftovers(&copy).await.is_empty(),
        "{:?}",
        emu.leftovers(&copy).await
    );
}

/// `bootstrap` is idempotent and prints its plan: a second run changes nothing, and the code
/// signing configuration it makes is found again by its description (fakecloud; ministack's
/// Lambda answers CreateCodeSigningConfig without the ARN).
#[tokio::test]
async fn bootstrap_makes_the_boundary_and_code_signing_once() {
    let emu = Emu::fakecloud();
    // Another region, so another bucket: the test above strips this one's TLS-only statement,
    // which a bootstrap here would put back while it runs.
    let inputs = Inputs::new(json!({"region": "eu-west-1"}));
    let profile = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/claims/a1b2c3d4e5";
    let run = |extra: &'static [&'static str]| {
        let mut args = vec![
            "bootstrap",
            "--signing-profile",
            profile,
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        let (emu, path) = (emu.clone(), inputs.path.clone());
        async move { emu.run(&path, &args).await.succeeded().json() }
    };
    let steps = |report: &Value| -> Vec<(String, String)> {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["what"].as_str().unwrap().to_owned(),
                    s["action"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let plan = run(&["--dry-run"]).await;
    assert_eq!(plan["dryRun"], true);
    let first = run(&[]).await;
    assert_eq!(
        steps(&first)[1..],
        steps(&plan)[1..],
        "the plan is what is done"
    );
    assert_eq!(steps(&first)[1].1, "create");
    assert_eq!(steps(&first)[2].1, "create");
    let csc = first["steps"][3]["name"].as_str().unwrap().to_owned();
    assert!(csc.contains(":code-signing-config:csc-"), "{csc}");
    let again = run(&[]).await;
    assert_eq!(
        steps(&again)[1..],
        [
            (
                "permissions boundary (base stack)".to_owned(),
                "unchanged".to_owned()
            ),
            (
                "permissions boundary (ephemeral copies)".to_owned(),
                "unchanged".to_owned()
            ),
            (
                "code signing configuration".to_owned(),
                "unchanged".to_owned()
            ),
        ]
    );
    assert_eq!(again["steps"][3]["name"], csc.as_str());
    // The boundary IAM holds is the one `policy` describes.
    let iam = aws_sdk_iam::Client::new(&emu.sdk().await);
    let arn = deployer::policy::boundary_arn(
        "aws",
        ACCOUNT,
        &inputs.stack,
        "eu-west-1",
        deployer::policy::Kind::Base,
    );
    let version = iam
        .get_policy()
        .policy_arn(&arn)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .default_version_id
        .unwrap();
    let document = iam
        .get_policy_version()
        .policy_arn(&arn)
        .version_id(version)
        .send()
        .await
        .unwrap()
        .policy_version
        .unwrap()
        .document
        .unwrap();
    let document: Value = serde_json::from_str(&urlencoding_decode(&document)).unwrap();
    assert_eq!(
        document["Statement"][0]["Action"],
        json!(["dynamodb:GetItem"])
    );
}

fn urlencoding_decode(s: &str) -> String {
    if s.trim_start().starts_with('{') {
        return s.to_owned();
    }
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}
