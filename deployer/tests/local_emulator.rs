//! The local emulator as a user drives it: `deployer local start|status|stop` in a separate
//! state folder (so it never touches the suite's shared emulator), loopback only, reused on a
//! second start, usable through the Rust SDK with the endpoint override, and gone after stop.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use serde_json::Value;
use std::collections::HashSet;
use std::process::Command;

fn deployer(local_dir: &std::path::Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(args)
        .args(["--output", "json"])
        .env("DEPLOYER_LOCAL_DIR", local_dir)
        .output()
        .expect("run deployer");
    assert!(
        out.status.success(),
        "deployer {args:?} failed: {}\n(is the emulator installed? run scripts/setup.sh)",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json output")
}

/// Socket inodes held by the processes of a process group.
fn socket_inodes(pgid: i32) -> HashSet<String> {
    let mut inodes = HashSet::new();
    for pid in deployer::local::group_members(pgid) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                let link = link.to_string_lossy().into_owned();
                if let Some(inode) = link
                    .strip_prefix("socket:[")
                    .and_then(|s| s.strip_suffix(']'))
                {
                    inodes.insert(inode.to_owned());
                }
            }
        }
    }
    inodes
}

/// (table, local address, state) of every TCP/UDP socket with one of `inodes`.
fn bound_sockets(inodes: &HashSet<String>) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 9 && inodes.contains(cols[9]) {
                found.push((table.to_owned(), cols[1].to_owned(), cols[3].to_owned()));
            }
        }
    }
    found
}

#[tokio::test]
async fn ministack_starts_on_loopback_only_serves_dynamodb_is_reused_and_stops_cleanly() {
    lifecycle("ministack", "/_ministack/health").await
}

#[tokio::test]
async fn fakecloud_starts_on_loopback_only_serves_dynamodb_is_reused_and_stops_cleanly() {
    lifecycle("fakecloud", "/_fakecloud/health").await
}

/// One body for both engines: every `local` command takes `--engine`.
async fn lifecycle(engine: &str, health: &str) {
    let dir = tempfile::tempdir().unwrap();
    let deployer = |dir: &std::path::Path, args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--engine", engine]);
        deployer(dir, &args)
    };
    let started = deployer(dir.path(), &["local", "start"]);
    assert_eq!(started["engine"], engine);
    assert_eq!(started["action"], "started", "{started}");
    let pid = started["pid"].as_u64().unwrap() as i32;
    let endpoint = started["endpoint"].as_str().unwrap().to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    // Loopback only: every listening or bound socket of the emulator's processes is 127.0.0.1.
    let sockets = bound_sockets(&socket_inodes(pid));
    let listening: Vec<_> = sockets
        .iter()
        .filter(|(t, _, st)| t.starts_with("udp") || st == "0A")
        .collect();
    assert!(
        !listening.is_empty(),
        "the emulator holds no listening socket: {sockets:?}"
    );
    for (table, local, _) in &listening {
        assert!(
            table == "tcp" && local.starts_with("0100007F:")
                || table == "udp" && local.starts_with("0100007F:"),
            "a socket of the emulator is not on 127.0.0.1: {table} {local}"
        );
    }

    // A second start reuses it.
    let again = deployer(dir.path(), &["local", "start"]);
    assert_eq!(again["action"], "reused", "{again}");
    assert_eq!(again["pid"].as_u64().unwrap() as i32, pid);
    // Asked for IAM enforcement it is not running with: refused, not silently reused.
    let strict = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["local", "start", "--engine", engine, "--iam", "strict"])
        .env("DEPLOYER_LOCAL_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(strict.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&strict.stderr);
    let expected = if engine == "fakecloud" {
        "fakecloud is already running with --iam off, not --iam strict"
    } else {
        "--iam applies to fakecloud only"
    };
    assert!(stderr.contains(expected), "{stderr}");
    let status = deployer(dir.path(), &["local", "status"]);
    assert_eq!(
        (status["running"].as_bool(), status["endpoint"].as_str()),
        (Some(true), Some(endpoint.as_str()))
    );

    // The Rust SDK through the endpoint override: create a table, write and read an item.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(&endpoint)
        .http_client(deployer::aws::http_client(&deployer::aws::Target::Local))
        .load()
        .await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    ddb.create_table()
        .table_name("UserInfoTable")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("userName")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("userName")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    ddb.put_item()
        .table_name("UserInfoTable")
        .item("userName", AttributeValue::S("jane".into()))
        .item("projects", AttributeValue::S("p-100,p-200".into()))
        .send()
        .await
        .unwrap();
    let item = ddb
        .get_item()
        .table_name("UserInfoTable")
        .key("userName", AttributeValue::S("jane".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["projects"], AttributeValue::S("p-100,p-200".into()));

    let stopped = deployer(dir.path(), &["local", "stop"]);
    assert_eq!(stopped["action"], "stopped");
    assert_eq!(
        deployer::local::group_members(pid),
        Vec::<i32>::new(),
        "processes left behind"
    );
    assert!(deployer::local::http_status(
        endpoint.rsplit(':').next().unwrap().parse().unwrap(),
        "GET",
        health
    )
    .is_none());
    let status = deployer(dir.path(), &["local", "status"]);
    assert_eq!(status["running"], false);
    assert_eq!(
        deployer(dir.path(), &["local", "stop"])["action"],
        "nothing"
    );
}

#[test]
fn start_without_ministack_fails_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["local", "start"])
        .env("DEPLOYER_LOCAL_DIR", dir.path())
        .env("DEPLOYER_VENV", dir.path().join("no-venv"))
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ministack is not installed") && stderr.contains("scripts/setup.sh"),
        "{stderr}"
    );
}

#[test]
fn start_without_fakecloud_fails_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["local", "start", "--engine", "fakecloud"])
        .env("DEPLOYER_LOCAL_DIR", dir.path())
        .env("DEPLOYER_CACHE_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fakecloud is not installed") && stderr.contains("scripts/setup.sh"),
        "{stderr}"
    );
}

/// Two commands that both find no emulator (two terminals, or `up --local` beside the test
/// suite) must end up on one: the second waits for the first's start and reuses it, instead of
/// starting a second emulator whose record overwrites the first's and leaves it running
/// where `stop` cannot reach it.
#[test]
fn two_starts_at_once_share_one_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_deployer"))
            .args(["local", "start", "--output", "json"])
            .env("DEPLOYER_LOCAL_DIR", dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outputs: Vec<Value> = [a, b]
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        })
        .collect();
    let pids: Vec<i32> = outputs
        .iter()
        .map(|o| o["pid"].as_i64().unwrap() as i32)
        .collect();
    // Whatever happens below, no emulator outlives the test.
    let _guard = KillGroups(pids.clone());
    let mut actions: Vec<&str> = outputs
        .iter()
        .map(|o| o["action"].as_str().unwrap())
        .collect();
    actions.sort();
    assert_eq!(pids[0], pids[1], "two emulators started: {outputs:?}");
    assert_eq!(actions, ["reused", "started"], "{outputs:?}");
    assert_eq!(
        deployer(dir.path(), &["local", "stop"])["action"],
        "stopped"
    );
    assert!(deployer::local::group_members(pids[0]).is_empty());
}

/// Kills these process groups when dropped, so a failed assertion still cleans up.
struct KillGroups(Vec<i32>);

impl Drop for KillGroups {
    fn drop(&mut self) {
        use nix::sys::signal::{killpg, Signal};
        for pid in &self.0 {
            killpg(nix::unistd::Pid::from_raw(*pid), Signal::SIGKILL).ok();
        }
    }
}
