//! After a deploy, what CloudFormation does not check: the pool really calls the trigger with
//! the intended event version, the function has code, only this pool may invoke it, and the
//! role grants nothing beyond the table read and its own log writes.

use crate::aws::{AwsError, Clients};
use crate::stack::output;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One check and what was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// What the checks compare against.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub event_version: &'a str,
    /// The SHA-256 (hex) of the zip the stack should run, when known.
    pub code_sha256: Option<&'a str>,
    /// The project (base stack name) whose permissions boundary the role must carry.
    pub project: &'a str,
    /// The base stack's boundary, or the copies'.
    pub kind: crate::policy::Kind,
    /// The SHA-256 (hex) of the authorizer's zip (a stack with an API), when known.
    pub authorizer_sha256: Option<&'a str>,
}

/// Runs every check against the stack's outputs. The reads go out at once: this runs after
/// every deploy and on every no-op `up` (to notice changes made outside the stack).
pub async fn verify(
    clients: &Clients,
    outputs: &BTreeMap<String, String>,
    expected: Expected<'_>,
) -> Result<Vec<Check>, AwsError> {
    let target = Target::from(outputs);
    let read = read(clients, &target).await?;
    let mut checks = vec![wired(read.lambda_config.as_ref(), &target, expected)];
    checks.extend(code(&read.function, expected));
    checks.extend(read.alias.as_ref().map(one_version));
    checks.push(permission_check(
        &read.policy,
        &target.pool_arn,
        &target.account,
    ));
    // Any permission on the unqualified function must be the same: only this pool.
    if !read.unqualified_policy.is_null() {
        let mut check =
            permission_check(&read.unqualified_policy, &target.pool_arn, &target.account);
        check.name = "only this pool invokes the function";
        checks.push(check);
    }
    let reads = RoleReads {
        table_arn: Some(&read.table_arn),
        function: &target.function,
    };
    let role = role_name(read.function.role.as_deref());
    let (roles, api) = tokio::join!(
        role_checks(clients, &target, role, reads, expected),
        api_checks(clients, outputs, &target, expected),
    );
    checks.extend(roles?);
    checks.extend(api?);
    Ok(checks)
}

/// A role's name, from its ARN (`arn:aws:iam::<account>:role/<name>`).
fn role_name(arn: Option<&str>) -> &str {
    arn.unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default()
}

