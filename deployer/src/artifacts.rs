//! The artifacts bucket and the trigger's zip in it. The bucket is one per account and region,
//! made on first use the way SAM's `--resolve-s3` and CDK's bootstrap do it (encrypted,
//! private, TLS only); the zip sits under a content-addressed key per stack.
//!
//! S3 names are global and this one is predictable, so every call passes the account as
//! `ExpectedBucketOwner` (S3 answers 403 when another account owns the bucket), and an
//! existing object is reused only when its stored SHA-256 checksum is the local zip's. The
//! zips a stack uses (current, and the previous one a rollback needs) never expire; the
//! lifecycle rule removes only those tagged superseded.

use crate::aws::{AwsError, Clients, ErrorKind};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, ChecksumAlgorithm, ChecksumMode,
    CreateBucketConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging,
};
use base64::Engine;
use miette::Diagnostic;
use sha2::{Digest, Sha256};

const SERVICE: &str = "s3";

/// Days before a superseded artifact (neither a stack's current nor its previous) is removed.
pub const EXPIRE_DAYS: i32 = 30;

/// The object tag that says how an artifact is used.
pub const STATE_TAG: &str = "deployer-state";

/// How an artifact is used by its stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Uploaded, not yet deployed.
    New,
    /// What the stack's function runs.
    Current,
    /// What a failed update rolls the function back to.
    Previous,
    /// Neither: expires after EXPIRE_DAYS.
    Superseded,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Current => "current",
            Self::Previous => "previous",
            Self::Superseded => "superseded",
        }
    }
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ArtifactError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Aws(#[from] AwsError),
    #[error("the shared build s3://{bucket}/{key} holds other bytes (sha256 {stored} there, {ours} built here)")]
    #[diagnostic(
        code(artifacts::build_taken),
        help("a shared build is written once and never replaced, so this zip was not published. Either this machine's build is not reproducible (compare the toolchain and the pinned tools: `deployer build` prints the source key), or someone wrote that object who should not have: find the writer in CloudTrail before any stack deploys it")
    )]
    BuildTaken {
        bucket: String,
        key: String,
        stored: String,
        ours: String,
    },
    #[error("the stack's function requires signed code (trigger.codeSigningConfigArn), and s3://{bucket}/{key} holds no signed build of these sources")]
    #[diagnostic(
        code(artifacts::no_signed_build),
        help("the publisher signs the build for these sources with AWS Signer and shares it: `deployer build --publish`, then `aws signer start-signing-job` on that zip, then `deployer build --publish --signed SIGNED.zip` (docs/security.md, \"Code signing\"); Lambda refuses unsigned code, so nothing was deployed")
    )]
    NoSignedBuild { bucket: String, key: String },
    #[error("the artifacts bucket {bucket} has a policy that is not JSON: {why}")]
    #[diagnostic(
        code(artifacts::unreadable_policy),
        help("bootstrap merges its statements into the bucket's policy and keeps the others; fix the policy by hand (`aws s3api get-bucket-policy`) and run bootstrap again")
    )]
    UnreadablePolicy { bucket: String, why: String },
    #[error("the artifacts bucket {bucket} is not owned by account {account}")]
    #[diagnostic(code(artifacts::not_ours))]
    NotOurs {
        bucket: String,
        account: String,
        #[help]
        help: String,
    },
}

/// The bucket's name for an account and region.
pub fn bucket_name(account: &str, region: &str) -> String {
    format!("deployer-artifacts-{account}-{region}")
}

/// The zip's key: per stack (so `down` can remove a stack's artifacts without touching
/// another's), content-addressed (same bytes, same key, nothing to upload or redeploy).
pub fn artifact_key(stack: &str, sha256: &str) -> String {
    format!("{stack}/trigger-{sha256}.zip")
}

/// Where shared builds live: one zip per source key, put there by whichever machine built it
/// first, read by every other (a CI runner without the cross-build tools deploys an
/// unchanged trigger from here). `_` cannot start a stack name, so no stack's prefix meets it.
pub const BUILDS_PREFIX: &str = "_builds/";

/// Days before a shared build expires (then the next machine that needs it builds it again).
pub const BUILDS_EXPIRE_DAYS: i32 = 90;

/// The object metadata that records a shared build's SHA-256 (hex).
const SHA256_META: &str = "sha256";

