//! The IAM policy a CI role needs to run `up`, `verify`, the user commands, `down`, `gc`,
//! `status`, `logs` and `invoke` for stacks whose names start with a prefix, and nothing else. Pure: `deployer policy`
//! prints it, the README shows it, and the fakecloud suite runs the deployer with exactly it.
//!
//! CloudFormation acts with the caller's permissions (no service role), so the role also
//! holds what creating the stack's resources takes; every statement is scoped to the
//! prefix's names (stacks, function, role, table, log group, artifacts) or, for the user pool
//! whose id is generated, to the deployer's tag. Each statement's Sid names the step that
//! needs it, so an AccessDenied names a statement to look at.

use serde_json::{json, Value};

/// What the policy is for.
#[derive(Debug, Clone)]
pub struct Scope {
    pub partition: String,
    pub account: String,
    pub region: String,
    /// Stack names start with this (ephemeral copies add `-<suffix>`).
    pub prefix: String,
}

/// One statement: its Sid (the step that needs it), actions and resources.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: &'static str,
    pub actions: Vec<&'static str>,
    pub resources: Vec<String>,
    pub condition: Option<Value>,
}

/// The statements, in the order a deploy needs them.
pub fn statements(s: &Scope) -> Vec<Statement> {
    let (p, a, r, x) = (&s.partition, &s.account, &s.region, &s.prefix);
    let bucket = crate::artifacts::bucket_name(a, r);
    let st = |sid, actions: &[&'static str], resources: Vec<String>| Statement {
        sid,
        actions: actions.to_vec(),
        resources,
        condition: None,
    };
    vec![
        // AWS answers GetCallerIdentity for every identity whatever its policy; emulators that
        // evaluate policies want it spelled out.
        st("WhoAmI", &["sts:GetCallerIdentity"], vec!["*".into()]),
        // Reading stacks by name, and listing them for gc (DescribeStacks without a name is
        // authorized against "*").
        st(
            "ReadStacks",
            &[
                "cloudformation:DescribeStacks",
                // `status`: a detection's progress has no stack to scope it to.
                "cloudformation:DescribeStackDriftDetectionStatus",
            ],
            vec!["*".into()],
        ),
        st(
            "DeployStacks",
            &[
                "cloudformation:CreateChangeSet",
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
            ],
            vec![
                format!("arn:{p}:cloudformation:{r}:{a}:stack/{x}*/*"),
                format!("arn:{p}:cloudformation:{r}:{a}:changeSet/deployer-*/*"),
            ],
        ),
        st(
            "ArtifactsBucket",
            &[
                "s3:CreateBucket",
                "s3:ListBucket",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutEncryptionConfiguration",
                "s3:PutBucketPolicy",
                "s3:PutLifecycleConfiguration",
            ],
            vec![format!("arn:{p}:s3:::{bucket}")],
        ),
        // CloudFormation's Lambda reads the zip with the caller's permissions.
        st(
            "Artifacts",
            &[
                "s3:GetObject",
                "s3:PutObject",
                "s3:PutObjectTagging",
                "s3:DeleteObject",
            ],
            vec![format!("arn:{p}:s3:::{bucket}/{x}*")],
        ),
        // The shared builds: any stack's `up` reads them, and shares what it built.
        st(
            "SharedBuilds",
            &["s3:GetObject", "s3:PutObject"],
            vec![format!(
                "arn:{p}:s3:::{bucket}/{}*",
                crate::artifacts::BUILDS_PREFIX
            )],
        ),
        st(
            "TriggerRole",
            &[
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:UpdateRoleDescription",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:GetRolePolicy",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:TagRole",
                "iam:UntagRole",
            ],
            vec![format!("arn:{p}:iam::{a}:role/{x}*")],
        ),
        Statement {
            sid: "PassTriggerRole",
            actions: vec!["iam:PassRole"],
            resources: vec![format!("arn:{p}:iam::{a}:role/{x}*")],
            condition: Some(
                json!({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}),
            ),
        },
        st(
            "TriggerFunction",
            &[
                "lambda:CreateFunction",
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:DeleteFunction",
                "lambda:AddPermission",
                "lambda:RemovePermission",
                "lambda:GetPolicy",
                "lambda:TagResource",
                "lambda:UntagResource",
                "lambda:ListTags",
            ],
            vec![format!("arn:{p}:lambda:{r}:{a}:function:{x}*")],
        ),
        st(
            "TriggerLogs",
            &[
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:DeleteRetentionPolicy",
                "logs:TagResource",
                "logs:UntagResource",
                "logs:TagLogGroup",
                "logs:ListTagsForResource",
            ],
            vec![format!("arn:{p}:logs:{r}:{a}:log-group:/aws/lambda/{x}*")],
        ),
        // `logs`, `invoke` and the viewer: the trigger's log lines, and calling it.
        st(
            "OperateTrigger",
            &["logs:FilterLogEvents", "lambda:InvokeFunction"],
            vec![
                format!("arn:{p}:logs:{r}:{a}:log-group:/aws/lambda/{x}*"),
                format!("arn:{p}:lambda:{r}:{a}:function:{x}*"),
            ],
        ),
        st(
            "ListLogGroups",
            &["logs:DescribeLogGroups"],
            vec!["*".into()],
        ),
        st(
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
            ],
            vec![format!("arn:{p}:dynamodb:{r}:{a}:table/{x}*")],
        ),
        // users add|list|remove|import, clients add, verify: rows in the stack's table.
        st(
            "UsersTableRows",
            &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchGetItem",
                "dynamodb:BatchWriteItem",
            ],
            vec![format!("arn:{p}:dynamodb:{r}:{a}:table/{x}*")],
        ),
        // A pool's id is generated: the deployer's tag scopes it (CloudFormation copies the
        // stack's tags onto it). Emulators that evaluate policies without conditions see the
        // ARN scope only.
        Statement {
            sid: "UserPools",
            actions: vec![
                "cognito-idp:UpdateUserPool",
                "cognito-idp:DeleteUserPool",
                "cognito-idp:DescribeUserPool",
                "cognito-idp:CreateUserPoolClient",
                "cognito-idp:UpdateUserPoolClient",
                "cognito-idp:DeleteUserPoolClient",
                "cognito-idp:DescribeUserPoolClient",
                "cognito-idp:CreateUserPoolDomain",
                "cognito-idp:UpdateUserPoolDomain",
                "cognito-idp:DeleteUserPoolDomain",
                "cognito-idp:TagResource",
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
            resources: vec![format!("arn:{p}:cognito-idp:{r}:{a}:userpool/*")],
            condition: Some(json!({"StringEquals": {"aws:ResourceTag/managed-by": "deployer"}})),
        },
        // Actions with no resource to scope: reading a domain's pool, and the create itself,
        // which carries the tag in its request.
        Statement {
            sid: "CreateUserPools",
            actions: vec!["cognito-idp:CreateUserPool"],
            resources: vec!["*".into()],
            condition: Some(json!({"StringEquals": {"aws:RequestTag/managed-by": "deployer"}})),
        },
        st(
            "UserPoolDomains",
            &["cognito-idp:DescribeUserPoolDomain"],
            vec!["*".into()],
        ),
    ]
}

