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
    let key = source_key(&workspace(), target, &paths.cache)?;
    if let Some(found) = cached(paths, target, &key)? {
        return Ok(found);
    }
    toolchain(paths, target)?;
    compile_zip(paths, target, &key).await
}

fn cache_dir(paths: &Paths) -> PathBuf {
    paths.cache.join("artifacts")
}

fn cached_zip(paths: &Paths, key: &str) -> PathBuf {
    cache_dir(paths).join(format!("trigger-{}.zip", &key[..16]))
}

/// How many trigger zips (2-3 MB each) this machine's cache keeps: the most recently used, so
/// that going back and forth between a few branches never rebuilds, and months of edits to
/// the trigger do not fill the disk.
pub const CACHE_KEEP: usize = 8;

/// Marks a cached zip as just used: the cap removes the ones unused longest first.
fn touch(zip: &Path) {
    if let Ok(file) = std::fs::File::open(zip) {
        file.set_modified(std::time::SystemTime::now()).ok();
    }
}

/// Removes all but the `CACHE_KEEP` most recently used zips of `dir` (and their digests);
/// `keep`, the zip just stored, stays whatever its time. Best effort: a zip that another run
/// removed first is not an error, and each zip goes before its digest, so a lookup never
/// finds a digest without its zip.
fn prune(dir: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut zips: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?;
            if !name.starts_with("trigger-") || !name.ends_with(".zip") || path == keep {
                return None;
            }
            Some((path.metadata().ok()?.modified().ok()?, path))
        })
        .collect();
    zips.sort_by_key(|z| std::cmp::Reverse(z.0));
    for (_, old) in zips.into_iter().skip(CACHE_KEEP.saturating_sub(1)) {
        if std::fs::remove_file(&old).is_ok() {
            tracing::debug!(zip = %old.display(), "removed from the build cache (least recently used)");
        }
        std::fs::remove_file(old.with_extension("zip.sha256")).ok();
    }
}

