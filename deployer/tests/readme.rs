//! The README is tested, so it and the tool cannot drift apart: every command and option its
//! "Commands" list names exists (their `--help` says so), and the "first deploy" walkthrough
//! runs, in order, against the suite's emulator.

mod common;

use std::path::Path;
use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap()
}

/// The ```sh block under the heading `title`.
fn block(readme: &str, title: &str) -> Vec<String> {
    let section = &readme[readme.find(title).unwrap_or_else(|| panic!("no {title:?}"))..];
    let start = section.find("```sh\n").unwrap() + "```sh\n".len();
    let end = start + section[start..].find("```").unwrap();
    section[start..end].lines().map(str::to_owned).collect()
}

/// Each `deployer ...` alternative of a synopsis line: the subcommand path and its options.
fn synopses(line: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let line = line.split("  #").next().unwrap();
    let rest = line
        .split("cargo run -p deployer -- ")
        .nth(1)
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    // ` | ` separates alternative commands; inside an option list (`[--a X | --b Y]`) it
    // separates options of the same one.
    let mut alternatives: Vec<String> = Vec::new();
    for part in rest.split(" | ") {
        match alternatives.last_mut() {
            Some(last) if part.starts_with('-') => last.push_str(&format!(" {part}")),
            _ => alternatives.push(part.to_owned()),
        }
    }
    for (i, alternative) in alternatives.iter().enumerate() {
        let words: Vec<&str> = alternative.split_whitespace().collect();
        let is_command = |w: &&&str| {
            w.chars().all(|c| c.is_ascii_lowercase() || c == '-') && !w.starts_with('-')
        };
        let mut command: Vec<String> = words
            .iter()
            .take_while(is_command)
            .map(|w| w.to_string())
            .collect();
        // `local start ... | stop | status`: a bare word continues the first one's parent.
        if i > 0 && command.len() == 1 && path.len() > 1 {
            command = [path[..path.len() - 1].to_vec(), command].concat();
        }
        let flags = words
            .iter()
            .filter_map(|w| {
                let w = w.trim_start_matches('[');
                w.starts_with("--").then(|| {
                    w.trim_end_matches([']', '.', ','])
                        .split(['=', ']'])
                        .next()
                        .unwrap()
                        .to_owned()
                })
            })
            .collect();
        path = command.clone();
        out.push((command, flags));
    }
    out
}

