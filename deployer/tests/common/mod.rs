//! Helpers for tests that run the deployer against the suite's emulator (started once per
//! run by scripts/test.sh, which exports DEPLOYER_LOCAL_DIR and DEPLOYER_TEST_ENDPOINT).
//! Without it these tests fail with what to do; they never skip.

#![allow(dead_code)]

use base64::Engine;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The emulator's endpoint; panics with the fix when the suite's emulator is not there.
pub fn endpoint() -> String {
    let endpoint = std::env::var("DEPLOYER_TEST_ENDPOINT").unwrap_or_default();
    assert!(
        !endpoint.is_empty() && std::env::var_os("DEPLOYER_LOCAL_DIR").is_some(),
        "this test needs the suite's local emulator: run it through scripts/test.sh (DEPLOYER_TEST_ENDPOINT is not set)"
    );
    endpoint
}

/// A name no other test (or earlier run) uses: lower-case letters and digits.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{}x{}x{}",
        std::process::id() % 100_000,
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 10_000
    )
}

/// What a finished command printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
    /// Asserts the command exited 0 (and shows its output when it did not).
    pub fn succeeded(self) -> Self {
        assert_eq!(
            self.code, 0,
            "deployer failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Runs the deployer binary with `--local`, the given inputs file and plain progress.
pub async fn deployer(inputs: &Path, args: &[&str]) -> Run {
    deployer_with(inputs, args, &[], None).await
}

/// The same, with extra environment variables and text on stdin.
pub async fn deployer_with(
    inputs: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Run {
    use tokio::io::AsyncWriteExt;
    endpoint();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_deployer"))
        .arg("--local")
        .arg("-f")
        .arg(inputs)
        .args(args)
        .env("DEPLOYER_PLAIN", "1")
        .env("DEPLOYER_POLL_MS", "100")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run deployer");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = child.wait_with_output().await.expect("run deployer");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A user's verified tokens (`token USER --output json`), the password from the environment.
pub async fn token(inputs: &Path, user: &str, password: &str) -> Value {
    deployer_with(
        inputs,
        &["token", user, "--output", "json"],
        &[("DEPLOYER_PASSWORD", password)],
        None,
    )
    .await
    .succeeded()
    .json()
}

/// A stack-inputs file in a temp folder; keep the folder alive while the file is used.
pub struct Inputs {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub stack: String,
    pub domain: String,
}

impl Inputs {
    /// Inputs with a unique stack name and domain; `extra` is merged over the defaults.
    pub fn new(extra: Value) -> Self {
        let stack = unique("t");
        let domain = unique("d");
        let mut inputs = serde_json::json!({
            "stackName": stack,
            "userPoolDomainName": domain,
            "lifecycle": "disposable",
        });
        merge(&mut inputs, extra);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stack-inputs.json");
        std::fs::write(&path, serde_json::to_string_pretty(&inputs).unwrap()).unwrap();
        let stack = inputs["stackName"].as_str().unwrap().to_owned();
        let domain = inputs["userPoolDomainName"].as_str().unwrap().to_owned();
        Self {
            dir,
            path,
            stack,
            domain,
        }
    }

    pub fn rewrite(&self, extra: Value) {
        let mut inputs: Value =
            serde_json::from_str(&std::fs::read_to_string(&self.path).unwrap()).unwrap();
        merge(&mut inputs, extra);
        std::fs::write(&self.path, serde_json::to_string_pretty(&inputs).unwrap()).unwrap();
    }
}

fn merge(base: &mut Value, extra: Value) {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        for (k, v) in extra {
            base.insert(k, v);
        }
    }
}

/// SDK configuration for the emulator, with dummy credentials.
pub async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(endpoint())
        .http_client(deployer::aws::http_client(&deployer::aws::Target::Local))
        .load()
        .await
}

/// The claims of a JWT, without checking its signature (the token tests check that).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Makes a user straight in the pool (AdminCreateUser, no message), so the table has no row
/// for it; with a password, a permanent one (the user is confirmed).
pub async fn pool_user(pool: &str, user: &str, password: Option<&str>) {
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk().await);
    cognito
        .admin_create_user()
        .user_pool_id(pool)
        .username(user)
        .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress)
        .send()
        .await
        .unwrap();
    if let Some(password) = password {
        cognito
            .admin_set_user_password()
            .user_pool_id(pool)
            .username(user)
            .password(password)
            .permanent(true)
            .send()
            .await
            .unwrap();
    }
}