/// The zip for `key` in this machine's cache, if there. Its bytes are hashed every time
/// (about 10 ms): the digest recorded beside it is what the zip was when stored, and a zip
/// that no longer matches it (changed by hand, another program, a bad disk) is removed and
/// not used.
pub fn cached(
    paths: &Paths,
    target: &BuildTarget,
    key: &str,
) -> Result<Option<Artifact>, BuildError> {
    let zip = cached_zip(paths, key);
    let Ok(bytes) = std::fs::read(&zip) else {
        return Ok(None);
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let digest_file = zip.with_extension("zip.sha256");
    let recorded = std::fs::read_to_string(&digest_file).unwrap_or_default();
    if recorded.trim() != sha256 {
        tracing::warn!(
            zip = %zip.display(),
            recorded = recorded.trim(),
            actual = %sha256,
            "the cached trigger zip is not the one stored: removed, not used"
        );
        std::fs::remove_file(&zip).ok();
        std::fs::remove_file(&digest_file).ok();
        return Ok(None);
    }
    touch(&zip);
    Ok(Some(Artifact {
        size: bytes.len() as u64,
        sha256,
        path: zip,
        target: target.clone(),
        source_key: key.to_owned(),
        origin: Origin::LocalCache,
    }))
}

/// Puts a zip into this machine's cache under `key`: written aside, renamed last, so an
/// interrupted write never leaves a zip that looks complete.
pub fn store(
    paths: &Paths,
    target: &BuildTarget,
    key: &str,
    zip: &[u8],
    origin: Origin,
) -> Result<Artifact, BuildError> {
    let dir = cache_dir(paths);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let cached = cached_zip(paths, key);
    let partial = cached.with_extension(format!("zip.{}.partial", std::process::id()));
    std::fs::write(&partial, zip).map_err(io(format!("writing {}", partial.display())))?;
    let sha256 = hex::encode(Sha256::digest(zip));
    let digest_file = cached.with_extension("zip.sha256");
    std::fs::write(&digest_file, &sha256)
        .map_err(io(format!("writing {}", digest_file.display())))?;
    std::fs::rename(&partial, &cached).map_err(io(format!("writing {}", cached.display())))?;
    prune(&dir, &cached);
    Ok(Artifact {
        size: zip.len() as u64,
        sha256,
        path: cached,
        target: target.clone(),
        source_key: key.to_owned(),
        origin,
    })
}

/// Puts the publisher's signed zip for `key` into this machine's cache (beside the unsigned
/// one, which the stack's code signing would refuse). Written aside and renamed, as `store`.
pub fn store_signed(
    paths: &Paths,
    target: &BuildTarget,
    key: &str,
    zip: &[u8],
) -> Result<Artifact, BuildError> {
    let dir = cache_dir(paths);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let signed = dir.join(format!("trigger-{}.signed.zip", &key[..16]));
    let partial = signed.with_extension(format!("zip.{}.partial", std::process::id()));
    std::fs::write(&partial, zip).map_err(io(format!("writing {}", partial.display())))?;
    std::fs::rename(&partial, &signed).map_err(io(format!("writing {}", signed.display())))?;
    Ok(Artifact {
        size: zip.len() as u64,
        sha256: hex::encode(Sha256::digest(zip)),
        path: signed,
        target: target.clone(),
        source_key: key.to_owned(),
        origin: Origin::SharedCache,
    })
}

/// Compiles the trigger for `target` and zips it into the cache under `key`. The caller has
/// checked `toolchain` (and turned a miss into the message that fits it).
pub async fn compile_zip(
    paths: &Paths,
    target: &BuildTarget,
    key: &str,
) -> Result<Artifact, BuildError> {
    let binary = compile(&workspace(), paths, target).await?;
    let bytes = std::fs::read(&binary).map_err(io(format!("reading {}", binary.display())))?;
    let zip = zip_bootstrap(&bytes).map_err(io("zipping bootstrap"))?;
    store(paths, target, key, &zip, Origin::Built)
}

/// What a build for `target` needs that this machine lacks, checked before compiling:
/// cargo-zigbuild, zig and the Rust target for Graviton.
pub fn toolchain(paths: &Paths, target: &BuildTarget) -> Result<(), BuildError> {
    let Some(triple) = target.triple() else {
        return Ok(());
    };
    if paths.tool("cargo-zigbuild").is_none() {
        return Err(BuildError::MissingTool {
            tool: "cargo-zigbuild".into(),
        });
    }
    if !paths.venv.join("bin/python3").is_file() && paths.tool("zig").is_none() {
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
    Ok(())
}

/// The pinned versions of the cross-build tools (scripts/requirements.txt), for the message
/// that asks for them.
pub fn pinned_tools() -> String {
    let pins = tool_pins(&workspace());
    if pins.is_empty() {
        "cargo-zigbuild ziglang".into()
    } else {
        pins.join(" ")
    }
}

/// The `cargo-zigbuild==` and `ziglang==` lines of scripts/requirements.txt under `root`.
fn tool_pins(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("scripts/requirements.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("cargo-zigbuild==") || l.starts_with("ziglang=="))
        .map(str::to_owned)
        .collect()
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
/// the lambda profile's or the target's settings given through the environment. (Not the
/// target dir or the number of jobs: they change where and how fast, not what.)
fn build_env() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            k == "RUSTFLAGS"
                || k == "CARGO_ENCODED_RUSTFLAGS"
                || k == "RUSTC"
                || k == "RUSTC_WRAPPER"
                || k.starts_with("CARGO_PROFILE_LAMBDA_")
                || k.starts_with("CARGO_PROFILE_RELEASE_")
                || k.starts_with("CARGO_TARGET_")
                || k.starts_with("CARGO_BUILD_")
        })
        .filter(|(k, _)| {
            k != "CARGO_TARGET_DIR" && k != "CARGO_BUILD_TARGET_DIR" && k != "CARGO_BUILD_JOBS"
        })
        .collect();
    vars.sort();
    vars
}

/// The `[[package]]` entries of Cargo.lock that the trigger's build reads: the trigger and,
/// transitively, what it depends on (dev-dependencies too: the lock file does not tell them
/// apart). So a change to the deployer's dependencies alone keeps the trigger's key. `None`
/// when the file has no `trigger` package (then the whole file counts).
pub fn trigger_lock_entries(lock: &str) -> Option<Vec<String>> {
    struct Entry<'a> {
        name: &'a str,
        version: &'a str,
        deps: Vec<&'a str>,
        text: &'a str,
    }
    let mut entries = Vec::new();
    for block in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            block.lines().find_map(|l| {
                l.strip_prefix(key)
                    .and_then(|r| r.trim().strip_prefix('='))
                    .map(|v| v.trim().trim_matches('"'))
            })
        };
        let deps = match block.find("dependencies = [") {
            Some(at) => {
                let rest = &block[at + "dependencies = [".len()..];
                let end = rest.find(']').unwrap_or(rest.len());
                rest[..end]
                    .split(',')
                    .map(|d| d.trim().trim_matches('"'))
                    .filter(|d| !d.is_empty())
                    .collect()
            }
            None => Vec::new(),
        };
        entries.push(Entry {
            name: field("name ")?,
            version: field("version ").unwrap_or(""),
            deps,
            text: block.trim(),
        });
    }
    let start = entries.iter().position(|e| e.name == "trigger")?;
    let mut seen = vec![false; entries.len()];
    let mut todo = vec![start];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        for dep in &entries[i].deps {
            // "name", or "name version" (or "name version (source)") when several versions
            // of the package are locked.
            let mut parts = dep.split_whitespace();
            let name = parts.next().unwrap_or("");
            let version = parts.next();
            todo.extend(entries.iter().enumerate().filter_map(|(j, e)| {
                (e.name == name && version.is_none_or(|v| v == e.version)).then_some(j)
            }));
        }
    }
    let mut found: Vec<String> = entries
        .iter()
        .zip(seen)
        .filter(|(_, s)| *s)
        .map(|(e, _)| e.text.to_owned())
        .collect();
    found.sort();
    Some(found)
}

