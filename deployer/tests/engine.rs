//! The deploy engine against mocked AWS: every path of `up`, `plan` and `down`, including the
//! ones the local emulator never takes (failed states, a busy stack, lost races, throttling,
//! expired or missing credentials, access denied). Each answer is shaped as AWS sends it; the
//! comment beside it says where that shape is documented or was reported.

mod mocks;

use aws_sdk_cloudformation::types::{ChangeSetStatus, ChangeSetType, StackStatus};
use aws_sdk_cloudformation::Client as Cfn;
use aws_smithy_mocks::mock;
use deployer::aws::ErrorKind;
use deployer::commands::down::{self, DownOptions, DownTarget};
use deployer::commands::up::{self, UpAction, UpOptions};
use deployer::error::Error;
use mocks::*;
use sha2::Digest;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn create_change_set_ok(
) -> aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput {
    aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput::builder()
        .id("arn:aws:cloudformation:us-east-1:111122223333:changeSet/deployer/1")
        .stack_id(STACK_ID)
        .build()
}

fn executed() -> aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput {
    aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput::builder().build()
}

/// The events of a create that succeeded (after the REVIEW_IN_PROGRESS one already there).
fn create_events() -> Vec<aws_sdk_cloudformation::types::StackEvent> {
    vec![
        event(
            1,
            STACK,
            "AWS::CloudFormation::Stack",
            "REVIEW_IN_PROGRESS",
            "User Initiated",
        ),
        event(
            2,
            STACK,
            "AWS::CloudFormation::Stack",
            "CREATE_IN_PROGRESS",
            "User Initiated",
        ),
        event(
            3,
            "UsersTable",
            "AWS::DynamoDB::Table",
            "CREATE_IN_PROGRESS",
            "",
        ),
        event(
            4,
            "UsersTable",
            "AWS::DynamoDB::Table",
            "CREATE_COMPLETE",
            "",
        ),
        event(
            5,
            STACK,
            "AWS::CloudFormation::Stack",
            "CREATE_COMPLETE",
            "",
        ),
    ]
}

fn eight_adds() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        ("Add", "UsersTable", "AWS::DynamoDB::Table"),
        ("Add", "TriggerLogGroup", "AWS::Logs::LogGroup"),
        ("Add", "TriggerRole", "AWS::IAM::Role"),
        ("Add", "TriggerFunction", "AWS::Lambda::Function"),
        ("Add", "UserPool", "AWS::Cognito::UserPool"),
        ("Add", "TriggerPermission", "AWS::Lambda::Permission"),
        ("Add", "UserPoolClient", "AWS::Cognito::UserPoolClient"),
        ("Add", "UserPoolDomain", "AWS::Cognito::UserPoolDomain"),
    ]
}

#[tokio::test]
async fn up_creates_a_new_stack_uploads_the_zip_and_checks_the_wiring() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    let describe = mock!(Cfn::describe_stacks)
        .sequence()
        .http_response(no_such_stack)
        .output(|| described(stack(StackStatus::CreateInProgress, &[], &[])))
        .output({
            let fp = fp.clone();
            move || described(ours(StackStatus::CreateComplete, &fp))
        })
        .repeatedly()
        .build();
    let key = key(&artifact);
    let create = mock!(Cfn::create_change_set)
        .match_requests(move |r| {
            r.change_set_type() == Some(&ChangeSetType::Create)
                && r.stack_name() == Some(STACK)
                && r.parameters().iter().any(|p| {
                    p.parameter_key() == Some("ArtifactKey") && p.parameter_value() == Some(&key)
                })
                && r.tags()
                    .iter()
                    .any(|t| t.key() == Some("managed-by") && t.value() == Some("deployer"))
        })
        .then_output(create_change_set_ok);
    let prepared = mock!(Cfn::describe_change_set)
        .sequence()
        .output(|| change_set(ChangeSetStatus::CreatePending, None, &[]))
        .output(|| change_set(ChangeSetStatus::CreateComplete, None, &eight_adds()))
        .build();
    let stack_events = mock!(Cfn::describe_stack_events)
        .sequence()
        .output(|| events(create_events()[..1].to_vec()))
        .output(|| events(create_events()))
        .repeatedly()
        .build();
    let execute = mock!(Cfn::execute_change_set).then_output(executed);
    m.cfn = vec![
        describe.clone(),
        create.clone(),
        prepared,
        stack_events,
        execute.clone(),
    ];
    no_table_yet(&mut m);
    first_upload(&mut m);
    wiring(&mut m, &artifact);
    let h = Harness::new(&m);

    let report = h.up(&artifact, false, WAIT).await.unwrap();
    assert_eq!(report.action, UpAction::Created);
    assert_eq!(report.changes.len(), 8);
    assert!(report.artifact.uploaded);
    assert_eq!(report.artifact.bucket, bucket());
    assert!(report.checks.iter().all(|c| c.ok), "{:?}", report.checks);
    assert_eq!(report.outputs["DeployFingerprint"], fp);
    assert_eq!((create.num_calls(), execute.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_unchanged_fingerprint_is_a_no_op_with_no_change_set_and_no_upload() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    // No rule for CreateChangeSet or any S3 call: making one fails the test.
    let describe = mock!(Cfn::describe_stacks)
        .then_output(move || described(ours(StackStatus::UpdateComplete, &fp)));
    m.cfn = vec![describe.clone()];
    wiring(&mut m, &artifact);
    let report = Harness::new(&m).up(&artifact, false, WAIT).await.unwrap();
    assert_eq!(report.action, UpAction::Unchanged);
    assert!(report.changes.is_empty() && !report.artifact.uploaded);
    assert_eq!(describe.num_calls(), 1);
}

/// A plan shows what is planned: nothing to change, and not the deployed stack's outputs as
/// if they were planned (`up` shows them).
#[tokio::test]
async fn a_plan_shows_no_outputs_up_does() {
    for dry_run in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let artifact = artifact(&dir);
        let fp = fingerprint(&artifact);
        let mut m = Mocks::new();
        m.cfn = vec![mock!(Cfn::describe_stacks)
            .then_output(move || described(ours(StackStatus::UpdateComplete, &fp)))];
        wiring(&mut m, &artifact);
        let report = Harness::new(&m).up(&artifact, dry_run, WAIT).await.unwrap();
        assert_eq!(report.action, UpAction::Unchanged);
        assert_eq!(
            report.outputs.is_empty(),
            dry_run,
            "dry run {dry_run}: {:?}",
            report.outputs
        );
    }
}

