//! The API's functions: the authorizer's zip (its build with the stack's configuration and
//! policies bundled in) and the `whoami` integration's, found or built on the one build path,
//! and uploaded beside the trigger's, content-addressed.

use super::trigger::{self, Place};
use crate::artifacts;
use crate::build::{self, Artifact, BuildTarget, AUTHORIZER, WHOAMI};
use crate::ctx::Ctx;
use crate::error::Error;
use crate::local::Paths;
use crate::stack::{ArtifactLocation, AUTHORIZER_KEY, WHOAMI_KEY};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The API's zips, where they go, and the builds behind them (shared when published).
pub struct ApiZips {
    pub authorizer: ArtifactLocation,
    authorizer_bytes: Vec<u8>,
    authorizer_sha256: String,
    authorizer_build: Artifact,
    pub whoami: ArtifactLocation,
    whoami_build: Artifact,
}

impl ApiZips {
    /// The template's parameters for them.
    pub fn parameters(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (AUTHORIZER_KEY.to_owned(), self.authorizer.key.clone()),
            (WHOAMI_KEY.to_owned(), self.whoami.key.clone()),
        ])
    }

    /// Their keys, for telling the stack's artifacts in use from the superseded.
    pub fn keys(&self) -> Vec<String> {
        vec![self.authorizer.key.clone(), self.whoami.key.clone()]
    }
}

/// Finds or builds both functions and bundles the authorizer's zip. No upload.
pub async fn find(
    ctx: Ctx<'_>,
    paths: &Paths,
    target: &BuildTarget,
    place: Place<'_>,
    stack: &str,
    bundle: &crate::authz::Bundle,
) -> Result<ApiZips, Error> {
    let find = |function| async move {
        let local = trigger::look_locally_for(paths, function, target)?;
        trigger::find_or_build(ctx, paths, function, target, place, local).await
    };
    let authorizer_build = find(&AUTHORIZER).await?;
    let whoami_build = find(&WHOAMI).await?;
    let binary = authorizer_build.bytes().await?;
    let authorizer_bytes = build::zip_bundle(&binary, bundle).map_err(|source| Error::Io {
        what: "bundling the authorizer's configuration and policies".into(),
        source,
    })?;
    let authorizer_sha256 = hex::encode(Sha256::digest(&authorizer_bytes));
    let bucket = place.0.to_owned();
    Ok(ApiZips {
        authorizer: ArtifactLocation {
            bucket: bucket.clone(),
            key: artifacts::function_key(stack, AUTHORIZER.name, &authorizer_sha256),
        },
        authorizer_bytes,
        authorizer_sha256,
        authorizer_build,
        whoami: ArtifactLocation {
            bucket,
            key: artifacts::function_key(stack, WHOAMI.name, &whoami_build.sha256),
        },
        whoami_build,
    })
}

/// Uploads both zips unless their keys hold them; with `publish` (the project), shares
/// the builds compiled by this run, as for the trigger.
pub async fn upload(
    ctx: Ctx<'_>,
    zips: &ApiZips,
    account: &str,
    publish: Option<&str>,
) -> Result<(), Error> {
    let ArtifactLocation { bucket, key } = &zips.authorizer;
    ctx.progress
        .step(&format!("uploading the authorizer to s3://{bucket}/{key}"));
    artifacts::upload(
        ctx.clients,
        bucket,
        account,
        key,
        zips.authorizer_bytes.clone(),
        &zips.authorizer_sha256,
    )
    .await?;
    if let (Some(project), Some(source_key)) = (publish, zips.authorizer_build.shareable()) {
        let bytes = zips.authorizer_build.bytes().await?;
        let shared = (project, AUTHORIZER.name, source_key);
        let sha = &zips.authorizer_build.sha256;
        artifacts::publish_build(ctx.clients, bucket, account, shared, bytes, sha).await?;
    }
    trigger::upload_function(
        ctx,
        &WHOAMI,
        &zips.whoami_build,
        account,
        &zips.whoami,
        publish,
    )
    .await?;
    Ok(())
}
