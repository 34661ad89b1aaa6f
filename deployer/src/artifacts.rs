//! The artifacts bucket: one per account and region, made on first use the way SAM's
//! `--resolve-s3` and CDK's bootstrap do it (encrypted, private, TLS only, old objects
//! expiring), and the trigger's zip under a content-addressed key per stack.

use crate::aws::{AwsError, Clients, ErrorKind};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};

const SERVICE: &str = "s3";

/// Days before an artifact no stack has asked for again is removed.
pub const EXPIRE_DAYS: i32 = 30;

/// The bucket's name for an account and region.
pub fn bucket_name(account: &str, region: &str) -> String {
    format!("deployer-artifacts-{account}-{region}")
}

/// The zip's key: per stack (so `down` can remove a stack's artifacts without touching
/// another's), content-addressed (same bytes, same key, nothing to upload or redeploy).
pub fn artifact_key(stack: &str, sha256: &str) -> String {
    format!("{stack}/trigger-{sha256}.zip")
}

/// Makes the bucket if it is not there; `true` when it was created.
pub async fn ensure_bucket(clients: &Clients, bucket: &str) -> Result<bool, AwsError> {
    let (s3, region) = (&clients.s3, clients.region.as_str());
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => return Ok(false),
        Err(err) => {
            let err = clients.err(SERVICE, "HeadBucket", err);
            if !err.is(ErrorKind::NotFound) {
                return Err(err);
            }
        }
    }
    let mut create = s3.create_bucket().bucket(bucket);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    if let Err(err) = create.send().await {
        let err = clients.err(SERVICE, "CreateBucket", err);
        // Another run made it between our HEAD and CREATE.
        if !err.is(ErrorKind::AlreadyExists) {
            return Err(err);
        }
    }
    s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| clients.err(SERVICE, "PutPublicAccessBlock", e))?;
    s3.put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()
                                .expect("algorithm set"),
                        )
                        .build(),
                )
                .build()
                .expect("rules set"),
        )
        .send()
        .await
        .map_err(|e| clients.err(SERVICE, "PutBucketEncryption", e))?;
    let tls_only = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    });
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(tls_only.to_string())
        .send()
        .await
        .map_err(|e| clients.err(SERVICE, "PutBucketPolicy", e))?;
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .id("expire-old-artifacts")
                        .status(ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix("").build())
                        .expiration(LifecycleExpiration::builder().days(EXPIRE_DAYS).build())
                        .noncurrent_version_expiration(
                            NoncurrentVersionExpiration::builder()
                                .noncurrent_days(1)
                                .build(),
                        )
                        .build()
                        .expect("status set"),
                )
                .build()
                .expect("rules set"),
        )
        .send()
        .await
        .map_err(|e| clients.err(SERVICE, "PutBucketLifecycleConfiguration", e))?;
    Ok(true)
}

/// Uploads the zip unless the key already holds it; `true` when uploaded.
pub async fn upload(
    clients: &Clients,
    bucket: &str,
    key: &str,
    bytes: Vec<u8>,
) -> Result<bool, AwsError> {
    let s3 = &clients.s3;
    if s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .is_ok()
    {
        return Ok(false);
    }
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/zip")
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| clients.err(SERVICE, "PutObject", e))?;
    Ok(true)
}

/// Removes every artifact of `stack`; the number removed. A missing bucket is nothing to remove.
pub async fn delete_stack_artifacts(
    clients: &Clients,
    bucket: &str,
    stack: &str,
) -> Result<usize, AwsError> {
    let s3 = &clients.s3;
    let mut removed = 0;
    let mut token = None;
    loop {
        let out = match s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(format!("{stack}/"))
            .set_continuation_token(token)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) => {
                let err = clients.err(SERVICE, "ListObjectsV2", err);
                if err.is(ErrorKind::NotFound) {
                    return Ok(0);
                }
                return Err(err);
            }
        };
        for object in out.contents.unwrap_or_default() {
            if let Some(key) = object.key {
                s3.delete_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| clients.err(SERVICE, "DeleteObject", e))?;
                removed += 1;
            }
        }
        token = out.next_continuation_token;
        if token.is_none() {
            return Ok(removed);
        }
    }
}
