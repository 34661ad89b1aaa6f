//! The three CI roles' policies, evaluated (tests/iam_eval: IAM's evaluation logic for one
//! identity policy) on the requests a CI job could make: each role runs its own stacks and
//! nothing of the others, every escalation a privilege-escalation analyzer lists for them
//! (cloudsplaining, docs/security.md "The CI roles") is refused, and no statement can lose its
//! condition unnoticed. fakecloud enforces some of this for real (iam_policy.rs); the
//! conditions it does not evaluate (`iam:PermissionsBoundary`, Cognito's tags) are proven here.

mod iam_eval;

use deployer::cli::{PolicyArgs, PolicyRole};
use deployer::policy::{self, Role, Scope};
use iam_eval::{evaluate, Decision, Request};
use serde_json::Value;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";
const BOUNDARY: &str = "arn:aws:iam::111122223333:policy/deployer/app-trigger-boundary-eu-west-1";
const COPIES_BOUNDARY: &str =
    "arn:aws:iam::111122223333:policy/deployer/app-copies-boundary-eu-west-1";
const BUCKET: &str = "deployer-artifacts-111122223333-eu-west-1";

/// A Lambda backend a route of the project's API calls (`api.routes[...].target`).
const BACKEND: &str = "arn:aws:lambda:eu-west-1:111122223333:function:projects-backend";

/// Project `app`, with an API.
fn scope(role: Role) -> Scope {
    Scope {
        api: true,
        ..iam_eval::app_scope(ACCOUNT, REGION, role)
    }
}

fn doc(role: Role) -> Value {
    policy::document(&scope(role))
}

/// The concrete ARNs of one stack's resources, and the keys a request about it carries.
struct Stack {
    name: String,
}

impl Stack {
    fn new(name: &str) -> Self {
        Self { name: name.into() }
    }
    fn arn(&self, kind: &str) -> String {
        let s = &self.name;
        match kind {
            "stack" => format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{s}/0d2f-11ef"),
            "table" => format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{s}-users"),
            "function" => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{s}-pretoken"),
            "role" => format!("arn:aws:iam::{ACCOUNT}:role/{s}-pretoken"),
            "log" => {
                format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{s}-pretoken:*")
            }
            "artifact" => format!("arn:aws:s3:::{BUCKET}/{s}/trigger-5f0c.zip"),
            "pool" => format!("arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_AbC123"),
            other => panic!("no {other}"),
        }
    }
    /// A request about this stack's `kind` resource, with every key a legitimate deploy of it
    /// sends: its pool tag, the boundary, Lambda as the role's service, a conditional write.
    fn req(&self, action: &str, kind: &str) -> Request {
        Request::new(action, &self.arn(kind))
            .with("aws:ResourceTag/deployer:stack", &self.name)
            .with("aws:RequestTag/deployer:stack", &self.name)
            .with("iam:PermissionsBoundary", self.boundary())
            .with("iam:PassedToService", "lambda.amazonaws.com")
            .with("lambda:Principal", "cognito-idp.amazonaws.com")
            .with_all(
                "cloudformation:ResourceTypes",
                &deployer::render::resource_types(),
            )
    }
    /// The boundary this stack's roles carry: the copies' for a copy (`<base>--<suffix>`).
    fn boundary(&self) -> &'static str {
        if self.name.contains("--") {
            COPIES_BOUNDARY
        } else {
            BOUNDARY
        }
    }
}

/// What running a stack takes: deploy, tear down, use (users, logins, logs, invoke).
const WORK: &[(&str, &str)] = &[
    ("cloudformation:CreateChangeSet", "stack"),
    ("cloudformation:ExecuteChangeSet", "stack"),
    ("cloudformation:DeleteStack", "stack"),
    ("cloudformation:ContinueUpdateRollback", "stack"),
    ("dynamodb:CreateTable", "table"),
    ("dynamodb:UpdateTable", "table"),
    ("dynamodb:DeleteTable", "table"),
    ("dynamodb:PutItem", "table"),
    ("lambda:CreateFunction", "function"),
    ("lambda:UpdateFunctionCode", "function"),
    ("lambda:InvokeFunction", "function"),
    ("lambda:AddPermission", "function"),
    ("lambda:DeleteFunction", "function"),
    ("iam:CreateRole", "role"),
    ("iam:PutRolePolicy", "role"),
    ("iam:DeleteRole", "role"),
    ("iam:PassRole", "role"),
    ("logs:CreateLogGroup", "log"),
    ("logs:DeleteLogGroup", "log"),
    ("logs:FilterLogEvents", "log"),
    ("s3:PutObject", "artifact"),
    ("s3:DeleteObject", "artifact"),
    ("cognito-idp:CreateUserPool", "pool"),
    ("cognito-idp:UpdateUserPool", "pool"),
    ("cognito-idp:DeleteUserPool", "pool"),
    ("cognito-idp:AdminCreateUser", "pool"),
    ("cognito-idp:AdminSetUserPassword", "pool"),
    ("cognito-idp:AdminInitiateAuth", "pool"),
];

#[test]
fn each_deploying_role_runs_its_own_stacks_and_nothing_of_the_other() {
    let base = Stack::new("app");
    let copies = [Stack::new("app--gh42-1a2b3c"), Stack::new("app--e1")];
    // Other projects, among them ones whose names start with `app-`, and their copies.
    let others = [
        Stack::new("billing"),
        Stack::new("apple"),
        Stack::new("app2-x"),
        Stack::new("app-admin"),
        Stack::new("app-e1"),
        Stack::new("app-admin--e1"),
    ];
    let (deployer, ephemeral) = (doc(Role::Deployer), doc(Role::Ephemeral));
    for (action, kind) in WORK {
        let on = |p: &Value, s: &Stack| evaluate(p, &s.req(action, kind));
        assert!(
            on(&deployer, &base).allowed(),
            "deployer: {action} on the base stack: {:?}",
            on(&deployer, &base)
        );
        assert!(
            !on(&ephemeral, &base).allowed(),
            "ephemeral: {action} on the base stack is refused"
        );
        for copy in &copies {
            assert!(
                on(&ephemeral, copy).allowed(),
                "ephemeral: {action} on {}: {:?}",
                copy.name,
                on(&ephemeral, copy)
            );
            assert!(
                !on(&deployer, copy).allowed(),
                "deployer: {action} on the copy {}",
                copy.name
            );
        }
        for other in &others {
            assert!(
                !on(&deployer, other).allowed() && !on(&ephemeral, other).allowed(),
                "{action} on {}",
                other.name
            );
        }
    }
}

