//! The trigger's zip is reproducible: same binary, same bytes; `bootstrap` at the root, 0755.

use deployer::build::{self, BuildTarget};
use std::io::Read;
use std::path::Path;

#[test]
fn zipping_the_same_binary_twice_gives_the_same_bytes_with_bootstrap_executable_at_the_root() {
    let binary = b"\x7fELF pretend binary".repeat(1000);
    let a = build::zip_bootstrap(&binary).unwrap();
    let b = build::zip_bootstrap(&binary).unwrap();
    assert_eq!(a, b);
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(a)).unwrap();
    assert_eq!(archive.len(), 1);
    let mut entry = archive.by_index(0).unwrap();
    assert_eq!(entry.name(), "bootstrap");
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    assert_eq!(entry.last_modified().map(|t| t.year()), Some(1980));
    let mut content = Vec::new();
    entry.read_to_end(&mut content).unwrap();
    assert_eq!(content, binary);
}

#[test]
fn the_binary_path_comes_from_cargos_messages() {
    let messages = concat!(
        r#"{"reason":"compiler-artifact","target":{"name":"trigger","kind":["lib"]},"executable":null}"#,
        "\n",
        r#"{"reason":"compiler-artifact","target":{"name":"bootstrap","kind":["bin"]},"executable":"/x/target/aarch64-unknown-linux-musl/lambda/bootstrap"}"#,
        "\n",
        r#"{"reason":"build-finished","success":true}"#
    );
    assert_eq!(
        build::executable(messages, "bootstrap").as_deref(),
        Some(Path::new(
            "/x/target/aarch64-unknown-linux-musl/lambda/bootstrap"
        ))
    );
    assert_eq!(
        build::executable(r#"{"reason":"build-finished"}"#, "bootstrap"),
        None
    );
}

/// A copy of the files the trigger's zip depends on, to change one at a time.
fn workspace_copy() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "trigger/Cargo.toml",
        "trigger/src/lib.rs",
        "trigger/src/main.rs",
        "trigger/certs/amazon-roots.pem",
    ] {
        let to = dir.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(file), to).unwrap();
    }
    dir
}

/// Changes the version of the locked package `name` (its first entry) in a lock file.
fn bump(lock: &str, name: &str) -> String {
    let at = lock
        .find(&format!("name = \"{name}\"\nversion = \""))
        .unwrap_or_else(|| panic!("{name} is not in Cargo.lock"));
    let version = at + format!("name = \"{name}\"\nversion = \"").len();
    format!("{}99.{}", &lock[..version], &lock[version..])
}

#[test]
fn the_source_key_changes_with_every_input_of_the_build() {
    let dir = workspace_copy();
    let root = dir.path();
    let cache = tempfile::tempdir().unwrap();
    let key = || build::source_key(root, &BuildTarget::Graviton, cache.path()).unwrap();
    let base = key();
    assert_eq!(base, key(), "stable when nothing changes");
    let touch = |file: &str, text: &str| {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut content = std::fs::read(&path).unwrap_or_default();
        content.extend_from_slice(text.as_bytes());
        std::fs::write(path, content).unwrap();
    };
    let mut seen = vec![base.clone()];
    let changed = |what: &str, seen: &mut Vec<String>| {
        let now = key();
        assert!(!seen.contains(&now), "{what} did not change the key");
        seen.push(now);
    };
    for (file, text) in [
        ("trigger/src/main.rs", "// a change\n"),
        ("trigger/certs/amazon-roots.pem", "\n"),
        (".cargo/config.toml", "[build]\n"),
        ("trigger/Cargo.toml", "\n"),
        ("Cargo.toml", "\n"),
    ] {
        touch(file, text);
        changed(file, &mut seen);
    }
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
    // A package the trigger links, directly or not, is part of the key...
    for package in ["aws-sdk-dynamodb", "lambda_runtime", "aws-smithy-runtime"] {
        std::fs::write(root.join("Cargo.lock"), bump(&lock, package)).unwrap();
        changed(package, &mut seen);
    }
    // ...one only the deployer uses is not: its updates need no new trigger build.
    std::fs::write(root.join("Cargo.lock"), &lock).unwrap();
    let before = key();
    for package in ["handlebars", "csv", "axum"] {
        std::fs::write(root.join("Cargo.lock"), bump(&lock, package)).unwrap();
        assert_eq!(key(), before, "{package} is the deployer's alone");
    }
    std::fs::write(root.join("Cargo.lock"), &lock).unwrap();
    assert_ne!(
        build::source_key(
            root,
            &BuildTarget::Host {
                reason: String::new()
            },
            cache.path()
        )
        .unwrap(),
        key(),
        "the target is part of the key"
    );
}