/// The checks of a role of the API's (the authorizer's, whoami's): its function's own logs
/// and nothing else (it reads no row), within the boundary; named for that function.
async fn api_role_checks(
    clients: &Clients,
    t: &Target,
    (role, function): (Option<&str>, &str),
    names: [&'static str; 2],
    expected: Expected<'_>,
) -> Result<[Check; 2], AwsError> {
    let reads = RoleReads {
        table_arn: None,
        function,
    };
    let [mut least, mut bounded] =
        role_checks(clients, t, role_name(role), reads, expected).await?;
    least.name = names[0];
    bounded.name = names[1];
    Ok([least, bounded])
}

/// The API's authorizer (a stack with an `api`): what API Gateway calls runs one version, of
/// the deployed zip (its policies included), and only this API's authorizer may invoke it.
async fn api_checks(
    clients: &Clients,
    outputs: &BTreeMap<String, String>,
    t: &Target,
    expected: Expected<'_>,
) -> Result<Vec<Check>, AwsError> {
    let (Some(alias_arn), Some(function), Some(api)) = (
        outputs.get(output::AUTHORIZER_ARN),
        outputs.get(output::AUTHORIZER_FUNCTION_NAME),
        outputs.get(output::API_ID),
    ) else {
        return Ok(Vec::new());
    };
    let alias = alias_arn.rsplit(':').next().unwrap_or_default().to_owned();
    let lambda = &clients.lambda;
    let (configuration, routing, policy) = tokio::join!(
        lambda
            .get_function()
            .function_name(function)
            .qualifier(&alias)
            .send(),
        lambda
            .get_alias()
            .function_name(function)
            .name(&alias)
            .send(),
        lambda
            .get_policy()
            .function_name(function)
            .qualifier(&alias)
            .send(),
    );
    let configuration = configuration
        .map_err(|e| clients.err("lambda", "GetFunction", e))?
        .configuration
        .unwrap_or_else(|| aws_sdk_lambda::types::FunctionConfiguration::builder().build());
    let routing = routing.map_err(|e| clients.err("lambda", "GetAlias", e))?;
    let policy = policy_or_none(clients, policy)?;
    let mut checks = Vec::new();
    let code = code(
        &configuration,
        Expected {
            code_sha256: expected.authorizer_sha256,
            ..expected
        },
    );
    checks.extend(code.into_iter().map(|mut c| {
        c.name = match c.name {
            "function has code" => "authorizer has code",
            _ => "authorizer runs the deployed zip and policies",
        };
        c
    }));
    if expected.authorizer_sha256.is_none() {
        checks.push(Check {
            name: "authorizer runs the deployed zip and policies",
            ok: false,
            detail: "the stack names no authorizer zip (AuthorizerKey) to compare with".into(),
        });
    }
    checks.push(trust_check(&configuration, t));
    let mut one = one_version(&routing);
    one.name = "authorizer alias runs one version";
    checks.push(one);
    checks.push(api_permission_check(
        &policy,
        &format!("{}authorizers/", t.api_source(api)),
    ));
    let names = [
        "authorizer role is least privilege",
        "authorizer role is bounded",
    ];
    let own = (configuration.role(), function.as_str());
    let whoami = async {
        match outputs.get(output::WHOAMI_FUNCTION_NAME) {
            Some(whoami) => whoami_checks(clients, t, whoami, api, expected).await,
            None => Ok(Vec::new()),
        }
    };
    let (role, whoami) = tokio::join!(api_role_checks(clients, t, own, names, expected), whoami);
    checks.extend(role?);
    checks.extend(whoami?);
    Ok(checks)
}

/// `whoami` (a route calls it): its role, the one it runs as, holds its own logs and nothing
/// else, within the boundary; only this API invokes it.
async fn whoami_checks(
    clients: &Clients,
    t: &Target,
    whoami: &str,
    api: &str,
    expected: Expected<'_>,
) -> Result<Vec<Check>, AwsError> {
    let lambda = &clients.lambda;
    let (configuration, policy) = tokio::join!(
        lambda.get_function().function_name(whoami).send(),
        lambda.get_policy().function_name(whoami).send(),
    );
    let configuration = configuration
        .map_err(|e| clients.err("lambda", "GetFunction", e))?
        .configuration
        .unwrap_or_else(|| aws_sdk_lambda::types::FunctionConfiguration::builder().build());
    let policy = policy_or_none(clients, policy)?;
    let names = ["whoami role is least privilege", "whoami role is bounded"];
    let own = (configuration.role(), whoami);
    let [least, bounded] = api_role_checks(clients, t, own, names, expected).await?;
    let permission = whoami_permission_check(&policy, &t.api_source(api));
    Ok(vec![least, bounded, permission])
}

/// Every statement of `whoami`'s resource policy lets API Gateway invoke it from this API's
/// routes (`source`, a SourceArn prefix) alone.
pub fn whoami_permission_check(policy: &Value, source: &str) -> Check {
    let mut check = api_gateway_only(policy, source, "whoami", |_| true);
    check.name = "only this API invokes whoami";
    check
}

/// A function's resource policy, or `Null` when it has none (Lambda API reference, GetPolicy:
/// ResourceNotFoundException).
fn policy_or_none(
    clients: &Clients,
    read: Result<
        aws_sdk_lambda::operation::get_policy::GetPolicyOutput,
        aws_smithy_runtime_api::client::result::SdkError<
            aws_sdk_lambda::operation::get_policy::GetPolicyError,
            aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        >,
    >,
) -> Result<Value, AwsError> {
    match read.map_err(|e| clients.err("lambda", "GetPolicy", e)) {
        Ok(out) => Ok(parse_policy(&out.policy.unwrap_or_default())),
        Err(e) if e.is(crate::aws::ErrorKind::NotFound) => Ok(Value::Null),
        Err(e) => Err(e),
    }
}

/// The authorizer's trust anchors are the stack's: its environment holds the pool, its issuer
/// and the clients, and nothing that moves where the keys come from (AUTHZ_JWKS_URL, an
/// endpoint override); no layer adds code.
fn trust_check(configuration: &aws_sdk_lambda::types::FunctionConfiguration, t: &Target) -> Check {
    let variables = configuration
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    let issuer = format!(
        "https://cognito-idp.{}.amazonaws.com/{}",
        t.region, t.pool_id
    );
    let mut problems = Vec::new();
    for (name, value) in &variables {
        let ok = match name.as_str() {
            "AUTHZ_USER_POOL_ID" => *value == t.pool_id,
            "AUTHZ_ISSUER" => *value == issuer,
            "AUTHZ_CLIENTS" => !value.is_empty(),
            _ => false,
        };
        if !ok {
            problems.push(format!("{name}={value:?}"));
        }
    }
    for name in ["AUTHZ_USER_POOL_ID", "AUTHZ_ISSUER", "AUTHZ_CLIENTS"] {
        if !variables.contains_key(name) {
            problems.push(format!("no {name}"));
        }
    }
    for layer in configuration.layers() {
        problems.push(format!("layer {}", layer.arn().unwrap_or("?")));
    }
    Check {
        name: "authorizer trusts only this pool",
        ok: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("issuer {issuer}")
        } else {
            format!("{} (set outside the stack)", problems.join(", "))
        },
    }
}

