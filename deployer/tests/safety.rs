//! Safe on a real account, against mocked AWS answers the local emulator never gives: a stack
//! the deployer did not make, a bucket of another account, a replaced table, a kept stack's
//! protection and retained table, a gc that never forces, artifacts kept while in use, and a
//! no-op `up` that notices changes made outside the stack.

mod mocks;

use aws_sdk_cloudformation::types::{ChangeSetStatus, ChangeSetType, StackStatus};
use aws_sdk_cloudformation::Client as Cfn;
use aws_smithy_mocks::mock;
use deployer::commands::down::{self, DownOptions, DownTarget};
use deployer::commands::gc::{self, GcOptions, GcResult};
use deployer::commands::up::UpAction;
use deployer::error::Error;
use mocks::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

const WAIT: Duration = Duration::from_secs(5);

fn created() -> aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput {
    aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput::builder()
        .id("arn:aws:cloudformation:us-east-1:111122223333:changeSet/deployer/1")
        .stack_id(STACK_ID)
        .build()
}

fn executed() -> aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput {
    aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput::builder().build()
}

fn removed() -> aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput {
    aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder().build()
}

fn deleted() -> aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput {
    aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build()
}

fn no_events() -> aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput
{
    events(vec![])
}

fn param<'a>(
    r: &'a aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetInput,
    key: &str,
) -> Option<&'a aws_sdk_cloudformation::types::Parameter> {
    r.parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(key))
}

/// A stack of this name that another tool made: no managed-by tag, no fingerprint.
fn foreign(status: StackStatus) -> aws_sdk_cloudformation::types::Stack {
    stack(status, &[("ApiUrl", "https://x")], &[("team", "payments")])
}

#[tokio::test]
async fn a_stack_the_deployer_did_not_make_is_refused_by_up_and_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    // Only reads: no CreateChangeSet, no S3, no DeleteStack rule.
    m.cfn =
        vec![mock!(Cfn::describe_stacks)
            .then_output(|| described(foreign(StackStatus::UpdateComplete)))];
    let h = Harness::new(&m);
    let err = h.up(&artifact(&dir), false, WAIT).await.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let Error::Refused { why, help, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(why.contains("not created by the deployer"), "{why}");
    assert!(help.contains("--adopt"), "{help}");

    let target = DownTarget {
        stack: STACK.into(),
        named_pool: None,
    };
    let options = DownOptions {
        force: true,
        keep_protection: false,
        wait_timeout: WAIT,
        retain: vec![],
    };
    let err = down::down(h.ctx(), &target, &options).await.unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        matches!(&err, Error::Refused { help, .. } if help.contains("only stacks the deployer made")),
        "{err:?}"
    );
}

#[tokio::test]
async fn adopt_takes_a_foreign_stack_over_through_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    let update = mock!(Cfn::create_change_set)
        .match_requests(|r| {
            r.change_set_type() == Some(&ChangeSetType::Update)
                && r.tags().iter().any(|t| t.key() == Some("managed-by"))
        })
        .then_output(created);
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .output(|| described(foreign(StackStatus::UpdateComplete)))
            .output(move || described(ours(StackStatus::UpdateComplete, &fp)))
            .repeatedly()
            .build(),
        update.clone(),
        mock!(Cfn::describe_change_set).then_output(|| {
            change_set(
                ChangeSetStatus::CreateComplete,
                None,
                &[("Add", "UserPool", "AWS::Cognito::UserPool")],
            )
        }),
        mock!(Cfn::describe_stack_events).then_output(no_events),
        mock!(Cfn::execute_change_set).then_output(executed),
    ];
    bucket_exists(&mut m);
    new_object(&mut m);
    tagging(&mut m);
    wiring(&mut m, &artifact);
    let report = Harness::new(&m)
        .up_with(&artifact, false, WAIT, |o| o.adopt = true)
        .await
        .unwrap();
    assert_eq!(report.action, UpAction::Updated);
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn a_bucket_of_another_account_stops_up_before_any_upload() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    m.cfn = vec![mock!(Cfn::describe_stacks).then_http_response(no_such_stack)];
    no_table(&mut m);
    // S3 API reference, "Bucket owner condition": with ExpectedBucketOwner set, a bucket
    // owned by another account answers 403 Access Denied. No PutObject rule: an upload fails
    // the test.
    m.s3.push(
        mock!(aws_sdk_s3::Client::head_bucket)
            .match_requests(|r| owner_checked(r.expected_bucket_owner()))
            .then_http_response(|| s3_error(403, None)),
    );
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        err.to_string(),
        "the artifacts bucket deployer-artifacts-111122223333-us-east-1 is not owned by account 111122223333"
    );
}

#[tokio::test]
async fn up_without_a_bootstrap_says_what_an_admin_runs_and_changes_nothing() {
    use miette::Diagnostic;
    let dir = tempfile::tempdir().unwrap();
    // No bucket (S3 API reference, HeadBucket: 404 with no body) and no boundary (IAM API
    // reference, GetPolicy: NoSuchEntity, 404). No CreateBucket, CreatePolicy or change set
    // rule: making any of them fails the test.
    let mut m = Mocks {
        sts: Mocks::new().sts,
        cfn: vec![mock!(Cfn::describe_stacks).then_http_response(no_such_stack)],
        ..Mocks::default()
    };
    no_table(&mut m);
    m.s3.push(mock!(aws_sdk_s3::Client::head_bucket).then_http_response(|| s3_error(404, None)));
    m.iam.push(wire("GetPolicy").then_http_response(|| {
        query_error(
            404,
            "NoSuchEntity",
            "Policy arn:aws:iam::111122223333:policy/deployer/app-trigger-boundary-us-east-1 was not found.",
        )
    }));
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        err.to_string(),
        "the account is not bootstrapped for app in us-east-1: the artifacts bucket deployer-artifacts-111122223333-us-east-1 and the permissions boundary arn:aws:iam::111122223333:policy/deployer/app-trigger-boundary-us-east-1 missing"
    );
    let help = err.help().map(|h| h.to_string()).unwrap_or_default();
    assert!(
        help.contains("deployer bootstrap --region us-east-1") && help.contains("111122223333"),
        "{help}"
    );
}