#[tokio::test]
async fn a_changed_stack_is_updated_through_an_update_change_set() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .output(|| described(ours(StackStatus::UpdateComplete, "old")))
            .output(|| described(ours(StackStatus::UpdateInProgress, "old")))
            .output(move || described(ours(StackStatus::UpdateComplete, &fp)))
            .repeatedly()
            .build(),
        mock!(Cfn::create_change_set)
            .match_requests(|r| r.change_set_type() == Some(&ChangeSetType::Update))
            .then_output(create_change_set_ok),
        mock!(Cfn::describe_change_set).then_output(|| {
            change_set(
                ChangeSetStatus::CreateComplete,
                None,
                &[("Modify", "TriggerFunction", "AWS::Lambda::Function")],
            )
        }),
        mock!(Cfn::describe_stack_events).then_output(|| {
            events(vec![event(
                9,
                STACK,
                "AWS::CloudFormation::Stack",
                "UPDATE_COMPLETE",
                "",
            )])
        }),
        mock!(Cfn::execute_change_set).then_output(executed),
    ];
    // The bucket exists; the new zip is not there yet.
    bucket_exists(&mut m);
    new_object(&mut m);
    tagging(&mut m);
    wiring(&mut m, &artifact);
    let report = Harness::new(&m).up(&artifact, false, WAIT).await.unwrap();
    assert_eq!(report.action, UpAction::Updated);
    assert_eq!(report.changes[0].logical_id, "TriggerFunction");
}

/// ExecuteChangeSet refused for a reason that is not another run's (AccessDenied: IAM user
/// guide, the caller lacks cloudformation:ExecuteChangeSet) while the stack sits complete from
/// its last deploy: the run fails with that error, the change set is removed, and nothing is
/// reported as updated.
#[tokio::test]
async fn an_execution_refused_on_a_complete_stack_is_an_error_not_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let mut m = Mocks::new();
    let removed = mock!(Cfn::delete_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder()
            .build()
    });
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .then_output(|| described(ours(StackStatus::UpdateComplete, "old"))),
        mock!(Cfn::create_change_set).then_output(create_change_set_ok),
        mock!(Cfn::describe_change_set).then_output(|| {
            change_set(
                ChangeSetStatus::CreateComplete,
                None,
                &[("Modify", "TriggerFunction", "AWS::Lambda::Function")],
            )
        }),
        mock!(Cfn::describe_stack_events).then_output(|| events(vec![])),
        mock!(Cfn::execute_change_set).then_http_response(|| {
            query_error(
                403,
                "AccessDenied",
                "User: arn:aws:sts::111122223333:assumed-role/ci-deployer/run-42 is not authorized to perform: cloudformation:ExecuteChangeSet",
            )
        }),
        removed.clone(),
    ];
    bucket_exists(&mut m);
    new_object(&mut m);
    let err = Harness::new(&m)
        .up(&artifact, false, WAIT)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    assert_eq!(removed.num_calls(), 1, "the change set is removed");
}

