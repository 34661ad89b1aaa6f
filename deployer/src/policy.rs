//! The IAM policies of the three CI roles, the permissions boundary every role the stack
//! creates carries, and the artifacts bucket's policy. Pure: `deployer policy` prints the
//! roles' policies, `deployer bootstrap` writes the boundary and the bucket policy, and the
//! tests evaluate all of them.
//!
//! The trust model (docs/security.md, "The CI roles"):
//! - `deployer`: the protected-branch role of the kept stack. It acts on the base stack's
//!   names only (`<prefix>`, `<prefix>-users`, `<prefix>-pretoken`...).
//! - `ephemeral`: the pull-request role. It acts on the ephemeral copies' names only
//!   (`<prefix>-<suffix>`...), which never match a name of the base stack, and only reads the
//!   shared builds.
//! - `publisher`: the only role that writes the shared builds (`_builds/`), and only once per
//!   key (`If-None-Match: *`).
//!
//! CloudFormation creates resources with the caller's permissions, so the deploying roles can
//! create IAM roles; they may do so only with the project's boundary attached
//! (`iam:PermissionsBoundary`), and never change or remove a boundary. So a role a CI job
//! makes, or an inline policy it writes, never grants more than the boundary: `GetItem` on the
//! project's tables and writes to its functions' log groups. Pools, whose ids are generated,
//! are scoped by the `deployer:stack` tag the template sets on each, not by a tag every pool
//! shares. Each statement's Sid names the step that needs it.

use crate::stack::STACK_TAG;
use serde_json::{json, Value};

/// Which CI role a policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Deploys and tears down the kept (base) stack, from a protected branch.
    Deployer,
    /// Deploys, uses and tears down ephemeral copies, from pull requests.
    Ephemeral,
    /// Builds the trigger and shares it under `_builds/`; deploys nothing.
    Publisher,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployer => "deployer",
            Self::Ephemeral => "ephemeral",
            Self::Publisher => "publisher",
        }
    }
}

/// What a policy is for.
#[derive(Debug, Clone)]
pub struct Scope {
    pub partition: String,
    pub account: String,
    pub region: String,
    /// The base stack's name (the inputs' stackName); ephemeral copies are `<prefix>-<suffix>`.
    pub prefix: String,
    /// The base stack's table name when the inputs set one (`table.name`); else
    /// `<prefix>-users`.
    pub table: Option<String>,
    pub role: Role,
    /// The code signing configuration the inputs name (`trigger.codeSigningConfigArn`): the
    /// roles may then create the function only with it, and never detach it.
    pub code_signing: Option<String>,
    /// A pool made outside the deployer (`userPool.existing`): the role reaches that pool by
    /// its ARN, and no other pool at all.
    pub existing_pool: Option<ExistingPool>,
    /// The stack has an API (`api` in the inputs): the roles may then make its functions
    /// and its HTTP API. Never the backends' invoke permissions (see `api_statements`).
    pub api: bool,
}

/// The existing pool a role deploys to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingPool {
    pub id: String,
    /// The stack makes an app client of its own in it (`userPool.appClient`).
    pub app_client: bool,
}

/// The longest prefix whose ephemeral copies are never truncated (`<prefix>--<suffix>`, the
/// suffix up to 20 characters, within the stack name's 55), so every copy's name starts with
/// `<prefix>--`.
pub const MAX_EPHEMERAL_PREFIX: usize = crate::inputs::MAX_STACK_NAME - 22;

/// What joins a base stack's name and an ephemeral suffix. No base stack name holds it (an
/// inputs rule), so `<prefix>--*` matches the copies of one project and nothing else: not the
/// base stack, and not another project whose name starts with `<prefix>-`.
pub const COPY_SEPARATOR: &str = "--";

/// Which stacks of a project a boundary bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The base (kept) stack.
    Base,
    /// The ephemeral copies.
    Copies,
}

/// The names a deploying role acts on, as IAM resource patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub stack: String,
    pub table: String,
    /// The function, its role and its log group share this name.
    pub function: String,
    /// The stack's artifacts in the bucket (`<stack>/...`).
    pub artifacts: String,
    /// The `deployer:stack` tag's value (a pattern for the ephemeral role).
    pub stack_tag: String,
}

impl Scope {
    /// How a condition matches this role's `deployer:stack` tag, and how it refuses another:
    /// by pattern for the ephemeral role (its copies), exactly for the others.
    fn tag_tests(&self) -> (&'static str, &'static str) {
        if self.role == Role::Ephemeral {
            ("StringLike", "StringNotLike")
        } else {
            ("StringEquals", "StringNotEquals")
        }
    }