#[test]
fn no_write_statement_of_the_ephemeral_role_matches_a_name_of_the_base_stack() {
    let base = Stack::new("app");
    // Statements that only read, or read what every stack shares (the shared builds).
    const READS: &[&str] = &[
        "WhoAmI",
        "ReadStacks",
        "ListLogGroups",
        "UserPoolDomains",
        "ReadSharedBuilds",
        "Bootstrapped",
        "ReadBoundary",
    ];
    let ephemeral = doc(Role::Ephemeral);
    let kinds = [
        "stack", "table", "function", "role", "log", "artifact", "pool",
    ];
    let mut looked = 0;
    for statement in ephemeral["Statement"].as_array().unwrap() {
        let sid = statement["Sid"].as_str().unwrap();
        if statement["Effect"] != "Allow" || READS.contains(&sid) {
            continue;
        }
        let one = serde_json::json!({"Statement": [statement]});
        for action in statement["Action"].as_array().unwrap() {
            for kind in kinds {
                let req = base.req(action.as_str().unwrap(), kind);
                looked += 1;
                assert_eq!(
                    evaluate(&one, &req),
                    Decision::Implicit,
                    "{sid} lets the ephemeral role {action} the base stack's {kind}"
                );
            }
        }
    }
    assert!(looked > 300, "{looked}");
}

/// A statement with an Allow effect and its condition, alone.
fn single(statement: &Value, keep_condition: bool) -> Value {
    let mut s = statement.clone();
    if !keep_condition {
        s.as_object_mut().unwrap().remove("Condition");
    }
    serde_json::json!({"Statement": [s]})
}

#[test]
fn every_condition_is_there_and_is_what_refuses() {
    // Both deploying roles: the same statements, on their own names.
    let deploying: &[&str] = &[
        "CreateChangeSets",
        "TriggerRoleBounded",
        "NoRoleWithoutBoundary",
        "PassTriggerRole",
        "CognitoInvokePermission",
        "UserPools",
        "TagUserPools",
        "CreateUserPools",
        "ApiFunctionRolesBounded",
        "PassApiFunctionRoles",
        "ApiInvokePermissions",
        "CreateApis",
        "Apis",
        "UpdateApiParts",
        "TagApis",
        "NoOtherStacksApiTag",
        "RoutesOnlyThroughTheAuthorizer",
        "RoutesSayTheirAuthorizer",
        "OnlyLambdaAuthorizers",
        "OnlyTheStacksAuthorizer",
    ];
    let expected: &[(Role, &[&str])] = &[
        (Role::Deployer, deploying),
        (Role::Ephemeral, deploying),
        (Role::Publisher, &["PublishSharedBuilds"]),
    ];
    for (role, sids) in expected {
        let policy = doc(*role);
        let statements = policy["Statement"].as_array().unwrap();
        let conditional: Vec<&str> = statements
            .iter()
            .filter(|s| s.get("Condition").is_some())
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(
            &conditional, sids,
            "{role:?}: the statements that carry a condition"
        );
        for s in statements
            .iter()
            .filter(|s| s["Effect"] == "Allow" && s.get("Condition").is_some())
        {
            // A request its action and resource match, without the keys the condition asks
            // for: refused because of the condition alone.
            let action = s["Action"][0].as_str().unwrap();
            let resource = s["Resource"][0].as_str().unwrap().replace('*', "x");
            let probe = Request::new(action, &resource);
            assert_eq!(
                evaluate(&single(s, true), &probe),
                Decision::Implicit,
                "{}",
                s["Sid"]
            );
            assert!(
                evaluate(&single(s, false), &probe).allowed(),
                "{}",
                s["Sid"]
            );
        }
    }
}

