//! `status` against CloudFormation's drift detection as AWS documents it, which the local
//! emulator does not reproduce (ministack reports IN_SYNC for a pool whose trigger was
//! changed behind the stack's back; only the deployer's wiring checks see it there).
//!
//! Shapes: CloudFormation API reference, DetectStackDrift (returns the detection id),
//! DescribeStackDriftDetectionStatus (DetectionStatus DETECTION_IN_PROGRESS | DETECTION_COMPLETE
//! | DETECTION_FAILED; "DETECTION_FAILED: The stack drift detection operation has failed for at
//! least one resource in the stack. Results will be available for resources on which
//! CloudFormation successfully completed drift detection."), DescribeStackResourceDrifts
//! (StackResourceDriftStatus MODIFIED | DELETED, PropertyDifferences with PropertyPath,
//! ExpectedValue, ActualValue and DifferenceType ADD | REMOVE | NOT_EQUAL).

mod mocks;

use aws_sdk_cloudformation::types::{
    DifferenceType, Parameter, PropertyDifference, Stack, StackDriftDetectionStatus,
    StackDriftStatus, StackResourceDrift, StackResourceDriftStatus, StackStatus,
};
use aws_sdk_cloudformation::Client as Cfn;
use aws_smithy_mocks::{mock, Rule};
use aws_smithy_types::DateTime;
use deployer::commands::status;
use deployer::progress::Poll;
use mocks::*;

fn deployed(artifact: &deployer::build::Artifact) -> Stack {
    let base = ours(StackStatus::UpdateComplete, &fingerprint(artifact));
    let mut b = Stack::builder()
        .stack_name(STACK)
        .stack_id(STACK_ID)
        .stack_status(StackStatus::UpdateComplete)
        .creation_time(DateTime::from_secs(1_795_000_000))
        .last_updated_time(DateTime::from_secs(1_795_488_885))
        .set_outputs(base.outputs)
        .set_tags(base.tags)
        .parameters(
            Parameter::builder()
                .parameter_key("ArtifactKey")
                .parameter_value(key(artifact))
                .build(),
        );
    for p in base.parameters.unwrap_or_default() {
        b = b.parameters(p);
    }
    b.build()
}

/// Mocks for a deployed stack of ours running a zip: the temp folder, the zip, the mocks.
fn deployed_mocks() -> (tempfile::TempDir, deployer::build::Artifact, Mocks) {
    let dir = tempfile::tempdir().unwrap();
    let artifact = artifact(&dir);
    let mut m = Mocks::new();
    let stack = deployed(&artifact);
    m.cfn
        .push(mock!(Cfn::describe_stacks).then_output(move || described(stack.clone())));
    (dir, artifact, m)
}

fn detection(
    m: &mut Mocks,
    answers: Vec<(
        StackDriftDetectionStatus,
        Option<StackDriftStatus>,
        Option<&'static str>,
    )>,
    drifts: Vec<StackResourceDrift>,
) {
    m.cfn.push(mock!(Cfn::detect_stack_drift).then_output(|| {
        aws_sdk_cloudformation::operation::detect_stack_drift::DetectStackDriftOutput::builder()
            .stack_drift_detection_id("b78ac9b0-dec1-11e7-a451-503a3example")
            .build()
    }));
    let mut seq = mock!(Cfn::describe_stack_drift_detection_status).sequence();
    for (detection, drift, reason) in answers {
        seq = seq.output(move || {
            aws_sdk_cloudformation::operation::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusOutput::builder()
                .stack_id(STACK_ID)
                .stack_drift_detection_id("b78ac9b0-dec1-11e7-a451-503a3example")
                .detection_status(detection.clone())
                .set_stack_drift_status(drift.clone())
                .set_detection_status_reason(reason.map(str::to_owned))
                .timestamp(DateTime::from_secs(1_795_488_900))
                .build()
        });
    }
    let rule: Rule = seq.build();
    m.cfn.push(rule);
    m.cfn.push(
        mock!(Cfn::describe_stack_resource_drifts)
            .match_requests(|r| {
                r.stack_resource_drift_status_filters()
                    == [StackResourceDriftStatus::Modified, StackResourceDriftStatus::Deleted]
            })
            .then_output(move || {
                aws_sdk_cloudformation::operation::describe_stack_resource_drifts::DescribeStackResourceDriftsOutput::builder()
                    .set_stack_resource_drifts(Some(drifts.clone()))
                    .build()
            }),
    );
}

