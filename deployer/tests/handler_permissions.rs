//! Everything CloudFormation's handlers call. CloudFormation creates, reads, updates and
//! deletes each resource with the caller's permissions, and each resource type's provider
//! schema lists its handlers' permissions (tests/fixtures/handler-permissions.json, copied
//! from the schemas cfn-lint ships by scripts/handler-permissions.py; the e2e suite checks
//! the copy is current). For every resource type the template uses, each permission is
//! either allowed by the deploying roles' policies on that stack's resource, or listed below
//! with the reason the template never needs it. A new resource type or property that needs a
//! new permission fails here until someone decides.

mod iam_eval;

use deployer::policy::{self, Role};
use iam_eval::{evaluate, Request};
use serde_json::Value;
use std::collections::BTreeSet;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

/// Permissions the handlers list for features the template never sets, and why.
const EXCLUDED: &[(&str, &str)] = &[
    (
        "kms:*",
        "no customer-managed KMS key anywhere in the template (AWS-owned keys need no permission)",
    ),
    ("ec2:*", "the function has no VpcConfig"),
    ("elasticfilesystem:*", "the function mounts no file system"),
    ("s3files:*", "the function mounts no file system"),
    ("kinesis:*", "the table has no KinesisStreamSpecification"),
    ("firehose:*", "the log group delivers nowhere"),
    (
        "codedeploy:*",
        "the alias has no RoutingConfig or CodeDeploy hook",
    ),
    (
        "cloudfront:*",
        "the pool domain is a prefix domain, not a custom domain",
    ),
    ("s3:REST.PUT.OBJECT", "the log group delivers nowhere"),
    (
        "iam:CreateServiceLinkedRole",
        "no feature the template sets uses a service-linked role",
    ),
    (
        "iam:UpdateAssumeRolePolicy",
        "the role's trust policy is fixed (Lambda only); a change would be refused, never widened",
    ),
    ("iam:UpdateRole", "the template sets no MaxSessionDuration"),
    (
        "iam:DeleteRolePermissionsBoundary",
        "a boundary is never removed: the roles deny it",
    ),
    (
        "cognito-idp:ListUserPoolClientSecrets",
        "the web client has no secret",
    ),
    ("dynamodb:DescribeImport", "no ImportSourceSpecification"),
    ("dynamodb:ImportTable", "no ImportSourceSpecification"),
    (
        "dynamodb:Query",
        "listed for table import and replicas, which the template never sets",
    ),
    ("dynamodb:UpdateTimeToLive", "no TimeToLiveSpecification"),
    (
        "dynamodb:UpdateContributorInsights",
        "no ContributorInsightsSpecification",
    ),
    (
        "dynamodb:EnableKinesisStreamingDestination",
        "no KinesisStreamSpecification",
    ),
    (
        "dynamodb:DisableKinesisStreamingDestination",
        "no KinesisStreamSpecification",
    ),
    (
        "dynamodb:UpdateKinesisStreamingDestination",
        "no KinesisStreamSpecification",
    ),
    (
        "dynamodb:PutResourcePolicy",
        "no ResourcePolicy on the table",
    ),
    (
        "dynamodb:DeleteResourcePolicy",
        "no ResourcePolicy on the table",
    ),
    ("dynamodb:CreateTableReplica", "not a global table"),
    ("dynamodb:AssociateTableReplica", "not a global table"),
    ("lambda:GetLayerVersion", "the function has no layers"),
    (
        "lambda:PutProvisionedConcurrencyConfig",
        "no ProvisionedConcurrencyConfig",
    ),
    (
        "lambda:DeleteProvisionedConcurrencyConfig",
        "no ProvisionedConcurrencyConfig",
    ),
    (
        "lambda:PutFunctionConcurrency",
        "no ReservedConcurrentExecutions",
    ),
    (
        "lambda:DeleteFunctionConcurrency",
        "no ReservedConcurrentExecutions",
    ),
    (
        "lambda:PutRuntimeManagementConfig",
        "no RuntimeManagementConfig (provided.al2023 updates automatically)",
    ),
    (
        "lambda:PutFunctionRecursionConfig",
        "no RecursiveLoop setting",
    ),
    ("lambda:PutFunctionScalingConfig", "no capacity provider"),
    ("lambda:PassCapacityProvider", "no capacity provider"),
    ("lambda:AssociateRuntimeAlias", "no runtime alias"),
    ("lambda:GetCodeSigningConfig", "no CodeSigningConfigArn"),
    (
        "lambda:PutFunctionCodeSigningConfig",
        "no CodeSigningConfigArn",
    ),
    (
        "lambda:DeleteFunctionCodeSigningConfig",
        "no CodeSigningConfigArn",
    ),
    (
        "s3:GetObjectVersion",
        "the code is named by key, with no S3ObjectVersion",
    ),
    ("logs:CreateLogDelivery", "the log group delivers nowhere"),
    ("logs:PutDataProtectionPolicy", "no DataProtectionPolicy"),
    ("logs:DeleteDataProtectionPolicy", "no DataProtectionPolicy"),
    ("logs:PutResourcePolicy", "no ResourcePolicyDocument"),
    ("logs:DeleteResourcePolicy", "no ResourcePolicyDocument"),
    ("logs:PutIndexPolicy", "no FieldIndexPolicies"),
    ("logs:DeleteIndexPolicy", "no FieldIndexPolicies"),
    ("logs:AssociateKmsKey", "no KmsKeyId"),
    ("logs:DisassociateKmsKey", "no KmsKeyId"),
    (
        "logs:PutBearerTokenAuthentication",
        "no bearer token authentication",
    ),
    (
        "logs:PutLogGroupDeletionProtection",
        "no DeletionProtectionEnabled on the log group",
    ),
];

