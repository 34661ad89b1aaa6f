//! The cross-build tools (cargo-zigbuild, zig, the Rust target), checked before compiling,
//! and the compile itself in its own process group, killed when dropped.

use super::*;

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
pub(super) fn tool_pins(root: &Path) -> Vec<String> {
    std::fs::read_to_string(root.join("scripts/requirements.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("cargo-zigbuild==") || l.starts_with("ziglang=="))
        .map(str::to_owned)
        .collect()
}

/// Kills the build's whole process group (cargo, rustc, zig) unless it finished.
pub(super) struct GroupGuard(Option<i32>);

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

pub(super) async fn compile(
    root: &Path,
    paths: &Paths,
    function: &Function,
    target: &BuildTarget,
) -> Result<PathBuf, BuildError> {
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
            function.package,
            "--bin",
            function.bin,
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
    executable(&String::from_utf8_lossy(&output.stdout), function.bin).ok_or_else(|| {
        BuildError::Failed {
            code: output.status.code(),
            tail: format!("cargo reported no `{}` executable", function.bin),
            log: log.display().to_string(),
        }
    })
}

/// Environment variables that change what cargo builds: flags for rustc and the linker, and
/// the lambda profile's or the target's settings given through the environment. (Not the
/// target dir or the number of jobs: they change where and how fast, not what.)
pub(super) fn build_env() -> Vec<(String, String)> {
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

/// The compiler's `rustc -vV` (release, commit and LLVM; not the host, which does not change
/// what is built for the target). Running it costs about 0.1 s through rustup, most of a
/// no-op `up`, so it is cached in `cache` under a cheap stamp of the toolchain: with rustup,
/// the toolchains folder's time (it changes when one is added, updated or removed), the
/// default (settings.toml), an override in the environment and the project's rust-toolchain
/// file.
pub(super) fn rustc_version(root: &Path, cache: &Path) -> String {
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

pub(super) fn toolchain_stamp(root: &Path) -> Option<String> {
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