#[tokio::test]
async fn a_failed_first_create_in_rollback_complete_is_deleted_and_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    // API reference, DescribeStacks / stack status codes: ROLLBACK_COMPLETE after a failed
    // create; such a stack can only be deleted.
    let rolled_back = || {
        described(stack(
            StackStatus::RollbackComplete,
            &[],
            &[
                ("managed-by", "deployer"),
                ("deployer:lifecycle", "disposable"),
            ],
        ))
    };
    let delete = mock!(Cfn::delete_stack).then_output(|| {
        aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build()
    });
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .output(rolled_back) // observe
            .output(rolled_back) // delete: find it
            .http_response(no_such_stack) // follow the delete: gone
            .output(|| described(stack(StackStatus::CreateInProgress, &[], &[])))
            .output(move || described(ours(StackStatus::CreateComplete, &fp)))
            .repeatedly()
            .build(),
        mock!(Cfn::describe_stack_events)
            .sequence()
            .output(|| {
                events(vec![
                    event(
                        1,
                        STACK,
                        "AWS::CloudFormation::Stack",
                        "CREATE_IN_PROGRESS",
                        "User Initiated",
                    ),
                    event(
                        2,
                        "UserPoolDomain",
                        "AWS::Cognito::UserPoolDomain",
                        "CREATE_FAILED",
                        "Domain already exists",
                    ),
                    event(
                        3,
                        STACK,
                        "AWS::CloudFormation::Stack",
                        "ROLLBACK_COMPLETE",
                        "",
                    ),
                ])
            })
            .output(|| events(vec![]))
            .output(|| events(vec![]))
            .http_response(no_such_stack)
            .output(|| events(create_events()))
            .repeatedly()
            .build(),
        delete.clone(),
        mock!(Cfn::create_change_set)
            .match_requests(|r| r.change_set_type() == Some(&ChangeSetType::Create))
            .then_output(create_change_set_ok),
        mock!(Cfn::describe_change_set)
            .then_output(|| change_set(ChangeSetStatus::CreateComplete, None, &eight_adds())),
        mock!(Cfn::execute_change_set).then_output(executed),
    ];
    no_table_yet(&mut m);
    first_upload(&mut m);
    wiring(&mut m, &artifact);
    let report = Harness::new(&m).up(&artifact, false, WAIT).await.unwrap();
    assert_eq!(report.action, UpAction::Created);
    assert_eq!(delete.num_calls(), 1);
}

/// The failed first create `up` saw is not the stack of that name by the time it deletes it:
/// another run has since deleted it and created the stack again (a new stack id, CloudFormation
/// API reference, DescribeStacks: StackId). `up` never deletes what it did not see; it decides
/// again from the new stack (here: the same fingerprint, so nothing to do).
#[tokio::test]
async fn a_failed_create_replaced_meanwhile_by_another_run_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    let rolled_back = || {
        described(stack(
            StackStatus::RollbackComplete,
            &[],
            &[
                ("managed-by", "deployer"),
                ("deployer:lifecycle", "disposable"),
            ],
        ))
    };
    let replaced = move || {
        let mut s = ours(StackStatus::CreateComplete, &fp);
        s.stack_id = Some(STACK_ID.replace("6d9b1e20", "7e0c2f31"));
        described(s)
    };
    let delete = mock!(Cfn::delete_stack).then_output(|| {
        aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build()
    });
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .output(rolled_back) // observe
            .output(replaced.clone()) // about to delete: another stack now
            .output(replaced)
            .repeatedly()
            .build(),
        // The failed stack's events, read for its root cause.
        mock!(Cfn::describe_stack_events).then_output(|| events(vec![])),
        delete.clone(),
    ];
    no_table_yet(&mut m);
    first_upload(&mut m);
    wiring(&mut m, &artifact);
    let report = Harness::new(&m).up(&artifact, false, WAIT).await.unwrap();
    assert_eq!(delete.num_calls(), 0, "the new stack was not deleted");
    assert_eq!(report.action, UpAction::Unchanged);
}

