//! `build`: the trigger's zip, and with `--publish` its place in the artifacts bucket's shared
//! builds, where `up` on any machine finds it by the trigger's source key; for a stack with
//! an `api`, the authorizer's and `whoami`'s builds too.

use crate::artifacts;
use crate::build::{self, Artifact, BuildTarget, Origin};
use crate::ctx::Ctx;
use crate::error::Error;
use crate::local::Paths;
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
    /// With `--publish` and an `api`: the API's functions, shared the same way.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api: Vec<FunctionBuild>,
}

/// One of the API's functions, built and published.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionBuild {
    pub function: &'static str,
    pub artifact: Artifact,
    pub published: Published,
}

fn published_row(p: &Published) -> String {
    format!(
        "s3://{}/{}{}",
        p.bucket,
        p.key,
        if p.uploaded { "" } else { " (already there)" }
    )
}

impl fmt::Display for BuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.artifact)?;
        if let Some(p) = &self.published {
            crate::output::rows(f, &[("published", published_row(p))])?;
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
        for b in &self.api {
            crate::output::rows(f, &[(b.function, published_row(&b.published))])?;
        }
        Ok(())
    }
}

/// `deployer build` (and `--publish`).
pub async fn run(
    s: &super::session::Session<'_>,
    args: &crate::cli::BuildArgs,
) -> Result<u8, Error> {
    let target = BuildTarget::choose(s.local());
    let report = if args.publish {
        let inputs = s.inputs()?;
        let clients = s.clients(&inputs).await?;
        // The account is filled in once connected.
        let project = super::bootstrap::target(&inputs, "", &clients.region);
        let local = (args.signed.as_deref(), s.local());
        let functions: &[&build::Function] = if inputs.api.is_some() {
            &[&build::TRIGGER, &build::AUTHORIZER, &build::WHOAMI]
        } else {
            &[&build::TRIGGER]
        };
        let ctx = s.ctx(&clients);
        publish(ctx, &s.settings.paths, &target, &project, local, functions).await?
    } else {
        s.activity.set("", crate::cancel::Doing::Building);
        let artifact = build::build(&s.settings.paths, &target).await?;
        s.activity.clear("");
        BuildReport {
            artifact,
            published: None,
            api: Vec::new(),
        }
    };
    s.print(&report);
    Ok(crate::error::exit::SUCCESS)
}

/// `build --publish`: the build of each of `functions` (the trigger first) for these sources
/// is shared in the project's `_builds/`, once. When the bucket holds it already nothing is
/// compiled or written; otherwise it is compiled now, never taken from this machine's cache
/// (whose files anything running as this user could have written), and written with
/// `If-None-Match: *`. `deployer bootstrap` made the bucket.
pub async fn publish(
    ctx: Ctx<'_>,
    paths: &Paths,
    target: &BuildTarget,
    project: &crate::bootstrap::Target,
    (signed, bootstrap_itself): (Option<&std::path::Path>, bool),
    functions: &[&build::Function],
) -> Result<BuildReport, Error> {
    if *target != BuildTarget::Graviton {
        return Err(Error::Usage {
            message: "only a Graviton build can be published".into(),
            help: "this machine cannot run aarch64 binaries, so builds here are for its own architecture (the local emulator only); run scripts/setup.sh as root to register qemu-aarch64, then publish again".into(),
        });
    }
    let clients = ctx.clients;
    let account = clients.account_id().await?;
    let target_of = crate::bootstrap::Target {
        account: account.clone(),
        ..project.clone()
    };
    let project = project.project.as_str();
    let bucket = artifacts::bucket_name(&account, &clients.region);
    if bootstrap_itself && !artifacts::bucket_there(clients, &bucket, &account).await? {
        let options = crate::bootstrap::Options::default();
        crate::bootstrap::bootstrap(clients, &target_of, &options).await?;
    }
    if !artifacts::bucket_there(clients, &bucket, &account).await? {
        return Err(Error::NotBootstrapped {
            project: project.into(),
            region: clients.region.clone(),
            missing: vec![format!("the artifacts bucket {bucket}")],
            help: format!("an admin of account {account} runs `deployer bootstrap --region {}` once (--dry-run prints its plan)", clients.region),
        });
    }
    let place = Place {
        bucket: &bucket,
        account: &account,
        project,
    };
    let mut builds = Vec::new();
    for function in functions {
        builds.push(publish_function(ctx, paths, target, &place, function).await?);
    }
    let mut builds = builds.into_iter();
    let (artifact, mut published, source_key) = builds.next().expect("the trigger comes first");
    if let Some(file) = signed {
        published.signed =
            Some(publish_signed(clients, &bucket, &account, (project, &source_key), file).await?);
    }
    Ok(BuildReport {
        published: Some(published),
        artifact,
        api: builds
            .zip(functions.iter().skip(1))
            .map(|((artifact, published, _), function)| FunctionBuild {
                function: function.name,
                artifact,
                published,
            })
            .collect(),
    })
}

/// Where shared builds go.
struct Place<'a> {
    bucket: &'a str,
    account: &'a str,
    project: &'a str,
}

/// One function's shared build: found in the bucket, or compiled here and written once.
async fn publish_function(
    ctx: Ctx<'_>,
    paths: &Paths,
    target: &BuildTarget,
    place: &Place<'_>,
    function: &build::Function,
) -> Result<(Artifact, Published, String), Error> {
    let clients = ctx.clients;
    let source_key = build::source_key_of(&build::workspace(), function, target, &paths.cache)?;
    let named = (place.project, function.name, source_key.as_str());
    let (artifact, uploaded) =
        match artifacts::fetch_build(clients, place.bucket, place.account, named).await? {
            Some((bytes, _)) => {
                let found = build::store_of(
                    paths,
                    function,
                    target,
                    &source_key,
                    &bytes,
                    Origin::SharedCache,
                )?;
                (found, false)
            }
            None => {
                build::toolchain(paths, target)?;
                ctx.activity.set("", crate::cancel::Doing::Building);
                let spinner = ctx
                    .progress
                    .spinner(&format!("cargo build ({})", function.name));
                let built = build::compile_function(paths, function, target, &source_key).await?;
                drop(spinner);
                ctx.activity.clear("");
                let bytes = built.bytes().await?;
                let uploaded = artifacts::publish_build(
                    clients,
                    place.bucket,
                    place.account,
                    named,
                    bytes,
                    &built.sha256,
                )
                .await?;
                (built, uploaded)
            }
        };
    let published = Published {
        key: artifacts::build_key(place.project, function.name, &source_key),
        bucket: place.bucket.to_owned(),
        uploaded,
        signed: None,
    };
    Ok((artifact, published, source_key))
}

/// Shares the publisher's signed zip for `source_key` (written once, like the build).
async fn publish_signed(
    clients: &crate::aws::Clients,
    bucket: &str,
    account: &str,
    (project, source_key): (&str, &str),
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
    let key = artifacts::signed_build_key(project, source_key);
    let uploaded =
        artifacts::publish_object(clients, bucket, account, key.clone(), bytes, &sha256).await?;
    Ok((key, uploaded))
}