/// A boundary bootstrapped by an older deployer (here: before the API's functions had log
/// statements) is read back (GetPolicyVersion) and compared with what this deployer writes: a
/// stack with an API stops before any change and says an admin re-runs bootstrap, since its
/// functions could log no decision; the current boundary passes.
#[tokio::test]
async fn an_api_stack_stops_on_a_boundary_an_older_bootstrap_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let mut old = current_boundary();
    old["Statement"].as_array_mut().unwrap().retain(|s| {
        !s["Sid"].as_str().unwrap().contains("Authorizer")
            && !s["Sid"].as_str().unwrap().contains("Whoami")
    });
    let mut m = Mocks::new();
    // The first matching rule answers: the older version.
    m.iam.insert(
        1,
        wire("GetPolicyVersion").then_http_response(move || boundary_version(&old)),
    );
    m.cfn = vec![mock!(Cfn::describe_stacks).then_http_response(no_such_stack)];
    no_table(&mut m);
    bucket_exists(&mut m);
    let api_inputs = deployer::inputs::StackInputs::parse(
        r#"{"stackName": "app", "userPoolDomainName": "app-login", "region": "us-east-1",
            "lifecycle": "disposable", "api": {"routes": {"GET /me": {}}}}"#,
        "test.json",
    )
    .unwrap();
    let err = Harness::new(&m)
        .up_inputs(&api_inputs, &artifact(&dir), false, WAIT, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(
        err.to_string().contains("the current version of the permissions boundary arn:aws:iam::111122223333:policy/deployer/app-trigger-boundary-us-east-1"),
        "{err}"
    );
    // What `missing` reads: nothing missing and nothing stale with the current version.
    let mut current = Mocks::new();
    bucket_exists(&mut current);
    let target = deployer::commands::bootstrap::target(&inputs(), ACCOUNT, "us-east-1");
    let found = deployer::bootstrap::missing(&Harness::new(&current).clients, &target, true)
        .await
        .unwrap();
    assert!(
        found.missing.is_empty() && found.stale_boundary.is_none(),
        "{found:?}"
    );
    // A role whose policy was printed before `up` read the version: IAM refuses the read
    // (IAM API reference, "Common errors": AccessDenied, 403). Not known to be current, and
    // no reason to stop.
    let mut older_role = Mocks::new();
    older_role.iam.insert(
        1,
        wire("GetPolicyVersion").then_http_response(|| {
            query_error(
                403,
                "AccessDenied",
                "User: arn:aws:sts::111122223333:assumed-role/ci-deployer/1 is not authorized to perform: iam:GetPolicyVersion on resource: policy arn:aws:iam::111122223333:policy/deployer/app-trigger-boundary-us-east-1",
            )
        }),
    );
    bucket_exists(&mut older_role);
    let found = deployer::bootstrap::missing(&Harness::new(&older_role).clients, &target, false)
        .await
        .unwrap();
    assert!(
        found.missing.is_empty()
            && found.stale_boundary.is_none()
            && found.unread_boundary.is_some(),
        "{found:?}"
    );
    // For a stack with an API (strict), the refusal is the error, naming the permission.
    let err = deployer::bootstrap::missing(&Harness::new(&older_role).clients, &target, true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("iam:GetPolicyVersion"), "{err}");
}

#[tokio::test]
async fn a_denied_upload_to_our_own_bucket_names_the_permission_not_another_owner() {
    use miette::Diagnostic;
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    m.cfn = vec![mock!(Cfn::describe_stacks).then_http_response(no_such_stack)];
    no_table(&mut m);
    bucket_exists(&mut m);
    m.s3.push(mock!(aws_sdk_s3::Client::head_object).then_http_response(|| s3_error(404, None)));
    // S3 user guide, "Troubleshoot access denied (403 Forbidden) errors": a request within
    // the bucket owner's account gets the context of the denial, "User: <arn> is not
    // authorized to perform: <action> on resource: <arn> because no identity-based policy
    // allows the <action> action". That is our bucket and a missing permission.
    m.s3.push(mock!(aws_sdk_s3::Client::put_object).then_http_response(|| {
        let body = format!(
            "<Error><Code>AccessDenied</Code><Message>User: {ROLE_ARN} is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::deployer-artifacts-111122223333-us-east-1/app/x.zip\" because no identity-based policy allows the s3:PutObject action</Message><RequestId>R</RequestId></Error>"
        );
        let mut response = aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
            aws_smithy_types::body::SdkBody::from(body),
        );
        response
            .headers_mut()
            .insert("content-type", "application/xml");
        response
    }));
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(!text.contains("not owned"), "{text}");
    assert!(
        text.contains("PutObject failed: AccessDenied") && text.contains("s3:PutObject"),
        "{text}"
    );
    let help = err.help().map(|h| h.to_string()).unwrap_or_default();
    assert!(
        help.contains("s3:PutObject"),
        "the missing permission: {help}"
    );
}

#[tokio::test]
async fn a_bucket_of_another_account_names_the_identity_that_was_refused() {
    use miette::Diagnostic;
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    m.cfn = vec![mock!(Cfn::describe_stacks).then_http_response(no_such_stack)];
    no_table(&mut m);
    // HeadBucket has no body: a 403 says only "Forbidden" (S3 API reference, HeadBucket).
    m.s3.push(mock!(aws_sdk_s3::Client::head_bucket).then_http_response(|| s3_error(403, None)));
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    let help = err.help().map(|h| h.to_string()).unwrap_or_default();
    assert!(help.contains(ROLE_ARN), "the caller is named: {help}");
    assert!(help.contains("s3:ListBucket"), "{help}");
}