    /// The names of the stacks this role acts on: the base stack's for the deployer, the
    /// ephemeral copies' for the ephemeral role (none of which matches a base name).
    pub fn names(&self) -> Names {
        let p = &self.prefix;
        match self.role {
            // A copy's table is always `<copy>-users`, whatever the base's `table.name`.
            Role::Ephemeral => Names {
                stack: format!("{p}{COPY_SEPARATOR}*"),
                table: format!("{p}{COPY_SEPARATOR}*-users"),
                function: crate::inputs::function_of_stack(&format!("{p}{COPY_SEPARATOR}*")),
                artifacts: format!("{p}{COPY_SEPARATOR}*/*"),
                stack_tag: format!("{p}{COPY_SEPARATOR}*"),
            },
            Role::Deployer | Role::Publisher => Names {
                stack: p.clone(),
                table: self.table.clone().unwrap_or_else(|| format!("{p}-users")),
                function: crate::inputs::function_of_stack(p),
                artifacts: format!("{p}/*"),
                stack_tag: p.clone(),
            },
        }
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        let (p, a, r) = (&self.partition, &self.account, &self.region);
        match service {
            "s3" => format!("arn:{p}:s3:::{resource}"),
            "iam" => format!("arn:{p}:iam::{a}:{resource}"),
            _ => format!("arn:{p}:{service}:{r}:{a}:{resource}"),
        }
    }

    fn bucket(&self) -> String {
        crate::artifacts::bucket_name(&self.account, &self.region)
    }
}

/// The managed policy that bounds the roles of the project's base stack, or of its copies.
pub fn boundary_name(prefix: &str, region: &str, kind: Kind) -> String {
    match kind {
        Kind::Base => format!("{prefix}-trigger-boundary-{region}"),
        Kind::Copies => format!("{prefix}-copies-boundary-{region}"),
    }
}

/// The path the deployer's managed policies live under.
pub const BOUNDARY_PATH: &str = "/deployer/";

/// The boundary's ARN.
pub fn boundary_arn(
    partition: &str,
    account: &str,
    prefix: &str,
    region: &str,
    kind: Kind,
) -> String {
    format!(
        "arn:{partition}:iam::{account}:policy{BOUNDARY_PATH}{}",
        boundary_name(prefix, region, kind)
    )
}

impl Role {
    /// The stacks this role deploys, and so the boundary its roles carry.
    pub fn kind(self) -> Kind {
        match self {
            Self::Ephemeral => Kind::Copies,
            Self::Deployer | Self::Publisher => Kind::Base,
        }
    }
}

/// A boundary: the most a role of the base stack (or of a copy) may do, which is what the
/// trigger needs: read a row of that stack's table, write its own log lines. Only from inside
/// that stack's function (`lambda:SourceFunctionArn`, which Lambda sets on the calls its code
/// makes and on its log writes): the role's credentials used anywhere else get nothing, so a
/// role a CI job made with this boundary and a trust policy of its own choosing is no key to
/// the rows.
pub fn boundary_document(scope: &Scope, kind: Kind) -> Value {
    let names = Scope {
        role: if kind == Kind::Base {
            Role::Deployer
        } else {
            Role::Ephemeral
        },
        ..scope.clone()
    }
    .names();
    // Only from inside `function` (its ARN, and its versions' and aliases').
    let from = |function: &str| {
        let arn = scope.arn("lambda", &format!("function:{function}"));
        json!({"ArnLike": {"lambda:SourceFunctionArn": [arn.clone(), format!("{arn}:*")]}})
    };
    // Each function writes its own log group; the API's (a stack with an `api`) nothing else.
    let logs = |sid: &str, function: &str| {
        json!({"Sid": sid, "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
               "Resource": [scope.arn("logs", &format!("log-group:/aws/lambda/{function}:*"))],
               "Condition": from(function)})
    };
    let authorizer = crate::inputs::authorizer_of_stack(&names.stack);
    let whoami = crate::inputs::whoami_of_stack(&names.stack);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadUserRows", "Effect": "Allow", "Action": ["dynamodb:GetItem"],
             "Resource": [scope.arn("dynamodb", &format!("table/{}", names.table))],
             "Condition": from(&names.function)},
            logs("WriteOwnLogs", &names.function),
            logs("AuthorizerWritesOwnLogs", &authorizer),
            logs("WhoamiWritesOwnLogs", &whoami)
        ]
    })
}

/// One statement: its Sid (the step that needs it), effect, actions, resources, condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: &'static str,
    pub allow: bool,
    pub actions: Vec<&'static str>,
    pub resources: Vec<String>,
    pub condition: Option<Value>,
}

fn allow(sid: &'static str, actions: &[&'static str], resources: Vec<String>) -> Statement {
    Statement {
        sid,
        allow: true,
        actions: actions.to_vec(),
        resources,
        condition: None,
    }
}

impl Statement {
    fn when(mut self, condition: Value) -> Self {
        self.condition = Some(condition);
        self
    }
    fn deny(mut self) -> Self {
        self.allow = false;
        self
    }
}

