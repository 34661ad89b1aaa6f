//! The trigger's cross-build (Graviton, without Docker) and its reproducible zip.
//!
//! The zip's bytes depend only on the binary: one entry, `bootstrap`, mode 0755, a fixed
//! timestamp. Builds are cached by a hash of the trigger's sources, the lock file and the
//! target, so an unchanged trigger is neither rebuilt nor re-zipped (cargo is not even run).

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
    /// False when the cached zip for these sources was reused.
    pub rebuilt: bool,
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
                ("rebuilt", self.rebuilt.to_string()),
            ],
        )
    }
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum BuildError {
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

/// The workspace root (this crate's parent folder).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds (or reuses) the trigger zip for `target`. Cancel-safe: dropping the future kills
/// the cargo process group, and a zip only appears once it is complete.
pub async fn build(paths: &Paths, target: &BuildTarget) -> Result<Artifact, BuildError> {
    let root = workspace();
    let key = source_key(&root, target)?;
    let dir = paths.cache.join("artifacts");
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let cached = dir.join(format!("trigger-{}.zip", &key[..16]));
    let digest_file = cached.with_extension("zip.sha256");
    if let Ok(meta) = std::fs::metadata(&cached) {
        // The digest is kept beside the zip: hashing 3 MB again would be most of a no-op `up`.
        let sha256 = match std::fs::read_to_string(&digest_file) {
            Ok(text) if text.trim().len() == 64 => text.trim().to_owned(),
            _ => {
                let bytes =
                    std::fs::read(&cached).map_err(io(format!("reading {}", cached.display())))?;
                hex::encode(Sha256::digest(&bytes))
            }
        };
        return Ok(Artifact {
            size: meta.len(),
            sha256,
            path: cached,
            target: target.clone(),
            rebuilt: false,
        });
    }

    let binary = compile(&root, paths, target).await?;
    let bytes = std::fs::read(&binary).map_err(io(format!("reading {}", binary.display())))?;
    let zip = zip_bootstrap(&bytes).map_err(io("zipping bootstrap"))?;
    let partial = cached.with_extension(format!("zip.{}.partial", std::process::id()));
    std::fs::write(&partial, &zip).map_err(io(format!("writing {}", partial.display())))?;
    // Rename last: an interrupted build never leaves a zip that looks complete.
    let sha256 = hex::encode(Sha256::digest(&zip));
    std::fs::write(&digest_file, &sha256)
        .map_err(io(format!("writing {}", digest_file.display())))?;
    std::fs::rename(&partial, &cached).map_err(io(format!("writing {}", cached.display())))?;
    Ok(Artifact {
        size: zip.len() as u64,
        sha256,
        path: cached,
        target: target.clone(),
        rebuilt: true,
    })
}

/// Kills the build's whole process group (cargo, rustc, zig) unless it finished.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pgid),
                nix::sys::signal::Signal::SIGKILL,
            )
            .ok();
        }
    }
}

async fn compile(root: &Path, paths: &Paths, target: &BuildTarget) -> Result<PathBuf, BuildError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let venv_bin = paths.venv.join("bin");
    let path = std::env::join_paths(
        std::iter::once(venv_bin.clone()).chain(
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths),
        ),
    )
    .map_err(|e| BuildError::Io {
        what: "setting PATH".into(),
        source: std::io::Error::other(e),
    })?;
    let mut command = tokio::process::Command::new(&cargo);
    match target.triple() {
        Some(triple) => {
            if paths.tool("cargo-zigbuild").is_none() {
                return Err(BuildError::MissingTool {
                    tool: "cargo-zigbuild".into(),
                });
            }
            if !venv_bin.join("python3").is_file() && paths.tool("zig").is_none() {
                return Err(BuildError::MissingTool {
                    tool: "zig (the ziglang package)".into(),
                });
            }
            let sysroot = std::process::Command::new("rustc")
                .args(["--print", "sysroot"])
                .output()
                .map_err(io("running rustc"))?;
            let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
            if !sysroot.join("lib/rustlib").join(triple).is_dir() {
                return Err(BuildError::MissingTarget);
            }
            command.args(["zigbuild", "--target", triple]);
        }
        None => {
            command.arg("build");
        }
    }
    command
        .args([
            "--profile",
            PROFILE,
            "-p",
            "trigger",
            "--bin",
            "bootstrap",
            "--locked",
            // The binary's path comes from cargo's own messages, not a guess at the target dir.
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(root)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let log = paths.cache.join("build.log");
    let log_file =
        std::fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
    command.stderr(log_file);
    let child = command
        .spawn()
        .map_err(io(format!("running {}", cargo.to_string_lossy())))?;
    let mut guard = GroupGuard(child.id().map(|id| id as i32));
    let output = child
        .wait_with_output()
        .await
        .map_err(io(format!("running {}", cargo.to_string_lossy())))?;
    guard.0 = None;
    if !output.status.success() {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        return Err(BuildError::Failed {
            code: output.status.code(),
            tail: lines[lines.len().saturating_sub(20)..].join("\n"),
            log: log.display().to_string(),
        });
    }
    executable(&String::from_utf8_lossy(&output.stdout)).ok_or_else(|| BuildError::Failed {
        code: output.status.code(),
        tail: "cargo reported no `bootstrap` executable".into(),
        log: log.display().to_string(),
    })
}

/// The `bootstrap` executable named in cargo's JSON messages (`compiler-artifact`).
pub fn executable(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "bootstrap")
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
}