#[tokio::test]
async fn an_object_whose_checksum_differs_is_replaced_by_ours() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .output(|| described(ours(StackStatus::UpdateComplete, "old")))
            .output(move || described(ours(StackStatus::UpdateComplete, &fp)))
            .repeatedly()
            .build(),
        mock!(Cfn::create_change_set).then_output(created),
        mock!(Cfn::describe_change_set).then_output(|| {
            change_set(
                ChangeSetStatus::CreateComplete,
                None,
                &[("Modify", "TriggerFunction", "AWS::Lambda::Function")],
            )
        }),
        mock!(Cfn::describe_stack_events).then_output(no_events),
        mock!(Cfn::execute_change_set).then_output(executed),
    ];
    bucket_exists(&mut m);
    // Someone put other bytes at our content-addressed key.
    m.s3.push(mock!(aws_sdk_s3::Client::head_object).then_output(|| {
        aws_sdk_s3::operation::head_object::HeadObjectOutput::builder()
            .checksum_sha256("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .build()
    }));
    let want = deployer::artifacts::checksum(&artifact.sha256);
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(move |r| {
            owner_checked(r.expected_bucket_owner()) && r.checksum_sha256() == Some(&want)
        })
        .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
    m.s3.push(put.clone());
    tagging(&mut m);
    wiring(&mut m, &artifact);
    let report = Harness::new(&m).up(&artifact, false, WAIT).await.unwrap();
    assert!(report.artifact.uploaded);
    assert_eq!(put.num_calls(), 1);
}

/// An update of ours that changes `table.partitionKey`: CloudFormation replaces the table
/// (resource reference, AWS::DynamoDB::Table KeySchema: "Update requires: Replacement").
fn replacing_change_set(
    m: &mut Mocks,
    artifact: &deployer::build::Artifact,
) -> (aws_smithy_mocks::Rule, aws_smithy_mocks::Rule) {
    let fp = fingerprint(artifact);
    let execute = mock!(Cfn::execute_change_set).then_output(executed);
    let discarded = mock!(Cfn::delete_change_set).then_output(removed);
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .output(|| described(ours(StackStatus::UpdateComplete, "old")))
            .output(move || described(ours(StackStatus::UpdateComplete, &fp)))
            .repeatedly()
            .build(),
        mock!(Cfn::create_change_set).then_output(created),
        mock!(Cfn::describe_change_set).then_output(|| {
            let mut out = change_set(ChangeSetStatus::CreateComplete, None, &[]);
            out.changes = Some(vec![aws_sdk_cloudformation::types::Change::builder()
                .resource_change(
                    aws_sdk_cloudformation::types::ResourceChange::builder()
                        .action("Modify".into())
                        .logical_resource_id("UsersTable")
                        .resource_type("AWS::DynamoDB::Table")
                        .replacement("True".into())
                        .build(),
                )
                .build()]);
            out
        }),
        mock!(Cfn::describe_stack_events).then_output(no_events),
        execute.clone(),
        discarded.clone(),
    ];
    bucket_exists(m);
    new_object(m);
    tagging(m);
    wiring(m, artifact);
    (execute, discarded)
}

#[tokio::test]
async fn replacing_the_table_is_refused_without_allow_replace_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let mut m = Mocks::new();
    let (execute, discarded) = replacing_change_set(&mut m, &artifact);
    let err = Harness::new(&m)
        .up(&artifact, false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let Error::Destructive {
        resources, help, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(resources, &["UsersTable (AWS::DynamoDB::Table)".to_owned()]);
    assert!(help.contains("--allow-replace"), "{help}");
    assert_eq!(
        (execute.num_calls(), discarded.num_calls()),
        (0, 1),
        "shown, removed, not executed"
    );

    let mut m = Mocks::new();
    let (execute, _) = replacing_change_set(&mut m, &artifact);
    let report = Harness::new(&m)
        .up_with(&artifact, false, WAIT, |o| o.allow_replace = true)
        .await
        .unwrap();
    assert_eq!(report.action, UpAction::Updated);
    assert_eq!(execute.num_calls(), 1);
}

fn kept_inputs() -> deployer::inputs::StackInputs {
    deployer::inputs::StackInputs::parse(
        r#"{"stackName": "app", "userPoolDomainName": "app-login", "region": "us-east-1", "lifecycle": "kept"}"#,
        "kept.json",
    )
    .unwrap()
}

#[tokio::test]
async fn a_kept_stack_is_created_unprotected_and_then_protected() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let mut m = Mocks::new();
    // The create must be able to roll back: a protected pool cannot be deleted (Cognito API
    // reference, DeleteUserPool, InvalidParameterException), which would leave ROLLBACK_FAILED.
    let create = mock!(Cfn::create_change_set)
        .match_requests(|r| {
            r.change_set_type() == Some(&ChangeSetType::Create)
                && param(r, "PoolDeletionProtection").and_then(|p| p.parameter_value())
                    == Some("INACTIVE")
                && param(r, "TableDeletionProtection").and_then(|p| p.parameter_value())
                    == Some("false")
                && param(r, "DeployFingerprint")
                    .and_then(|p| p.parameter_value())
                    .is_some_and(|f| f.ends_with("-unprotected"))
        })
        .then_output(created);
    let protect = mock!(Cfn::create_change_set)
        .match_requests(|r| {
            r.change_set_type() == Some(&ChangeSetType::Update)
                && r.use_previous_template() == Some(true)
                && param(r, "PoolDeletionProtection").and_then(|p| p.parameter_value())
                    == Some("ACTIVE")
                && param(r, "TableDeletionProtection").and_then(|p| p.parameter_value())
                    == Some("true")
                && param(r, "ArtifactKey").and_then(|p| p.use_previous_value()) == Some(true)
        })
        .then_output(created);
    let execute = mock!(Cfn::execute_change_set).then_output(executed);
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .http_response(no_such_stack)
            .output(|| described(ours(StackStatus::CreateComplete, "x-unprotected")))
            .output(|| described(ours(StackStatus::UpdateComplete, "x")))
            .repeatedly()
            .build(),
        create.clone(),
        protect.clone(),
        mock!(Cfn::describe_change_set).then_output(|| {
            change_set(
                ChangeSetStatus::CreateComplete,
                None,
                &[("Modify", "UserPool", "AWS::Cognito::UserPool")],
            )
        }),
        mock!(Cfn::describe_stack_events).then_output(no_events),
        execute.clone(),
    ];
    no_table_yet(&mut m);
    first_upload(&mut m);
    wiring(&mut m, &artifact);
    let report = Harness::new(&m)
        .up_inputs(&kept_inputs(), &artifact, false, WAIT, |_| {})
        .await
        .unwrap();
    assert_eq!(report.action, UpAction::Created);
    assert_eq!(
        (create.num_calls(), protect.num_calls(), execute.num_calls()),
        (1, 1, 2)
    );
}