/// A project's shared builds: its publisher alone writes there (the bucket is the account's,
/// shared by projects; a build is shared within a project).
pub fn builds_prefix(project: &str) -> String {
    format!("{BUILDS_PREFIX}{project}/")
}

/// A shared build's key: the function's name and its source key.
pub fn build_key(project: &str, function: &str, source_key: &str) -> String {
    format!("{}{function}-{source_key}.zip", builds_prefix(project))
}

/// The key of one of a stack's zips other than the trigger's (`artifact_key`), by function.
pub fn function_key(stack: &str, function: &str, sha256: &str) -> String {
    format!("{stack}/{function}-{sha256}.zip")
}

/// The key of a shared build signed by the publisher (AWS Signer), for stacks whose function
/// has a code signing configuration.
pub fn signed_build_key(project: &str, source_key: &str) -> String {
    format!("{}trigger-{source_key}.signed.zip", builds_prefix(project))
}

/// S3's form of a SHA-256 checksum (base64 of the digest) from its hex form.
pub fn checksum(sha256_hex: &str) -> String {
    let bytes: Vec<u8> = (0..sha256_hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(sha256_hex.get(i..i + 2)?, 16).ok())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn not_ours(err: AwsError, bucket: &str, account: &str) -> ArtifactError {
    // Documented: a bucket owned by another account answers ExpectedBucketOwner with 403
    // Access Denied; CreateBucket answers BucketAlreadyExists. A denial that names the
    // missing permission (an IAM-style body) is a permission, not another owner.
    let names_permission = err.message.contains("not authorized to perform");
    if matches!(
        err.kind,
        ErrorKind::AccessDenied | ErrorKind::OwnedElsewhere
    ) && !names_permission
    {
        let who = err
            .principal
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        ArtifactError::NotOurs {
            bucket: bucket.into(),
            account: account.into(),
            help: format!(
                "S3 bucket names are global: another account holds this one, or the identity in use{who} lacks s3:ListBucket on it. The deployer never uploads the trigger to a bucket it does not own; check the account and role in use"
            ),
        }
    } else {
        err.into()
    }
}

/// Whether the bucket is there (and ours). A bucket of that name that another account owns
/// stops here.
pub async fn bucket_there(
    clients: &Clients,
    bucket: &str,
    account: &str,
) -> Result<bool, ArtifactError> {
    match clients
        .s3
        .head_bucket()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(err) => {
            let err = clients.err(SERVICE, "HeadBucket", err);
            if err.is(ErrorKind::NotFound) {
                Ok(false)
            } else {
                Err(not_ours(err, bucket, account))
            }
        }
    }
}

/// The bucket's policy, if it has one (`deployer bootstrap` merges its statements into it).
pub async fn bucket_policy(
    clients: &Clients,
    bucket: &str,
    account: &str,
) -> Result<Option<serde_json::Value>, ArtifactError> {
    match clients
        .s3
        .get_bucket_policy()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .send()
        .await
    {
        // A policy that cannot be read would lose other projects' statements when rewritten.
        Ok(out) => {
            match out.policy {
                None => Ok(None),
                Some(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
                    ArtifactError::UnreadablePolicy {
                        bucket: bucket.into(),
                        why: e.to_string(),
                    }
                }),
            }
        }
        Err(err) => {
            let err = clients.err(SERVICE, "GetBucketPolicy", err);
            // S3 API reference, GetBucketPolicy: NoSuchBucketPolicy (404) when there is none.
            if err.is(ErrorKind::NotFound) || err.code == "NoSuchBucketPolicy" {
                Ok(None)
            } else {
                Err(not_ours(err, bucket, account))
            }
        }
    }
}

/// Makes the bucket (`deployer bootstrap`); another run of ours making it first is fine.
pub async fn create_bucket(
    clients: &Clients,
    bucket: &str,
    account: &str,
) -> Result<(), ArtifactError> {
    let mut create = clients.s3.create_bucket().bucket(bucket);
    if clients.region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(clients.region.as_str()))
                .build(),
        );
    }
    if let Err(err) = create.send().await {
        let err = clients.err(SERVICE, "CreateBucket", err);
        if !err.is(ErrorKind::AlreadyExists) {
            return Err(not_ours(err, bucket, account));
        }
    }
    Ok(())
}