/// Permissions a handler lists for another resource than its own, and why they are not
/// granted there.
const CROSS: &[(&str, &str, &str)] = &[
    (
        "AWS::ApiGatewayV2::Api",
        "s3:getObject",
        "no BodyS3Location: the API is made from its resources, not imported",
    ),
    (
        "AWS::ApiGatewayV2::Api",
        "apigateway:PUT",
        "no Body: a reimport (PUT on the API) is never made, and the roles may not",
    ),
    (
        "AWS::ApiGatewayV2::Authorizer",
        "iam:PassRole",
        "no AuthorizerCredentialsArn: API Gateway invokes the authorizer by its permission",
    ),
    (
        "AWS::ApiGatewayV2::Integration",
        "iam:PassRole",
        "no CredentialsArn: API Gateway invokes the backends by their permissions",
    ),
    (
        "AWS::Cognito::UserPool",
        "iam:PassRole",
        "no SMS configuration role",
    ),
    (
        "AWS::Cognito::UserPoolClient",
        "iam:PassRole",
        "no analytics configuration role",
    ),
    (
        "AWS::Cognito::UserPoolClient",
        "iam:PutRolePolicy",
        "no analytics configuration role",
    ),
    (
        "AWS::Cognito::UserPoolClient",
        "iam:DeleteRolePolicy",
        "no analytics configuration role",
    ),
    (
        "AWS::DynamoDB::Table",
        "logs:*",
        "table import logs, and no ImportSourceSpecification",
    ),
    (
        "AWS::DynamoDB::Table",
        "s3:*",
        "table import reads S3, and no ImportSourceSpecification",
    ),
];

fn excluded(permission: &str) -> Option<&'static str> {
    let wild = format!("{}:*", permission.split(':').next().unwrap());
    EXCLUDED
        .iter()
        .find(|(p, _)| *p == permission || *p == wild)
        .map(|(_, why)| *why)
}

fn cross(kind: &str, permission: &str) -> bool {
    let wild = format!("{}:*", permission.split(':').next().unwrap());
    CROSS
        .iter()
        .any(|(k, p, _)| *k == kind && (*p == permission || *p == wild))
}

/// The request a handler of `kind` makes with `permission` on stack `s`'s resource.
fn request(kind: &str, permission: &str, s: &str) -> Request {
    let service = permission.split(':').next().unwrap();
    let arn = match (kind, service) {
        (_, "cognito-idp")
            if permission == "cognito-idp:CreateUserPool"
                || permission == "cognito-idp:DescribeUserPoolDomain" =>
        {
            "*".to_owned()
        }
        (_, "cognito-idp") => {
            format!("arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{REGION}_AbC123")
        }
        (_, "dynamodb") => format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{s}-users"),
        (_, "lambda") => format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{s}-pretoken"),
        (_, "iam") => format!("arn:aws:iam::{ACCOUNT}:role/{s}-pretoken"),
        (_, "logs")
            if permission == "logs:DescribeLogGroups"
                || permission == "logs:DescribeResourcePolicies" =>
        {
            "*".to_owned()
        }
        (_, "logs") => {
            format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{s}-pretoken:*")
        }
        ("AWS::ApiGatewayV2::Api", "apigateway")
            if permission == "apigateway:POST" || permission == "apigateway:GET" =>
        {
            // The create, and the list a handler reads: on `/apis`.
            if permission == "apigateway:POST" {
                format!("arn:aws:apigateway:{REGION}::/apis")
            } else {
                format!("arn:aws:apigateway:{REGION}::/apis/abc123")
            }
        }
        (_, "apigateway") => {
            let part = match kind {
                "AWS::ApiGatewayV2::Authorizer" => "authorizers/a1b2c3",
                "AWS::ApiGatewayV2::Integration" => "integrations/i1b2c3",
                "AWS::ApiGatewayV2::Route" => "routes/r1b2c3",
                "AWS::ApiGatewayV2::Stage" => "stages/$default",
                _ => "",
            };
            format!("arn:aws:apigateway:{REGION}::/apis/abc123/{part}")
                .trim_end_matches('/')
                .to_owned()
        }
        ("AWS::Lambda::Function", "s3") => {
            format!("arn:aws:s3:::deployer-artifacts-{ACCOUNT}-{REGION}/{s}/trigger-5f0c.zip")
        }
        _ => format!("arn:aws:{service}:{REGION}:{ACCOUNT}:unknown"),
    };
    Request::new(permission, &arn)
        .with("aws:ResourceTag/deployer:stack", s)
        .with("aws:RequestTag/deployer:stack", s)
        .with(
            "iam:PermissionsBoundary",
            &policy::boundary_arn("aws", ACCOUNT, "app", REGION, kind_of(s)),
        )
        .with("iam:PassedToService", "lambda.amazonaws.com")
        // The template's one permission is Cognito's.
        .with("lambda:Principal", "cognito-idp.amazonaws.com")
}