#[tokio::test]
async fn a_table_left_by_an_earlier_kept_stack_is_brought_back_and_a_foreign_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let tagged = |tags: &'static [(&'static str, &'static str)]| {
        move || {
            aws_sdk_dynamodb::operation::list_tags_of_resource::ListTagsOfResourceOutput::builder()
                .set_tags(Some(
                    tags.iter()
                        .map(|(k, v)| {
                            aws_sdk_dynamodb::types::Tag::builder()
                                .key(*k)
                                .value(*v)
                                .build()
                                .unwrap()
                        })
                        .collect(),
                ))
                .build()
        }
    };
    // Ours: CloudFormation's tags (documented: resources it creates carry
    // aws:cloudformation:stack-name and logical-id) and the deployer's own stay on a
    // retained resource.
    let mut m = Mocks::new();
    let adopting = mock!(Cfn::create_change_set)
        .match_requests(|r| r.import_existing_resources() == Some(true))
        .then_output(created);
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .http_response(no_such_stack)
            .output(|| described(ours(StackStatus::CreateComplete, "x-unprotected")))
            .output(|| described(ours(StackStatus::UpdateComplete, "x")))
            .repeatedly()
            .build(),
        adopting.clone(),
        mock!(Cfn::create_change_set)
            .match_requests(|r| r.use_previous_template() == Some(true))
            .then_output(created),
        mock!(Cfn::describe_change_set).then_output(|| {
            change_set(
                ChangeSetStatus::CreateComplete,
                None,
                &[("Import", "UsersTable", "AWS::DynamoDB::Table")],
            )
        }),
        mock!(Cfn::describe_stack_events).then_output(no_events),
        mock!(Cfn::execute_change_set).then_output(executed),
    ];
    table_there(&mut m);
    m.dynamodb.push(
        mock!(aws_sdk_dynamodb::Client::list_tags_of_resource).then_output(tagged(&[
            ("managed-by", "deployer"),
            ("aws:cloudformation:stack-name", "app"),
            ("aws:cloudformation:logical-id", "UsersTable"),
        ])),
    );
    first_upload(&mut m);
    wiring(&mut m, &artifact);
    let report = Harness::new(&m)
        .up_inputs(&kept_inputs(), &artifact, false, WAIT, |_| {})
        .await
        .unwrap();
    assert_eq!(report.adopted_table.as_deref(), Some("app-users"));
    assert_eq!(adopting.num_calls(), 1, "the create brings it in");

    // Someone else's table of that name: refused before anything is built or uploaded.
    let mut m = Mocks::new();
    m.cfn = vec![mock!(Cfn::describe_stacks).then_http_response(no_such_stack)];
    table_there(&mut m);
    m.dynamodb.push(
        mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
            .then_output(tagged(&[("team", "payments")])),
    );
    let err = Harness::new(&m)
        .up_inputs(&kept_inputs(), &artifact, false, WAIT, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        matches!(&err, Error::Refused { why, .. } if why.contains("app-users")),
        "{err:?}"
    );
}

/// A kept stack, created by this version: protection on through its parameters.
fn kept_stack(status: StackStatus) -> aws_sdk_cloudformation::types::Stack {
    let mut s = ours(status, "x");
    for t in s.tags.iter_mut().flatten() {
        if t.key() == Some("deployer:lifecycle") {
            *t = aws_sdk_cloudformation::types::Tag::builder()
                .key("deployer:lifecycle")
                .value("kept")
                .build();
        }
    }
    for (k, v) in [
        ("PoolDeletionProtection", "ACTIVE"),
        ("TableDeletionProtection", "true"),
        ("ArtifactKey", "app/trigger-a.zip"),
    ] {
        s.parameters.get_or_insert_with(Vec::new).push(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key(k)
                .parameter_value(v)
                .build(),
        );
    }
    s
}

fn protected_pool(
) -> aws_sdk_cognitoidentityprovider::operation::describe_user_pool::DescribeUserPoolOutput {
    aws_sdk_cognitoidentityprovider::operation::describe_user_pool::DescribeUserPoolOutput::builder(
    )
    .user_pool(
        aws_sdk_cognitoidentityprovider::types::UserPoolType::builder()
            .id("us-east-1_Abc123")
            .deletion_protection(
                aws_sdk_cognitoidentityprovider::types::DeletionProtectionType::Active,
            )
            .build(),
    )
    .build()
}

