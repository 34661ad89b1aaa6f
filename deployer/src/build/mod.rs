//! The trigger's cross-build (Graviton, without Docker) and its reproducible zip.
//!
//! The zip's bytes depend only on the binary: one entry, `bootstrap`, mode 0755, a fixed
//! timestamp. Builds are cached by a hash of the trigger's sources, the lock file and the
//! target, so an unchanged trigger is neither rebuilt nor re-zipped (cargo is not even run).

mod archive;
mod cache;
mod source_key;
mod toolchain;

pub use archive::{executable, zip_bootstrap, zip_bundle};
pub use cache::{cached, cached_of, store, store_of, store_signed, CACHE_KEEP};
pub use source_key::{lock_entries, source_key, source_key_of, trigger_lock_entries};
use toolchain::compile;
pub use toolchain::{pinned_tools, toolchain};

use crate::local::Paths;
use miette::Diagnostic;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Graviton: what Lambda runs (`arm64`, `provided.al2023`).
pub const GRAVITON: &str = "aarch64-unknown-linux-musl";
/// The Cargo profile for the Lambda binary (see the workspace Cargo.toml).
pub const PROFILE: &str = "lambda";

/// One of the Lambda functions the stack ships: its crate and binary, and the name its zips
/// go by (in this machine's cache, the artifacts bucket and the shared builds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Function {
    pub name: &'static str,
    pub package: &'static str,
    pub bin: &'static str,
}

/// The pre-token-generation trigger.
pub const TRIGGER: Function = Function {
    name: "trigger",
    package: "trigger",
    bin: "bootstrap",
};
/// The API's authorizer (with the API only).
pub const AUTHORIZER: Function = Function {
    name: "authorizer",
    package: "authorizer",
    bin: "authorizer",
};
/// The API's built-in `whoami` integration (with the API only).
pub const WHOAMI: Function = Function {
    name: "whoami",
    package: "authorizer",
    bin: "whoami",
};

/// Which binary to build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum BuildTarget {
    /// aarch64 with cargo-zigbuild, as deployed to AWS.
    Graviton,
    /// The host's own architecture: only for the local emulator when aarch64 binaries cannot
    /// run here (no binfmt registration). Never used for AWS.
    Host { reason: String },
}

impl BuildTarget {
    /// Graviton, unless this is a local run on a machine that cannot execute aarch64 binaries.
    pub fn choose(local: bool) -> Self {
        if !local || std::env::consts::ARCH == "aarch64" || aarch64_runs_here() {
            Self::Graviton
        } else {
            Self::Host {
                reason: "binfmt_misc has no enabled qemu-aarch64 entry, so an aarch64 binary cannot run in the local emulator; run scripts/setup.sh as root to register it".into(),
            }
        }
    }

    fn triple(&self) -> Option<&'static str> {
        match self {
            Self::Graviton => Some(GRAVITON),
            Self::Host { .. } => None,
        }
    }
}

/// Whether the kernel hands aarch64 ELF files to qemu.
pub fn aarch64_runs_here() -> bool {
    std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64")
        .is_ok_and(|s| s.lines().next() == Some("enabled"))
}

/// The built zip.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub target: BuildTarget,
    /// The source key it was built from.
    pub source_key: String,
    /// Where it came from.
    pub origin: Origin,
}

/// Where a zip came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Compiled now.
    Built,
    /// This machine's cache (`<cache>/artifacts`).
    LocalCache,
    /// The artifacts bucket's shared builds (`_builds/`), put there by another machine.
    SharedCache,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Built => "built",
            Self::LocalCache => "local cache",
            Self::SharedCache => "shared cache (artifacts bucket)",
        }
    }
}

impl Artifact {
    /// The zip's bytes, read from where the build (or the cache) left it.
    pub async fn bytes(&self) -> Result<Vec<u8>, BuildError> {
        tokio::fs::read(&self.path)
            .await
            .map_err(io(format!("reading {}", self.path.display())))
    }

