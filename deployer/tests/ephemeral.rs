//! Ephemeral stacks from CI, against the suite's emulator: five brought up, verified and torn
//! down in parallel from separate processes; two concurrent `up`s on one stack; `gc` deleting
//! only expired ephemeral stacks; `down` after a failed `up`; `down` from an outputs file.

mod common;

use common::{deployer, deployer_with, Inputs};
use serde_json::json;

/// The stack's status on the suite's emulator; `None` when it is gone.
async fn stack_status(name: &str) -> Option<String> {
    common::Emu::ministack().stack_status(name).await
}

#[tokio::test]
async fn five_ephemeral_stacks_up_verify_and_down_in_parallel_from_separate_processes() {
    let base = Inputs::new(
        json!({"claims": [{"attribute": "projects", "tokens": "both", "type": "list"}]}),
    );
    let mut runs = Vec::new();
    for i in 0..5 {
        let path = base.path.clone();
        let dir = base.dir.path().to_path_buf();
        runs.push(tokio::spawn(async move {
            let suffix = format!("p{i}");
            let outputs_file = dir.join(format!("outputs-{i}.json"));
            let out = outputs_file.to_str().unwrap();
            let up = deployer(
                &path,
                &[
                    "--ephemeral",
                    "--suffix",
                    &suffix,
                    "up",
                    "--outputs-file",
                    out,
                    "--output",
                    "json",
                ],
            )
            .await
            .succeeded();
            let stack = up.json()["stack"].as_str().unwrap().to_owned();
            deployer(&path, &["--ephemeral", "--suffix", &suffix, "verify"])
                .await
                .succeeded();
            // The teardown needs no inputs: only the outputs file.
            let down = deployer(
                std::path::Path::new("/nonexistent.json"),
                &["down", "--from-outputs", out, "--output", "json"],
            )
            .await
            .succeeded();
            assert_eq!(down.json()["action"], "deleted");
            stack
        }));
    }
    let mut stacks = Vec::new();
    for run in runs {
        stacks.push(run.await.unwrap());
    }
    stacks.sort();
    let expected: Vec<String> = (0..5).map(|i| format!("{}--p{i}", base.stack)).collect();
    assert_eq!(
        stacks, expected,
        "each run its own stack, named by its suffix"
    );
    for s in &stacks {
        assert_eq!(stack_status(s).await, None, "{s} is gone");
    }
}

#[tokio::test]
async fn ephemeral_stacks_are_tagged_with_their_origin_and_expiry() {
    let inputs = Inputs::new(json!({"lifecycle": "kept"}));
    let env = [
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_RUN_ATTEMPT", "3"),
        ("GITHUB_SHA", "0123abcd"),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "acme/app"),
    ];
    let up = deployer_with(
        &inputs.path,
        &["--ephemeral", "--ttl", "90m", "up", "--output", "json"],
        &env,
        None,
    )
    .await
    .succeeded()
    .json();
    let stack = up["stack"].as_str().unwrap().to_owned();
    // The suffix names the run and, hashed, the attempt, job and matrix leg.
    let env_map: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let suffix = deployer::ephemeral::suffix(None, &env_map).unwrap();
    assert!(suffix.starts_with("gh4242-"), "{suffix}");
    assert_eq!(stack, format!("{}--{suffix}", inputs.stack));
    assert_eq!(
        up["outputs"]["UserPoolDomain"],
        format!("{}-{suffix}", inputs.domain)
    );
    let cfn = aws_sdk_cloudformation::Client::new(&common::sdk().await);
    let described = cfn
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .unwrap()
        .stacks
        .unwrap()
        .remove(0);
    let tags: std::collections::HashMap<String, String> = described
        .tags
        .unwrap()
        .into_iter()
        .map(|t| (t.key.unwrap(), t.value.unwrap()))
        .collect();
    assert_eq!(tags["deployer:ephemeral"], "true");
    assert_eq!(tags["deployer:commit"], "0123abcd");
    assert_eq!(
        tags["deployer:pipeline"],
        "https://github.com/acme/app/actions/runs/4242"
    );
    assert!(tags["deployer:expires-at"].ends_with('Z'));
    // up and status say it is ephemeral, and until when.
    assert_eq!(up["expires"], tags["deployer:expires-at"].as_str());
    let status = deployer_with(&inputs.path, &["--ephemeral", "status"], &env, None).await;
    assert!(
        status.stdout.contains(&format!(
            "ephemeral: expires {}; `deployer gc` deletes it after that",
            tags["deployer:expires-at"]
        )),
        "{}",
        status.stdout
    );
    // Ephemeral means disposable, whatever the inputs say: down needs no --force.
    let again = deployer_with(
        &inputs.path,
        &["--ephemeral", "up", "--output", "json"],
        &env,
        None,
    )
    .await
    .succeeded()
    .json();
    assert_eq!(
        again["action"], "unchanged",
        "a re-run with a new expiry is still a no-op"
    );
    deployer_with(&inputs.path, &["--ephemeral", "down"], &env, None)
        .await
        .succeeded();
    assert_eq!(stack_status(&stack).await, None);
    // Outside CI, ephemeral mode asks for a suffix.
    let no_suffix = deployer(&inputs.path, &["--ephemeral", "render"]).await;
    assert_eq!(no_suffix.code, 2);
    assert!(
        no_suffix.stderr.contains("--suffix"),
        "{}",
        no_suffix.stderr
    );
}