/// The statements of the scope's role, in the order a deploy needs them.
pub fn statements(s: &Scope) -> Vec<Statement> {
    match s.role {
        Role::Publisher => publisher(s),
        Role::Deployer | Role::Ephemeral => deploying(s),
    }
}

fn publisher(s: &Scope) -> Vec<Statement> {
    let bucket = s.bucket();
    let builds = s.arn(
        "s3",
        &format!("{bucket}/{}*", crate::artifacts::builds_prefix(&s.prefix)),
    );
    vec![
        allow("WhoAmI", &["sts:GetCallerIdentity"], vec!["*".into()]),
        // HeadBucket, and HeadObject's 404 for a build not there yet (403 without it).
        allow("FindBucket", &["s3:ListBucket"], vec![s.arn("s3", &bucket)]),
        allow("ReadSharedBuilds", &["s3:GetObject"], vec![builds.clone()]),
        // Only a write that cannot replace an object (If-None-Match: *): the first build of a
        // key stays.
        allow("PublishSharedBuilds", &["s3:PutObject"], vec![builds])
            .when(json!({"Null": {"s3:if-none-match": "false"}})),
    ]
}

/// What deploying, checking and deleting one of the stack's functions takes.
const FUNCTION_ACTIONS: &[&str] = &[
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:UpdateFunctionCode",
    "lambda:UpdateFunctionConfiguration",
    "lambda:DeleteFunction",
    "lambda:RemovePermission",
    "lambda:GetPolicy",
    "lambda:TagResource",
    "lambda:UntagResource",
    "lambda:ListTags",
    // What CloudFormation's handlers read back after a create or an update.
    "lambda:GetFunctionCodeSigningConfig",
    "lambda:GetRuntimeManagementConfig",
    "lambda:GetFunctionRecursionConfig",
    "lambda:GetFunctionScalingConfig",
    // The published version the pool calls, through its alias.
    "lambda:PublishVersion",
    "lambda:ListVersionsByFunction",
    "lambda:CreateAlias",
    "lambda:UpdateAlias",
    "lambda:DeleteAlias",
    "lambda:GetAlias",
    "lambda:GetProvisionedConcurrencyConfig",
];

/// What making, keeping and deleting one of the stack's log groups takes.
const LOG_GROUP_ACTIONS: &[&str] = &[
    "logs:CreateLogGroup",
    "logs:DeleteLogGroup",
    "logs:PutRetentionPolicy",
    "logs:DeleteRetentionPolicy",
    "logs:TagResource",
    "logs:UntagResource",
    "logs:TagLogGroup",
    "logs:ListTagsForResource",
    "logs:GetDataProtectionPolicy",
    "logs:DescribeIndexPolicies",
];

/// What reading, tagging and deleting one of the stack's roles takes (making one, or a
/// policy on it, is only with the boundary).
const ROLE_ACTIONS: &[&str] = &[
    "iam:DeleteRole",
    "iam:GetRole",
    "iam:UpdateRoleDescription",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:GetRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:TagRole",
    "iam:UntagRole",
];

/// Making a role, or a policy on it: only with the boundary.
const BOUNDED_ROLE_ACTIONS: &[&str] = &[
    "iam:CreateRole",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:PutRolePermissionsBoundary",
];