    /// The source key to share this zip under in the artifacts bucket: a Graviton build this
    /// run compiled. Not one from this machine's cache, whose files anything running as this
    /// user could have written; not one taken from the bucket (there already); never a host
    /// build (for this machine's emulator only).
    pub fn shareable(&self) -> Option<&str> {
        (self.target == BuildTarget::Graviton && self.origin == Origin::Built)
            .then_some(self.source_key.as_str())
    }
}

impl fmt::Display for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = match &self.target {
            BuildTarget::Graviton => format!("{GRAVITON} (Graviton)"),
            BuildTarget::Host { .. } => format!("{} (host, local only)", std::env::consts::ARCH),
        };
        crate::output::rows(
            f,
            &[
                ("zip", self.path.display().to_string()),
                ("size", format!("{} bytes", self.size)),
                ("sha256", self.sha256.clone()),
                ("target", target),
                ("from", self.origin.as_str().to_owned()),
                ("source key", self.source_key.clone()),
            ],
        )
    }
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum BuildError {
    #[error(
        "the trigger has to be built (no zip for its sources, key {key}, {looked}), and {missing}"
    )]
    #[diagnostic(code(build::needs_toolchain))]
    NeedsToolchain {
        key: String,
        looked: String,
        missing: String,
        #[help]
        help: String,
    },
    #[error("{tool} is not installed")]
    #[diagnostic(
        code(build::missing_tool),
        help(
            "run scripts/setup.sh (it installs cargo-zigbuild and ziglang into the project venv)"
        )
    )]
    MissingTool { tool: String },
    #[error("the Rust target {GRAVITON} is not installed")]
    #[diagnostic(
        code(build::missing_target),
        help("run scripts/setup.sh, or `rustup target add {GRAVITON}`")
    )]
    MissingTarget,
    #[error(
        "building the trigger failed (exit {code:?}); the last lines of cargo's output:\n{tail}"
    )]
    #[diagnostic(
        code(build::failed),
        help("fix the error above; the full log is {log}")
    )]
    Failed {
        code: Option<i32>,
        tail: String,
        log: String,
    },
    #[error("{what}: {source}")]
    #[diagnostic(code(build::io))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// The workspace root: the folder holding this crate, whose `trigger/` sources the deployer
/// builds (without a `..` in it, so the paths shown to people read plainly).
pub fn workspace() -> PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Builds (or reuses) the trigger zip for `target`. Cancel-safe: dropping the future kills
/// the cargo process group, and a zip only appears once it is complete.
pub async fn build(paths: &Paths, target: &BuildTarget) -> Result<Artifact, BuildError> {
    build_function(paths, target, &TRIGGER).await
}

/// Builds (or reuses) `function`'s zip for `target`, as `build` does the trigger's.
pub async fn build_function(
    paths: &Paths,
    target: &BuildTarget,
    function: &Function,
) -> Result<Artifact, BuildError> {
    let key = source_key_of(&workspace(), function, target, &paths.cache)?;
    if let Some(found) = cached_of(paths, function, target, &key)? {
        return Ok(found);
    }
    toolchain(paths, target)?;
    compile_function(paths, function, target, &key).await
}

/// Compiles `function` for `target` and zips it into the cache under `key`.
pub async fn compile_function(
    paths: &Paths,
    function: &Function,
    target: &BuildTarget,
    key: &str,
) -> Result<Artifact, BuildError> {
    let binary = compile(&workspace(), paths, function, target).await?;
    let bytes = std::fs::read(&binary).map_err(io(format!("reading {}", binary.display())))?;
    let zip = zip_bootstrap(&bytes).map_err(io("zipping bootstrap"))?;
    store_of(paths, function, target, key, &zip, Origin::Built)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_workspace_path_reads_plainly() {
        let root = super::workspace();
        assert!(
            root.join("trigger/Cargo.toml").is_file(),
            "{}",
            root.display()
        );
        assert!(
            root.components()
                .all(|c| c != std::path::Component::ParentDir),
            "{}",
            root.display()
        );
    }
}