#[test]
fn the_escalations_an_analyzer_lists_are_refused() {
    let admin_doc = r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    for role in [Role::Deployer, Role::Ephemeral] {
        let p = doc(role);
        let own = if role == Role::Deployer {
            Stack::new("app")
        } else {
            Stack::new("app--e1")
        };
        let refused = |req: Request, why: &str| {
            let d = evaluate(&p, &req);
            assert!(!d.allowed(), "{role:?}: {why}: {d:?}");
        };
        // CreateRole / PutRolePolicy / AttachRolePolicy without the boundary (a role of its
        // own names, with an admin policy): refused by the condition and the explicit deny.
        for action in [
            "iam:CreateRole",
            "iam:PutRolePolicy",
            "iam:AttachRolePolicy",
            "iam:PutRolePermissionsBoundary",
        ] {
            let role_arn = own.arn("role");
            refused(
                Request::new(action, &role_arn).with("iam:PolicyDocument", admin_doc),
                &format!("{action} without a boundary"),
            );
            refused(
                Request::new(action, &role_arn).with(
                    "iam:PermissionsBoundary",
                    "arn:aws:iam::aws:policy/AdministratorAccess",
                ),
                &format!("{action} with another boundary"),
            );
            refused(
                own.req(action, "role")
                    .clone_to(&format!("arn:aws:iam::{ACCOUNT}:role/admin")),
                &format!("{action} on a role of another name"),
            );
            // A role with a path could take the name the stack's role needs.
            refused(
                own.req(action, "role")
                    .clone_to(&format!("arn:aws:iam::{ACCOUNT}:role/app--x/app-pretoken")),
                &format!("{action} on a role with a path"),
            );
            // The other kind's boundary: a copy's role may not carry the base stack's.
            let other = if own.boundary() == BOUNDARY {
                COPIES_BOUNDARY
            } else {
                BOUNDARY
            };
            refused(
                own.req(action, "role")
                    .with("iam:PermissionsBoundary", other),
                &format!("{action} on a role of another name"),
            );
        }
        refused(
            Request::new("iam:DeleteRolePermissionsBoundary", &own.arn("role")),
            "removing the boundary",
        );
        for action in ["iam:DeleteRole", "iam:DetachRolePolicy", "iam:TagRole"] {
            refused(
                own.req(action, "role")
                    .clone_to(&format!("arn:aws:iam::{ACCOUNT}:role/app--x/app-pretoken")),
                &format!("{action} on a role with a path"),
            );
        }
        for action in [
            "iam:CreatePolicyVersion",
            "iam:SetDefaultPolicyVersion",
            "iam:DeletePolicy",
        ] {
            for boundary in [BOUNDARY, COPIES_BOUNDARY] {
                refused(
                    Request::new(action, boundary),
                    &format!("{action} on a boundary"),
                );
            }
        }
        // PassExistingRoleToNewLambdaThenInvoke: only the stack's own (bounded) role, only to Lambda.
        refused(
            Request::new(
                "iam:PassRole",
                &format!("arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole"),
            )
            .with("iam:PassedToService", "lambda.amazonaws.com")
            .with("lambda:Principal", "cognito-idp.amazonaws.com"),
            "passing an admin role",
        );
        refused(
            own.req("iam:PassRole", "role")
                .with("iam:PassedToService", "cloudformation.amazonaws.com"),
            "passing the role to CloudFormation",
        );
        refused(
            own.req("iam:PassRole", "role")
                .with("iam:PassedToService", "ec2.amazonaws.com"),
            "passing the role to EC2",
        );
        refused(
            Request::new(
                "lambda:CreateFunction",
                &format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:anything"),
            ),
            "a function of another name",
        );
        refused(
            Request::new(
                "lambda:InvokeFunction",
                &format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:payments"),
            ),
            "invoking another function",
        );
        // Shared builds are read, never written.
        refused(
            Request::new(
                "s3:PutObject",
                &format!("arn:aws:s3:::{BUCKET}/_builds/trigger-k.zip"),
            )
            .with("s3:if-none-match", "*"),
            "writing a shared build",
        );
        refused(
            Request::new(
                "s3:DeleteObject",
                &format!("arn:aws:s3:::{BUCKET}/_builds/trigger-k.zip"),
            ),
            "deleting a shared build",
        );
        refused(
            Request::new("s3:PutBucketPolicy", &format!("arn:aws:s3:::{BUCKET}")),
            "rewriting the bucket policy",
        );
    }
    // A change set of the template's types alone, named in the request.
    for role in [Role::Deployer, Role::Ephemeral] {
        let own = if role == Role::Deployer {
            Stack::new("app")
        } else {
            Stack::new("app--e1")
        };
        let p = doc(role);
        let create = own.req("cloudformation:CreateChangeSet", "stack");
        assert!(evaluate(&p, &create).allowed());
        let mut unnamed = create.clone();
        unnamed.context.remove("cloudformation:resourcetypes");
        assert!(
            !evaluate(&p, &unnamed).allowed(),
            "{role:?}: a change set that names no types"
        );
        let third_party = create.with_all(
            "cloudformation:ResourceTypes",
            &["AWS::Lambda::Function", "Acme::Deploy::Anything"],
        );
        assert!(
            !evaluate(&p, &third_party).allowed(),
            "{role:?}: a third-party type"
        );
        // UpdateUserPool's UserPoolTags are request tags: no pool moves into another's scope.
        let update = own.req("cognito-idp:UpdateUserPool", "pool");
        assert!(evaluate(&p, &update).allowed());
        let into = if role == Role::Deployer {
            "app--e1"
        } else {
            "app"
        };
        let moved = update.with("aws:RequestTag/deployer:stack", into);
        assert!(
            !evaluate(&p, &moved).allowed(),
            "{role:?}: retagging a pool into another stack"
        );
    }
    // What a role with a boundary can do at most, whatever policy it is given: read its own
    // stack's rows and write its logs, from inside its own function only.
    let arn = |kind: &str, name: &str| match kind {
        "table" => format!("arn:aws:dynamodb:eu-west-1:111122223333:table/{name}-users"),
        _ => format!("arn:aws:lambda:eu-west-1:111122223333:function:{name}-pretoken"),
    };
    for (kind, own, other) in [
        (policy::Kind::Base, "app", "app--e1"),
        (policy::Kind::Copies, "app--e1", "app"),
    ] {
        let boundary = policy::boundary_document(&scope(Role::Deployer), kind);
        let read = |table: &str, from: Option<&str>| {
            let r = Request::new("dynamodb:GetItem", &arn("table", table));
            let r = match from {
                Some(f) => r.with("lambda:SourceFunctionArn", &arn("function", f)),
                None => r,
            };
            evaluate(&boundary, &r).allowed()
        };
        assert!(
            read(own, Some(own)),
            "{kind:?}: its function reads its table"
        );
        assert!(
            !read(own, None),
            "{kind:?}: the role's credentials outside the function"
        );
        assert!(
            !read(own, Some(other)),
            "{kind:?}: another stack's function"
        );
        assert!(
            !read(other, Some(other)),
            "{kind:?}: the other kind's table"
        );
        for (action, resource) in [
            ("iam:CreateRole", "*"),
            ("s3:GetObject", "arn:aws:s3:::any/key"),
            (
                "dynamodb:PutItem",
                "arn:aws:dynamodb:eu-west-1:111122223333:table/app-users",
            ),
            ("lambda:InvokeFunction", "*"),
        ] {
            let r = Request::new(action, resource)
                .with("lambda:SourceFunctionArn", &arn("function", own));
            assert_eq!(
                evaluate(&boundary, &r),
                Decision::Implicit,
                "{kind:?} allows {action}"
            );
        }
    }
}