/// The events of a kept stack's first create that failed at its domain (taken) and could not
/// roll back because the pool had deletion protection: Cognito API reference, DeleteUserPool,
/// InvalidParameterException; the stack then ends in ROLLBACK_FAILED.
fn rollback_failed_events() -> Vec<aws_sdk_cloudformation::types::StackEvent> {
    vec![
        event(1, STACK, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated"),
        event(2, "UserPool", "AWS::Cognito::UserPool", "CREATE_COMPLETE", ""),
        event(3, "UserPoolDomain", "AWS::Cognito::UserPoolDomain", "CREATE_FAILED", "Resource handler returned message: \"Domain already exists. (Service: CognitoIdentityProvider, Status Code: 400)\""),
        event(4, "UsersTable", "AWS::DynamoDB::Table", "CREATE_FAILED", "Resource creation cancelled"),
        event(5, STACK, "AWS::CloudFormation::Stack", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [UserPoolDomain, UsersTable]."),
        event(6, "UserPool", "AWS::Cognito::UserPool", "DELETE_FAILED", "Resource handler returned message: \"The user pool cannot be deleted because deletion protection is activated. Deletion protection must be inactivated first. (Service: CognitoIdentityProvider, Status Code: 400)\""),
        event(7, STACK, "AWS::CloudFormation::Stack", "ROLLBACK_FAILED", "The following resource(s) failed to delete: [UserPool]."),
    ]
}

#[tokio::test]
async fn rollback_failed_is_refused_with_the_root_cause_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    m.cfn = vec![
        mock!(Cfn::describe_stacks).then_output(|| {
            described(stack(
                StackStatus::RollbackFailed,
                &[],
                &[
                    ("managed-by", "deployer"),
                    ("deployer:lifecycle", "disposable"),
                ],
            ))
        }),
        mock!(Cfn::describe_stack_events).then_output(|| events(rollback_failed_events())),
    ];
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 3);
    let Error::Stuck {
        status, why, help, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(status, "ROLLBACK_FAILED");
    assert!(
        why.contains("UserPoolDomain (AWS::Cognito::UserPoolDomain) CREATE_FAILED"),
        "{why}"
    );
    assert!(why.contains("Domain already exists"), "{why}");
    assert!(help.contains("deployer down"), "{help}");
}

#[tokio::test]
async fn update_rollback_failed_names_the_resource_and_continue_update_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    // A rollback that needs the previous code object, which had expired: the shape of the
    // UPDATE_ROLLBACK_FAILED reports in aws-cloudformation/cloudformation-coverage-roadmap
    // and the "continue-update-rollback" guide (AWS CloudFormation User Guide).
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .then_output(|| described(ours(StackStatus::UpdateRollbackFailed, "x"))),
        mock!(Cfn::describe_stack_events).then_output(|| {
            events(vec![
                event(1, STACK, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", "User Initiated"),
                event(2, "TriggerRole", "AWS::IAM::Role", "UPDATE_FAILED", "Resource handler returned message: \"Rate exceeded\""),
                event(3, STACK, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update: [TriggerRole]."),
                event(4, "TriggerFunction", "AWS::Lambda::Function", "UPDATE_FAILED", "Resource handler returned message: \"Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist.\""),
                event(5, STACK, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_FAILED", "The following resource(s) failed to update: [TriggerFunction]."),
            ])
        }),
    ];
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 3);
    let Error::Stuck {
        status, why, help, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(status, "UPDATE_ROLLBACK_FAILED");
    assert!(why.contains("TriggerRole"), "{why}");
    assert!(
        help.contains("aws cloudformation continue-update-rollback --stack-name app"),
        "{help}"
    );
    assert!(help.contains("--resources-to-skip"), "{help}");
}

#[tokio::test]
async fn delete_failed_names_each_blocking_resource_and_down_can_retain_it() {
    let mut m = Mocks::new();
    // The pool's deletion protection is off; the table's own is on (DynamoDB API reference,
    // DeleteTable: "ValidationException ... deletion protection is enabled").
    m.cognito.push(
        mock!(aws_sdk_cognitoidentityprovider::Client::describe_user_pool).then_output(|| {
            aws_sdk_cognitoidentityprovider::operation::describe_user_pool::DescribeUserPoolOutput::builder()
                .user_pool(aws_sdk_cognitoidentityprovider::types::UserPoolType::builder().id("us-east-1_Abc123").build())
                .build()
        }),
    );
    let failed_delete = || {
        events(vec![
            event(10, STACK, "AWS::CloudFormation::Stack", "DELETE_IN_PROGRESS", "User Initiated"),
            event(11, "UsersTable", "AWS::DynamoDB::Table", "DELETE_FAILED", "Resource handler returned message: \"Resource cannot be deleted as it is currently being used by the deletion protection (Service: DynamoDb, Status Code: 400)\""),
            event(12, "UserPool", "AWS::Cognito::UserPool", "DELETE_COMPLETE", ""),
            event(13, STACK, "AWS::CloudFormation::Stack", "DELETE_FAILED", "The following resource(s) failed to delete: [UsersTable]."),
        ])
    };
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .output(|| described(ours(StackStatus::CreateComplete, "x")))
            .output(|| described(ours(StackStatus::CreateComplete, "x")))
            .output(|| described(ours(StackStatus::DeleteFailed, "x")))
            .repeatedly()
            .build(),
        mock!(Cfn::describe_stack_events)
            .sequence()
            .output(|| events(vec![]))
            .output(failed_delete)
            .repeatedly()
            .build(),
        mock!(Cfn::list_stack_resources).then_output(|| {
            resources(&[
                ("UserPool", "AWS::Cognito::UserPool", "us-east-1_Abc123"),
                ("UsersTable", "AWS::DynamoDB::Table", "app-users"),
            ])
        }),
        mock!(Cfn::delete_stack).then_output(|| {
            aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build()
        }),
    ];
    let h = Harness::new(&m);
    let target = DownTarget {
        stack: STACK.into(),
        named_pool: None,
    };
    let options = DownOptions {
        force: false,
        keep_protection: false,
        wait_timeout: WAIT,
        retain: vec![],
    };
    let err = down::down(h.ctx(), &target, &options).await.unwrap_err();
    assert_eq!(err.exit_code(), 3);
    let Error::DeployFailed {
        state, cause, help, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(state, "DELETE_FAILED");
    assert!(
        cause.contains("UsersTable (AWS::DynamoDB::Table)"),
        "{cause}"
    );
    assert!(!cause.contains("UserPool ("), "only what failed: {cause}");
    assert!(help.contains("deployer down --retain UsersTable"), "{help}");

    // down --retain UsersTable: DeleteStack is asked to keep it (API reference, DeleteStack:
    // RetainResources, "for stacks in the DELETE_FAILED state").
    let mut m = Mocks::new();
    let retaining = mock!(Cfn::delete_stack)
        .match_requests(|r| r.retain_resources() == ["UsersTable".to_owned()])
        .then_output(|| {
            aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build()
        });
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .output(|| {
                described(stack(
                    StackStatus::DeleteFailed,
                    &[],
                    &[
                        ("managed-by", "deployer"),
                        ("deployer:lifecycle", "disposable"),
                    ],
                ))
            })
            .output(|| {
                described(stack(
                    StackStatus::DeleteFailed,
                    &[],
                    &[
                        ("managed-by", "deployer"),
                        ("deployer:lifecycle", "disposable"),
                    ],
                ))
            })
            .http_response(no_such_stack)
            .repeatedly()
            .build(),
        mock!(Cfn::describe_stack_events)
            .sequence()
            .output(failed_delete)
            .http_response(no_such_stack)
            .repeatedly()
            .build(),
        retaining.clone(),
        mock!(Cfn::list_stack_resources).then_output(|| resources(&[])),
    ];
    m.s3.push(mock!(aws_sdk_s3::Client::list_objects_v2).then_output(|| {
        aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output::builder().build()
    }));
    let h = Harness::new(&m);
    let options = DownOptions {
        force: false,
        keep_protection: false,
        wait_timeout: WAIT,
        retain: vec!["UsersTable".into()],
    };
    let report = down::down(h.ctx(), &target, &options).await.unwrap();
    assert_eq!(report.action, down::DownAction::Deleted);
    assert_eq!(retaining.num_calls(), 1);
}

#[tokio::test]
async fn a_busy_stack_is_waited_for_and_then_deployed_from() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    let describe = mock!(Cfn::describe_stacks)
        .sequence()
        .output(|| described(ours(StackStatus::UpdateInProgress, "x")))
        .times(3)
        .output(move || described(ours(StackStatus::UpdateComplete, &fp)))
        .repeatedly()
        .build();
    m.cfn = vec![describe.clone()];
    wiring(&mut m, &artifact);
    let h = Harness::new(&m);
    let report = h.up(&artifact, false, WAIT).await.unwrap();
    assert_eq!(
        report.action,
        UpAction::Unchanged,
        "the other run deployed the same thing"
    );
    assert!(describe.num_calls() >= 4);
}