#[test]
fn the_source_key_is_the_same_on_another_machine() {
    // Another checkout path and a cold cache (another runner) give the same key: it is what
    // the artifacts bucket shares builds by.
    let (a, b) = (workspace_copy(), workspace_copy());
    let (cache_a, cache_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key_a = build::source_key(a.path(), &BuildTarget::Graviton, cache_a.path()).unwrap();
    let key_b = build::source_key(b.path(), &BuildTarget::Graviton, cache_b.path()).unwrap();
    assert_eq!(key_a, key_b);
    // The compiler's version is cached beside the key's inputs, and used the second time.
    let cached = std::fs::read_to_string(cache_a.path().join("rustc-version")).unwrap();
    assert!(cached.contains("release: "), "{cached}");
    assert_eq!(
        build::source_key(a.path(), &BuildTarget::Graviton, cache_a.path()).unwrap(),
        key_a
    );
}

#[test]
fn the_lock_file_part_of_the_key_is_the_triggers_dependency_closure() {
    let lock = r#"version = 4

[[package]]
name = "trigger"
version = "0.1.0"
dependencies = [
 "serde",
 "tokio 1.0.0",
]

[[package]]
name = "deployer"
version = "0.1.0"
dependencies = [
 "csv",
 "trigger",
]

[[package]]
name = "serde"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "serde_derive",
]

[[package]]
name = "serde_derive"
version = "1.0.0"

[[package]]
name = "tokio"
version = "1.0.0"

[[package]]
name = "tokio"
version = "0.2.0"

[[package]]
name = "csv"
version = "1.0.0"
"#;
    let entries = build::trigger_lock_entries(lock).unwrap();
    let names: Vec<String> = entries
        .iter()
        .map(|e| e.lines().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        names,
        [
            r#"name = "serde" version = "1.0.0""#,
            r#"name = "serde_derive" version = "1.0.0""#,
            r#"name = "tokio" version = "1.0.0""#,
            r#"name = "trigger" version = "0.1.0""#,
        ]
    );
    assert!(build::trigger_lock_entries("version = 4\n").is_none());
}

/// This machine's build cache keeps the `CACHE_KEEP` zips used most recently: storing one more
/// removes the one unused longest (with its digest), and a zip found by `cached` counts as used.
#[test]
fn the_build_cache_keeps_the_most_recently_used_zips() {
    use std::time::{Duration, SystemTime};
    let dir = tempfile::tempdir().unwrap();
    let paths = paths_in(dir.path());
    let target = BuildTarget::Graviton;
    let key = |i: usize| format!("{i:02}{}", "a".repeat(62));
    let cache = dir.path().join("artifacts");
    // CACHE_KEEP zips, the first the oldest.
    let start = SystemTime::now() - Duration::from_secs(3600);
    for i in 0..build::CACHE_KEEP {
        let stored = build::store(&paths, &target, &key(i), b"zip", build::Origin::Built).unwrap();
        let file = std::fs::File::open(&stored.path).unwrap();
        file.set_modified(start + Duration::from_secs(i as u64))
            .unwrap();
    }
    let zips = || {
        let mut names: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    assert_eq!(zips().len(), 2 * build::CACHE_KEEP, "{:?}", zips());

    // Using the oldest makes the second oldest the one to go.
    assert!(build::cached(&paths, &target, &key(0)).unwrap().is_some());
    build::store(&paths, &target, &key(50), b"zip", build::Origin::Built).unwrap();
    let names = zips();
    assert_eq!(names.len(), 2 * build::CACHE_KEEP, "{names:?}");
    assert!(
        names.contains(&format!("trigger-{}.zip", &key(0)[..16])),
        "{names:?}"
    );
    assert!(
        names.contains(&format!("trigger-{}.zip", &key(50)[..16])),
        "{names:?}"
    );
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with(&format!("trigger-{}", &key(1)[..16]))),
        "{names:?}"
    );
    assert!(build::cached(&paths, &target, &key(1)).unwrap().is_none());
    // Every zip left still has its digest.
    for name in names.iter().filter(|n| n.ends_with(".zip")) {
        assert!(names.contains(&format!("{name}.sha256")), "{names:?}");
    }
}

#[test]
fn a_cached_zip_that_changed_since_it_was_stored_is_removed_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths_in(dir.path());
    let target = BuildTarget::Graviton;
    let key = "a".repeat(64);
    let stored = build::store(
        &paths,
        &target,
        &key,
        b"PK the zip built here",
        build::Origin::Built,
    )
    .unwrap();
    let found = build::cached(&paths, &target, &key)
        .unwrap()
        .expect("an intact zip is used");
    assert_eq!(found.sha256, stored.sha256);
    // Another program writes other bytes over it; its recorded digest stays.
    std::fs::write(&stored.path, b"PK planted").unwrap();
    assert!(build::cached(&paths, &target, &key).unwrap().is_none());
    assert!(!stored.path.exists(), "the changed zip is removed");
}

/// The deployer's folders, all under `dir`.
fn paths_in(dir: &Path) -> deployer::local::Paths {
    deployer::local::Paths {
        cache: dir.to_path_buf(),
        venv: dir.join("venv"),
        local: dir.join("local"),
    }
}