trait CloneTo {
    fn clone_to(&self, resource: &str) -> Request;
}
impl CloneTo for Request {
    fn clone_to(&self, resource: &str) -> Request {
        let mut r = self.clone();
        r.resource = resource.into();
        r
    }
}

#[test]
fn only_the_publisher_writes_shared_builds_and_only_once_per_key() {
    let key = format!("arn:aws:s3:::{BUCKET}/_builds/app/trigger-5f0c.zip");
    let publisher = doc(Role::Publisher);
    let put = Request::new("s3:PutObject", &key);
    assert!(
        !evaluate(&publisher, &put).allowed(),
        "an overwriting write"
    );
    assert!(evaluate(&publisher, &put.clone().with("s3:if-none-match", "*")).allowed());
    assert!(evaluate(&publisher, &Request::new("s3:GetObject", &key)).allowed());
    for (action, resource) in [
        ("s3:PutObject", Stack::new("app").arn("artifact")),
        ("s3:DeleteObject", key.clone()),
        (
            "cloudformation:ExecuteChangeSet",
            Stack::new("app").arn("stack"),
        ),
        ("iam:CreateRole", Stack::new("app").arn("role")),
        (
            "lambda:UpdateFunctionCode",
            Stack::new("app").arn("function"),
        ),
    ] {
        assert!(
            !evaluate(
                &publisher,
                &Request::new(action, &resource).with("s3:if-none-match", "*")
            )
            .allowed(),
            "publisher: {action}"
        );
    }
    // The bucket refuses overwrites and deletes of shared builds from anyone, and with a
    // publisher named, writes by anyone else (bucket policies are evaluated the same way).
    let publisher_arn = "arn:aws:iam::111122223333:role/ci-publisher";
    let bucket = policy::bucket_policy("aws", BUCKET, "app", Some(publisher_arn), None);
    let tls = |r: Request| r.with("aws:SecureTransport", "true");
    let denied = |r: Request| matches!(evaluate(&bucket, &tls(r)), Decision::Deny(_));
    assert!(denied(
        Request::new("s3:PutObject", &key).with("aws:PrincipalArn", publisher_arn)
    ));
    assert!(!denied(
        Request::new("s3:PutObject", &key)
            .with("aws:PrincipalArn", publisher_arn)
            .with("s3:if-none-match", "*")
    ));
    assert!(denied(
        Request::new("s3:PutObject", &key)
            .with(
                "aws:PrincipalArn",
                "arn:aws:iam::111122223333:role/ci-ephemeral"
            )
            .with("s3:if-none-match", "*")
    ));
    assert!(denied(
        Request::new("s3:DeleteObject", &key).with("aws:PrincipalArn", publisher_arn)
    ));
    assert!(matches!(
        evaluate(
            &bucket,
            &Request::new("s3:GetObject", &key).with("aws:SecureTransport", "false")
        ),
        Decision::Deny(_)
    ));
}

#[test]
fn nothing_is_allowed_on_star_but_reads_that_have_no_resource() {
    for role in [Role::Deployer, Role::Ephemeral, Role::Publisher] {
        for s in policy::statements(&scope(role)) {
            if s.allow && s.resources.iter().any(|r| r == "*") {
                assert!(
                    [
                        "WhoAmI",
                        "ReadStacks",
                        "ListLogGroups",
                        "UserPoolDomains",
                        "CreateUserPools"
                    ]
                    .contains(&s.sid),
                    "{role:?}: {} allows on *",
                    s.sid
                );
            }
            assert!(
                !s.actions.iter().any(|a| a.ends_with(":*") || *a == "*"),
                "{} has a wildcard action",
                s.sid
            );
            // A change set's ARN names no stack: change set actions are scoped by their stack.
            assert!(
                !s.resources.iter().any(|r| r.contains(":changeSet/")),
                "{} is scoped to change sets of any stack",
                s.sid
            );
        }
    }
}

fn args(role: PolicyRole, prefix: Option<&str>) -> PolicyArgs {
    PolicyArgs {
        account: ACCOUNT.into(),
        role,
        prefix: prefix.map(str::to_owned),
    }
}