#[tokio::test]
async fn two_concurrent_ups_on_one_stack_never_interleave() {
    let inputs = Inputs::new(json!({}));
    let (a, b) = tokio::join!(
        deployer(&inputs.path, &["up", "--output", "json"]),
        deployer(&inputs.path, &["up", "--output", "json"])
    );
    for run in [&a, &b] {
        assert!(
            run.code == 0 || (run.code == 5 && run.stderr.contains("IN_PROGRESS")),
            "each up succeeds or names the operation in progress:\n{}",
            run.stderr
        );
    }
    let actions: Vec<String> = [&a, &b]
        .iter()
        .filter(|r| r.code == 0)
        .map(|r| r.json()["action"].as_str().unwrap().to_owned())
        .collect();
    // At most one reports the create; a run that lost the race waited and found the stack done
    // (or updated it). Either way the stack ends complete and working, never half-made.
    assert!(
        actions.iter().filter(|a| *a == "created").count() <= 1,
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .all(|a| ["created", "unchanged", "updated"].contains(&a.as_str())),
        "{actions:?}"
    );
    let status = stack_status(&inputs.stack).await;
    assert!(
        matches!(
            status.as_deref(),
            Some("CREATE_COMPLETE" | "UPDATE_COMPLETE")
        ),
        "{status:?}"
    );
    deployer(&inputs.path, &["verify"]).await.succeeded();
    deployer(&inputs.path, &["down"]).await.succeeded();
}