/// The boundary a stack's roles carry: the copies' for `app--*`, else the base stack's.
fn kind_of(stack: &str) -> policy::Kind {
    if stack.contains(policy::COPY_SEPARATOR) {
        policy::Kind::Copies
    } else {
        policy::Kind::Base
    }
}

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/handler-permissions.json")).unwrap()
}

#[test]
fn every_handler_permission_is_granted_or_excluded_with_its_reason() {
    let fixture = fixture();
    let types = fixture["types"].as_object().unwrap();
    let mut unused: BTreeSet<&str> = EXCLUDED.iter().map(|(p, _)| *p).collect();
    for (role, stack) in [(Role::Deployer, "app"), (Role::Ephemeral, "app--e1")] {
        // A project with an API, whose statements cover its resource types.
        let p = policy::document(&policy::Scope {
            api: true,
            ..iam_eval::app_scope(ACCOUNT, REGION, role)
        });
        let mut missing = Vec::new();
        for (kind, handlers) in types {
            for (handler, permissions) in handlers.as_object().unwrap() {
                for permission in permissions.as_array().unwrap() {
                    let permission = permission.as_str().unwrap();
                    if cross(kind, permission) {
                        continue;
                    }
                    let granted = evaluate(&p, &request(kind, permission, stack)).allowed();
                    match (granted, excluded(permission)) {
                        (true, Some(why)) => panic!("{role:?}: {kind} {handler}: {permission} is granted yet excluded ({why}): remove one"),
                        (false, None) => missing.push(format!("{kind} {handler}: {permission}")),
                        (false, Some(_)) => {
                            unused.remove(permission);
                            unused.remove(format!("{}:*", permission.split(':').next().unwrap()).as_str());
                        }
                        (true, None) => {}
                    }
                }
            }
        }
        assert!(missing.is_empty(), "{role:?} lacks what CloudFormation's handlers call (grant it, or exclude it with its reason):\n  {}", missing.join("\n  "));
    }
    assert!(
        unused.is_empty(),
        "exclusions no handler lists any more: {unused:?}"
    );
}

#[test]
fn the_fixture_covers_every_resource_type_the_template_uses() {
    let fixture = fixture();
    let covered: BTreeSet<String> = fixture["types"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let used = |text: &str| -> BTreeSet<String> {
        let inputs = deployer::inputs::StackInputs::parse(text, "inputs").unwrap();
        let template =
            deployer::render::parse(&deployer::render::render(&inputs).unwrap()).unwrap();
        template["Resources"]
            .as_object()
            .unwrap()
            .values()
            .map(|r| r["Type"].as_str().unwrap().to_owned())
            .collect()
    };
    for text in [
        r#"{"stackName": "app", "userPoolDomainName": "d"}"#,
        r#"{"stackName": "app", "userPoolDomainName": "d", "eventVersion": "V1_0", "featurePlan": "LITE", "lifecycle": "disposable"}"#,
    ] {
        assert!(
            used(text).iter().all(|t| covered.contains(t)),
            "add the new type to scripts/handler-permissions.py and run it"
        );
    }
    // With an API: every type, the API's included.
    assert_eq!(
        used(
            r#"{"stackName": "app", "userPoolDomainName": "d", "api": {"routes": {"GET /me": {}}}}"#
        ),
        covered,
        "add the new type to scripts/handler-permissions.py and run it"
    );
}

#[test]
fn the_recovery_the_deployer_advises_names_only_calls_the_roles_may_make() {
    // stack/recover.rs advises these CLI commands for a stuck stack.
    for role in [Role::Deployer, Role::Ephemeral] {
        let stack = if role == Role::Deployer {
            "app"
        } else {
            "app--e1"
        };
        let p = policy::document(&iam_eval::app_scope(ACCOUNT, REGION, role));
        for action in [
            "cloudformation:ContinueUpdateRollback",
            "cloudformation:RollbackStack",
            "cloudformation:DeleteStack",
            "cloudformation:DescribeStackEvents",
        ] {
            let arn = format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/0d2f");
            assert!(
                evaluate(&p, &Request::new(action, &arn)).allowed(),
                "{role:?}: {action}"
            );
        }
    }
    let advice = include_str!("../src/stack/recover.rs");
    for cli in advice
        .match_indices("aws cloudformation ")
        .map(|(i, _)| &advice[i + 19..])
    {
        let command = cli.split_whitespace().next().unwrap().trim_end_matches('`');
        assert!(
            ["continue-update-rollback", "rollback-stack"].contains(&command),
            "recover.rs advises `aws cloudformation {command}`: grant its action and list it here"
        );
    }
}