#[tokio::test]
async fn down_force_lifts_protection_through_the_stack_and_keeps_the_table() {
    let h = Harness::new(&kept_down_mocks().0);
    let target = DownTarget {
        stack: STACK.into(),
        named_pool: None,
    };
    let plain = DownOptions {
        force: false,
        keep_protection: false,
        wait_timeout: WAIT,
        retain: vec![],
    };
    let err = down::down(h.ctx(), &target, &plain).await.unwrap_err();
    assert_eq!(err.exit_code(), 2, "a kept stack needs --force: {err:?}");

    let (m, release, delete) = kept_down_mocks();
    let h = Harness::new(&m);
    let forced = DownOptions {
        force: true,
        ..plain
    };
    let report = down::down(h.ctx(), &target, &forced).await.unwrap();
    assert_eq!(report.action, down::DownAction::Deleted);
    assert_eq!((release.num_calls(), delete.num_calls()), (1, 1));
    assert!(
        report
            .retained
            .iter()
            .any(|r| r.starts_with("table app-users")),
        "{:?}",
        report.retained
    );
}

/// A kept stack for `down`: its pool protected, the protection lifted through an update of
/// the stack (no UpdateUserPool rule), then the delete. Returns the release and delete rules.
/// Another operation starts on the stack between down's look and its release: CloudFormation
/// refuses the change set ("Stack:arn:... is in UPDATE_IN_PROGRESS state and can not be
/// updated.", ValidationError; CloudFormation API reference, Common errors). `down` stops,
/// deletes nothing, and its error names the stack (it once read "stack  failed").
#[tokio::test]
async fn down_that_loses_the_race_for_the_release_names_the_stack_and_deletes_nothing() {
    let (mut m, _, delete) = kept_down_mocks();
    let busy = mock!(Cfn::create_change_set).then_http_response(|| {
        query_error(
            400,
            "ValidationError",
            "Stack:arn:aws:cloudformation:us-east-1:111122223333:stack/app/x is in UPDATE_IN_PROGRESS state and can not be updated.",
        )
    });
    m.cfn
        .retain(|r| !format!("{r:?}").contains("create_change_set"));
    m.cfn.insert(0, busy.clone());
    let h = Harness::new(&m);
    let target = DownTarget {
        stack: STACK.into(),
        named_pool: None,
    };
    let forced = DownOptions {
        force: true,
        keep_protection: false,
        wait_timeout: WAIT,
        retain: vec![],
    };
    let err = down::down(h.ctx(), &target, &forced).await.unwrap_err();
    assert_eq!(busy.num_calls(), 1);
    assert_eq!(delete.num_calls(), 0, "nothing is deleted");
    let text = err.to_string();
    assert!(text.contains("stack app "), "{text}");
    assert!(
        text.contains("another operation changed the stack"),
        "{text}"
    );
}

fn kept_down_mocks() -> (Mocks, aws_smithy_mocks::Rule, aws_smithy_mocks::Rule) {
    let mut m = Mocks::new();
    // No UpdateUserPool rule: the protection must go off through CloudFormation.
    m.cognito.push(
        mock!(aws_sdk_cognitoidentityprovider::Client::describe_user_pool)
            .then_output(protected_pool),
    );
    let release = mock!(Cfn::create_change_set)
        .match_requests(|r| {
            r.change_set_type() == Some(&ChangeSetType::Update)
                && r.use_previous_template() == Some(true)
                && param(r, "PoolDeletionProtection").and_then(|p| p.parameter_value())
                    == Some("INACTIVE")
                && param(r, "TableDeletionProtection").and_then(|p| p.use_previous_value())
                    == Some(true)
                && param(r, "ArtifactKey").and_then(|p| p.use_previous_value()) == Some(true)
        })
        .then_output(created);
    let delete = mock!(Cfn::delete_stack).then_output(deleted);
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .output(|| described(kept_stack(StackStatus::UpdateComplete)))
            .output(|| described(kept_stack(StackStatus::UpdateComplete)))
            .output(|| described(kept_stack(StackStatus::UpdateComplete)))
            .http_response(no_such_stack)
            .repeatedly()
            .build(),
        mock!(Cfn::list_stack_resources).then_output(|| {
            resources(&[
                ("UserPool", "AWS::Cognito::UserPool", "us-east-1_Abc123"),
                ("UsersTable", "AWS::DynamoDB::Table", "app-users"),
            ])
        }),
        release.clone(),
        mock!(Cfn::describe_change_set).then_output(|| {
            change_set(
                ChangeSetStatus::CreateComplete,
                None,
                &[("Modify", "UserPool", "AWS::Cognito::UserPool")],
            )
        }),
        mock!(Cfn::execute_change_set).then_output(executed),
        mock!(Cfn::describe_stack_events).then_output(no_events),
        delete.clone(),
    ];
    m.s3.push(mock!(aws_sdk_s3::Client::list_objects_v2).then_output(|| {
        aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output::builder().build()
    }));
    (m, release, delete)
}