#[tokio::test]
async fn gc_deletes_only_expired_ephemeral_stacks() {
    let expired = Inputs::new(json!({}));
    let live = Inputs::new(json!({}));
    let plain = Inputs::new(json!({}));
    let (e, l, p) = tokio::join!(
        deployer(
            &expired.path,
            &["--suffix", "gcx", "--ttl", "1s", "up", "--output", "json"]
        ),
        deployer(
            &live.path,
            &["--suffix", "gcl", "--ttl", "2h", "up", "--output", "json"]
        ),
        deployer(&plain.path, &["up", "--output", "json"]),
    );
    let (e, l) = (
        e.succeeded().json()["stack"].as_str().unwrap().to_owned(),
        l.succeeded().json()["stack"].as_str().unwrap().to_owned(),
    );
    p.succeeded();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    // What gc did to this test's stacks (others run beside it); skipped ones are listed too.
    let ours = |report: &serde_json::Value| -> Vec<(String, String)> {
        report["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| [&e, &l, &plain.stack].contains(&&x["stack"].as_str().unwrap().to_owned()))
            .map(|x| {
                (
                    x["stack"].as_str().unwrap().to_owned(),
                    x["result"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    // gc collects its project's copies only: from plain's inputs, none of these.
    let scoped = deployer(&plain.path, &["gc", "--dry-run", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(
        ours(&scoped),
        Vec::new(),
        "another project's copies are not considered"
    );
    let own = deployer(&expired.path, &["gc", "--dry-run", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(ours(&own), vec![(e.clone(), "would-delete".to_owned())]);
    // The table counts what a dry run would delete; every entry says why.
    let table = deployer(&expired.path, &["gc", "--dry-run"])
        .await
        .succeeded();
    assert!(
        table.stdout.contains("1 would be deleted (dry run)"),
        "{}",
        table.stdout
    );
    // Every project's, when asked.
    let dry = deployer(
        &plain.path,
        &["gc", "--all-projects", "--dry-run", "--output", "json"],
    )
    .await
    .succeeded()
    .json();
    let live_skipped = |r: &Vec<(String, String)>| {
        r.iter()
            .any(|(s, why)| *s == l && why.starts_with("skipped: expires at"))
    };
    // Every entry says why, skipped ones too (their reason was empty).
    let live_entry = dry["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["stack"] == l.as_str())
        .unwrap();
    assert!(
        live_entry["reason"]
            .as_str()
            .unwrap()
            .starts_with("expires at"),
        "{live_entry}"
    );
    let dry = ours(&dry);
    assert!(
        dry.contains(&(e.clone(), "would-delete".to_owned())),
        "{dry:?}"
    );
    assert!(live_skipped(&dry), "{dry:?}");
    assert_eq!(
        dry.len(),
        2,
        "the plain stack is not even considered: {dry:?}"
    );
    assert!(
        stack_status(&e).await.is_some(),
        "a dry run deletes nothing"
    );

    let real = deployer(&plain.path, &["gc", "--all-projects", "--output", "json"])
        .await
        .succeeded()
        .json();
    let real = ours(&real);
    assert!(
        real.contains(&(e.clone(), "deleted".to_owned())),
        "{real:?}"
    );
    assert!(live_skipped(&real), "{real:?}");
    assert_eq!(stack_status(&e).await, None);
    assert!(
        stack_status(&l).await.is_some(),
        "a live ephemeral stack stays"
    );
    assert!(
        stack_status(&plain.stack).await.is_some(),
        "a stack without the ephemeral tag is never touched"
    );

    // --older-than takes live ephemeral stacks too, still never the plain one.
    let old = deployer(
        &plain.path,
        &[
            "gc",
            "--all-projects",
            "--older-than",
            "1s",
            "--output",
            "json",
        ],
    )
    .await
    .succeeded()
    .json();
    assert_eq!(ours(&old), vec![(l.clone(), "deleted".to_owned())]);
    assert!(stack_status(&plain.stack).await.is_some());
    deployer(&plain.path, &["down"]).await.succeeded();
}

#[tokio::test]
async fn down_after_a_failed_up_removes_what_is_left() {
    // Both suffixed alike, so the second asks for the domain the first holds.
    let holder = Inputs::new(json!({}));
    deployer(&holder.path, &["--suffix", "f1", "up"])
        .await
        .succeeded();
    let clash = Inputs::new(json!({"userPoolDomainName": holder.domain}));
    assert_eq!(
        deployer(&clash.path, &["--suffix", "f1", "up"]).await.code,
        3
    );
    let stack = format!("{}--f1", clash.stack);
    assert_eq!(
        stack_status(&stack).await.as_deref(),
        Some("ROLLBACK_COMPLETE")
    );
    let down = deployer(&clash.path, &["--suffix", "f1", "down", "--output", "json"])
        .await
        .succeeded()
        .json();
    assert_eq!(down["action"], "deleted");
    assert_eq!(stack_status(&stack).await, None);
    deployer(&holder.path, &["--suffix", "f1", "down"])
        .await
        .succeeded();
}
