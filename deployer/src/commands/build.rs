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
    /// Where the signed zip went (`--signed`), and whether it was uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed: Option<(String, bool)>,
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
            if let Some((key, uploaded)) = &p.signed {
                crate::output::rows(
                    f,
                    &[(
                        "signed",
                        format!(
                            "s3://{}/{key}{}",
                            p.bucket,
                            if *uploaded { "" } else { " (already there)" }
                        ),
                    )],
                )?;
            }
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
    signed: Option<&std::path::Path>,
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
    let signed = match signed {
        Some(file) => Some(publish_signed(clients, &bucket, &account, &source_key, file).await?),
        None => None,
    };
    Ok(BuildReport {
        published: Some(Published {
            key: artifacts::build_key(&source_key),
            bucket,
            uploaded,
            signed,
        }),
        artifact,
    })
}

/// Shares the publisher's signed zip for `source_key` (written once, like the build).
async fn publish_signed(
    clients: &crate::aws::Clients,
    bucket: &str,
    account: &str,
    source_key: &str,
    file: &std::path::Path,
) -> Result<(String, bool), Error> {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(file).map_err(|source| Error::Io {
        what: format!("reading {}", file.display()),
        source,
    })?;
    if !bytes.starts_with(b"PK") {
        return Err(Error::Usage {
            message: format!("--signed {} is not a zip", file.display()),
            help: "pass the zip AWS Signer wrote for this build (aws signer start-signing-job ... then aws s3 cp of its signed object)".into(),
        });
    }
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let key = artifacts::signed_build_key(source_key);
    let uploaded =
        artifacts::publish_object(clients, bucket, account, key.clone(), bytes, &sha256).await?;
    Ok((key, uploaded))
}
