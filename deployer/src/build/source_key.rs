//! The source key: a hash of everything the zip depends on, computed without compiling.

use super::toolchain::{build_env, rustc_version, tool_pins};
use super::*;

/// The `[[package]]` entries of Cargo.lock that the trigger's build reads: the trigger and,
/// transitively, what it depends on (dev-dependencies too: the lock file does not tell them
/// apart). So a change to the deployer's dependencies alone keeps the trigger's key. `None`
/// when the file has no `trigger` package (then the whole file counts).
pub fn trigger_lock_entries(lock: &str) -> Option<Vec<String>> {
    lock_entries(lock, "trigger")
}

/// The `[[package]]` entries of Cargo.lock that `package`'s build reads (see
/// `trigger_lock_entries`).
pub fn lock_entries(lock: &str, package: &str) -> Option<Vec<String>> {
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
    let start = entries.iter().position(|e| e.name == package)?;
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
    source_key_of(root, &TRIGGER, target, cache)
}

/// The source key of `function`'s zip: as `source_key`, over its own crate (and, for a
/// function other than the trigger, its binary's name, so two binaries of one crate differ).
pub fn source_key_of(
    root: &Path,
    function: &Function,
    target: &BuildTarget,
    cache: &Path,
) -> Result<String, BuildError> {
    let package = function.package;
    let mut files = vec![
        root.join("Cargo.toml"),
        root.join(package).join("Cargo.toml"),
    ];
    collect(&root.join(package).join("src"), &mut files)
        .map_err(io(format!("reading {package}/src")))?;
    let certs = root.join(package).join("certs");
    if package == TRIGGER.package || certs.is_dir() {
        collect(&certs, &mut files).map_err(io(format!("reading {package}/certs")))?;
    }
    for config in [
        ".cargo/config".to_owned(),
        ".cargo/config.toml".to_owned(),
        format!("{package}/.cargo/config"),
        format!("{package}/.cargo/config.toml"),
        format!("{package}/build.rs"),
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
    match lock_entries(&lock, package) {
        Some(entries) if package == TRIGGER.package => {
            add("Cargo.lock (the trigger's)", entries.join("\n").as_bytes())
        }
        Some(entries) => add(
            &format!("Cargo.lock ({package}'s)"),
            entries.join("\n").as_bytes(),
        ),
        None => add("Cargo.lock", lock.as_bytes()),
    }
    if *function != TRIGGER {
        add("bin", function.bin.as_bytes());
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

pub(super) fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
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