fn deploying(s: &Scope) -> Vec<Statement> {
    let n = s.names();
    let bucket = s.bucket();
    let boundary = boundary_arn(
        &s.partition,
        &s.account,
        &s.prefix,
        &s.region,
        s.role.kind(),
    );
    let boundaries: Vec<String> = [Kind::Base, Kind::Copies]
        .iter()
        .map(|k| boundary_arn(&s.partition, &s.account, &s.prefix, &s.region, *k))
        .collect();
    let role = s.arn("iam", &format!("role/{}", n.function));
    let function = s.arn("lambda", &format!("function:{}", n.function));
    let log_group = s.arn("logs", &format!("log-group:/aws/lambda/{}", n.function));
    let table = s.arn("dynamodb", &format!("table/{}", n.table));
    let (tag_test, _) = s.tag_tests();
    let pool_tag = |key: &str| json!({ tag_test: { format!("{key}/{STACK_TAG}"): n.stack_tag }});
    let mut statements = vec![
        // AWS answers GetCallerIdentity for every identity whatever its policy; emulators that
        // evaluate policies want it spelled out.
        allow("WhoAmI", &["sts:GetCallerIdentity"], vec!["*".into()]),
        // Reading stacks by name, and listing them for gc (DescribeStacks without a name is
        // authorized against "*").
        allow(
            "ReadStacks",
            &[
                "cloudformation:DescribeStacks",
                // `status`: a detection's progress has no stack to scope it to.
                "cloudformation:DescribeStackDriftDetectionStatus",
            ],
            vec!["*".into()],
        ),
        // A change set only of the template's resource types, named in the request: no
        // third-party or private type (which would run with its own execution role), no
        // transform or nested stack.
        allow(
            "CreateChangeSets",
            &["cloudformation:CreateChangeSet"],
            vec![s.arn("cloudformation", &format!("stack/{}/*", n.stack))],
        )
        .when(json!({
            "Null": {"cloudformation:ResourceTypes": "false"},
            "ForAllValues:StringEquals": {"cloudformation:ResourceTypes": crate::render::resource_types()},
        })),
        allow(
            "DeployStacks",
            &[
                "cloudformation:DescribeChangeSet",
                "cloudformation:ExecuteChangeSet",
                "cloudformation:DeleteChangeSet",
                "cloudformation:DescribeStackEvents",
                "cloudformation:ListStackResources",
                "cloudformation:DeleteStack",
                "cloudformation:GetTemplate",
                // `status`: drift detection on the stack's resources.
                "cloudformation:DetectStackDrift",
                "cloudformation:DetectStackResourceDrift",
                "cloudformation:DescribeStackResourceDrifts",
                // The recovery the deployer advises for a stack stuck in a failed state.
                "cloudformation:ContinueUpdateRollback",
                "cloudformation:RollbackStack",
            ],
            // Change set actions are authorized against their stack (Service Authorization
            // Reference, AWS CloudFormation): a change set ARN would name no stack.
            vec![s.arn("cloudformation", &format!("stack/{}/*", n.stack))],
        ),
        // `deployer bootstrap` made the bucket and the boundary; `up` checks they are there.
        allow(
            "Bootstrapped",
            &["s3:ListBucket"],
            vec![s.arn("s3", &bucket)],
        ),
        // And that the boundary is the one this deployer writes (GetPolicyVersion).
        allow(
            "ReadBoundary",
            &["iam:GetPolicy", "iam:GetPolicyVersion"],
            vec![boundary.clone()],
        ),
        // The stack's own zips. CloudFormation's Lambda reads the zip with the caller's
        // permissions.
        allow(
            "Artifacts",
            &[
                "s3:GetObject",
                "s3:PutObject",
                "s3:PutObjectTagging",
                "s3:DeleteObject",
            ],
            vec![s.arn("s3", &format!("{bucket}/{}", n.artifacts))],
        ),
        // The shared builds are read, never written (the publisher's alone).
        allow(
            "ReadSharedBuilds",
            &["s3:GetObject"],
            vec![s.arn(
                "s3",
                &format!("{bucket}/{}*", crate::artifacts::builds_prefix(&s.prefix)),
            )],
        ),
        Statement {
            sid: "NeverWriteSharedBuilds",
            allow: false,
            actions: vec!["s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging"],
            resources: vec![s.arn(
                "s3",
                &format!("{bucket}/{}*", crate::artifacts::BUILDS_PREFIX),
            )],
            condition: None,
        },
        allow("TriggerRole", ROLE_ACTIONS, vec![role.clone()]),
        // A role, or a policy on it, only with the project's boundary: whatever the policy
        // says, the role can do no more than the boundary allows.
        allow("TriggerRoleBounded", BOUNDED_ROLE_ACTIONS, vec![role.clone()])
            .when(json!({"StringEquals": {"iam:PermissionsBoundary": boundary}})),
        // The same, whatever another policy of this role grants (IAM User Guide,
        // "Permissions boundaries for IAM entities": deny changing or removing a boundary).
        allow("NoRoleWithoutBoundary", BOUNDED_ROLE_ACTIONS, vec!["*".into()])
        .when(json!({"StringNotEquals": {"iam:PermissionsBoundary": boundary}}))
        .deny(),
        allow(
            "NoBoundaryRemoval",
            &["iam:DeleteRolePermissionsBoundary"],
            vec!["*".into()],
        )
        .deny(),
        allow(
            "NoBoundaryChange",
            &[
                "iam:CreatePolicyVersion",
                "iam:DeletePolicy",
                "iam:DeletePolicyVersion",
                "iam:SetDefaultPolicyVersion",
            ],
            boundaries,
        )
        .deny(),
        // Role names are unique whatever their path: a role with a path could take a name the
        // stacks need (`role/<prefix>--x/<prefix>-pretoken` matches the copies' pattern).
        allow(
            "NoRolePaths",
            &[
                "iam:CreateRole",
                "iam:PutRolePolicy",
                "iam:AttachRolePolicy",
                "iam:PutRolePermissionsBoundary",
                "iam:PassRole",
                "iam:DeleteRole",
                "iam:DeleteRolePolicy",
                "iam:DetachRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateRoleDescription",
            ],
            vec![s.arn("iam", "role/*/*")],
        )
        .deny(),
        allow("PassTriggerRole", &["iam:PassRole"], vec![role])
            .when(json!({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}})),
        create_function(s, &function),
        // The invoke permission is Cognito's alone: never one for another principal (a public
        // invoke would let anyone read rows through crafted events).
        allow(
            "CognitoInvokePermission",
            &["lambda:AddPermission"],
            // The function and the alias the pool calls: no permission on another version or
            // alias, which the wiring checks do not read.
            vec![function.clone(), format!("{function}:live")],
        )
        .when(json!({"StringEquals": {"lambda:Principal": "cognito-idp.amazonaws.com"}})),
        allow(
            "TriggerFunction",
            FUNCTION_ACTIONS,
            // The function, and its versions and alias (`function:<name>:<qualifier>`).
            vec![function.clone(), format!("{function}:*")],
        ),
    ];
    statements.extend(code_signing(s, &function));
    statements.extend(vec![
        allow(
            "TriggerLogs",
            LOG_GROUP_ACTIONS,
            vec![log_group.clone(), format!("{log_group}:*")],
        ),
        // `logs`, `invoke` and the viewer: the trigger's log lines, and calling it.
        allow(
            "OperateTrigger",
            &["logs:FilterLogEvents", "lambda:InvokeFunction"],
            vec![
                format!("{log_group}:*"),
                log_group,
                format!("{function}:*"),
                function,
            ],
        ),
        allow(
            "ListLogGroups",
            // Account-wide reads with no resource to scope (the log group's handlers).
            &["logs:DescribeLogGroups", "logs:DescribeResourcePolicies"],
            vec!["*".into()],
        ),
        allow(
            "UsersTable",
            &[
                "dynamodb:CreateTable",
                "dynamodb:DescribeTable",
                "dynamodb:UpdateTable",
                "dynamodb:DeleteTable",
                "dynamodb:TagResource",
                "dynamodb:UntagResource",
                "dynamodb:ListTagsOfResource",
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:UpdateContinuousBackups",
                // What CloudFormation's handlers read back.
                "dynamodb:DescribeTimeToLive",
                "dynamodb:DescribeContributorInsights",
                "dynamodb:DescribeKinesisStreamingDestination",
                "dynamodb:GetResourcePolicy",
            ],
            vec![table.clone()],
        ),
        // users add|list|remove|import, clients add, verify: rows in the stack's table.
        allow(
            "UsersTableRows",
            &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchGetItem",
                "dynamodb:BatchWriteItem",
                // `plan --claims` and `status --sizes`: a bounded, projected sample.
                "dynamodb:Scan",
            ],
            vec![table],
        ),
    ]);
    statements.extend(pools(s, pool_tag));
    if s.api {
        statements.extend(api_statements(s, &boundary));
    }
    statements
}