/// Every statement of the authorizer's resource policy lets API Gateway invoke it from this
/// API's authorizers (`source`, a SourceArn prefix) alone.
pub fn api_permission_check(policy: &Value, source: &str) -> Check {
    // One authorizer: a whole id after the prefix, no wildcard, nothing below it.
    let one = |rest: &str| !rest.is_empty() && !rest.contains(['*', '?', '/']);
    let mut check = api_gateway_only(policy, source, "the authorizer", one);
    check.name = "only this API invokes the authorizer";
    check
}

/// Every statement of a resource policy lets API Gateway alone invoke `what`, with a SourceArn
/// that starts with `source` and whose rest `scoped` accepts; and there is one.
fn api_gateway_only(
    policy: &Value,
    source: &str,
    what: &str,
    scoped: impl Fn(&str) -> bool,
) -> Check {
    let statements = grants(policy);
    let mut problems = Vec::new();
    if statements.is_empty() {
        problems.push(format!("no statement lets API Gateway invoke {what}"));
    }
    for grant in &statements {
        let (sid, service) = (grant.sid, grant.service);
        let arn = grant.source_arn.unwrap_or("");
        if service != "apigateway.amazonaws.com" {
            problems.push(format!("statement {sid} lets {service:?} invoke it"));
        }
        if !arn.strip_prefix(source).is_some_and(&scoped) {
            problems.push(format!(
                "statement {sid} is scoped to {arn:?}, not to {what} of {source}"
            ));
        }
    }
    Check {
        name: "",
        ok: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("apigateway.amazonaws.com from {source}...")
        } else {
            problems.join("; ")
        },
    }
}

/// What the checks look at, from the stack's outputs.
struct Target {
    pool_id: String,
    pool_arn: String,
    function: String,
    table: String,
    /// What the pool must call: the alias of a published version (older stacks: the function).
    trigger_arn: String,
    /// The alias's name, which qualifies the code and permission reads so they see what the
    /// pool runs.
    qualifier: Option<String>,
    account: String,
    region: String,
}

impl Target {
    /// The SourceArn prefix of API `api`'s calls (`arn:<partition>:execute-api:<region>:
    /// <account>:<api>/`).
    fn api_source(&self, api: &str) -> String {
        let partition = crate::aws::partition(&self.region);
        format!(
            "arn:{partition}:execute-api:{}:{}:{api}/",
            self.region, self.account
        )
    }

    fn from(outputs: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| outputs.get(k).cloned().unwrap_or_default();
        let function_arn = get(output::FUNCTION_ARN);
        let trigger_arn = outputs
            .get(output::TRIGGER_ARN)
            .cloned()
            .unwrap_or_else(|| function_arn.clone());
        let qualifier = (trigger_arn != function_arn)
            .then(|| trigger_arn.rsplit(':').next().map(str::to_owned))
            .flatten();
        let pool_arn = get(output::USER_POOL_ARN);
        Self {
            pool_id: get(output::USER_POOL_ID),
            account: pool_arn.split(':').nth(4).unwrap_or_default().to_owned(),
            region: pool_arn.split(':').nth(3).unwrap_or_default().to_owned(),
            pool_arn,
            function: get(output::FUNCTION_NAME),
            table: get(output::TABLE_NAME),
            trigger_arn,
            qualifier,
        }
    }
}