#[tokio::test]
async fn a_stack_busy_for_longer_than_the_wait_timeout_ends_with_exit_5() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    m.cfn = vec![mock!(Cfn::describe_stacks)
        .then_output(|| described(ours(StackStatus::UpdateInProgress, "x")))];
    let h = Harness::new(&m);
    let err = h
        .up(&artifact(&dir), false, Duration::from_millis(30))
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 5);
    let Error::TimedOut { status, help, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(status, "UPDATE_IN_PROGRESS");
    assert!(help.contains("--wait-timeout"), "{help}");
}

#[tokio::test]
async fn a_lost_race_waits_and_decides_again() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    // Another run created the stack between our DescribeStacks and our CreateChangeSet:
    // AlreadyExistsException (API reference, CreateChangeSet errors).
    let create = mock!(Cfn::create_change_set).then_http_response(|| {
        query_error(400, "AlreadyExistsException", "Stack [app] already exists")
    });
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .http_response(no_such_stack)
            .output(move || described(ours(StackStatus::CreateComplete, &fp)))
            .repeatedly()
            .build(),
        create.clone(),
    ];
    no_table_yet(&mut m);
    first_upload(&mut m);
    wiring(&mut m, &artifact);
    let report = Harness::new(&m).up(&artifact, false, WAIT).await.unwrap();
    assert_eq!(
        report.action,
        UpAction::Unchanged,
        "the winner deployed the same fingerprint"
    );
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn losing_every_race_ends_with_exit_5_naming_the_race() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    m.cfn = vec![
        mock!(Cfn::describe_stacks).then_http_response(no_such_stack),
        mock!(Cfn::create_change_set).then_http_response(|| {
            query_error(400, "AlreadyExistsException", "Stack [app] already exists")
        }),
    ];
    no_table(&mut m);
    first_upload(&mut m);
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 5);
    assert!(
        matches!(&err, Error::Raced { attempts: 5, last, .. } if last.contains("already exists")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_change_set_that_failed_for_having_no_changes_is_unchanged_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let mut m = Mocks::new();
    let removed = mock!(Cfn::delete_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder()
            .build()
    });
    m.cfn = vec![
        mock!(Cfn::describe_stacks).then_output(|| described(ours(StackStatus::UpdateComplete, "old"))),
        mock!(Cfn::create_change_set).then_output(create_change_set_ok),
        // Status FAILED with this reason: ansible-collections/amazon.aws#507.
        mock!(Cfn::describe_change_set).then_output(|| {
            change_set(
                ChangeSetStatus::Failed,
                Some("The submitted information didn't contain changes. Submit different information to create a change set."),
                &[],
            )
        }),
        removed.clone(),
    ];
    // The zip is in the bucket already, with the same stored checksum: not uploaded again.
    bucket_exists(&mut m);
    let stored = deployer::artifacts::checksum(&artifact.sha256);
    m.s3.push(
        mock!(aws_sdk_s3::Client::head_object)
            .match_requests(|r| {
                r.checksum_mode() == Some(&aws_sdk_s3::types::ChecksumMode::Enabled)
            })
            .then_output(move || {
                aws_sdk_s3::operation::head_object::HeadObjectOutput::builder()
                    .checksum_sha256(stored.clone())
                    .build()
            }),
    );
    wiring(&mut m, &artifact);
    let report = Harness::new(&m).up(&artifact, false, WAIT).await.unwrap();
    assert_eq!(report.action, UpAction::Unchanged);
    assert!(!report.artifact.uploaded);
    assert_eq!(removed.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_retried_with_the_real_retry_settings() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let fp = fingerprint(&artifact);
    let mut m = Mocks::new();
    // Throttling: HTTP 400, Code Throttling, "Rate exceeded" (cloudtools/stacker#54).
    let describe = mock!(Cfn::describe_stacks)
        .sequence()
        .http_response(|| query_error(400, "Throttling", "Rate exceeded"))
        .times(2)
        .output(move || described(ours(StackStatus::UpdateComplete, &fp)))
        .build();
    m.cfn = vec![describe.clone()];
    wiring(&mut m, &artifact);
    let report = Harness::new(&m).up(&artifact, false, WAIT).await.unwrap();
    assert_eq!(report.action, UpAction::Unchanged);
    assert_eq!(
        describe.num_calls(),
        3,
        "two throttled attempts, then the answer"
    );
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    let describe = mock!(Cfn::describe_stacks)
        .then_http_response(|| query_error(400, "Throttling", "Rate exceeded"));
    m.cfn = vec![describe.clone()];
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let Error::Aws(aws) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(aws.kind, ErrorKind::Throttled);
    assert_eq!(describe.num_calls(), deployer::aws::MAX_ATTEMPTS as usize);
    assert!(aws.advice().unwrap().contains("throttled"));
}

#[tokio::test]
async fn expired_credentials_say_whose_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    // HTTP 403 ExpiredToken from CloudFormation DescribeStacks (eksctl-io/eksctl#5968).
    m.cfn = vec![mock!(Cfn::describe_stacks).then_http_response(|| {
        query_error(
            403,
            "ExpiredToken",
            "The security token included in the request is expired",
        )
    })];
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let Error::Aws(aws) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(aws.kind, ErrorKind::ExpiredCredentials);
    let advice = aws.advice().unwrap();
    assert!(advice.contains("have expired"), "{advice}");
    assert!(
        advice.contains(ROLE_ARN) && advice.contains("profile ci"),
        "{advice}"
    );
}