#[tokio::test]
async fn a_stack_that_cannot_be_updated_has_its_pool_released_keeping_its_whole_configuration() {
    use aws_sdk_cognitoidentityprovider::types::{
        AdminCreateUserConfigType, DeletionProtectionType, LambdaConfigType, PasswordPolicyType,
        PreTokenGenerationVersionConfigType, UserPoolPolicyType, UserPoolType,
        VerifiedAttributeType,
    };
    let mut m = Mocks::new();
    // A protected pool as DescribeUserPool gives it, the deprecated UnusedAccountValidityDays
    // included (Cognito API reference, AdminCreateUserConfigType).
    let pool = || {
        UserPoolType::builder()
            .id("us-east-1_Abc123")
            .name("app")
            .deletion_protection(DeletionProtectionType::Active)
            .policies(
                UserPoolPolicyType::builder()
                    .password_policy(
                        PasswordPolicyType::builder()
                            .minimum_length(12)
                            .temporary_password_validity_days(7)
                            .build(),
                    )
                    .build(),
            )
            .lambda_config(
                LambdaConfigType::builder()
                    .pre_token_generation_config(
                        PreTokenGenerationVersionConfigType::builder()
                            .lambda_arn(
                                "arn:aws:lambda:us-east-1:111122223333:function:app-pretoken",
                            )
                            .lambda_version("V2_0".into())
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .admin_create_user_config(
                AdminCreateUserConfigType::builder()
                    .allow_admin_create_user_only(true)
                    .unused_account_validity_days(7)
                    .build(),
            )
            .auto_verified_attributes(VerifiedAttributeType::Email)
            .user_pool_tags("deployer:stack", "app")
            // CloudFormation's own tag: keys under `aws:` are reserved for AWS's use and cannot
            // be added or edited by a caller (Tagging AWS Resources user guide, "Tag naming
            // limits and requirements"), so they are not sent back.
            .user_pool_tags("aws:cloudformation:stack-name", "app")
            .build()
    };
    m.cognito.push(
        mock!(aws_sdk_cognitoidentityprovider::Client::describe_user_pool).then_output(
            move || {
                aws_sdk_cognitoidentityprovider::operation::describe_user_pool::DescribeUserPoolOutput::builder()
                    .user_pool(pool())
                    .build()
            },
        ),
    );
    // UpdateUserPool resets what it is not given (Cognito API reference, UpdateUserPool):
    // the trigger, the admin-only sign-up and the password policy are all sent back, the
    // protection alone changed, and never UnusedAccountValidityDays.
    let keeps_all = mock!(aws_sdk_cognitoidentityprovider::Client::update_user_pool)
        .match_requests(|r| {
            let admin = r.admin_create_user_config();
            r.user_pool_id() == Some("us-east-1_Abc123")
                && r.deletion_protection() == Some(&DeletionProtectionType::Inactive)
                && r.policies()
                    .and_then(|p| p.password_policy())
                    .and_then(|p| p.minimum_length())
                    == Some(12)
                && r.lambda_config()
                    .and_then(|l| l.pre_token_generation_config())
                    .map(|c| c.lambda_arn())
                    == Some("arn:aws:lambda:us-east-1:111122223333:function:app-pretoken")
                && admin.map(|a| a.allow_admin_create_user_only()) == Some(true)
                // The SDK always sends this integer; 0 is what Cognito accepts beside a
                // TemporaryPasswordValidityDays (the value DescribeUserPool gave, 7, is refused:
                // "Please use TemporaryPasswordValidityDays in PasswordPolicy instead of
                // UnusedAccountValidityDays", hashicorp/terraform-provider-aws pull 8845,
                // pulumi/pulumi-aws-native issue 1256).
                && admin.map(|a| a.unused_account_validity_days()) == Some(0)
                && r.auto_verified_attributes() == [VerifiedAttributeType::Email]
                && r.user_pool_tags().and_then(|t| t.get("deployer:stack")).map(String::as_str)
                    == Some("app")
                && r.user_pool_tags().is_some_and(|t| !t.keys().any(|k| k.starts_with("aws:")))
                && r.pool_name() == Some("app")
        })
        .then_output(|| {
            aws_sdk_cognitoidentityprovider::operation::update_user_pool::UpdateUserPoolOutput::builder().build()
        });
    m.cognito.push(keeps_all.clone());
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .output(|| described(kept_stack(StackStatus::RollbackFailed)))
            .output(|| described(kept_stack(StackStatus::RollbackFailed)))
            .http_response(no_such_stack)
            .repeatedly()
            .build(),
        mock!(Cfn::list_stack_resources).then_output(|| {
            resources(&[("UserPool", "AWS::Cognito::UserPool", "us-east-1_Abc123")])
        }),
        mock!(Cfn::describe_stack_events).then_output(no_events),
        mock!(Cfn::delete_stack).then_output(deleted),
    ];
    m.s3.push(mock!(aws_sdk_s3::Client::list_objects_v2).then_output(|| {
        aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output::builder().build()
    }));
    let h = Harness::new(&m);
    let target = DownTarget {
        stack: STACK.into(),
        named_pool: None,
    };
    let options = DownOptions {
        force: true,
        keep_protection: false,
        wait_timeout: WAIT,
        retain: vec![],
    };
    down::down(h.ctx(), &target, &options).await.unwrap();
    assert_eq!(keeps_all.num_calls(), 1);
}

fn ephemeral(
    name: &str,
    expires: &str,
    extra: &[(&str, &str)],
) -> aws_sdk_cloudformation::types::Stack {
    let mut s = ours(StackStatus::CreateComplete, "x");
    s.stack_name = Some(name.into());
    s.stack_id = Some(format!(
        "arn:aws:cloudformation:us-east-1:111122223333:stack/{name}/1"
    ));
    s.tags.get_or_insert_with(Vec::new).extend(
        [
            ("deployer:ephemeral", "true"),
            ("deployer:expires-at", expires),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| {
            aws_sdk_cloudformation::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build()
        }),
    );
    s
}

#[tokio::test]
async fn gc_deletes_only_its_own_expired_unprotected_stacks_and_says_why_it_skips() {
    let past = "2020-01-01T00:00:00Z";
    let mut m = Mocks::new();
    let mut foreign = ephemeral("app-foreign", past, &[]);
    foreign
        .tags
        .as_mut()
        .unwrap()
        .retain(|t| t.key() != Some("managed-by"));
    let mut protected = ephemeral("app-protected", past, &[]);
    protected.parameters.get_or_insert_with(Vec::new).push(
        aws_sdk_cloudformation::types::Parameter::builder()
            .parameter_key("PoolDeletionProtection")
            .parameter_value("ACTIVE")
            .build(),
    );
    let all = vec![
        ephemeral("app-expired", past, &[]),
        ephemeral("app-live", "2999-01-01T00:00:00Z", &[]),
        foreign,
        protected,
        ours(StackStatus::CreateComplete, "x"),
    ];
    let deleting = Arc::new(Mutex::new(Vec::new()));
    let seen = deleting.clone();
    // Only app-expired may be deleted: DeleteStack for anything else fails the test, and
    // there is no UpdateUserPool rule (gc never lifts a protection).
    m.cfn =
        vec![
        mock!(Cfn::describe_stacks)
            .match_requests(|r| r.stack_name().is_none())
            .then_output(move || {
                aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput::builder()
                    .set_stacks(Some(all.clone()))
                    .build()
            }),
        mock!(Cfn::describe_stacks)
            .match_requests(|r| r.stack_name().is_some_and(|n| n.contains("app-expired")))
            .sequence()
            .output(|| described(ephemeral("app-expired", "2020-01-01T00:00:00Z", &[])))
            .output(|| described(ephemeral("app-expired", "2020-01-01T00:00:00Z", &[])))
            .http_response(no_such_stack)
            .repeatedly()
            .build(),
        mock!(Cfn::list_stack_resources).then_output(|| resources(&[])),
        mock!(Cfn::describe_stack_events).then_output(no_events),
        mock!(Cfn::delete_stack)
            .match_requests(move |r| {
                seen.lock().unwrap().push(r.stack_name().unwrap_or_default().to_owned());
                r.stack_name().is_some_and(|n| n.contains("app-expired"))
            })
            .then_output(deleted),
    ];
    m.s3.push(mock!(aws_sdk_s3::Client::list_objects_v2).then_output(|| {
        aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output::builder().build()
    }));
    let h = Harness::new(&m);
    let options = GcOptions {
        older_than: None,
        dry_run: false,
        parallel: 2,
        project: None,
    };
    let report = gc::gc(h.ctx(), SystemTime::now(), &options).await.unwrap();
    let results: Vec<(String, GcResult)> = report
        .entries
        .iter()
        .map(|e| (e.stack.clone(), e.result.clone()))
        .collect();
    assert_eq!(
        results,
        vec![
            ("app-expired".into(), GcResult::Deleted),
            (
                "app-foreign".into(),
                GcResult::Skipped("not created by the deployer".into())
            ),
            (
                "app-live".into(),
                GcResult::Skipped("expires at 2999-01-01T00:00:00Z".into())
            ),
            (
                "app-protected".into(),
                GcResult::Skipped("the user pool has deletion protection".into())
            ),
        ]
    );
    assert_eq!(
        report.considered, 4,
        "the stack without the ephemeral tag is not even considered"
    );
    assert_eq!(deleting.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn after_a_deploy_the_new_and_the_previous_zip_are_kept_and_older_ones_expire() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let new_key = key(&artifact);
    let mut m = Mocks::new();
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .output(|| described(kept_stack(StackStatus::UpdateComplete)))
            .output(move || described(ours(StackStatus::UpdateComplete, &fp)))
            .repeatedly()
            .build(),
        mock!(Cfn::create_change_set).then_output(created),
        mock!(Cfn::describe_change_set).then_output(|| {
            change_set(
                ChangeSetStatus::CreateComplete,
                None,
                &[("Modify", "TriggerFunction", "AWS::Lambda::Function")],
            )
        }),
        mock!(Cfn::describe_stack_events).then_output(no_events),
        mock!(Cfn::execute_change_set).then_output(executed),
    ];
    bucket_exists(&mut m);
    new_object(&mut m);
    let listed = new_key.clone();
    m.s3.push(
        mock!(aws_sdk_s3::Client::list_objects_v2).then_output(move || {
            let mut b = aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output::builder();
            for k in ["app/trigger-0.zip", "app/trigger-a.zip", listed.as_str()] {
                b = b.contents(aws_sdk_s3::types::Object::builder().key(k).build());
            }
            b.build()
        }),
    );
    let marks = Arc::new(Mutex::new(Vec::new()));
    let seen = marks.clone();
    m.s3.push(
        mock!(aws_sdk_s3::Client::put_object_tagging)
            .match_requests(move |r| {
                let tag = r
                    .tagging()
                    .map(|t| t.tag_set()[0].value().to_owned())
                    .unwrap_or_default();
                seen.lock()
                    .unwrap()
                    .push((r.key().unwrap_or_default().to_owned(), tag));
                owner_checked(r.expected_bucket_owner())
            })
            .then_output(|| {
                aws_sdk_s3::operation::put_object_tagging::PutObjectTaggingOutput::builder().build()
            }),
    );
    wiring(&mut m, &artifact);
    let kept = deployer::inputs::StackInputs {
        lifecycle: deployer::inputs::Lifecycle::Kept,
        ..inputs()
    };
    Harness::new(&m)
        .up_inputs(&kept, &artifact, false, WAIT, |_| {})
        .await
        .unwrap();
    let mut marks = marks.lock().unwrap().clone();
    marks.sort();
    let mut want = vec![
        ("app/trigger-0.zip".to_owned(), "superseded".to_owned()),
        ("app/trigger-a.zip".to_owned(), "previous".to_owned()),
        (new_key, "current".to_owned()),
    ];
    want.sort();
    assert_eq!(marks, want);
}

#[tokio::test]
async fn a_no_op_up_notices_a_trigger_changed_outside_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    m.cfn = vec![mock!(Cfn::describe_stacks)
        .then_output(move || described(ours(StackStatus::UpdateComplete, &fp)))];
    // Someone switched the pool to V1_0 in the console.
    wiring_with(
        &mut m,
        &artifact,
        aws_sdk_cognitoidentityprovider::types::PreTokenGenerationLambdaVersionType::V10,
    );
    let err = Harness::new(&m)
        .up(&artifact, false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 4);
    let Error::Drifted { failed, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        failed
            .iter()
            .any(|f| f.contains("trigger wired") && f.contains("V1_0")),
        "{failed:?}"
    );
}