/// The policy document.
pub fn document(scope: &Scope) -> Value {
    let statements: Vec<Value> = statements(scope)
        .into_iter()
        .map(|s| {
            let mut v = json!({
                "Sid": s.sid,
                "Effect": "Allow",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            partition: "aws".into(),
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            prefix: "app".into(),
        }
    }

    #[test]
    fn nothing_is_granted_on_star_but_reads_that_have_no_resource() {
        for s in statements(&scope()) {
            if s.resources.iter().any(|r| r == "*") {
                assert!(
                    [
                        "WhoAmI",
                        "ReadStacks",
                        "ListLogGroups",
                        "UserPoolDomains",
                        "CreateUserPools"
                    ]
                    .contains(&s.sid),
                    "{} grants on *",
                    s.sid
                );
            }
            assert!(
                !s.actions.iter().any(|a| a.ends_with(":*") || *a == "*"),
                "{} grants a wildcard action",
                s.sid
            );
        }
        let doc = document(&scope()).to_string();
        assert!(doc.contains("arn:aws:cloudformation:eu-west-1:111122223333:stack/app*/*"));
        assert!(doc.contains("arn:aws:s3:::deployer-artifacts-111122223333-eu-west-1/app*"));
    }

    #[test]
    fn the_partition_is_the_regions() {
        let mut s = scope();
        s.partition = "aws-us-gov".into();
        assert!(document(&s)
            .to_string()
            .contains("arn:aws-us-gov:lambda:eu-west-1:111122223333:function:app*"));
    }
}
