//! A fresh CI runner, on the suite's emulator: no cache, no venv, no zig, no cargo-zigbuild.
//! A trigger whose build is shared in the artifacts bucket deploys without compiling; a
//! changed one stops before any change with what to install, or how to share the build.

mod common;

use common::{deployer, deployer_with, Inputs};
use serde_json::json;

/// The environment of a runner that has Rust (for the source key) and nothing else.
fn fresh_runner(home: &std::path::Path) -> Vec<(String, String)> {
    let rustc = std::process::Command::new("rustup")
        .args(["which", "rustc"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "rustc".into());
    let rust_bin = std::path::Path::new(&rustc)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    vec![
        (
            "DEPLOYER_CACHE_DIR".into(),
            home.join("cache").display().to_string(),
        ),
        (
            "DEPLOYER_VENV".into(),
            home.join("no-venv").display().to_string(),
        ),
        ("PATH".into(), format!("{rust_bin}:/usr/bin:/bin")),
    ]
}

#[tokio::test]
async fn a_runner_without_the_cross_build_tools_deploys_a_shared_build_and_is_told_what_to_install()
{
    let inputs = Inputs::new(json!({}));
    // A machine with the tools builds (or finds) the zip and shares it.
    let built = deployer(&inputs.path, &["build", "--publish", "--output", "json"])
        .await
        .succeeded()
        .json();
    let source_key = built["sourceKey"].as_str().unwrap().to_owned();
    assert_eq!(
        built["published"]["key"],
        format!("_builds/{}/trigger-{source_key}.zip", inputs.stack)
    );
    let again = deployer(&inputs.path, &["build", "--publish", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(again["published"]["uploaded"], false, "shared once");

    let home = tempfile::tempdir().unwrap();
    let env = fresh_runner(home.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // A publish job on a runner without the tools: already shared, nothing to compile.
    let shared = deployer_with(
        &inputs.path,
        &["build", "--publish", "--output", "json"],
        &env,
        None,
    )
    .await
    .succeeded()
    .json();
    assert_eq!(shared["origin"], "shared-cache");
    assert_eq!(shared["published"]["uploaded"], false);
    assert_eq!(shared["sha256"], built["sha256"]);
    // Its local cache now holds the zip: start the deploying runner from an empty one.
    std::fs::remove_dir_all(home.path().join("cache")).unwrap();

    let up = deployer_with(&inputs.path, &["up", "--output", "json"], &env, None)
        .await
        .succeeded();
    let report = up.json();
    assert_eq!(report["action"], "created");
    assert_eq!(report["artifact"]["from"], "shared-cache", "{}", up.stderr);
    assert_eq!(report["artifact"]["sourceKey"], source_key.as_str());
    assert_eq!(report["artifact"]["sha256"], built["sha256"]);
    // What runs is that zip: the function's CodeSha256 is among the post-deploy checks.
    let checks = report["checks"].as_array().unwrap();
    assert!(
        !checks.is_empty() && checks.iter().all(|c| c["ok"] == true),
        "{checks:?}"
    );
    assert!(!up.stderr.contains("building the trigger"), "{}", up.stderr);

    // A changed trigger (RUSTFLAGS is an input of the build) on the same runner: no zip for
    // its key anywhere, no tools to build it. Exit 1, what to do, and the stack untouched.
    let mut changed = env.clone();
    changed.push(("RUSTFLAGS", "--cfg deployer_fresh_runner_test"));
    let denied = deployer_with(&inputs.path, &["up"], &changed, None).await;
    assert_eq!(denied.code, 1, "{}", denied.stderr);
    for needed in [
        "the trigger has to be built",
        "cargo-zigbuild is not installed",
        "rustup target add aarch64-unknown-linux-musl",
        "pip install cargo-zigbuild==",
        "deployer build --publish",
    ] {
        assert!(
            denied.stderr.contains(needed),
            "{needed}:\n{}",
            denied.stderr
        );
    }
    let unchanged = deployer_with(&inputs.path, &["up", "--output", "json"], &env, None)
        .await
        .succeeded()
        .json();
    assert_eq!(unchanged["action"], "unchanged");
    assert_eq!(unchanged["artifact"]["from"], "local-cache");

    deployer(&inputs.path, &["down"]).await.succeeded();
}

/// A stack with an API: `build --publish` shares the authorizer's and `whoami`'s builds
/// beside the trigger's, and a runner that cannot compile anything deploys the whole stack
/// from them.
#[tokio::test]
async fn a_runner_without_the_tools_deploys_an_api_from_the_shared_builds() {
    let inputs = Inputs::new(json!({"api": {"routes": {"GET /me": {}}}}));
    std::fs::create_dir(inputs.dir.path().join("policies")).unwrap();
    std::fs::write(
        inputs.dir.path().join("policies/me.cedar"),
        "permit(principal, action == App::Action::\"GET /me\", resource);\n",
    )
    .unwrap();
    let built = deployer(&inputs.path, &["build", "--publish", "--output", "json"])
        .await
        .succeeded()
        .json();
    let api = built["api"].as_array().expect("the API's builds");
    let names: Vec<&str> = api
        .iter()
        .map(|b| b["function"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["authorizer", "whoami"], "{built}");
    for b in api {
        let key = b["artifact"]["sourceKey"].as_str().unwrap();
        assert_eq!(
            b["published"]["key"],
            format!(
                "_builds/{}/{}-{key}.zip",
                inputs.stack,
                b["function"].as_str().unwrap()
            )
        );
    }
    // Without `api`, the trigger alone.
    let plain = Inputs::new(json!({}));
    let trigger_only = deployer(&plain.path, &["build", "--publish", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert!(trigger_only.get("api").is_none(), "{trigger_only}");

    let home = tempfile::tempdir().unwrap();
    let env = fresh_runner(home.path());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let up = deployer_with(&inputs.path, &["up", "--output", "json"], &env, None)
        .await
        .succeeded();
    let report = up.json();
    assert_eq!(report["artifact"]["from"], "shared-cache", "{}", up.stderr);
    let checks = report["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "authorizer runs the deployed zip and policies")
            && checks.iter().all(|c| c["ok"] == true),
        "{checks:?}"
    );
    for function in ["trigger", "authorizer", "whoami"] {
        assert!(
            !up.stderr.contains(&format!("building the {function}")),
            "{}",
            up.stderr
        );
    }
    deployer(&inputs.path, &["down"]).await.succeeded();
}