/// The API's statements (a stack with an `api`): its two functions, their roles (bounded) and
/// log groups, as for the trigger; its HTTP API, scoped by the `deployer:stack` tag the
/// template sets on it, which API Gateway's HTTP API resources (routes, integrations,
/// authorizers, stages) are authorized with (Service Authorization Reference, "Amazon API
/// Gateway Management V2", resource types); API Gateway's invoke permissions on the stack's
/// own two functions.
///
/// Never `lambda:AddPermission` or `RemovePermission` on a backend the routes call: IAM has
/// no key for a permission's `SourceArn` or `SourceAccount`, so a role that may add one may
/// open the backend to every API Gateway API of every account, and one that may remove one
/// may cut any caller off it. An admin's `up` makes the base stack's backend permissions
/// (once, and again when a route's backend changes); a copy's routes call its own `whoami`,
/// never a backend (`ephemeral::apply`).
fn api_statements(s: &Scope, boundary: &str) -> Vec<Statement> {
    let n = s.names();
    let (p, r) = (&s.partition, &s.region);
    let authorizer = crate::inputs::authorizer_of_stack(&n.stack);
    let whoami = crate::inputs::whoami_of_stack(&n.stack);
    let functions: Vec<String> = [&authorizer, &whoami]
        .iter()
        .flat_map(|f| {
            let arn = s.arn("lambda", &format!("function:{f}"));
            [arn.clone(), format!("{arn}:*")]
        })
        .collect();
    let roles: Vec<String> = [&authorizer, &whoami]
        .iter()
        .map(|f| s.arn("iam", &format!("role/{f}")))
        .collect();
    let log_groups: Vec<String> = [&authorizer, &whoami]
        .iter()
        .flat_map(|f| {
            let arn = s.arn("logs", &format!("log-group:/aws/lambda/{f}"));
            [arn.clone(), format!("{arn}:*")]
        })
        .collect();
    let authorizer_arn = s.arn("lambda", &format!("function:{authorizer}"));
    let whoami_arn = s.arn("lambda", &format!("function:{whoami}"));
    let apis = format!("arn:{p}:apigateway:{r}::/apis");
    let (tag_test, not_tag_test) = s.tag_tests();
    let api_tag = |key: &str| json!({ tag_test: { format!("{key}/{STACK_TAG}"): n.stack_tag }});
    let from_api_gateway =
        json!({"StringEquals": {"lambda:Principal": "apigateway.amazonaws.com"}});
    let tags = format!("arn:{p}:apigateway:{r}::/tags/*");
    vec![
        allow("ApiFunctionRoles", ROLE_ACTIONS, roles.clone()),
        allow("ApiFunctionRolesBounded", BOUNDED_ROLE_ACTIONS, roles.clone())
            .when(json!({"StringEquals": {"iam:PermissionsBoundary": boundary}})),
        allow("PassApiFunctionRoles", &["iam:PassRole"], roles)
            .when(json!({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}})),
        // Their roles write their own logs and nothing else (the boundary), so they carry
        // no code signing configuration: the authorizer's zip bundles the stack's policies,
        // which the deploying role writes anyway.
        allow(
            "CreateApiFunctions",
            &["lambda:CreateFunction"],
            vec![authorizer_arn.clone(), whoami_arn.clone()],
        ),
        allow("ApiFunctions", FUNCTION_ACTIONS, functions),
        // API Gateway's invoke permissions: on the authorizer's alias, which the API calls,
        // and on `whoami`; for API Gateway only.
        allow(
            "ApiInvokePermissions",
            &["lambda:AddPermission"],
            vec![format!("{authorizer_arn}:live"), whoami_arn],
        )
        .when(from_api_gateway),
        allow("ApiLogs", LOG_GROUP_ACTIONS, log_groups.clone()),
        // `logs --authorizer`: the decisions.
        allow("OperateApi", &["logs:FilterLogEvents"], log_groups),
        // The create has no API to scope: its request must carry this role's stack tag.
        allow("CreateApis", &["apigateway:POST"], vec![apis.clone()])
            .when(api_tag("aws:RequestTag")),
        // The API and everything in it, by the API's tag. No PUT on the API itself (a
        // reimport would replace its routes wholesale).
        allow(
            "Apis",
            &[
                "apigateway:GET",
                "apigateway:POST",
                "apigateway:PATCH",
                "apigateway:DELETE",
            ],
            vec![format!("{apis}/*")],
        )
        .when(api_tag("aws:ResourceTag")),
        // What CloudFormation updates with PUT: an authorizer, a route, an integration, the
        // stage (never the API itself).
        allow("UpdateApiParts", &["apigateway:PUT"], vec![format!("{apis}/*/*")])
            .when(api_tag("aws:ResourceTag")),
        // The stack's tags, which CloudFormation puts on the API and its stage (the Tags
        // resource, `/tags/<arn>`, or the tagged resource itself): only on this role's APIs,
        // and never another stack's `deployer:stack` (so an API never changes stack), as for
        // pools. Removing the stack tag is not denied (CloudFormation may untag a copy's
        // changed tags together): it would only lose the role its own API.
        allow(
            "TagApis",
            &[
                "apigateway:TagResource",
                "apigateway:UntagResource",
                "apigateway:POST",
                "apigateway:DELETE",
            ],
            vec![tags.clone(), format!("{apis}/*")],
        )
        .when(json!({
            tag_test: { format!("aws:ResourceTag/{STACK_TAG}"): n.stack_tag },
            format!("{tag_test}IfExists"): { format!("aws:RequestTag/{STACK_TAG}"): n.stack_tag },
        })),
        // Whatever a request creates or tags (a stage, the API), it never carries another
        // stack's tag.
        allow(
            "NoOtherStacksApiTag",
            &[
                "apigateway:POST",
                "apigateway:PUT",
                "apigateway:PATCH",
                "apigateway:TagResource",
            ],
            vec![format!("{apis}*"), tags.clone()],
        )
        .when(json!({
            "Null": { format!("aws:RequestTag/{STACK_TAG}"): "false" },
            not_tag_test: { format!("aws:RequestTag/{STACK_TAG}"): n.stack_tag },
        }))
        .deny(),
        // Reading tags is what CloudFormation's handlers do after a create; tags are no
        // secret.
        allow("ReadApiTags", &["apigateway:GET"], vec![tags]),
        // Every route goes through an authorizer (a route of `NONE` would open the backends
        // to anyone), and every authorizer is this stack's function, a Lambda (REQUEST)
        // authorizer: never a JWT authorizer trusting another issuer, nor another function.
        allow(
            "RoutesOnlyThroughTheAuthorizer",
            &["apigateway:POST", "apigateway:PATCH", "apigateway:PUT"],
            vec![format!("{apis}*")],
        )
        .when(json!({
            "Null": {"apigateway:Request/RouteAuthorizationType": "false"},
            "ForAnyValue:StringNotEquals": {"apigateway:Request/RouteAuthorizationType": "CUSTOM"},
        }))
        .deny(),
        // A route made without saying how it is authorized is made without authorization
        // (CreateRoute's default is NONE); the template always says CUSTOM.
        allow(
            "RoutesSayTheirAuthorizer",
            &["apigateway:POST"],
            vec![format!("{apis}/*/routes")],
        )
        .when(json!({"Null": {"apigateway:Request/RouteAuthorizationType": "true"}}))
        .deny(),
        allow(
            "OnlyLambdaAuthorizers",
            &["apigateway:POST", "apigateway:PATCH", "apigateway:PUT"],
            vec![format!("{apis}*")],
        )
        .when(json!({
            "Null": {"apigateway:Request/AuthorizerType": "false"},
            "ForAnyValue:StringNotEquals": {"apigateway:Request/AuthorizerType": "REQUEST"},
        }))
        .deny(),
        allow(
            "OnlyTheStacksAuthorizer",
            &["apigateway:POST", "apigateway:PATCH", "apigateway:PUT"],
            vec![format!("{apis}*")],
        )
        .when(json!({
            "Null": {"apigateway:Request/AuthorizerUri": "false"},
            "ForAnyValue:StringNotLike": {"apigateway:Request/AuthorizerUri": format!(
                "arn:{p}:apigateway:{r}:lambda:path/2015-03-31/functions/{authorizer_arn}:live/invocations"
            )},
        }))
        .deny(),
    ]
}

