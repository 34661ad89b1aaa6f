//! The trigger's zip is reproducible: same binary, same bytes; `bootstrap` at the root, 0755.

use deployer::build::{self, BuildTarget};
use std::io::Read;

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
fn the_real_graviton_build_is_an_aarch64_binary_and_rebuilding_gives_the_same_zip() {
    let cache = tempfile::tempdir().unwrap();
    let mut paths = deployer::local::Paths::from_env();
    paths.cache = cache.path().to_path_buf();
    let first =
        build::build(&paths, &BuildTarget::Graviton).expect("cross-build (run scripts/setup.sh)");
    assert!(first.rebuilt);
    let again = build::build(&paths, &BuildTarget::Graviton).unwrap();
    assert!(!again.rebuilt, "an unchanged trigger is not rebuilt");
    assert_eq!(again.sha256, first.sha256);

    // Rebuild from scratch (cache gone): cargo relinks the same binary, the zip is identical.
    std::fs::remove_dir_all(cache.path().join("artifacts")).unwrap();
    let rebuilt = build::build(&paths, &BuildTarget::Graviton).unwrap();
    assert!(rebuilt.rebuilt);
    assert_eq!(rebuilt.sha256, first.sha256);

    let mut archive = zip::ZipArchive::new(std::fs::File::open(&first.path).unwrap()).unwrap();
    let mut head = [0u8; 20];
    archive
        .by_name("bootstrap")
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    assert_eq!(&head[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([head[18], head[19]]),
        0xB7,
        "e_machine is EM_AARCH64"
    );
    assert!(
        first.size <= 4 * 1024 * 1024,
        "the zip is {} bytes, over the 4 MB budget",
        first.size
    );
}