#[tokio::test]
async fn missing_credentials_fail_before_any_call_with_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    m.cfn = vec![mock!(Cfn::describe_stacks).then_http_response(no_such_stack)];
    let h = Harness::without_credentials(&m);
    let err = h.up(&artifact(&dir), false, WAIT).await.unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let Error::Aws(aws) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(aws.kind, ErrorKind::NoCredentials, "{aws:?}");
    assert!(aws.advice().unwrap().contains("AWS_PROFILE"));
}

#[tokio::test]
async fn access_denied_names_the_missing_permission_and_the_role() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    // The denial's form: aws/aws-sam-cli#5567.
    m.cfn = vec![
        mock!(Cfn::describe_stacks).then_http_response(no_such_stack),
        mock!(Cfn::create_change_set).then_http_response(|| {
            query_error(
                403,
                "AccessDenied",
                "User: arn:aws:sts::111122223333:assumed-role/ci-deployer/run-42 is not authorized to perform: cloudformation:CreateChangeSet on resource: arn:aws:cloudformation:us-east-1:111122223333:stack/app/* because no identity-based policy allows the cloudformation:CreateChangeSet action",
            )
        }),
    ];
    no_table(&mut m);
    first_upload(&mut m);
    let err = Harness::new(&m)
        .up(&artifact(&dir), false, WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let Error::Aws(aws) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(aws.kind, ErrorKind::AccessDenied);
    let advice = aws.advice().unwrap();
    assert!(
        advice.contains("cloudformation:CreateChangeSet"),
        "{advice}"
    );
    assert!(
        advice.contains("ci-deployer") && advice.contains("profile ci"),
        "{advice}"
    );
}