/// A zip holding `bootstrap` at the root, mode 0755, fixed timestamp: same binary, same bytes.
pub fn zip_bootstrap(binary: &[u8]) -> std::io::Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
        .unix_permissions(0o755)
        .last_modified_time(zip::DateTime::default());
    out.start_file("bootstrap", options)
        .map_err(std::io::Error::other)?;
    out.write_all(binary)?;
    Ok(out.finish().map_err(std::io::Error::other)?.into_inner())
}

/// Environment variables that change what cargo builds: flags for rustc and the linker, and
/// profile or target settings given through the environment.
fn build_env() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            k == "RUSTFLAGS"
                || k == "CARGO_ENCODED_RUSTFLAGS"
                || k == "RUSTC"
                || k == "RUSTC_WRAPPER"
                || k.starts_with("CARGO_PROFILE_")
                || k.starts_with("CARGO_TARGET_")
                || k.starts_with("CARGO_BUILD_")
        })
        .filter(|(k, _)| k != "CARGO_TARGET_DIR" && k != "CARGO_BUILD_TARGET_DIR")
        .collect();
    vars.sort();
    vars
}

/// The source key: a hash of everything the zip depends on, computed without compiling.
/// The trigger's sources, manifest and compiled-in certificates, the workspace manifest and
/// lock file, `.cargo/config*`, the build's environment (RUSTFLAGS and friends), the target,
/// the profile and the toolchain.
pub fn source_key(root: &Path, target: &BuildTarget) -> Result<String, BuildError> {
    let mut files = vec![
        root.join("Cargo.toml"),
        root.join("Cargo.lock"),
        root.join("trigger/Cargo.toml"),
    ];
    collect(&root.join("trigger/src"), &mut files).map_err(io("reading trigger/src"))?;
    collect(&root.join("trigger/certs"), &mut files).map_err(io("reading trigger/certs"))?;
    for config in [
        ".cargo/config",
        ".cargo/config.toml",
        "trigger/.cargo/config",
        "trigger/.cargo/config.toml",
        "trigger/build.rs",
    ] {
        let path = root.join(config);
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let mut hash = Sha256::new();
    for file in &files {
        let bytes = std::fs::read(file).map_err(io(format!("reading {}", file.display())))?;
        hash.update(
            file.strip_prefix(root)
                .unwrap_or(file)
                .to_string_lossy()
                .as_bytes(),
        );
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
    }
    for (k, v) in build_env() {
        hash.update(format!("env {k}={v}\n").as_bytes());
    }
    hash.update(target.triple().unwrap_or(std::env::consts::ARCH).as_bytes());
    hash.update(PROFILE.as_bytes());
    hash.update(toolchain_identity(root).as_bytes());
    Ok(hex::encode(hash.finalize()))
}

/// What identifies the compiler, cheaply: with rustup, the installed toolchains (their folder
/// changes when one is added, updated or removed), the default (settings.toml), an override in
/// the environment and the project's rust-toolchain file. Without rustup, `rustc -V` (slower).
fn toolchain_identity(root: &Path) -> String {
    let home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")));
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos().to_string())
    };
    if let Some(toolchains) = home
        .as_ref()
        .map(|h| h.join("toolchains"))
        .and_then(|t| stamp(&t))
    {
        let settings = home
            .as_ref()
            .and_then(|h| std::fs::read_to_string(h.join("settings.toml")).ok())
            .unwrap_or_default();
        let pinned: String = ["rust-toolchain", "rust-toolchain.toml"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(root.join(f)).ok())
            .collect();
        let env = std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_default();
        return format!("rustup {toolchains} {settings} {pinned} {env}");
    }
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    String::from_utf8_lossy(&rustc).into_owned()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
