//! Where `up` gets the trigger's zip: this machine's cache, the artifacts bucket's shared (or,
//! with code signing, signed) build, or a build here; and its upload next to the stack.

use crate::artifacts;
use crate::build::{self, Artifact, BuildError, BuildTarget, Origin};
use crate::cancel::Doing;
use crate::ctx::Ctx;
use crate::error::Error;
use crate::local::Paths;
use crate::stack::ArtifactLocation;

/// The trigger's source key, and this machine's cached zip for it.
pub type Local = (String, Option<Artifact>);

/// Where the shared builds are: the bucket, the account that must own it, the project.
pub type Place<'a> = (&'a str, &'a str, &'a str);

/// The zip for these sources: with code signing the publisher's signed build (never built
/// here), else `find_or_build`.
pub async fn find(
    ctx: Ctx<'_>,
    paths: &Paths,
    target: &BuildTarget,
    place: Place<'_>,
    (local, signed): (Local, bool),
) -> Result<Artifact, Error> {
    if signed {
        find_signed(ctx, paths, target, place, &local.0).await
    } else {
        find_or_build(ctx, paths, &build::TRIGGER, target, place, local).await
    }
}

/// The trigger's source key and this machine's cached zip for it, if any. No AWS call.
pub fn look_locally(paths: &Paths, target: &BuildTarget) -> Result<Local, BuildError> {
    look_locally_for(paths, &build::TRIGGER, target)
}

/// `look_locally`, for any of the functions.
pub fn look_locally_for(
    paths: &Paths,
    function: &build::Function,
    target: &BuildTarget,
) -> Result<Local, BuildError> {
    let key = build::source_key_of(&build::workspace(), function, target, &paths.cache)?;
    let found = build::cached_of(paths, function, target, &key)?;
    Ok((key, found))
}

/// The zip for `key`: the local cache's (`found`), else the bucket's shared build, else built.
pub async fn find_or_build(
    ctx: Ctx<'_>,
    paths: &Paths,
    function: &build::Function,
    target: &BuildTarget,
    (bucket, account, project): Place<'_>,
    (key, found): Local,
) -> Result<Artifact, Error> {
    let name = function.name;
    if let BuildTarget::Host { reason } = target {
        ctx.progress.note(&format!(
            "warning: building the {name} for this machine's architecture, not Graviton: {reason}"
        ));
    }
    let note = |artifact: &Artifact, how: &str| {
        ctx.progress.note(&format!(
            "{name} zip {} bytes, sha256 {} ({how})",
            artifact.size,
            &artifact.sha256[..12],
        ))
    };
    if let Some(found) = found {
        note(&found, "unchanged, not rebuilt");
        return Ok(found);
    }
    let shared = artifacts::build_key(project, name, &key);
    // Host builds are for this machine's emulator only: never shared.
    if *target == BuildTarget::Graviton {
        ctx.progress.step(&format!(
            "looking for the {name}'s build in the artifacts bucket"
        ));
        if let Some((bytes, _)) =
            artifacts::fetch_build(ctx.clients, bucket, account, (project, name, &key)).await?
        {
            let found =
                build::store_of(paths, function, target, &key, &bytes, Origin::SharedCache)?;
            note(
                &found,
                &format!("from s3://{bucket}/{shared}, not built here"),
            );
            return Ok(found);
        }
    }
    if let Err(missing) = build::toolchain(paths, target) {
        return Err(BuildError::NeedsToolchain {
            looked: format!(
                "none in {} nor at s3://{bucket}/{shared}",
                paths.cache.join("artifacts").display()
            ),
            key,
            missing: missing.to_string(),
            help: format!(
                "install the cross-build tools: scripts/setup.sh does it all, or by hand `rustup target add {}` and `pip install {}` (cargo-zigbuild and zig on PATH). Or let a machine that has them build and share it first: `deployer build --publish`; then every `up` for these sources takes it from the bucket",
                build::GRAVITON,
                build::pinned_tools()
            ),
        }
        .into());
    }
    ctx.progress.step(&format!("building the {name}"));
    ctx.activity.set("", Doing::Building);
    let spinner = ctx.progress.spinner(&format!("cargo build ({name})"));
    let built = build::compile_function(paths, function, target, &key).await?;
    drop(spinner);
    ctx.activity.clear("");
    note(&built, "built");
    Ok(built)
}

/// For a function with code signing: the publisher's signed build of these sources, from the
/// artifacts bucket (Lambda refuses anything else). Never built here: only the publisher's
/// signing profile can sign.
async fn find_signed(
    ctx: Ctx<'_>,
    paths: &Paths,
    target: &BuildTarget,
    (bucket, account, project): Place<'_>,
    key: &str,
) -> Result<Artifact, Error> {
    ctx.progress
        .step("looking for the publisher's signed build in the artifacts bucket");
    match artifacts::fetch_signed_build(ctx.clients, bucket, account, (project, key)).await? {
        Some((bytes, _)) => {
            let found = build::store_signed(paths, target, key, &bytes)?;
            ctx.progress.note(&format!(
                "trigger zip {} bytes, sha256 {} (signed, from s3://{bucket}/{})",
                found.size,
                &found.sha256[..12],
                artifacts::signed_build_key(project, key)
            ));
            Ok(found)
        }
        None => Err(artifacts::ArtifactError::NoSignedBuild {
            bucket: bucket.into(),
            key: artifacts::signed_build_key(project, key),
        }
        .into()),
    }
}

/// Uploads the zip unless the key holds it; `true` when uploaded. With `publish` (the
/// project), a Graviton build compiled by this run is also shared under the project's
/// `_builds/` (written once).
pub async fn upload(
    ctx: Ctx<'_>,
    artifact: &Artifact,
    account: &str,
    location: &ArtifactLocation,
    publish: Option<&str>,
) -> Result<bool, Error> {
    upload_function(ctx, &build::TRIGGER, artifact, account, location, publish).await
}

/// `upload`, for any of the functions.
pub async fn upload_function(
    ctx: Ctx<'_>,
    function: &build::Function,
    artifact: &Artifact,
    account: &str,
    ArtifactLocation { bucket, key }: &ArtifactLocation,
    publish: Option<&str>,
) -> Result<bool, Error> {
    let name = function.name;
    ctx.progress
        .step(&format!("uploading the {name} to s3://{bucket}/{key}"));
    ctx.activity.set(
        "",
        Doing::Uploading {
            bucket: bucket.into(),
            key: key.into(),
        },
    );
    let bytes = artifact.bytes().await?;
    let uploaded = artifacts::upload(
        ctx.clients,
        bucket,
        account,
        key,
        bytes.clone(),
        &artifact.sha256,
    )
    .await?;
    if let (Some(project), Some(source_key)) = (publish, artifact.shareable()) {
        let shared = (project, name, source_key);
        if artifacts::publish_build(
            ctx.clients,
            bucket,
            account,
            shared,
            bytes,
            &artifact.sha256,
        )
        .await?
        {
            ctx.progress.note(&format!(
                "shared the build at s3://{bucket}/{}",
                artifacts::build_key(project, name, source_key)
            ));
        }
    }
    ctx.activity.clear("");
    Ok(uploaded)
}
