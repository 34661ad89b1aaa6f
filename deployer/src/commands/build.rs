//! `build`: the trigger's zip, and with `--publish` its place in the artifacts bucket's shared
//! builds, where `up` on any machine finds it by the trigger's source key.

use crate::artifacts;
use crate::aws::Clients;
use crate::build::{Artifact, BuildTarget};
use crate::error::Error;
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
    pub created_bucket: bool,
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

/// Shares a Graviton build through the artifacts bucket (made if missing, as `up` makes it).
pub async fn publish(clients: &Clients, artifact: &Artifact) -> Result<Published, Error> {
    let (BuildTarget::Graviton, Some(source_key)) = (&artifact.target, &artifact.source_key) else {
        return Err(Error::Usage {
            message: "only a Graviton build can be published".into(),
            help: "this build is for this machine's architecture (the local emulator cannot run aarch64 here); run scripts/setup.sh as root to register qemu-aarch64, then build again".into(),
        });
    };
    let account = clients.account_id().await?;
    let bucket = artifacts::bucket_name(&account, &clients.region);
    let created_bucket = artifacts::ensure_bucket(clients, &bucket, &account).await?;
    let bytes = tokio::fs::read(&artifact.path)
        .await
        .map_err(|source| Error::Io {
            what: format!("reading {}", artifact.path.display()),
            source,
        })?;
    let uploaded = artifacts::publish_build(
        clients,
        &bucket,
        &account,
        source_key,
        bytes,
        &artifact.sha256,
    )
    .await?;
    Ok(Published {
        key: artifacts::build_key(source_key),
        bucket,
        uploaded,
        created_bucket,
    })
}