/// What AWS says about the pool, the function (through its alias), its resource policy, the
/// table and the alias.
struct Read {
    lambda_config: Option<aws_sdk_cognitoidentityprovider::types::LambdaConfigType>,
    function: aws_sdk_lambda::types::FunctionConfiguration,
    policy: Value,
    /// The unqualified function's own resource policy (none: `Value::Null`), when the pool
    /// calls an alias: a permission there would let others invoke the same code.
    unqualified_policy: Value,
    table_arn: String,
    alias: Option<aws_sdk_lambda::operation::get_alias::GetAliasOutput>,
}

/// The six reads, at once.
async fn read(clients: &Clients, t: &Target) -> Result<Read, AwsError> {
    let lambda = &clients.lambda;
    let (pool, function, policy, table, alias, unqualified) = tokio::join!(
        clients
            .cognito
            .describe_user_pool()
            .user_pool_id(&t.pool_id)
            .send(),
        lambda
            .get_function()
            .function_name(&t.function)
            .set_qualifier(t.qualifier.clone())
            .send(),
        read_policy(clients, t),
        clients
            .dynamodb
            .describe_table()
            .table_name(&t.table)
            .send(),
        async {
            match &t.qualifier {
                Some(name) => {
                    let call = lambda.get_alias().function_name(&t.function).name(name);
                    call.send().await.map(Some)
                }
                None => Ok(None),
            }
        },
        async {
            if t.qualifier.is_none() {
                return Ok(None);
            }
            let read = lambda.get_policy().function_name(&t.function).send().await;
            match read.map_err(|e| clients.err("lambda", "GetPolicy", e)) {
                Ok(out) => Ok(out.policy),
                // Lambda API reference, GetPolicy: ResourceNotFoundException when the function
                // has no resource-based policy.
                Err(e) if e.is(crate::aws::ErrorKind::NotFound) => Ok(None),
                Err(e) => Err(e),
            }
        },
    );
    let pool = pool.map_err(|e| clients.err("cognito-idp", "DescribeUserPool", e))?;
    let function = function.map_err(|e| clients.err("lambda", "GetFunction", e))?;
    let table = table.map_err(|e| clients.err("dynamodb", "DescribeTable", e))?;
    let policy = policy?.policy.unwrap_or_default();
    Ok(Read {
        lambda_config: pool.user_pool.and_then(|p| p.lambda_config),
        function: function
            .configuration
            .unwrap_or_else(|| aws_sdk_lambda::types::FunctionConfiguration::builder().build()),
        policy: serde_json::from_str(if policy.is_empty() { "{}" } else { &policy })
            .unwrap_or(Value::Null),
        table_arn: table.table.and_then(|t| t.table_arn).unwrap_or_default(),
        alias: alias.map_err(|e| clients.err("lambda", "GetAlias", e))?,
        unqualified_policy: unqualified?
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or(Value::Null),
    })
}

/// The resource policy of what the pool calls.
async fn read_policy(
    clients: &Clients,
    t: &Target,
) -> Result<aws_sdk_lambda::operation::get_policy::GetPolicyOutput, AwsError> {
    let read = |qualifier: Option<String>| async {
        clients
            .lambda
            .get_policy()
            .function_name(&t.function)
            .set_qualifier(qualifier)
            .send()
            .await
            .map_err(|e| clients.err("lambda", "GetPolicy", e))
    };
    match read(t.qualifier.clone()).await {
        // fakecloud's CloudFormation puts an alias-qualified permission on the unqualified
        // function (AWS puts it on the alias, where Cognito's calls find it): on a local
        // emulator only, read it there.
        Err(err)
            if clients.emulator
                && t.qualifier.is_some()
                && err.is(crate::aws::ErrorKind::NotFound) =>
        {
            read(None).await
        }
        other => other,
    }
}

/// 1. The pool calls the trigger with the intended event version.
fn wired(
    config: Option<&aws_sdk_cognitoidentityprovider::types::LambdaConfigType>,
    t: &Target,
    expected: Expected<'_>,
) -> Check {
    let v2 = config.and_then(|c| c.pre_token_generation_config.as_ref());
    let (wired_arn, wired_version) = match (v2, config.and_then(|c| c.pre_token_generation.clone()))
    {
        (Some(v2), _) => (v2.lambda_arn.clone(), v2.lambda_version.as_str().to_owned()),
        (None, Some(arn)) => (arn, "V1_0".to_owned()),
        (None, None) => (String::new(), String::new()),
    };
    let (trigger_arn, event_version) = (&t.trigger_arn, expected.event_version);
    Check {
        name: "trigger wired",
        ok: wired_arn == *trigger_arn && wired_version == event_version,
        detail: if wired_arn.is_empty() {
            "the pool has no pre-token-generation trigger (changed outside the stack)".into()
        } else {
            format!(
                "{wired_arn} with {wired_version} (expected {trigger_arn} with {event_version}): changed outside the stack"
            )
        },
    }
}