/// Sets what the bucket must be (`deployer bootstrap`, every run): public access blocked,
/// encrypted, `policy` (`policy::bucket_policy`), and the lifecycle that expires only what
/// no stack uses.
pub async fn configure_bucket(
    clients: &Clients,
    bucket: &str,
    account: &str,
    policy: &str,
) -> Result<(), ArtifactError> {
    let s3 = &clients.s3;
    s3.put_public_access_block()
        .bucket(bucket)
        .expected_bucket_owner(account)
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
        .expected_bucket_owner(account)
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
    s3.put_bucket_policy()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .policy(policy)
        .send()
        .await
        .map_err(|e| clients.err(SERVICE, "PutBucketPolicy", e))?;
    put_lifecycle(clients, bucket, account).await?;
    Ok(())
}

/// Superseded artifacts expire; current and previous ones (and untagged old ones) never do.
async fn put_lifecycle(clients: &Clients, bucket: &str, account: &str) -> Result<(), AwsError> {
    clients
        .s3
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .id("expire-shared-builds")
                        .status(ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix(BUILDS_PREFIX).build())
                        .expiration(
                            LifecycleExpiration::builder()
                                .days(BUILDS_EXPIRE_DAYS)
                                .build(),
                        )
                        .build()
                        .expect("status set"),
                )
                .rules(
                    LifecycleRule::builder()
                        .id("expire-superseded-artifacts")
                        .status(ExpirationStatus::Enabled)
                        .filter(
                            LifecycleRuleFilter::builder()
                                .tag(
                                    Tag::builder()
                                        .key(STATE_TAG)
                                        .value(State::Superseded.as_str())
                                        .build()
                                        .expect("key and value set"),
                                )
                                .build(),
                        )
                        .expiration(LifecycleExpiration::builder().days(EXPIRE_DAYS).build())
                        .build()
                        .expect("status set"),
                )
                .build()
                .expect("rules set"),
        )
        .send()
        .await
        .map_err(|e| clients.err(SERVICE, "PutBucketLifecycleConfiguration", e))?;
    Ok(())
}

/// The SHA-256 checksum S3 stored for the object, or `None` when there is no object.
pub async fn stored_checksum(
    clients: &Clients,
    bucket: &str,
    account: &str,
    key: &str,
) -> Result<Option<String>, ArtifactError> {
    match clients
        .s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .expected_bucket_owner(account)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
    {
        Ok(out) => Ok(Some(out.checksum_sha256.unwrap_or_default())),
        Err(err) => {
            // The bucket was found ours just before: a 403 here is a missing s3:GetObject.
            let err = clients.err(SERVICE, "HeadObject", err);
            if err.is(ErrorKind::NotFound) {
                Ok(None)
            } else {
                Err(err.into())
            }
        }
    }
}

/// The shared build for `source_key`, if the bucket holds one whose bytes are what was
/// recorded with it (the SHA-256 in its metadata, and S3's own checksum, which the SDK checks
/// on arrival). `None` when the bucket or the object is missing, or the bytes do not match
/// (then the caller builds, and its publish replaces them). A bucket of another account
/// stops here, as for every other S3 call.
pub async fn fetch_build(
    clients: &Clients,
    bucket: &str,
    account: &str,
    (project, function, source_key): (&str, &str, &str),
) -> Result<Option<(Vec<u8>, String)>, ArtifactError> {
    fetch_shared(
        clients,
        bucket,
        account,
        &build_key(project, function, source_key),
    )
    .await
}

/// The publisher's signed build for `source_key` (for a stack with code signing), checked as
/// `fetch_build` checks a build.
pub async fn fetch_signed_build(
    clients: &Clients,
    bucket: &str,
    account: &str,
    (project, source_key): (&str, &str),
) -> Result<Option<(Vec<u8>, String)>, ArtifactError> {
    fetch_shared(
        clients,
        bucket,
        account,
        &signed_build_key(project, source_key),
    )
    .await
}