#[test]
fn the_prefix_is_checked_with_the_stack_name_rule() {
    let inputs = deployer::inputs::StackInputs::parse(
        r#"{"stackName": "app", "userPoolDomainName": "d"}"#,
        "inputs",
    )
    .unwrap();
    let region = Some(REGION.to_owned());
    let scope = deployer::commands::policy::scope;
    for bad in ["", "*", "9app", "app/x", "a b"] {
        let err = scope(
            &inputs,
            (region.clone(), &[]),
            &args(PolicyRole::Deployer, Some(bad)),
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            format!("--prefix {bad:?} is not a stack name")
        );
    }
    let long = "a".repeat(35);
    assert!(scope(
        &inputs,
        (region.clone(), &[]),
        &args(PolicyRole::Deployer, Some(&long))
    )
    .is_ok());
    let err = scope(
        &inputs,
        (region.clone(), &[]),
        &args(PolicyRole::Ephemeral, Some(&long)),
    )
    .unwrap_err();
    assert!(err.to_string().contains("would be cut short"), "{err}");
    let err = scope(
        &inputs,
        (region, &[]),
        &PolicyArgs {
            account: "12345".into(),
            ..args(PolicyRole::Publisher, None)
        },
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    // A custom table name is scoped as the inputs give it, and its copies' suffixed names.
    let custom = deployer::inputs::StackInputs::parse(
        r#"{"stackName": "app", "userPoolDomainName": "d", "table": {"name": "people"}}"#,
        "inputs",
    )
    .unwrap();
    let s = scope(
        &custom,
        (Some(REGION.into()), &[]),
        &args(PolicyRole::Ephemeral, None),
    )
    .unwrap();
    // A copy's table is `<copy>-users` whatever `table.name` says: no pattern leaves the
    // project's names (`people-*` would match any table of that prefix).
    assert_eq!(s.names().table, "app--*-users");
    let p = policy::document(&s);
    let t = |name: &str| {
        Request::new(
            "dynamodb:DeleteTable",
            &format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"),
        )
    };
    assert!(!evaluate(&p, &t("people")).allowed());
    assert!(!evaluate(&p, &t("people-e1")).allowed());
    assert!(evaluate(&p, &t("app--e1-users")).allowed());
    let base = scope(
        &custom,
        (Some(REGION.into()), &[]),
        &args(PolicyRole::Deployer, None),
    )
    .unwrap();
    assert_eq!(base.names().table, "people");
    // `--` belongs to copies: no base stack name holds it.
    let err = scope(
        &inputs,
        (Some(REGION.into()), &[]),
        &args(PolicyRole::Deployer, Some("app--x")),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "--prefix \"app--x\" is not a stack name");
}

#[test]
fn with_code_signing_no_role_can_deploy_or_detach_unsigned_code() {
    let csc = "arn:aws:lambda:eu-west-1:111122223333:code-signing-config:csc-0d4518bd353a0a7c6";
    let other = "arn:aws:lambda:eu-west-1:111122223333:code-signing-config:csc-1111111111111111a";
    for (role, stack) in [(Role::Deployer, "app"), (Role::Ephemeral, "app--e1")] {
        let p = policy::document(&Scope {
            code_signing: Some(csc.into()),
            ..scope(role)
        });
        let own = Stack::new(stack);
        let create = own.req("lambda:CreateFunction", "function");
        // Lambda developer guide, "Configuring IAM policies for Lambda code signing
        // configurations": CreateFunction is blocked when the CodeSigningConfigArn parameter is
        // missing or does not match the condition.
        assert!(
            !evaluate(&p, &create).allowed(),
            "{role:?}: a function without the configuration"
        );
        assert!(!evaluate(
            &p,
            &create.clone().with("lambda:CodeSigningConfigArn", other)
        )
        .allowed());
        assert!(evaluate(&p, &create.with("lambda:CodeSigningConfigArn", csc)).allowed());
        let attach = own.req("lambda:PutFunctionCodeSigningConfig", "function");
        assert!(!evaluate(
            &p,
            &attach.clone().with("lambda:CodeSigningConfigArn", other)
        )
        .allowed());
        assert!(evaluate(&p, &attach.with("lambda:CodeSigningConfigArn", csc)).allowed());
        assert_eq!(
            evaluate(
                &p,
                &own.req("lambda:DeleteFunctionCodeSigningConfig", "function")
            ),
            Decision::Deny("NeverDetachCodeSigning".into()),
        );
        assert!(evaluate(&p, &Request::new("lambda:GetCodeSigningConfig", csc)).allowed());
        for action in [
            "lambda:UpdateCodeSigningConfig",
            "lambda:DeleteCodeSigningConfig",
        ] {
            assert!(
                !evaluate(&p, &Request::new(action, csc)).allowed(),
                "{role:?}: {action}"
            );
        }
    }
}

#[test]
fn bootstrap_keeps_other_projects_bucket_statements() {
    let key = |project: &str| format!("arn:aws:s3:::{BUCKET}/_builds/{project}/trigger-5f.zip");
    let put = |project: &str, who: &str| {
        Request::new("s3:PutObject", &key(project))
            .with("aws:PrincipalArn", who)
            .with("aws:SecureTransport", "true")
            .with("s3:if-none-match", "*")
    };
    let denied = |p: &Value, r: Request| matches!(evaluate(p, &r), Decision::Deny(_));
    let (a_pub, b_pub) = (
        "arn:aws:iam::111122223333:role/a-publisher",
        "arn:aws:iam::111122223333:role/b-publisher",
    );
    let a = policy::bucket_policy("aws", BUCKET, "a", Some(a_pub), None);
    // Project b's bootstrap, with and without its own publisher: a's statement stays.
    for b_publisher in [Some(b_pub), None] {
        let b = policy::bucket_policy("aws", BUCKET, "b", b_publisher, Some(&a));
        assert!(
            denied(&b, put("a", b_pub)),
            "b's publisher cannot write a's builds"
        );
        assert!(!denied(&b, put("a", a_pub)));
        assert_eq!(denied(&b, put("b", a_pub)), b_publisher.is_some());
    }
    // Running a's bootstrap again without --publisher-role keeps its publisher; the shared
    // statements are written once, not repeated.
    let again = policy::bucket_policy("aws", BUCKET, "a", None, Some(&a));
    assert_eq!(again, a);
}

/// The invoke permission the stack's function carries is Cognito's: no role can add one for
/// anyone else (a public invoke would let anyone read rows through crafted events).
#[test]
fn the_function_can_be_opened_to_cognito_only() {
    for (role, stack) in [(Role::Deployer, "app"), (Role::Ephemeral, "app--e1")] {
        let p = doc(role);
        let own = Stack::new(stack);
        let arn = own.arn("function");
        let add = |principal: &str| {
            Request::new("lambda:AddPermission", &arn).with("lambda:Principal", principal)
        };
        assert!(
            evaluate(&p, &add("cognito-idp.amazonaws.com")).allowed(),
            "{role:?}"
        );
        for other in ["*", "111122223333", "apigateway.amazonaws.com"] {
            assert!(!evaluate(&p, &add(other)).allowed(), "{role:?}: {other}");
        }
        assert!(!evaluate(&p, &Request::new("lambda:AddPermission", &arn)).allowed());
        // Only the function and the alias the pool calls: never a version or another alias.
        let cognito = |qualified: &str| {
            Request::new("lambda:AddPermission", qualified)
                .with("lambda:Principal", "cognito-idp.amazonaws.com")
        };
        assert!(
            evaluate(&p, &cognito(&format!("{arn}:live"))).allowed(),
            "{role:?}"
        );
        for other in ["3", "staging"] {
            assert!(
                !evaluate(&p, &cognito(&format!("{arn}:{other}"))).allowed(),
                "{role:?}: {other}"
            );
        }
    }
}

/// A stack on a pool the team already has: the role reaches that pool by its ARN (it has no
/// `deployer:stack` tag), only to read it and list its clients (no secrets); never another
/// pool, never a write to it (its trigger slot is set once by an admin: UpdateUserPool would
/// let the role rewrite the pool), never its clients or users. No policy is printed for a stack
/// that would make a client there, nor for copies.
#[test]
fn a_role_for_an_existing_pool_reaches_that_pool_alone_and_only_to_read_it() {
    let pool = format!("arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_Team01");
    let other = format!("arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_Other9");
    let p = policy::document(&Scope {
        existing_pool: Some(policy::ExistingPool {
            id: format!("{REGION}_Team01"),
            app_client: false,
        }),
        ..scope(Role::Deployer)
    });
    // The requests carry this project's stack tag: a pool tagged as the project's is still
    // not the existing pool.
    let on = |action: &str, arn: &str| {
        let request = Request::new(action, arn)
            .with("aws:ResourceTag/deployer:stack", "app")
            .with("aws:RequestTag/deployer:stack", "app");
        evaluate(&p, &request).allowed()
    };
    for action in [
        "cognito-idp:DescribeUserPool",
        "cognito-idp:ListUserPoolClients",
    ] {
        assert!(on(action, &pool), "{action} on the existing pool");
        assert!(!on(action, &other), "{action} on another pool");
    }
    for action in [
        "cognito-idp:UpdateUserPool",
        "cognito-idp:DescribeUserPoolClient",
        "cognito-idp:CreateUserPoolClient",
        "cognito-idp:UpdateUserPoolClient",
        "cognito-idp:DeleteUserPoolClient",
        "cognito-idp:CreateUserPool",
        "cognito-idp:DeleteUserPool",
        "cognito-idp:TagResource",
        "cognito-idp:CreateUserPoolDomain",
        "cognito-idp:AdminCreateUser",
        "cognito-idp:AdminSetUserPassword",
        "cognito-idp:AdminDeleteUser",
        "cognito-idp:AdminInitiateAuth",
        "cognito-idp:CreateResourceServer",
    ] {
        assert!(!on(action, &pool), "{action} on the existing pool");
        assert!(!on(action, &other), "{action} on another pool");
        assert!(!on(action, "*"), "{action} on *");
    }

    let inputs = |app_client: bool| {
        deployer::inputs::StackInputs::parse(
            &serde_json::json!({"stackName": "app", "region": "eu-west-1",
                "userPool": {"existing": "eu-west-1_Team01", "appClient": app_client}})
            .to_string(),
            "t.json",
        )
        .unwrap()
    };
    let scope_of = |app_client: bool, role: PolicyRole| {
        deployer::commands::policy::scope(&inputs(app_client), (None, &[]), &args(role, None))
            .map_err(|e| e.to_string())
    };
    let err = scope_of(false, PolicyRole::Ephemeral).unwrap_err();
    assert!(
        err.to_string()
            .contains("ephemeral copies cannot run on an existing pool"),
        "{err}"
    );
    let err = scope_of(true, PolicyRole::Deployer).unwrap_err();
    assert!(
        err.to_string().contains("every client of the pool"),
        "{err}"
    );
    let scope = scope_of(false, PolicyRole::Deployer).unwrap();
    assert_eq!(scope.existing_pool.unwrap().id, "eu-west-1_Team01");
}

/// A request about the API resources of stack `stack`: its functions, roles, log groups and
/// HTTP API (`abc123` stands for its generated id), with the keys a deploy of it sends.
fn api_req(stack: &str, action: &str, kind: &str) -> Request {
    let boundary = if stack.contains("--") {
        COPIES_BOUNDARY
    } else {
        BOUNDARY
    };
    let resource = match kind {
        "authorizer" => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{stack}-authz"),
        "alias" => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{stack}-authz:live"),
        "whoami" => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{stack}-whoami"),
        "authorizer-role" => format!("arn:aws:iam::{ACCOUNT}:role/{stack}-authz"),
        "whoami-role" => format!("arn:aws:iam::{ACCOUNT}:role/{stack}-whoami"),
        "decisions" => {
            format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{stack}-authz:*")
        }
        "apis" => format!("arn:aws:apigateway:{REGION}::/apis"),
        "api" => format!("arn:aws:apigateway:{REGION}::/apis/abc123"),
        "routes" => format!("arn:aws:apigateway:{REGION}::/apis/abc123/routes"),
        "integrations" => format!("arn:aws:apigateway:{REGION}::/apis/abc123/integrations"),
        "authorizers" => format!("arn:aws:apigateway:{REGION}::/apis/abc123/authorizers"),
        "stage" => format!("arn:aws:apigateway:{REGION}::/apis/abc123/stages/$default"),
        "backend" => BACKEND.into(),
        other => panic!("no {other}"),
    };
    Request::new(action, &resource)
        .with("aws:ResourceTag/deployer:stack", stack)
        .with("aws:RequestTag/deployer:stack", stack)
        .with("iam:PermissionsBoundary", boundary)
        .with("iam:PassedToService", "lambda.amazonaws.com")
        .with("lambda:Principal", "apigateway.amazonaws.com")
}

/// The authorizer URI of stack `stack`'s authorizer (the template's `AuthorizerUri`).
fn authorizer_uri(stack: &str) -> String {
    format!("arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/arn:aws:lambda:{REGION}:{ACCOUNT}:function:{stack}-authz:live/invocations")
}

/// What deploying, running and tearing down a stack's API takes.
const API_WORK: &[(&str, &str)] = &[
    ("iam:CreateRole", "authorizer-role"),
    ("iam:PutRolePolicy", "whoami-role"),
    ("iam:DeleteRole", "authorizer-role"),
    ("iam:PassRole", "authorizer-role"),
    ("lambda:CreateFunction", "authorizer"),
    ("lambda:CreateFunction", "whoami"),
    ("lambda:PublishVersion", "authorizer"),
    ("lambda:CreateAlias", "authorizer"),
    ("lambda:GetAlias", "alias"),
    ("lambda:GetPolicy", "alias"),
    ("lambda:DeleteFunction", "whoami"),
    ("lambda:AddPermission", "alias"),
    ("lambda:AddPermission", "whoami"),
    ("logs:FilterLogEvents", "decisions"),
    ("apigateway:POST", "apis"),
    ("apigateway:GET", "api"),
    ("apigateway:PATCH", "api"),
    ("apigateway:DELETE", "api"),
    ("apigateway:POST", "integrations"),
    ("apigateway:PUT", "stage"),
];

#[test]
fn an_api_stacks_role_runs_its_api_and_nothing_of_another() {
    let (deployer, ephemeral) = (doc(Role::Deployer), doc(Role::Ephemeral));
    let others = ["billing", "apple", "app-admin", "app-admin--e1"];
    for (action, kind) in API_WORK {
        let on = |p: &Value, stack: &str| evaluate(p, &api_req(stack, action, kind));
        assert!(
            on(&deployer, "app").allowed(),
            "deployer: {action} on {kind}: {:?}",
            on(&deployer, "app")
        );
        assert!(
            on(&ephemeral, "app--gh42-1a2b3c").allowed(),
            "ephemeral: {action} on {kind}: {:?}",
            on(&ephemeral, "app--gh42-1a2b3c")
        );
        assert!(
            !on(&ephemeral, "app").allowed(),
            "ephemeral: {action} on the base stack's {kind}"
        );
        assert!(
            !on(&deployer, "app--e1").allowed(),
            "deployer: {action} on a copy's {kind}"
        );
        for other in others {
            assert!(
                !on(&deployer, other).allowed() && !on(&ephemeral, other).allowed(),
                "{action} on {other}'s {kind}"
            );
        }
    }
    // A project without an API: no API statement at all.
    let plain = policy::document(&iam_eval::app_scope(ACCOUNT, REGION, Role::Deployer));
    for (action, kind) in API_WORK {
        assert!(
            !evaluate(&plain, &api_req("app", action, kind)).allowed(),
            "without an api: {action} on {kind}"
        );
    }
}

#[test]
fn an_api_stacks_role_cannot_open_a_route_or_a_function_to_anyone() {
    for (role, own) in [(Role::Deployer, "app"), (Role::Ephemeral, "app--e1")] {
        let p = doc(role);
        let decide = |r: Request| evaluate(&p, &r);
        // Every route through an authorizer: a route without one, or with IAM or JWT
        // authorization, is refused; one of CUSTOM is allowed.
        let route = |t: &str| {
            api_req(own, "apigateway:POST", "routes")
                .with("apigateway:Request/RouteAuthorizationType", t)
        };
        assert!(decide(route("CUSTOM")).allowed(), "{role:?}");
        // CreateRoute's default is NONE: a route that does not say is refused.
        assert_eq!(
            decide(api_req(own, "apigateway:POST", "routes")),
            Decision::Deny("RoutesSayTheirAuthorizer".into()),
            "{role:?}: a route without an authorization type"
        );
        for t in ["NONE", "AWS_IAM", "JWT"] {
            assert_eq!(
                decide(route(t)),
                Decision::Deny("RoutesOnlyThroughTheAuthorizer".into()),
                "{role:?}: a route of {t}"
            );
            let patch = api_req(own, "apigateway:PATCH", "api")
                .with("apigateway:Request/RouteAuthorizationType", t);
            assert!(!decide(patch).allowed(), "{role:?}: {t} by PATCH");
        }
        // A reimport (PUT on the API) could define any route: never allowed.
        assert!(!decide(api_req(own, "apigateway:PUT", "api")).allowed());
        // Only this stack's authorizer function, as a Lambda (REQUEST) authorizer.
        let authorizer = |t: &str, uri: &str| {
            api_req(own, "apigateway:POST", "authorizers")
                .with("apigateway:Request/AuthorizerType", t)
                .with("apigateway:Request/AuthorizerUri", uri)
        };
        assert!(decide(authorizer("REQUEST", &authorizer_uri(own))).allowed());
        assert_eq!(
            decide(authorizer("REQUEST", &authorizer_uri("billing"))),
            Decision::Deny("OnlyTheStacksAuthorizer".into())
        );
        let unqualified = authorizer_uri(own).replace(":live/", "/");
        assert!(!decide(authorizer("REQUEST", &unqualified)).allowed());
        let jwt = api_req(own, "apigateway:POST", "authorizers")
            .with("apigateway:Request/AuthorizerType", "JWT");
        assert_eq!(
            decide(jwt),
            Decision::Deny("OnlyLambdaAuthorizers".into()),
            "{role:?}: a JWT authorizer trusting any issuer"
        );
        // Tags: the stack's own on its own APIs; never another stack's (an API never
        // changes stack).
        let tags = format!("arn:aws:apigateway:{REGION}::/tags/arn%3Aaws%3Aapigateway%3A{REGION}%3A%3A%2Fapis%2Fabc123");
        let tag = |on: &str, to: &str| {
            Request::new("apigateway:TagResource", &tags)
                .with("aws:ResourceTag/deployer:stack", on)
                .with("aws:RequestTag/deployer:stack", to)
        };
        assert!(
            decide(tag(own, own)).allowed(),
            "{role:?}: the stack's tags"
        );
        assert!(
            !decide(tag(own, "billing")).allowed(),
            "{role:?}: into another stack"
        );
        assert!(
            !decide(tag("billing", own)).allowed(),
            "{role:?}: another stack's API"
        );
        let untag = |keys: &[&str]| {
            Request::new("apigateway:UntagResource", &tags)
                .with("aws:ResourceTag/deployer:stack", own)
                .with_all("aws:TagKeys", keys)
        };
        assert!(decide(untag(&["lifecycle"])).allowed(), "{role:?}");
        // Nor through the API's own paths: a stage made (or the API changed) with another
        // stack's tag.
        for (action, kind) in [
            ("apigateway:POST", "api"),
            ("apigateway:PATCH", "stage"),
            ("apigateway:POST", "apis"),
        ] {
            let r = api_req(own, action, kind).with("aws:RequestTag/deployer:stack", "billing");
            assert_eq!(
                decide(r),
                Decision::Deny("NoOtherStacksApiTag".into()),
                "{role:?}: {action} on {kind} tagged for another stack"
            );
            assert!(
                decide(api_req(own, action, kind)).allowed(),
                "{role:?}: {action} on {kind}"
            );
        }
        // Untagging another stack's API: refused (its resource tag is not this role's).
        let theirs = Request::new("apigateway:UntagResource", &tags)
            .with("aws:ResourceTag/deployer:stack", "billing")
            .with_all("aws:TagKeys", &["deployer:stack"]);
        assert!(
            !decide(theirs).allowed(),
            "{role:?}: untagging another stack's API"
        );
        // An API of no stack, or made without the tag.
        let untagged = Request::new(
            "apigateway:POST",
            &format!("arn:aws:apigateway:{REGION}::/apis"),
        );
        assert!(
            !decide(untagged.clone()).allowed(),
            "{role:?}: an untagged API"
        );
        let prod = untagged.clone_to(&format!("arn:aws:apigateway:{REGION}::/apis/prod1/routes"));
        assert!(
            !decide(prod).allowed(),
            "{role:?}: a route on an untagged API"
        );
        // Invoke permissions: only for API Gateway, and only on the stack's functions.
        for principal in [
            "*",
            "s3.amazonaws.com",
            "cognito-idp.amazonaws.com",
            "123456789012",
        ] {
            for kind in ["alias", "whoami"] {
                let r =
                    api_req(own, "lambda:AddPermission", kind).with("lambda:Principal", principal);
                assert!(
                    !decide(r).allowed(),
                    "{role:?}: {kind} opened to {principal}"
                );
            }
        }
        // Never a backend's permissions, whatever the principal: IAM has no key for a
        // permission's SourceArn, so one a role added could open the backend to every
        // account's APIs, and one it removed could cut the backend's callers off.
        for action in [
            "lambda:AddPermission",
            "lambda:RemovePermission",
            "lambda:GetPolicy",
        ] {
            let r = api_req(own, action, "backend");
            assert!(!decide(r).allowed(), "{role:?}: {action} on a backend");
        }
        // The API's functions' roles: only with the boundary, passed to Lambda only.
        let unbounded = api_req(own, "iam:CreateRole", "authorizer-role").with(
            "iam:PermissionsBoundary",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        );
        assert!(
            !decide(unbounded).allowed(),
            "{role:?}: an unbounded authorizer role"
        );
        let to_api_gateway = api_req(own, "iam:PassRole", "authorizer-role")
            .with("iam:PassedToService", "apigateway.amazonaws.com");
        assert!(
            !decide(to_api_gateway).allowed(),
            "{role:?}: a role for API Gateway to assume"
        );
    }
}

#[test]
fn the_printed_policy_opens_no_backend_and_grants_the_api_only_with_an_api() {
    let inputs = deployer::inputs::StackInputs::parse(
        &serde_json::json!({
            "stackName": "app", "userPoolDomainName": "d",
            "api": {"routes": {
                "GET /projects/{projectId}": {"target": BACKEND},
                "GET /me": {"target": "whoami"},
                "GET /health": {"target": "https://backend.example.com/health"}
            }}
        })
        .to_string(),
        "inputs",
    )
    .unwrap();
    for role in [PolicyRole::Deployer, PolicyRole::Ephemeral] {
        let printed = deployer::commands::policy::policy(
            &inputs,
            (Some(REGION.into()), &[]),
            &args(role, None),
        )
        .unwrap();
        let text = printed.to_string();
        assert!(text.contains("\"CreateApis\""), "{text}");
        assert!(
            !text.contains("projects-backend"),
            "{role:?} names the backend: {text}"
        );
        for action in ["lambda:AddPermission", "lambda:RemovePermission"] {
            assert!(
                !evaluate(
                    &printed,
                    &Request::new(action, BACKEND)
                        .with("lambda:Principal", "apigateway.amazonaws.com")
                )
                .allowed(),
                "{role:?}: {action} on the backend"
            );
        }
    }
    let plain = deployer::inputs::StackInputs::parse(
        r#"{"stackName": "app", "userPoolDomainName": "d"}"#,
        "inputs",
    )
    .unwrap();
    let p = deployer::commands::policy::policy(
        &plain,
        (Some(REGION.into()), &[]),
        &args(PolicyRole::Deployer, None),
    )
    .unwrap();
    assert!(
        !p.to_string().contains("apigateway:") && !p.to_string().contains("-authz"),
        "a project without an API gets no API permission"
    );
}