/// The user pool statements: a pool of the stack's own, scoped by its `deployer:stack` tag;
/// or the one existing pool, by its ARN.
fn pools(s: &Scope, pool_tag: impl Fn(&str) -> Value) -> Vec<Statement> {
    if let Some(existing) = &s.existing_pool {
        return existing_pool(s, existing);
    }
    let n = s.names();
    let (tag_test, _) = s.tag_tests();
    vec![
        // A pool's id is generated: the `deployer:stack` tag the template sets on each pool
        // scopes it to this role's stacks (never a tag every pool shares).
        allow(
            "UserPools",
            &[
                "cognito-idp:DeleteUserPool",
                "cognito-idp:DescribeUserPool",
                "cognito-idp:SetUserPoolMfaConfig",
                "cognito-idp:GetUserPoolMfaConfig",
                "cognito-idp:AddCustomAttributes",
                "cognito-idp:CreateUserPoolClient",
                "cognito-idp:UpdateUserPoolClient",
                "cognito-idp:DeleteUserPoolClient",
                "cognito-idp:DescribeUserPoolClient",
                "cognito-idp:ListUserPoolClients",
                "cognito-idp:CreateUserPoolDomain",
                "cognito-idp:UpdateUserPoolDomain",
                "cognito-idp:DeleteUserPoolDomain",
                "cognito-idp:UntagResource",
                "cognito-idp:ListTagsForResource",
                "cognito-idp:AdminCreateUser",
                "cognito-idp:AdminGetUser",
                "cognito-idp:AdminListGroupsForUser",
                "cognito-idp:AdminSetUserPassword",
                "cognito-idp:AdminUpdateUserAttributes",
                "cognito-idp:AdminDeleteUser",
                "cognito-idp:AdminInitiateAuth",
                "cognito-idp:ListUsers",
                "cognito-idp:CreateResourceServer",
                "cognito-idp:DescribeResourceServer",
            ],
            vec![s.arn("cognito-idp", "userpool/*")],
        )
        .when(pool_tag("aws:ResourceTag")),
        // Tagging keeps the pool this role's: it cannot give a pool another stack's tag (nor
        // can UpdateUserPool, whose UserPoolTags are request tags).
        allow(
            "TagUserPools",
            &["cognito-idp:TagResource", "cognito-idp:UpdateUserPool"],
            vec![s.arn("cognito-idp", "userpool/*")],
        )
        .when(json!({
            tag_test: { format!("aws:ResourceTag/{STACK_TAG}"): n.stack_tag },
            format!("{tag_test}IfExists"): { format!("aws:RequestTag/{STACK_TAG}"): n.stack_tag },
        })),
        // The create has no pool to scope: its request must carry this role's stack tag.
        allow(
            "CreateUserPools",
            &["cognito-idp:CreateUserPool"],
            vec!["*".into()],
        )
        .when(pool_tag("aws:RequestTag")),
        // Reading a domain's pool has no resource to scope.
        allow(
            "UserPoolDomains",
            &["cognito-idp:DescribeUserPoolDomain"],
            vec!["*".into()],
        ),
    ]
}