async fn fetch_shared(
    clients: &Clients,
    bucket: &str,
    account: &str,
    key: &str,
) -> Result<Option<(Vec<u8>, String)>, ArtifactError> {
    let key = key.to_owned();
    let out = match clients
        .s3
        .get_object()
        .bucket(bucket)
        .key(&key)
        .expected_bucket_owner(account)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
    {
        Ok(out) => out,
        Err(err) => {
            let err = clients.err(SERVICE, "GetObject", err);
            if err.is(ErrorKind::NotFound) {
                return Ok(None);
            }
            return Err(not_ours(err, bucket, account));
        }
    };
    let recorded = out
        .metadata
        .as_ref()
        .and_then(|m| m.get(SHA256_META))
        .cloned()
        .unwrap_or_default();
    let stored = out.checksum_sha256.clone();
    // The SDK checks S3's checksum while reading: a mismatch (or a broken read) is not used.
    let bytes = match out.body.collect().await {
        Ok(bytes) => bytes.to_vec(),
        Err(e) => {
            tracing::warn!(key, error = %e, "the shared build could not be read whole: not used");
            return Ok(None);
        }
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let checksum_ok = stored.is_none_or(|c| c == checksum(&sha256));
    if sha256 != recorded || !checksum_ok {
        tracing::warn!(
            key,
            recorded,
            actual = %sha256,
            "the shared build's bytes are not the ones recorded with it: not used"
        );
        return Ok(None);
    }
    Ok(Some((bytes, sha256)))
}

/// Puts the zip built from `source_key` where other machines find it, once: the write is
/// conditional (`If-None-Match: *`), so the first build of a key stays. `false` when the key
/// holds these bytes already; an error naming both checksums when it holds others.
pub async fn publish_build(
    clients: &Clients,
    bucket: &str,
    account: &str,
    (project, function, source_key): (&str, &str, &str),
    bytes: Vec<u8>,
    sha256_hex: &str,
) -> Result<bool, ArtifactError> {
    let key = build_key(project, function, source_key);
    publish_object(clients, bucket, account, key, bytes, sha256_hex).await
}

/// Puts a zip at a shared-build key, once (see `publish_build`).
pub async fn publish_object(
    clients: &Clients,
    bucket: &str,
    account: &str,
    key: String,
    bytes: Vec<u8>,
    sha256_hex: &str,
) -> Result<bool, ArtifactError> {
    let want = checksum(sha256_hex);
    let taken = |stored: Option<String>| -> Result<bool, ArtifactError> {
        match stored {
            Some(stored) if stored == want => Ok(false),
            stored => Err(ArtifactError::BuildTaken {
                bucket: bucket.into(),
                key: key.clone(),
                stored: stored
                    .map(|s| hex_of(&s))
                    .unwrap_or_else(|| "unknown".into()),
                ours: sha256_hex.into(),
            }),
        }
    };
    if let Some(stored) = stored_checksum(clients, bucket, account, &key).await? {
        return taken(Some(stored));
    }
    let put = clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .expected_bucket_owner(account)
        .if_none_match("*")
        .content_type("application/zip")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(&want)
        .metadata(SHA256_META, sha256_hex)
        .body(ByteStream::from(bytes))
        .send()
        .await;
    match put {
        Ok(_) => Ok(true),
        Err(e) => {
            let err = clients.err(SERVICE, "PutObject", e);
            // Another publisher got there between the look and the write.
            if err.is(ErrorKind::AlreadyExists) || err.is(ErrorKind::Conflict) {
                taken(stored_checksum(clients, bucket, account, &key).await?)
            } else {
                Err(not_ours(err, bucket, account))
            }
        }
    }
}

/// The hex form of S3's base64 SHA-256 checksum (what people compare with `sha256sum`).
fn hex_of(checksum_b64: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(checksum_b64)
        .map(hex::encode)
        .unwrap_or_else(|_| checksum_b64.to_owned())
}

/// Uploads the zip unless the key already holds exactly these bytes (by S3's stored SHA-256);
/// `true` when uploaded. S3 checks the checksum on arrival.
pub async fn upload(
    clients: &Clients,
    bucket: &str,
    account: &str,
    key: &str,
    bytes: Vec<u8>,
    sha256_hex: &str,
) -> Result<bool, ArtifactError> {
    let want = checksum(sha256_hex);
    match stored_checksum(clients, bucket, account, key).await? {
        Some(stored) if stored == want => return Ok(false),
        Some(stored) => tracing::warn!(
            key,
            stored = %stored,
            expected = %want,
            "the object at the zip's key has other bytes (or no checksum): uploading ours over it"
        ),
        None => {}
    }
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .expected_bucket_owner(account)
        .content_type("application/zip")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(&want)
        .tagging(format!("{STATE_TAG}={}", State::New.as_str()))
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| not_ours(clients.err(SERVICE, "PutObject", e), bucket, account))?;
    Ok(true)
}