fn pool_drift() -> StackResourceDrift {
    StackResourceDrift::builder()
        .stack_id(STACK_ID)
        .logical_resource_id("UserPool")
        .physical_resource_id("us-east-1_Abc123")
        .resource_type("AWS::Cognito::UserPool")
        .stack_resource_drift_status(StackResourceDriftStatus::Modified)
        .property_differences(
            PropertyDifference::builder()
                .property_path("/LambdaConfig/PreTokenGenerationConfig/LambdaVersion")
                .expected_value("V2_0")
                .actual_value("V1_0")
                .difference_type(DifferenceType::NotEqual)
                .build(),
        )
        .timestamp(DateTime::from_secs(1_795_488_900))
        .build()
}

#[tokio::test]
async fn a_pool_changed_behind_the_stacks_back_is_drifted_with_the_property_named() {
    let (_dir, artifact, mut m) = deployed_mocks();
    detection(
        &mut m,
        vec![
            (StackDriftDetectionStatus::DetectionInProgress, None, None),
            (
                StackDriftDetectionStatus::DetectionComplete,
                Some(StackDriftStatus::Drifted),
                None,
            ),
        ],
        vec![pool_drift()],
    );
    wiring(&mut m, &artifact);
    let report = status::status(&m.clients(), STACK, Poll::immediate())
        .await
        .unwrap();
    assert!(!report.in_sync);
    assert_eq!(report.drift.status, "DRIFTED");
    assert_eq!(report.status, "UPDATE_COMPLETE");
    assert_eq!(
        report.last_updated.as_deref(),
        Some("2026-11-24T02:54:45.000Z")
    );
    assert_eq!(
        report.differences,
        [
            "UserPool (us-east-1_Abc123, AWS::Cognito::UserPool) MODIFIED",
            "    NOT_EQUAL /LambdaConfig/PreTokenGenerationConfig/LambdaVersion: expected V2_0, actual V1_0",
        ]
    );
    // The wiring checks passed: the code is the artifact of the stack's ArtifactKey.
    assert!(report.checks.iter().all(|c| c.ok), "{:?}", report.checks);
}

#[tokio::test]
async fn a_stack_in_sync_by_drift_detection_and_by_its_wiring_is_in_sync() {
    let (_dir, artifact, mut m) = deployed_mocks();
    detection(
        &mut m,
        vec![(
            StackDriftDetectionStatus::DetectionComplete,
            Some(StackDriftStatus::InSync),
            None,
        )],
        vec![],
    );
    wiring(&mut m, &artifact);
    let report = status::status(&m.clients(), STACK, Poll::immediate())
        .await
        .unwrap();
    assert!(report.in_sync, "{report}");
    assert!(report.differences.is_empty());
}

#[tokio::test]
async fn a_failed_detection_is_not_called_in_sync() {
    let (_dir, artifact, mut m) = deployed_mocks();
    detection(
        &mut m,
        vec![(
            StackDriftDetectionStatus::DetectionFailed,
            Some(StackDriftStatus::InSync),
            Some("Failed to detect drift on resource [UserPoolDomain]: Internal Failure"),
        )],
        vec![],
    );
    wiring(&mut m, &artifact);
    let report = status::status(&m.clients(), STACK, Poll::immediate())
        .await
        .unwrap();
    assert!(
        !report.in_sync,
        "detection did not finish: nothing to vouch for"
    );
    assert_eq!(report.drift.status, "UNKNOWN");
    assert!(
        report
            .to_string()
            .contains("Failed to detect drift on resource [UserPoolDomain]"),
        "{report}"
    );
}

#[tokio::test]
async fn a_stack_the_deployer_did_not_make_is_left_alone() {
    // Only DescribeStacks: no drift detection, no wiring reads (no rule for them).
    let mut m = Mocks::new();
    m.cfn.push(mock!(Cfn::describe_stacks).then_output(|| {
        described(stack(
            StackStatus::UpdateComplete,
            &[("ApiUrl", "https://x")],
            &[("team", "payments")],
        ))
    }));
    let err = status::status(&m.clients(), STACK, Poll::immediate())
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string()
            .contains("is left alone: the deployer did not make it"),
        "{err}"
    );
}
