//! The shared builds in the artifacts bucket (`_builds/trigger-<source key>.zip`), against
//! S3's answers replayed with aws-smithy-mocks: a build is taken only when its bytes are the
//! ones recorded with it, only from a bucket of our own account, and shared once.
//!
//! Shapes: S3 API reference, GetObject (user metadata comes back as `x-amz-meta-*` headers;
//! with `x-amz-checksum-mode: ENABLED` the object's `x-amz-checksum-sha256` comes back too,
//! and the SDK checks the body against it), HeadObject (404 with no body for a missing key),
//! and "Bucket owner condition" (403 for a bucket another account owns).

mod mocks;

use aws_smithy_mocks::mock;
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use deployer::artifacts::{self, ArtifactError};
use mocks::{owner_checked, s3_error, Mocks, ACCOUNT};
use sha2::{Digest, Sha256};

const BUCKET: &str = "deployer-artifacts-111122223333-us-east-1";
const PROJECT: &str = "app";
const SOURCE_KEY: &str = "5f0c0ffee5f0c0ffee5f0c0ffee5f0c0ffee5f0c0ffee5f0c0ffee5f0c0ffee5f0";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// GetObject's answer: the body, its recorded SHA-256 (metadata) and S3's checksum header.
fn object(body: &'static [u8], recorded: &str, checksum: &str) -> HttpResponse {
    let mut response = HttpResponse::new(StatusCode::try_from(200).unwrap(), SdkBody::from(body));
    let headers = response.headers_mut();
    headers.insert("content-type", "application/zip");
    headers.insert("content-length", body.len().to_string());
    headers.insert("x-amz-meta-sha256", recorded.to_owned());
    headers.insert("x-amz-checksum-sha256", checksum.to_owned());
    headers.insert("x-amz-checksum-type", "FULL_OBJECT");
    response
}

fn get(m: &mut Mocks, answer: impl Fn() -> HttpResponse + Send + Sync + 'static) {
    m.s3.push(
        mock!(aws_sdk_s3::Client::get_object)
            .match_requests(|r| {
                owner_checked(r.expected_bucket_owner())
                    && r.key() == Some(&format!("_builds/{PROJECT}/trigger-{SOURCE_KEY}.zip")[..])
                    && r.checksum_mode().is_some()
            })
            .then_http_response(answer),
    );
}

async fn fetch(m: &Mocks) -> Result<Option<(Vec<u8>, String)>, ArtifactError> {
    artifacts::fetch_build(
        &m.clients(),
        BUCKET,
        ACCOUNT,
        (PROJECT, "trigger", SOURCE_KEY),
    )
    .await
}

#[tokio::test]
async fn a_shared_build_is_taken_when_its_bytes_are_the_recorded_ones() {
    const ZIP: &[u8] = b"PK shared zip";
    let hex = sha256_hex(ZIP);
    let mut m = Mocks::new();
    get(&mut m, move || {
        object(ZIP, &hex, &artifacts::checksum(&hex))
    });
    let (bytes, sha) = fetch(&m).await.unwrap().expect("the shared build is used");
    assert_eq!(bytes, ZIP);
    assert_eq!(sha, sha256_hex(ZIP));
}

#[tokio::test]
async fn a_shared_build_whose_bytes_differ_from_the_record_is_not_used() {
    const ZIP: &[u8] = b"PK planted zip";
    // Metadata that records other bytes (written over by hand, or half-copied).
    let other = sha256_hex(b"PK the zip that was built");
    let actual = sha256_hex(ZIP);
    let mut m = Mocks::new();
    get(&mut m, move || {
        object(ZIP, &other, &artifacts::checksum(&actual))
    });
    assert!(fetch(&m).await.unwrap().is_none());

    // S3's checksum does not match the body that arrived: the SDK refuses it while reading.
    let hex = sha256_hex(ZIP);
    let wrong = artifacts::checksum(&sha256_hex(b"something else"));
    let mut m = Mocks::new();
    get(&mut m, move || object(ZIP, &hex, &wrong));
    assert!(fetch(&m).await.unwrap().is_none());
}

#[tokio::test]
async fn no_shared_build_and_no_bucket_mean_build_here() {
    let mut m = Mocks::new();
    get(&mut m, || s3_error(404, Some("NoSuchKey")));
    assert!(fetch(&m).await.unwrap().is_none());
    let mut m = Mocks::new();
    get(&mut m, || s3_error(404, Some("NoSuchBucket")));
    assert!(fetch(&m).await.unwrap().is_none());
}