/// Creates a confirmed user with a permanent password, writes its row, logs in with
/// AdminInitiateAuth and returns the (ID, access) token claims.
pub async fn login(
    outputs: &Value,
    user: &str,
    row: &[(&str, aws_sdk_dynamodb::types::AttributeValue)],
) -> (Value, Value) {
    use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
    let sdk = sdk().await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let pool = outputs["UserPoolId"].as_str().unwrap();
    let client = outputs["UserPoolClientId"].as_str().unwrap();
    let table = outputs["TableName"].as_str().unwrap();
    let password = "Correct-Horse-42-battery";
    if cognito
        .admin_get_user()
        .user_pool_id(pool)
        .username(user)
        .send()
        .await
        .is_err()
    {
        pool_user(pool, user, Some(password)).await;
    }
    let mut put = ddb.put_item().table_name(table).item(
        "userName",
        aws_sdk_dynamodb::types::AttributeValue::S(user.into()),
    );
    for (k, v) in row {
        put = put.item(*k, v.clone());
    }
    put.send().await.unwrap();
    let auth = cognito
        .admin_initiate_auth()
        .user_pool_id(pool)
        .client_id(client)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", user)
        .auth_parameters("PASSWORD", password)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "login failed: {}",
                aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(&e)
            )
        });
    let result = auth.authentication_result.expect("tokens");
    (
        claims(result.id_token().unwrap()),
        claims(result.access_token().unwrap()),
    )
}