#[tokio::test]
async fn plan_shows_the_change_set_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Mocks::new();
    // Only HeadBucket (the bootstrap check) for S3 and no ExecuteChangeSet rule: an upload or
    // an execution fails the test.
    let removed = mock!(Cfn::delete_change_set).then_output(|| {
        aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder()
            .build()
    });
    let review_deleted = mock!(Cfn::delete_stack)
        .match_requests(|r| r.stack_name() == Some(STACK_ID))
        .then_output(|| {
            aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput::builder().build()
        });
    m.cfn = vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .http_response(no_such_stack)
            // A CREATE change set leaves an empty REVIEW_IN_PROGRESS stack (API reference,
            // CreateChangeSet: "the stack ... has a status of REVIEW_IN_PROGRESS").
            .output(|| described(stack(StackStatus::ReviewInProgress, &[], &[])))
            .build(),
        mock!(Cfn::create_change_set).then_output(create_change_set_ok),
        mock!(Cfn::describe_change_set)
            .then_output(|| change_set(ChangeSetStatus::CreateComplete, None, &eight_adds())),
        removed.clone(),
        review_deleted.clone(),
    ];
    no_table(&mut m);
    bucket_exists(&mut m);
    let report = Harness::new(&m)
        .up(&artifact(&dir), true, WAIT)
        .await
        .unwrap();
    assert_eq!(report.action, UpAction::Planned);
    assert_eq!(report.changes.len(), 8);
    assert!(!report.artifact.uploaded);
    assert_eq!((removed.num_calls(), review_deleted.num_calls()), (1, 1));
}

/// `up`'s upload shares a Graviton build this run compiled only when asked (`--publish`),
/// and only with a conditional write (S3 API reference, PutObject: If-None-Match `*` "uploads
/// the object only if the object key name does not already exist in the bucket").
#[tokio::test]
async fn up_shares_a_build_only_when_asked_and_only_with_a_conditional_write() {
    for publish in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        // A Graviton zip built here, with its source key: what `up --publish` shares.
        let artifact = deployer::build::Artifact {
            source_key: "5f".repeat(32),
            origin: deployer::build::Origin::Built,
            ..artifact(&dir)
        };
        let mut m = Mocks::new();
        // The shared build's write comes first: it must carry If-None-Match: *.
        let shared = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| {
                r.key().is_some_and(|k| k.starts_with("_builds/")) && r.if_none_match() == Some("*")
            })
            .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
        let shared_unconditional = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.key().is_some_and(|k| k.starts_with("_builds/")))
            .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
        m.s3.push(shared.clone());
        m.s3.push(shared_unconditional.clone());
        m.s3.push(
            mock!(aws_sdk_s3::Client::head_object).then_http_response(|| s3_error(404, None)),
        );
        first_upload(&mut m);
        let location = deployer::stack::ArtifactLocation {
            bucket: bucket(),
            key: key(&artifact),
        };
        let h = Harness::new(&m);
        let project = publish.then_some("app");
        let uploaded = up::trigger::upload(h.ctx(), &artifact, ACCOUNT, &location, project)
            .await
            .unwrap();
        assert!(uploaded);
        assert_eq!(
            shared.num_calls(),
            usize::from(publish),
            "publish {publish}"
        );
        assert_eq!(shared_unconditional.num_calls(), 0);
    }
}