/// A kept stack's inputs turned disposable: the change set lowers the table's protection.
fn downgrade_mocks() -> (Mocks, aws_smithy_mocks::Rule) {
    let mut m = Mocks::new();
    let execute = mock!(Cfn::execute_change_set).then_output(executed);
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .then_output(|| described(kept_stack(StackStatus::UpdateComplete))),
        mock!(Cfn::create_change_set).then_output(created),
        mock!(Cfn::describe_change_set).then_output(|| {
            change_set(
                ChangeSetStatus::CreateComplete,
                None,
                &[("Modify", "UsersTable", "AWS::DynamoDB::Table")],
            )
        }),
        mock!(Cfn::delete_change_set).then_output(|| {
            aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder()
                .build()
        }),
        execute.clone(),
    ];
    bucket_exists(&mut m);
    new_object(&mut m);
    (m, execute)
}

#[tokio::test]
async fn a_kept_stack_made_disposable_is_refused_without_a_yes_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (m, execute) = downgrade_mocks();
    // The deployed stack is kept (its pool protected); the inputs at hand say disposable.
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let text = err.to_string();
    assert!(
        text.contains("the lifecycle of app from kept to disposable")
            && text.contains("nothing was executed"),
        "{text}"
    );
    assert_eq!(execute.num_calls(), 0);
}