/// 2. The function has code (an emulator accepts a missing S3 object and reports 0 bytes),
///    and it is the zip that was deployed.
fn code(
    configuration: &aws_sdk_lambda::types::FunctionConfiguration,
    expected: Expected<'_>,
) -> Vec<Check> {
    let code_size = configuration.code_size;
    let mut checks = vec![Check {
        name: "function has code",
        ok: code_size > 0,
        detail: format!("{code_size} bytes"),
    }];
    if let Some(want) = expected.code_sha256 {
        let want = crate::artifacts::checksum(want);
        let got = configuration.code_sha256.clone().unwrap_or_default();
        checks.push(Check {
            name: "function runs the deployed zip",
            ok: got == want,
            detail: if got == want {
                format!("code SHA-256 {got}")
            } else {
                format!(
                    "code SHA-256 {got}, expected {want} (the code was changed outside the stack)"
                )
            },
        });
    }
    checks
}

/// 2b. Every call through the alias runs its one version: a weighted second version
///     (RoutingConfig, Lambda API reference UpdateAlias) would send a share of the logins to
///     code and configuration the checks above never read.
fn one_version(alias: &aws_sdk_lambda::operation::get_alias::GetAliasOutput) -> Check {
    let extra: Vec<String> = alias
        .routing_config
        .as_ref()
        .and_then(|r| r.additional_version_weights.as_ref())
        .map(|weights| {
            weights
                .iter()
                .map(|(version, weight)| format!("{:.0}% to version {version}", weight * 100.0))
                .collect()
        })
        .unwrap_or_default();
    let version = alias.function_version.clone().unwrap_or_default();
    Check {
        name: "alias runs one version",
        ok: extra.is_empty(),
        detail: if extra.is_empty() {
            format!("every call runs version {version}")
        } else {
            format!(
                "version {version}, and {} (routing set outside the stack)",
                extra.join(", ")
            )
        },
    }
}

/// The role grants the table read and its own log writes, nothing else (4); it carries the
/// project's boundary, so no policy put on it can grant more (5).
/// What a function's role may reach: the table (the trigger's only), and its own log group.
struct RoleReads<'a> {
    table_arn: Option<&'a str>,
    function: &'a str,
}

async fn role_checks(
    clients: &Clients,
    t: &Target,
    role: &str,
    reads: RoleReads<'_>,
    expected: Expected<'_>,
) -> Result<[Check; 2], AwsError> {
    let (attached, names, boundary) = tokio::join!(
        clients.iam.attached_role_policies(role),
        clients.iam.role_policy_names(role),
        clients.iam.role_boundary(role),
    );
    let boundary = boundary.map_err(|e| clients.err("iam", "GetRole", e))?;
    let attached = attached.map_err(|e| clients.err("iam", "ListAttachedRolePolicies", e))?;
    let names = names.map_err(|e| clients.err("iam", "ListRolePolicies", e))?;
    let documents = futures::future::try_join_all(names.iter().map(|name| async move {
        clients
            .iam
            .role_policy(role, name)
            .await
            .map_err(|e| clients.err("iam", "GetRolePolicy", e))
            .map(|doc| parse_policy(&doc))
    }))
    .await?;
    let (account, region, function) = (&t.account, &t.region, reads.function);
    let partition = crate::aws::partition(region);
    let log_group_arn =
        format!("arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{function}");
    let least = role_check(&attached, &documents, reads.table_arn, &log_group_arn);
    let want =
        crate::policy::boundary_arn(partition, account, expected.project, region, expected.kind);
    let bounded = Check {
        name: "role is bounded",
        ok: boundary.as_deref() == Some(want.as_str()),
        detail: match boundary {
            Some(got) if got == want => got,
            Some(got) => format!("boundary {got}, expected {want}"),
            None => format!("no permissions boundary (expected {want})"),
        },
    };
    Ok([least, bounded])
}