/// The claims of a token that Cognito did not put there itself.
pub fn custom(token: &Value) -> serde_json::Map<String, Value> {
    token
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !trigger::config::COGNITO_ISSUED_CLAIMS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// One of the suite's two local AWS references, as the deploy-path tests see it.
#[derive(Debug, Clone)]
pub struct Emu {
    pub name: &'static str,
    pub endpoint: String,
    /// CloudFormation tags the resources it creates (aws:cloudformation:*, the stack's tags),
    /// as AWS documents; fakecloud does not.
    pub tags_resources: bool,
    /// A failed create's rollback deletes what it made, as AWS documents; fakecloud marks the
    /// stack ROLLBACK_COMPLETE and keeps the resources until the stack is deleted.
    pub rolls_back_creates: bool,
    /// A change set lists what changes, with its documented replacement; fakecloud lists every
    /// resource as Modify, Replacement Conditional, whatever changed.
    pub precise_change_sets: bool,
}

impl Emu {
    /// ministack, started once per run by scripts/test.sh.
    pub fn ministack() -> Self {
        Self {
            name: "ministack",
            endpoint: endpoint(),
            tags_resources: true,
            rolls_back_creates: true,
            precise_change_sets: true,
        }
    }

    /// fakecloud, started once per run by scripts/test.sh (`--iam strict`; the test/test
    /// identity the suite uses passes).
    pub fn fakecloud() -> Self {
        let endpoint = std::env::var("DEPLOYER_TEST_FAKECLOUD").unwrap_or_default();
        assert!(
            !endpoint.is_empty(),
            "this test needs the suite's fakecloud: run it through scripts/test.sh (DEPLOYER_TEST_FAKECLOUD is not set)"
        );
        Self {
            name: "fakecloud",
            endpoint,
            tags_resources: false,
            rolls_back_creates: false,
            precise_change_sets: false,
        }
    }

    /// SDK configuration for this emulator, with the test/test identity.
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        self.sdk_as("test", "test").await
    }

    pub async fn sdk_as(&self, key: &str, secret: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                key, secret, None, None, "test",
            ))
            .endpoint_url(&self.endpoint)
            .http_client(deployer::aws::http_client(&deployer::aws::Target::Local))
            .load()
            .await
    }

    /// Runs the deployer against this emulator's endpoint (not `--local`: one code path).
    pub async fn run(&self, inputs: &Path, args: &[&str]) -> Run {
        self.run_as(inputs, args, ("test", "test")).await
    }

    /// `deployer bootstrap` for these inputs' project, as the emulator's admin: what an
    /// account's admin runs once before the CI roles deploy (only `--local` does it itself).
    pub async fn bootstrap(&self, inputs: &Path) {
        self.run(inputs, &["bootstrap"]).await.succeeded();
    }

    /// The same, as another identity (an IAM user's access key).
    pub async fn run_as(&self, inputs: &Path, args: &[&str], key: (&str, &str)) -> Run {
        self.run_with(inputs, args, key, &[]).await
    }

    /// The same, with more environment variables.
    pub async fn run_with(
        &self,
        inputs: &Path,
        args: &[&str],
        key: (&str, &str),
        env: &[(&str, &str)],
    ) -> Run {
        let mut full = vec!["--endpoint-url", self.endpoint.as_str()];
        full.extend_from_slice(args);
        let mut all = vec![
            ("AWS_ACCESS_KEY_ID", key.0),
            ("AWS_SECRET_ACCESS_KEY", key.1),
            ("AWS_REGION", "us-east-1"),
        ];
        all.extend_from_slice(env);
        run_binary(inputs, &full, &all).await
    }

    /// The stack's status here; `None` when it is gone (or was never made).
    pub async fn stack_status(&self, name: &str) -> Option<String> {
        let cfn = aws_sdk_cloudformation::Client::new(&self.sdk().await);
        let out = cfn.describe_stacks().stack_name(name).send().await.ok()?;
        let status = out
            .stacks?
            .into_iter()
            .next()?
            .stack_status?
            .as_str()
            .to_owned();
        (status != "DELETE_COMPLETE").then_some(status)
    }

    /// What is left of a stack here, by every service's own listing (the stack itself aside).
    pub async fn leftovers(&self, stack: &str) -> Vec<String> {
        let sdk = self.sdk().await;
        let mut left = Vec::new();
        let pools = aws_sdk_cognitoidentityprovider::Client::new(&sdk)
            .list_user_pools()
            .max_results(60)
            .send()
            .await
            .unwrap();
        for p in pools.user_pools.unwrap_or_default() {
            if stacks_pool(p.name.as_deref().unwrap_or_default(), stack) {
                left.push(format!("user pool {}", p.id.unwrap_or_default()));
            }
        }
        let tables = aws_sdk_dynamodb::Client::new(&sdk)
            .list_tables()
            .send()
            .await
            .unwrap();
        left.extend(
            tables
                .table_names
                .unwrap_or_default()
                .into_iter()
                .filter(|t| t.starts_with(&format!("{stack}-")))
                .map(|t| format!("table {t}")),
        );
        let functions = aws_sdk_lambda::Client::new(&sdk)
            .list_functions()
            .send()
            .await
            .unwrap();
        for f in functions.functions.unwrap_or_default() {
            if f.function_name
                .as_deref()
                .is_some_and(|n| n.starts_with(&format!("{stack}-")))
            {
                left.push(format!("function {}", f.function_name.unwrap_or_default()));
            }
        }
        let roles = aws_sdk_iam::Client::new(&sdk)
            .list_roles()
            .send()
            .await
            .unwrap();
        left.extend(
            roles
                .roles
                .into_iter()
                .filter(|r| r.role_name.starts_with(&format!("{stack}-")))
                .map(|r| format!("role {}", r.role_name)),
        );
        left.sort();
        left
    }

    /// The stack's zips in the artifacts bucket and its function's log group: kept while the
    /// stack exists (a rolled-back create's too), gone after `down`.
    pub async fn artifacts_and_logs(&self, stack: &str) -> Vec<String> {
        let sdk = self.sdk().await;
        let mut left = Vec::new();
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        );
        // No bucket yet is no artifact left.
        if let Ok(objects) = s3
            .list_objects_v2()
            .bucket("deployer-artifacts-000000000000-us-east-1")
            .prefix(format!("{stack}/"))
            .send()
            .await
        {
            left.extend(
                objects
                    .contents
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|o| o.key)
                    .map(|k| format!("artifact {k}")),
            );
        }
        let groups = aws_sdk_cloudwatchlogs::Client::new(&sdk)
            .describe_log_groups()
            .log_group_name_prefix(format!("/aws/lambda/{stack}-"))
            .send()
            .await
            .unwrap();
        left.extend(
            groups
                .log_groups
                .unwrap_or_default()
                .into_iter()
                .filter_map(|g| g.log_group_name)
                .map(|g| format!("log group {g}")),
        );
        left.sort();
        left
    }
}

/// Runs the deployer binary with the given arguments and environment (no `--local`).
pub async fn run_binary(inputs: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_deployer"))
        .arg("-f")
        .arg(inputs)
        .args(args)
        .env("DEPLOYER_PLAIN", "1")
        .env("DEPLOYER_POLL_MS", "100")
        .env_remove("AWS_PROFILE")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run deployer");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Whether a user pool of this name is the stack's. The template names the pool after the
/// stack; fakecloud ignores UserPoolName and names it as CloudFormation names resources without
/// a name, `<stack>-UserPool-<suffix>`.
pub fn stacks_pool(name: &str, stack: &str) -> bool {
    name == stack
        || name
            .strip_prefix(stack)
            .is_some_and(|rest| rest.starts_with("-UserPool-"))
}