/// The source key: a hash of everything the zip depends on, computed without compiling, and
/// the same on every machine for the same inputs (so the artifacts bucket can share builds
/// between CI runners): the trigger's sources, manifest and compiled-in certificates, the
/// workspace manifest, the trigger's part of the lock file, `.cargo/config*`, the build's
/// environment (RUSTFLAGS and friends), the target, the profile, the compiler's version and,
/// for Graviton, the pinned cross-build tools.
pub fn source_key(root: &Path, target: &BuildTarget, cache: &Path) -> Result<String, BuildError> {
    let mut files = vec![root.join("Cargo.toml"), root.join("trigger/Cargo.toml")];
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
    let mut add = |name: &str, bytes: &[u8]| {
        hash.update(name.as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    for file in &files {
        let bytes = std::fs::read(file).map_err(io(format!("reading {}", file.display())))?;
        let name = file.strip_prefix(root).unwrap_or(file).to_string_lossy();
        // Unix separators, so the key is the same whatever the machine.
        add(&name.replace('\\', "/"), &bytes);
    }
    let lock = root.join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock).map_err(io(format!("reading {}", lock.display())))?;
    match trigger_lock_entries(&lock) {
        Some(entries) => add("Cargo.lock (the trigger's)", entries.join("\n").as_bytes()),
        None => add("Cargo.lock", lock.as_bytes()),
    }
    for (k, v) in build_env() {
        add("env", format!("{k}={v}").as_bytes());
    }
    add(
        "target",
        target.triple().unwrap_or(std::env::consts::ARCH).as_bytes(),
    );
    add("profile", PROFILE.as_bytes());
    add("rustc", rustc_version(root, cache).as_bytes());
    if target.triple().is_some() {
        add("tools", tool_pins(root).join(" ").as_bytes());
    }
    Ok(hex::encode(hash.finalize()))
}

/// The compiler's `rustc -vV` (release, commit and LLVM; not the host, which does not change
/// what is built for the target). Running it costs about 0.1 s through rustup, most of a
/// no-op `up`, so it is cached in `cache` under a cheap stamp of the toolchain: with rustup,
/// the toolchains folder's time (it changes when one is added, updated or removed), the
/// default (settings.toml), an override in the environment and the project's rust-toolchain
/// file.
fn rustc_version(root: &Path, cache: &Path) -> String {
    let stamp = toolchain_stamp(root);
    let file = cache.join("rustc-version");
    if let (Some(stamp), Ok(text)) = (&stamp, std::fs::read_to_string(&file)) {
        if let Some((seen, version)) = text.split_once("\n---\n") {
            if seen == stamp {
                return version.to_owned();
            }
        }
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc)
        .arg("-vV")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let version: String = out
        .lines()
        .filter(|l| {
            l.starts_with("release:") || l.starts_with("commit-hash:") || l.starts_with("LLVM")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(stamp) = stamp {
        if !version.is_empty() && std::fs::create_dir_all(cache).is_ok() {
            std::fs::write(&file, format!("{stamp}\n---\n{version}")).ok();
        }
    }
    version
}

fn toolchain_stamp(root: &Path) -> Option<String> {
    let home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".rustup")))?;
    let toolchains = std::fs::metadata(home.join("toolchains"))
        .and_then(|m| m.modified())
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    let settings = std::fs::read_to_string(home.join("settings.toml")).unwrap_or_default();
    let pinned: String = ["rust-toolchain", "rust-toolchain.toml"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(root.join(f)).ok())
        .collect();
    let env = std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_default();
    let rustc = std::env::var("RUSTC").unwrap_or_default();
    let stamp = format!("rustup {toolchains} {settings} {pinned} {env} {rustc}");
    Some(hex::encode(Sha256::digest(stamp.as_bytes())))
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
