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
        build::executable(messages).as_deref(),
        Some(Path::new(
            "/x/target/aarch64-unknown-linux-musl/lambda/bootstrap"
        ))
    );
    assert_eq!(build::executable(r#"{"reason":"build-finished"}"#), None);
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

#[test]
fn the_source_key_changes_with_every_input_of_the_build() {
    let dir = workspace_copy();
    let root = dir.path();
    let key = || build::source_key(root, &BuildTarget::Graviton).unwrap();
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
    for (file, text) in [
        ("trigger/src/main.rs", "// a change\n"),
        ("trigger/certs/amazon-roots.pem", "\n"),
        ("Cargo.lock", "\n"),
        (".cargo/config.toml", "[build]\n"),
        ("trigger/Cargo.toml", "\n"),
    ] {
        touch(file, text);
        let now = key();
        assert!(!seen.contains(&now), "{file} did not change the key");
        seen.push(now);
    }
    assert_ne!(
        build::source_key(
            root,
            &BuildTarget::Host {
                reason: String::new()
            }
        )
        .unwrap(),
        key(),
        "the target is part of the key"
    );
}