/// A pool made outside the deployer: read it and list its clients (no secrets), nothing more.
/// Its pre-token-generation slot is set once, by an admin's `up` (UpdateUserPool, which Cognito
/// cannot narrow to that field, would let the role rewrite the pool: point its custom-auth
/// triggers at code it deploys, turn MFA off); the slot then calls the stack's alias, which
/// every later deploy moves without touching the pool. No client administration (Cognito
/// authorizes it for every client of the pool), no pool creation, deletion or tagging, and
/// no user administration: the team's users are managed with the team's credentials.
fn existing_pool(s: &Scope, existing: &ExistingPool) -> Vec<Statement> {
    vec![allow(
        "ExistingUserPool",
        &[
            "cognito-idp:DescribeUserPool",
            "cognito-idp:ListUserPoolClients",
        ],
        vec![s.arn("cognito-idp", &format!("userpool/{}", existing.id))],
    )]
}

/// Creating the stack's function; with code signing, only with the project's configuration
/// (Lambda then refuses a zip its profiles did not sign: Lambda developer guide,
/// "Configuring IAM policies for Lambda code signing configurations").
fn create_function(s: &Scope, function: &str) -> Statement {
    let statement = allow(
        "CreateTriggerFunction",
        &["lambda:CreateFunction"],
        vec![function.to_owned()],
    );
    match &s.code_signing {
        Some(csc) => statement.when(json!({"StringEquals": {"lambda:CodeSigningConfigArn": csc}})),
        None => statement,
    }
}