#[tokio::test]
async fn a_shared_build_in_a_bucket_of_another_account_is_never_read() {
    let mut m = Mocks::new();
    get(&mut m, || s3_error(403, Some("AccessDenied")));
    let err = fetch(&m).await.unwrap_err();
    assert!(matches!(err, ArtifactError::NotOurs { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("the artifacts bucket {BUCKET} is not owned by account {ACCOUNT}")
    );
}

#[tokio::test]
async fn a_build_is_shared_once_with_its_sha256_recorded() {
    let zip = b"PK built here".to_vec();
    let hex = sha256_hex(&zip);
    let key = format!("_builds/{PROJECT}/trigger-{SOURCE_KEY}.zip");
    let mut m = Mocks::new();
    let (k1, k2, h) = (key.clone(), key.clone(), hex.clone());
    m.s3.push(
        mock!(aws_sdk_s3::Client::head_object)
            .match_requests(move |r| {
                owner_checked(r.expected_bucket_owner()) && r.key() == Some(&k1)
            })
            .then_http_response(|| s3_error(404, None)),
    );
    m.s3.push(
        mock!(aws_sdk_s3::Client::put_object)
            .match_requests(move |r| {
                owner_checked(r.expected_bucket_owner())
                    // Written once: S3 refuses the write if the key holds an object.
                    && r.if_none_match() == Some("*")
                    && r.key() == Some(&k2)
                    && r.checksum_sha256() == Some(&artifacts::checksum(&h))
                    && r.metadata().and_then(|m| m.get("sha256")) == Some(&h)
            })
            .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build()),
    );
    let uploaded = artifacts::publish_build(
        &m.clients(),
        BUCKET,
        ACCOUNT,
        (PROJECT, "trigger", SOURCE_KEY),
        zip.clone(),
        &hex,
    )
    .await
    .unwrap();
    assert!(uploaded);

    // There already, same bytes: nothing is put (no PutObject rule: a put fails the test).
    let mut m = Mocks::new();
    let checksum = artifacts::checksum(&hex);
    m.s3.push(
        mock!(aws_sdk_s3::Client::head_object)
            .match_requests(|r| owner_checked(r.expected_bucket_owner()))
            .then_output(move || {
                aws_sdk_s3::operation::head_object::HeadObjectOutput::builder()
                    .checksum_sha256(&checksum)
                    .build()
            }),
    );
    let uploaded = artifacts::publish_build(
        &m.clients(),
        BUCKET,
        ACCOUNT,
        (PROJECT, "trigger", SOURCE_KEY),
        zip,
        &hex,
    )
    .await
    .unwrap();
    assert!(!uploaded);
}

/// HeadObject's answer for an object whose stored SHA-256 is `checksum` (S3 API reference,
/// HeadObject with `x-amz-checksum-mode: ENABLED`).
fn head_with(checksum: String) -> aws_sdk_s3::operation::head_object::HeadObjectOutput {
    aws_sdk_s3::operation::head_object::HeadObjectOutput::builder()
        .checksum_sha256(checksum)
        .build()
}

#[tokio::test]
async fn a_taken_key_with_other_bytes_is_an_error_naming_both_checksums_and_nothing_is_written() {
    let ours = b"PK built here".to_vec();
    let hex = sha256_hex(&ours);
    let theirs = sha256_hex(b"PK someone else's zip");
    let mut m = Mocks::new();
    let stored = artifacts::checksum(&theirs);
    m.s3.push(
        mock!(aws_sdk_s3::Client::head_object)
            .match_requests(|r| owner_checked(r.expected_bucket_owner()))
            .then_output(move || head_with(stored.clone())),
    );
    // No PutObject rule: a write fails the test.
    let err = artifacts::publish_build(
        &m.clients(),
        BUCKET,
        ACCOUNT,
        (PROJECT, "trigger", SOURCE_KEY),
        ours,
        &hex,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ArtifactError::BuildTaken { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("the shared build s3://{BUCKET}/_builds/{PROJECT}/trigger-{SOURCE_KEY}.zip holds other bytes (sha256 {theirs} there, {hex} built here)")
    );
}

#[tokio::test]
async fn a_publisher_that_loses_the_race_for_a_key_reads_what_won() {
    // S3 user guide, "How to prevent object overwrites with conditional writes": a PutObject
    // with If-None-Match: * on a key that exists answers 412 Precondition Failed.
    let precondition_failed = || {
        let body = "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition></Error>";
        let mut response = aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(412).unwrap(),
            SdkBody::from(body),
        );
        response
            .headers_mut()
            .insert("content-type", "application/xml");
        response
    };
    let zip = b"PK built here".to_vec();
    let hex = sha256_hex(&zip);
    for (winner, ok) in [(hex.clone(), true), (sha256_hex(b"PK other"), false)] {
        let mut m = Mocks::new();
        let stored = artifacts::checksum(&winner);
        m.s3.push(
            mock!(aws_sdk_s3::Client::head_object)
                .sequence()
                .http_response(|| s3_error(404, None))
                .output(move || head_with(stored.clone()))
                .build(),
        );
        let put = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| r.if_none_match() == Some("*"))
            .then_http_response(precondition_failed);
        m.s3.push(put.clone());
        let result = artifacts::publish_build(
            &m.clients(),
            BUCKET,
            ACCOUNT,
            (PROJECT, "trigger", SOURCE_KEY),
            zip.clone(),
            &hex,
        )
        .await;
        assert_eq!(put.num_calls(), 1);
        match result {
            Ok(uploaded) => assert!(ok && !uploaded, "the same bytes won: nothing uploaded"),
            Err(ArtifactError::BuildTaken { stored, .. }) => assert!(!ok && stored == winner),
            Err(e) => panic!("{e:?}"),
        }
    }
}