/// A stack whose function requires signed code deploys the publisher's signed build from the
/// bucket, never a zip of this machine, and stops before any change when there is none.
#[tokio::test]
async fn a_stack_with_code_signing_deploys_only_the_publishers_signed_build() {
    let signed_zip: &'static [u8] = b"PK signed by the publisher's profile";
    let signed_sha = hex::encode(sha2::Sha256::digest(signed_zip));
    let mut inputs = inputs();
    inputs.trigger.code_signing_config_arn = Some(
        "arn:aws:lambda:us-east-1:111122223333:code-signing-config:csc-0d4518bd353a0a7c6".into(),
    );
    let cache = tempfile::tempdir().unwrap();
    let paths = deployer::local::Paths {
        cache: cache.path().to_path_buf(),
        venv: cache.path().join("venv"),
        local: cache.path().join("local"),
    };
    let options = UpOptions {
        dry_run: false,
        wait_timeout: WAIT,
        trigger: deployer::build::BuildTarget::Graviton,
        adopt: false,
        allow_replace: false,
        confirm: up::Confirm::Never,
        publish: false,
        bootstrap_itself: false,
        replace_trigger: false,
        api_bundle: None,
    };

    // No signed build: refused before any change (no change set rule: one fails the test).
    let mut m = Mocks::new();
    m.cfn = vec![mock!(Cfn::describe_stacks).then_http_response(no_such_stack)];
    no_table(&mut m);
    bucket_exists(&mut m);
    m.s3.push(
        mock!(aws_sdk_s3::Client::get_object)
            .match_requests(|r| r.key().is_some_and(|k| k.ends_with(".signed.zip")))
            .then_http_response(|| s3_error(404, Some("NoSuchKey"))),
    );
    let h = Harness::new(&m);
    let err = up::up(h.ctx(), &paths, &inputs, &options)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 1);
    assert!(err.to_string().contains("requires signed code"), "{err}");

    // The signed build is there: it is what is uploaded and deployed.
    let mut m = Mocks::new();
    let uploaded_sha = artifacts_checksum(&signed_sha);
    m.cfn = a_first_create("x".into());
    no_table_yet(&mut m);
    let recorded = signed_sha.clone();
    m.s3.push(
        mock!(aws_sdk_s3::Client::get_object)
            .match_requests(|r| r.key().is_some_and(|k| k.ends_with(".signed.zip")))
            .then_http_response(move || {
                let mut response = aws_smithy_runtime_api::http::Response::new(
                    aws_smithy_runtime_api::http::StatusCode::try_from(200).unwrap(),
                    aws_smithy_types::body::SdkBody::from(signed_zip),
                );
                response
                    .headers_mut()
                    .insert("x-amz-meta-sha256", recorded.clone());
                response
            }),
    );
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(move |r| r.checksum_sha256() == Some(uploaded_sha.as_str()))
        .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
    m.s3.push(put.clone());
    m.s3.push(mock!(aws_sdk_s3::Client::head_object).then_http_response(|| s3_error(404, None)));
    bucket_exists(&mut m);
    tagging(&mut m);
    let signed_artifact = deployer::build::Artifact {
        sha256: signed_sha.clone(),
        ..artifact(&tempfile::tempdir().unwrap())
    };
    wiring(&mut m, &signed_artifact);
    let h = Harness::new(&m);
    let report = up::up(h.ctx(), &paths, &inputs, &options).await.unwrap();
    assert_eq!(report.artifact.sha256, signed_sha);
    assert_eq!(put.num_calls(), 1, "the signed zip is uploaded");
    assert!(report.checks.iter().all(|c| c.ok), "{:?}", report.checks);
}

fn artifacts_checksum(sha: &str) -> String {
    deployer::artifacts::checksum(sha)
}

/// CloudFormation's answers to a first create that succeeds, the stack then showing `fp`.
fn a_first_create(fp: String) -> Vec<aws_smithy_mocks::Rule> {
    vec![
        mock!(Cfn::describe_stacks)
            .sequence()
            .http_response(no_such_stack)
            .output(move || described(ours(StackStatus::CreateComplete, &fp)))
            .repeatedly()
            .build(),
        mock!(Cfn::create_change_set).then_output(create_change_set_ok),
        mock!(Cfn::describe_change_set)
            .then_output(|| change_set(ChangeSetStatus::CreateComplete, None, &eight_adds())),
        mock!(Cfn::describe_stack_events)
            .sequence()
            .output(|| events(create_events()))
            .repeatedly()
            .build(),
        mock!(Cfn::execute_change_set).then_output(executed),
    ]
}