#[test]
fn every_command_and_option_the_readme_lists_exists() {
    let lines = block(&readme(), "## Commands");
    assert!(lines.len() > 15, "{lines:?}");
    let mut checked = 0;
    for line in &lines {
        for (command, flags) in synopses(line) {
            let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
                .args(&command)
                .arg("--help")
                .output()
                .unwrap();
            let help = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && help.contains("Usage: deployer"),
                "README: {line}\n`deployer {}` is no command",
                command.join(" ")
            );
            for flag in flags {
                assert!(
                    help.contains(&flag),
                    "README: {line}\n`deployer {}` has no {flag}",
                    command.join(" ")
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} synopses");
}

/// Runs each README line in bash, `cargo run -p deployer --` being the built binary against
/// the local emulator and `inputs`, with `$PASSWORD` set; each must succeed. Each line and
/// its stdout.
#[cfg(feature = "e2e")]
async fn run_lines(lines: Vec<String>, inputs: &Path) -> Vec<(String, String)> {
    run_lines_in(lines, inputs, Path::new(".")).await
}

/// `run_lines`, each line run in `cwd`.
#[cfg(feature = "e2e")]
async fn run_lines_in(lines: Vec<String>, inputs: &Path, cwd: &Path) -> Vec<(String, String)> {
    let command = format!(
        "\"{}\" --local -f \"{}\"",
        env!("CARGO_BIN_EXE_deployer"),
        inputs.display()
    );
    let mut outputs = Vec::new();
    for line in lines {
        let script = line.replace("cargo run -p deployer --", &command);
        let out = tokio::process::Command::new("bash")
            .args(["-c", &script])
            .current_dir(cwd)
            .env("PASSWORD", "Readme-walkthrough-1")
            .env("DEPLOYER_PLAIN", "1")
            .env("DEPLOYER_POLL_MS", "100")
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "README line failed: {line}\nstdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push((line, stdout));
    }
    outputs
}

/// The walkthrough, as written, on the emulator: `cargo run -p deployer --` is the built
/// binary against the local emulator and a throwaway inputs file; `$PASSWORD` is set.
#[cfg(feature = "e2e")]
#[tokio::test]
async fn the_first_deploy_walkthrough_runs_as_written() {
    let inputs = common::Inputs::new(serde_json::json!({
        "claims": [{"attribute": "projects", "tokens": "both", "type": "list"}]
    }));
    common::endpoint();
    let lines = block(&readme(), "## The first deploy to AWS");
    assert!(lines.len() >= 6, "{lines:?}");
    let outputs = run_lines(lines, &inputs.path).await;
    let token = outputs
        .iter()
        .find(|(l, _)| l.contains(" token alice"))
        .unwrap();
    assert!(
        token.1.contains("p1") && token.1.contains("p2"),
        "{}",
        token.1
    );
}

/// "Claims for the pool you already have", as written, on the emulator: the inputs shown
/// (with a pool the test makes as a team would: a user, an app client, another
/// pre-token-generation trigger), then each command line.
#[cfg(feature = "e2e")]
#[tokio::test]
async fn the_existing_pool_walkthrough_runs_as_written() {
    use aws_sdk_cognitoidentityprovider::types::{ExplicitAuthFlowsType, LambdaConfigType};
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&common::sdk().await);
    let theirs = "arn:aws:lambda:us-east-1:000000000000:function:their-pretoken";
    let pool = cognito
        .create_user_pool()
        .pool_name(common::unique("readme"))
        .lambda_config(
            LambdaConfigType::builder()
                .pre_token_generation(theirs)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap()
        .id
        .unwrap();
    let client = cognito
        .create_user_pool_client()
        .user_pool_id(&pool)
        .client_name("web")
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .unwrap()
        .user_pool_client
        .unwrap()
        .client_id
        .unwrap();
    common::pool_user(&pool, "jane", Some("Readme-walkthrough-1")).await;

    let readme = readme();
    let section = &readme[readme
        .find("## Claims for the pool you already have")
        .unwrap()..];
    let start = section.find("```json\n").unwrap() + "```json\n".len();
    let end = start + section[start..].find("```").unwrap();
    let mut inputs: serde_json::Value = serde_json::from_str(&section[start..end]).unwrap();
    let stack = common::unique("t");
    inputs["stackName"] = stack.clone().into();
    inputs["region"] = "us-east-1".into();
    inputs["userPool"]["existing"] = pool.clone().into();
    inputs["userPool"]["clients"] = serde_json::json!([client]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stack-inputs.json");
    std::fs::write(&file, inputs.to_string()).unwrap();

    let lines = block(&readme, "## Claims for the pool you already have");
    assert_eq!(lines.len(), 5, "{lines:?}");
    let outputs = run_lines(lines, &file).await;
    let token = &outputs
        .iter()
        .find(|(l, _)| l.contains(" token jane"))
        .unwrap()
        .1;
    assert!(token.contains("p1") && token.contains("p2"), "{token}");
    let after = cognito
        .describe_user_pool()
        .user_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let slot = deployer::pool::Slot::of(after.user_pool.unwrap().lambda_config());
    assert_eq!(
        slot.effective(),
        Some((theirs, "V1_0")),
        "their trigger is back"
    );
}

/// "Decisions at the API: Cedar policies", as written, on the emulator: the example's
/// inputs (under a stack name of this run), policies and cases.
#[cfg(feature = "e2e")]
#[tokio::test]
async fn the_api_walkthrough_runs_as_written() {
    common::endpoint();
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/projects-api");
    let copy = dir.path().join("examples/projects-api");
    std::fs::create_dir_all(copy.join("policies")).unwrap();
    for file in ["cases.json", "policies/projects.cedar"] {
        std::fs::copy(example.join(file), copy.join(file)).unwrap();
    }
    let mut inputs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example.join("stack-inputs.json")).unwrap())
            .unwrap();
    inputs["stackName"] = common::unique("readme").into();
    inputs["userPoolDomainName"] = common::unique("readme").into();
    std::fs::write(copy.join("stack-inputs.json"), inputs.to_string()).unwrap();

    let readme = readme();
    let section = &readme[readme.find("## Decisions at the API").unwrap()..];
    let start = section.find("```sh\n").unwrap() + 6;
    let lines: Vec<String> = section[start..start + section[start..].find("```").unwrap()]
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(lines.len() >= 8, "{lines:?}");
    // From the copy's root, as the README's lines run from the repository's; `-f` names the
    // copy's inputs (over the DEPLOYER_INPUTS the README exports).
    let outputs = run_lines_in(lines, &copy.join("stack-inputs.json"), dir.path()).await;
    let out = |needle: &str| &outputs.iter().find(|(l, _)| l.contains(needle)).unwrap().1;
    assert!(
        out("authz test").contains("8 passed, 0 failed"),
        "{outputs:?}"
    );
    assert!(
        out("call GET /projects/alpha").contains("-> 200"),
        "{outputs:?}"
    );
    let beta = out("call GET /projects/beta");
    assert!(beta.contains("-> 403") && beta.contains("exit 8"), "{beta}");
    assert!(out("authz check").contains("DENY"), "{outputs:?}");
    assert!(out("logs --authorizer").contains("ALLOW"), "{outputs:?}");
}