/// With code signing: the configuration may be read and attached (only that one), never
/// detached.
fn code_signing(s: &Scope, function: &str) -> Vec<Statement> {
    let Some(csc) = &s.code_signing else {
        return Vec::new();
    };
    vec![
        allow(
            "ReadCodeSigning",
            &["lambda:GetCodeSigningConfig"],
            vec![csc.clone()],
        ),
        allow(
            "AttachCodeSigning",
            &["lambda:PutFunctionCodeSigningConfig"],
            vec![function.to_owned()],
        )
        .when(json!({"StringEquals": {"lambda:CodeSigningConfigArn": csc}})),
        allow(
            "NeverDetachCodeSigning",
            &["lambda:DeleteFunctionCodeSigningConfig"],
            vec!["*".into()],
        )
        .deny(),
    ]
}

/// The policy document.
pub fn document(scope: &Scope) -> Value {
    to_document(statements(scope))
}

fn to_document(statements: Vec<Statement>) -> Value {
    let statements: Vec<Value> = statements
        .into_iter()
        .map(|s| {
            let mut v = json!({
                "Sid": s.sid,
                "Effect": if s.allow { "Allow" } else { "Deny" },
                "Action": s.actions,
                "Resource": s.resources,
            });
            if let Some(c) = s.condition {
                v["Condition"] = c;
            }
            v
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The document without one statement (tests prove each one is needed).
pub fn without(scope: &Scope, sid: &str) -> Value {
    let mut doc = document(scope);
    if let Some(list) = doc["Statement"].as_array_mut() {
        list.retain(|s| s["Sid"] != sid);
    }
    doc
}

/// The statements `bucket_policy` writes for every project.
const SHARED_SIDS: &[&str] = &["TlsOnly", "SharedBuildsWriteOnce", "SharedBuildsKept"];

/// The Sid of a project's publisher statement: alphanumeric, as Sids are, and the whole
/// name (hex), so no other project's name gives the same one.
fn publisher_sid(project: &str) -> String {
    format!(
        "SharedBuildsPublisherOnly{}",
        hex::encode(project.as_bytes())
    )
}

/// The artifacts bucket's policy: TLS only; a shared build is written once (If-None-Match)
/// and never deleted or replaced by anyone (it expires by the lifecycle rule); with
/// `publisher`, nobody else writes this project's shared builds, whatever their own policies
/// grant. `existing` is the policy the bucket has: the statements of other projects (and a
/// publisher statement of this one, when no new publisher is given) are kept.
pub fn bucket_policy(
    partition: &str,
    bucket: &str,
    project: &str,
    publisher: Option<&str>,
    existing: Option<&Value>,
) -> Value {
    let bucket_arn = format!("arn:{partition}:s3:::{bucket}");
    let builds = format!("{bucket_arn}/{}*", crate::artifacts::BUILDS_PREFIX);
    let own = publisher_sid(project);
    // IAM allows one statement as an object where a list is expected.
    let existing: Vec<Value> = match existing.map(|p| &p["Statement"]) {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let kept: Vec<Value> = existing
        .into_iter()
        .filter(|s| {
            let sid = s["Sid"].as_str().unwrap_or_default();
            !SHARED_SIDS.contains(&sid) && (publisher.is_none() || sid != own)
        })
        .collect();
    let mut statements = vec![
        json!({
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, format!("{bucket_arn}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }),
        json!({
            "Sid": "SharedBuildsWriteOnce",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": builds,
            "Condition": {"Null": {"s3:if-none-match": "true"}}
        }),
        json!({
            "Sid": "SharedBuildsKept",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectTagging"],
            "Resource": builds
        }),
    ];
    statements.extend(kept);
    if let Some(publisher) = publisher {
        statements.push(json!({
            "Sid": own,
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": format!("{bucket_arn}/{}*", crate::artifacts::builds_prefix(project)),
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": publisher}}
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}
