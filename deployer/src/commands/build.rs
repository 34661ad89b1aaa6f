//! `build`: the trigger's zip, and with `--publish` its place in the artifacts bucket's shared
//! builds, where `up` on any machine finds it by the trigger's source key.

use crate::artifacts;
use crate::build::{Artifact, BuildTarget};
use crate::commands::up;
use crate::error::Error;
use crate::local::Paths;
use crate::stack::execute::Ctx;
use serde::Serialize;
use std::fmt;

/// Where `--publish` put the zip.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    pub bucket: String,
    pub key: String,
    /// False when the bucket held these bytes already.
    pub uploaded: bool,
}

/// `build`'s report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildReport {
    #[serde(flatten)]
    pub artifact: Artifact,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Published>,
}

impl fmt::Display for BuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.artifact)?;
        if let Some(p) = &self.published {
            crate::output::rows(
                f,
                &[(
                    "published",
                    format!(
                        "s3://{}/{}{}",
                        p.bucket,
                        p.key,
                        if p.uploaded { "" } else { " (already there)" }
                    ),
                )],
            )?;
        }
        Ok(())
    }
}

/// `build --publish`: the zip for these sources from this machine's cache, else from the
/// bucket's shared builds (then there is nothing to compile or upload), else built here;
/// then shared through the artifacts bucket (`deployer bootstrap` made it), written once.
/// Only a miss everywhere needs the cross-build tools.
pub async fn publish(
    ctx: Ctx<'_>,
    paths: &Paths,
    target: &BuildTarget,
    project: &str,
) -> Result<BuildReport, Error> {
    if *target != BuildTarget::Graviton {
        return Err(Error::Usage {
            message: "only a Graviton build can be published".into(),
            help: "this machine cannot run aarch64 binaries, so builds here are for its own architecture (the local emulator only); run scripts/setup.sh as root to register qemu-aarch64, then publish again".into(),
        });
    }
    let clients = ctx.clients;
    let account = clients.account_id().await?;
    let bucket = artifacts::bucket_name(&account, &clients.region);
    let artifact = up::build_trigger(ctx, paths, target, &bucket, &account).await?;
    let source_key = artifact
        .source_key
        .clone()
        .expect("a zip built or found here has its source key");
    if !artifacts::bucket_there(clients, &bucket, &account).await? {
        return Err(Error::NotBootstrapped {
            project: project.into(),
            region: clients.region.clone(),
            missing: vec![format!("the artifacts bucket {bucket}")],
            help: format!("an admin of account {account} runs `deployer bootstrap --region {}` once (--dry-run prints its plan)", clients.region),
        });
    }
    let uploaded = match artifact.shareable() {
        Some(source_key) => {
            let bytes = up::zip_bytes(&artifact).await?;
            artifacts::publish_build(
                clients,
                &bucket,
                &account,
                source_key,
                bytes,
                &artifact.sha256,
            )
            .await?
        }
        // Taken from the bucket's shared builds: there already.
        None => false,
    };
    Ok(BuildReport {
        published: Some(Published {
            key: artifacts::build_key(&source_key),
            bucket,
            uploaded,
        }),
        artifact,
    })
}