/// The first look finds no stack; another run creates it as kept before our create (our
/// CreateChangeSet answers AlreadyExistsException, API reference). Deciding again, `up`
/// would update that kept stack with disposable inputs: a downgrade read from the stack as it
/// is now, refused without a yes like one seen at the first look.
#[tokio::test]
async fn a_stack_made_kept_by_another_run_meanwhile_is_still_a_downgrade() {
    let dir = tempfile::tempdir().unwrap();
    let (mut m, execute) = downgrade_mocks();
    let lost = mock!(Cfn::create_change_set)
        .sequence()
        .http_response(|| query_error(400, "AlreadyExistsException", "Stack [app] already exists"))
        .output(created)
        .build();
    m.cfn
        .retain(|r| !format!("{r:?}").contains("create_change_set"));
    m.cfn[0] = mock!(Cfn::describe_stacks)
        .sequence()
        .http_response(no_such_stack)
        .output(|| described(kept_stack(StackStatus::UpdateComplete)))
        .repeatedly()
        .build();
    m.cfn.insert(1, lost.clone());
    no_table_yet(&mut m);
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(lost.num_calls(), 2, "lost the race, then decided again");
    assert_eq!(err.exit_code(), 2, "{err:?}");
    assert!(
        err.to_string()
            .contains("the lifecycle of app from kept to disposable"),
        "{err}"
    );
    assert_eq!(execute.num_calls(), 0);
}

#[tokio::test]
async fn adopting_a_stack_refuses_to_remove_what_the_deployer_did_not_make() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    let execute = mock!(Cfn::execute_change_set).then_output(executed);
    m.cfn = vec![
        mock!(Cfn::describe_stacks).then_output(|| described(foreign(StackStatus::UpdateComplete))),
        mock!(Cfn::create_change_set).then_output(created),
        mock!(Cfn::describe_change_set).then_output(|| {
            change_set(
                ChangeSetStatus::CreateComplete,
                None,
                &[
                    ("Remove", "ReportsBucket", "AWS::S3::Bucket"),
                    ("Add", "TriggerFunction", "AWS::Lambda::Function"),
                ],
            )
        }),
        mock!(Cfn::delete_change_set).then_output(|| {
            aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder()
                .build()
        }),
        execute.clone(),
    ];
    no_table(&mut m);
    bucket_exists(&mut m);
    new_object(&mut m);
    let err = Harness::new(&m)
        .up_with(&artifact(&dir), false, WAIT, |o| o.adopt = true)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(
        err.to_string()
            .contains("ReportsBucket (AWS::S3::Bucket, not made by the deployer)"),
        "{err}"
    );
    assert_eq!(execute.num_calls(), 0);
}

/// A permission added to the unqualified function (say, for any principal) would let others
/// invoke the same code as the pool's alias: a no-op `up` notices it as drift.
#[tokio::test]
async fn a_no_op_up_notices_another_invoke_permission_on_the_function() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    m.cfn = vec![mock!(Cfn::describe_stacks)
        .then_output(move || described(ours(StackStatus::UpdateComplete, &fp)))];
    // Lambda API reference, GetPolicy: the function's resource-based policy, as a JSON string.
    m.lambda.push(
        mock!(aws_sdk_lambda::Client::get_policy)
            .match_requests(|r| r.qualifier().is_none())
            .then_output(|| {
                aws_sdk_lambda::operation::get_policy::GetPolicyOutput::builder()
                    .policy(r#"{"Statement":[{"Sid":"open","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunction"}]}"#)
                    .build()
            }),
    );
    wiring(&mut m, &artifact);
    let err = Harness::new(&m)
        .up(&artifact, false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 4);
    let Error::Drifted { failed, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        failed
            .iter()
            .any(|f| f.contains("only this pool invokes the function") && f.contains("open")),
        "{failed:?}"
    );
}