/// IAM returns policy documents URL-encoded; emulators may not.
pub(crate) fn parse_policy(text: &str) -> Value {
    let decoded = if text.trim_start().starts_with('{') {
        text.to_owned()
    } else {
        percent_decode(text)
    };
    serde_json::from_str(&decoded).unwrap_or(Value::Null)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn as_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every statement of the function's resource policy is for Cognito, scoped to this pool and account.
/// One statement of a function's resource policy, as the checks read it.
struct Grant<'a> {
    sid: &'a str,
    service: &'a str,
    source_arn: Option<&'a str>,
    source_account: Option<&'a str>,
}

/// The statements of a resource policy (none for a missing one).
fn grants(policy: &Value) -> Vec<Grant<'_>> {
    fn text<'a>(s: &'a Value, at: &str) -> Option<&'a str> {
        s.pointer(at).and_then(Value::as_str)
    }
    policy
        .get("Statement")
        .and_then(Value::as_array)
        .map(|all| {
            all.iter()
                .map(|s| Grant {
                    sid: text(s, "/Sid").unwrap_or("?"),
                    service: text(s, "/Principal/Service").unwrap_or(""),
                    source_arn: text(s, "/Condition/ArnLike/AWS:SourceArn"),
                    source_account: text(s, "/Condition/StringEquals/AWS:SourceAccount"),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn permission_check(policy: &Value, pool_arn: &str, account: &str) -> Check {
    let statements = grants(policy);
    let mut problems = Vec::new();
    if statements.is_empty() {
        problems.push("no statement lets Cognito invoke the function".to_owned());
    }
    for &Grant {
        sid,
        service,
        source_arn,
        source_account,
    } in &statements
    {
        if service != "cognito-idp.amazonaws.com" {
            problems.push(format!("statement {sid} lets {service:?} invoke it"));
        }
        if source_arn != Some(pool_arn) {
            problems.push(format!(
                "statement {sid} is scoped to {source_arn:?}, not the pool {pool_arn}"
            ));
        }
        if source_account != Some(account) {
            problems.push(format!(
                "statement {sid} is scoped to account {source_account:?}, not {account}"
            ));
        }
    }
    Check {
        name: "only this pool invokes the trigger",
        ok: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("cognito-idp.amazonaws.com from {pool_arn}")
        } else {
            problems.join("; ")
        },
    }
}

/// The role's policies allow exactly GetItem on the table and log writes on the log group.
pub fn role_check(
    attached: &[String],
    documents: &[Value],
    table_arn: Option<&str>,
    log_group_arn: &str,
) -> Check {
    let mut problems: Vec<String> = attached
        .iter()
        .map(|p| format!("managed policy {p} is attached"))
        .collect();
    let mut granted = Vec::new();
    for doc in documents {
        let statements = match doc.get("Statement") {
            Some(Value::Array(items)) => items.clone(),
            Some(one @ Value::Object(_)) => vec![one.clone()],
            _ => {
                problems.push("a policy document could not be read".into());
                continue;
            }
        };
        for s in statements {
            if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            let resources = as_list(s.get("Resource"));
            for action in as_list(s.get("Action")) {
                let allowed_on: &[&str] = match (action.as_str(), table_arn) {
                    ("dynamodb:GetItem", Some(table_arn)) => &[table_arn],
                    ("logs:CreateLogStream" | "logs:PutLogEvents", _) => {
                        &[log_group_arn, &format!("{log_group_arn}:*")]
                    }
                    _ => {
                        problems.push(format!("{action} is allowed"));
                        continue;
                    }
                };
                for resource in &resources {
                    if !allowed_on.iter().any(|a| a == resource) {
                        problems.push(format!("{action} is allowed on {resource}"));
                    }
                }
                granted.push(action);
            }
        }
    }
    granted.sort();
    granted.dedup();
    Check {
        name: "role is least privilege",
        ok: problems.is_empty(),
        detail: if problems.is_empty() {
            format!("allows {}", granted.join(", "))
        } else {
            problems.join("; ")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TABLE: &str = "arn:aws:dynamodb:us-east-1:111122223333:table/t";
    const LOGS: &str = "arn:aws:logs:us-east-1:111122223333:log-group:/aws/lambda/f";

    #[test]
    fn the_intended_role_passes_and_any_extra_grant_fails() {
        let good = json!({"Statement": [
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": TABLE},
            {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": format!("{LOGS}:*")}
        ]});
        assert!(role_check(&[], std::slice::from_ref(&good), Some(TABLE), LOGS).ok);
        let wildcard = json!({"Statement": {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}});
        let check = role_check(&[], &[good.clone(), wildcard], Some(TABLE), LOGS);
        assert!(
            !check.ok && check.detail.contains("dynamodb:GetItem is allowed on *"),
            "{}",
            check.detail
        );
        let scan = json!({"Statement": [{"Effect": "Allow", "Action": "dynamodb:Scan", "Resource": TABLE}]});
        assert!(!role_check(&[], &[scan], Some(TABLE), LOGS).ok);
        assert!(
            !role_check(
                &["arn:aws:iam::aws:policy/AdministratorAccess".into()],
                std::slice::from_ref(&good),
                Some(TABLE),
                LOGS
            )
            .ok
        );
        // A role that reads no table (the authorizer's): a row read is one grant too many.
        let logs_only = json!({"Statement": [
            {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": format!("{LOGS}:*")}
        ]});
        assert!(role_check(&[], std::slice::from_ref(&logs_only), None, LOGS).ok);
        let check = role_check(&[], &[good], None, LOGS);
        assert!(
            !check.ok && check.detail.contains("dynamodb:GetItem is allowed"),
            "{}",
            check.detail
        );
    }

    #[test]
    fn url_encoded_documents_from_iam_are_read() {
        let doc = parse_policy("%7B%22Statement%22%3A%5B%5D%7D");
        assert_eq!(doc, json!({"Statement": []}));
    }

    #[test]
    fn whoamis_permission_must_name_this_api() {
        let source = "arn:aws:execute-api:us-east-1:111122223333:abc123/";
        let policy = |service: &str, arn: &str| {
            serde_json::json!({"Statement": [{"Sid": "s", "Principal": {"Service": service},
                "Condition": {"ArnLike": {"AWS:SourceArn": arn}}}]})
        };
        let ours = format!("{source}*/*");
        assert!(whoami_permission_check(&policy("apigateway.amazonaws.com", &ours), source).ok);
        for (service, arn) in [
            (
                "apigateway.amazonaws.com",
                "arn:aws:execute-api:us-east-1:111122223333:*/*/*",
            ),
            (
                "apigateway.amazonaws.com",
                "arn:aws:execute-api:us-east-1:111122223333:other/*/*",
            ),
            ("apigateway.amazonaws.com", ""),
            ("s3.amazonaws.com", ours.as_str()),
        ] {
            let check = whoami_permission_check(&policy(service, arn), source);
            assert!(!check.ok, "{service} {arn}");
        }
        assert!(!whoami_permission_check(&Value::Null, source).ok);
    }

    #[test]
    fn the_authorizers_permission_must_name_one_authorizer_of_this_api() {
        let source = "arn:aws:execute-api:us-east-1:111122223333:abc123/authorizers/";
        let policy = |service: &str, arn: &str| {
            serde_json::json!({"Statement": [{"Sid": "s", "Principal": {"Service": service},
                "Condition": {"ArnLike": {"AWS:SourceArn": arn}}}]})
        };
        let ours = format!("{source}xyz9");
        assert!(api_permission_check(&policy("apigateway.amazonaws.com", &ours), source).ok);
        for (service, arn) in [
            ("apigateway.amazonaws.com", format!("{source}*")),
            ("apigateway.amazonaws.com", format!("{source}??????")),
            (
                "apigateway.amazonaws.com",
                "arn:aws:execute-api:us-east-1:111122223333:other/authorizers/x".to_owned(),
            ),
            (
                "apigateway.amazonaws.com",
                "arn:aws:execute-api:us-east-1:111122223333:abc123/*/*".to_owned(),
            ),
            ("lambda.amazonaws.com", ours.clone()),
        ] {
            let check = api_permission_check(&policy(service, &arn), source);
            assert!(!check.ok, "{service} {arn}: {check:?}");
        }
        assert!(!api_permission_check(&Value::Null, source).ok);
    }

    #[test]
    fn the_permission_must_name_the_pool_and_account() {
        let pool = "arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_X";
        let scoped = json!({"Statement": [{"Sid": "s", "Principal": {"Service": "cognito-idp.amazonaws.com"},
            "Condition": {"ArnLike": {"AWS:SourceArn": pool}, "StringEquals": {"AWS:SourceAccount": "111122223333"}}}]});
        assert!(permission_check(&scoped, pool, "111122223333").ok);
        let open = json!({"Statement": [{"Sid": "s", "Principal": {"Service": "cognito-idp.amazonaws.com"}}]});
        assert!(!permission_check(&open, pool, "111122223333").ok);
    }
}
