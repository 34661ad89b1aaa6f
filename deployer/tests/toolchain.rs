//! Tests that need the project's tools (scripts/setup.sh installs them): the real Graviton
//! cross-build, and cfn-lint over the golden templates. Run by scripts/test.sh (`--features
//! e2e`); a missing tool fails them with what to do.

use deployer::build::{self, BuildTarget};
use std::io::Read;

#[tokio::test]
async fn the_real_graviton_build_is_an_aarch64_binary_and_rebuilding_gives_the_same_zip() {
    let cache = tempfile::tempdir().unwrap();
    let mut paths = deployer::local::Paths::from_vars(
        std::env::var_os("DEPLOYER_CACHE_DIR").map(Into::into),
        None,
        None,
    );
    paths.cache = cache.path().to_path_buf();
    let first = build::build(&paths, &BuildTarget::Graviton)
        .await
        .expect("cross-build (run scripts/setup.sh)");
    assert_eq!(first.origin, deployer::build::Origin::Built);
    let again = build::build(&paths, &BuildTarget::Graviton).await.unwrap();
    assert_eq!(
        again.origin,
        deployer::build::Origin::LocalCache,
        "an unchanged trigger is not rebuilt"
    );
    assert_eq!(again.sha256, first.sha256);

    // Rebuild from scratch (cache gone): cargo relinks the same binary, the zip is identical.
    std::fs::remove_dir_all(cache.path().join("artifacts")).unwrap();
    let rebuilt = build::build(&paths, &BuildTarget::Graviton).await.unwrap();
    assert_eq!(rebuilt.origin, deployer::build::Origin::Built);
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

/// The golden templates (tests/snapshots/template__*), as insta stored them.
fn golden() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("template__"))
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // insta's header is a YAML front matter between two `---` lines.
        let body = text.splitn(3, "---\n").nth(2).unwrap_or(&text).to_owned();
        found.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            body,
        ));
    }
    found.sort();
    assert!(found.len() >= 3, "golden templates in {}", dir.display());
    found
}

#[test]
fn cfn_lint_reports_nothing_on_the_golden_templates() {
    let venv = std::env::var("DEPLOYER_VENV")
        .unwrap_or_else(|_| format!("{}/../.cache/venv", env!("CARGO_MANIFEST_DIR")));
    let lint = format!("{venv}/bin/cfn-lint");
    assert!(
        std::path::Path::new(&lint).is_file(),
        "cfn-lint is missing at {lint}: run scripts/setup.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in golden() {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, body).unwrap();
        let out = std::process::Command::new(&lint)
            .arg("--")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cfn-lint on {name}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The handler permissions the fast suite checks the CI roles against
/// (tests/fixtures/handler-permissions.json) are those of the provider schemas cfn-lint ships.
#[test]
fn the_handler_permissions_fixture_is_cfn_lints() {
    let venv = std::env::var("DEPLOYER_VENV")
        .unwrap_or_else(|_| format!("{}/../.cache/venv", env!("CARGO_MANIFEST_DIR")));
    let python = format!("{venv}/bin/python3");
    assert!(
        std::path::Path::new(&python).is_file(),
        "the project venv is missing at {venv}: run scripts/setup.sh"
    );
    let out = std::process::Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../scripts/handler-permissions.py"
        ))
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