/// The stack's artifacts by state after a deploy: `current` what its functions now run,
/// `previous` what they ran before (a failed update rolls back to it); every other one is superseded.
pub fn states(keys: &[String], current: &[&str], previous: &[&str]) -> Vec<(String, State)> {
    keys.iter()
        .map(|k| {
            let state = if current.contains(&k.as_str()) {
                State::Current
            } else if previous.contains(&k.as_str()) {
                State::Previous
            } else {
                State::Superseded
            };
            (k.clone(), state)
        })
        .collect()
}

/// Tags the stack's artifacts after a deploy (see `states`).
pub async fn mark(
    clients: &Clients,
    bucket: &str,
    account: &str,
    stack: &str,
    current: &[&str],
    previous: &[&str],
) -> Result<(), ArtifactError> {
    let keys = list(clients, bucket, account, stack).await?;
    for (key, state) in states(&keys, current, previous) {
        clients
            .s3
            .put_object_tagging()
            .bucket(bucket)
            .key(&key)
            .expected_bucket_owner(account)
            .tagging(
                Tagging::builder()
                    .tag_set(
                        Tag::builder()
                            .key(STATE_TAG)
                            .value(state.as_str())
                            .build()
                            .expect("key and value set"),
                    )
                    .build()
                    .expect("tag set given"),
            )
            .send()
            .await
            .map_err(|e| clients.err(SERVICE, "PutObjectTagging", e))?;
    }
    Ok(())
}

/// Every key under the stack's prefix. A missing bucket has none.
async fn list(
    clients: &Clients,
    bucket: &str,
    account: &str,
    stack: &str,
) -> Result<Vec<String>, ArtifactError> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let out = match clients
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .expected_bucket_owner(account)
            .prefix(format!("{stack}/"))
            .set_continuation_token(token)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) => {
                let err = clients.err(SERVICE, "ListObjectsV2", err);
                if err.is(ErrorKind::NotFound) {
                    return Ok(keys);
                }
                return Err(not_ours(err, bucket, account));
            }
        };
        keys.extend(
            out.contents
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| o.key),
        );
        token = out.next_continuation_token;
        if token.is_none() {
            return Ok(keys);
        }
    }
}

/// Removes every artifact of `stack`; the number removed. A missing bucket is nothing to
/// remove; a bucket of another account is never touched.
pub async fn delete_stack_artifacts(
    clients: &Clients,
    bucket: &str,
    account: &str,
    stack: &str,
) -> Result<usize, ArtifactError> {
    let keys = list(clients, bucket, account, stack).await?;
    for key in &keys {
        clients
            .s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .expected_bucket_owner(account)
            .send()
            .await
            .map_err(|e| clients.err(SERVICE, "DeleteObject", e))?;
    }
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_s3s_base64_of_the_digest() {
        // SHA-256 of "hello\n", as S3 reported it for the same bytes.
        assert_eq!(
            checksum("5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"),
            "WJG1tSLV3whtD/CxEPvZ0hu0/HFjrzTQgoai6Eb2vgM="
        );
    }

    #[test]
    fn after_a_deploy_only_the_current_and_previous_artifacts_are_kept() {
        let keys: Vec<String> = ["s/trigger-a.zip", "s/trigger-b.zip", "s/trigger-c.zip"]
            .iter()
            .map(|k| (*k).to_owned())
            .collect();
        assert_eq!(
            states(&keys, &["s/trigger-c.zip"], &["s/trigger-b.zip"]),
            vec![
                ("s/trigger-a.zip".to_owned(), State::Superseded),
                ("s/trigger-b.zip".to_owned(), State::Previous),
                ("s/trigger-c.zip".to_owned(), State::Current),
            ]
        );
        // A first deploy has no previous one.
        assert_eq!(
            states(&keys[2..], &["s/trigger-c.zip"], &[]),
            vec![("s/trigger-c.zip".to_owned(), State::Current)]
        );
    }
}
