//! `local stop` ends only the emulator it started: a record whose PID now belongs to another
//! program (the emulator died, the PID was reused) is removed and nothing is signalled. No
//! emulator is needed: the "other program" is a `sleep` this test starts.

use std::os::unix::process::CommandExt;
use std::process::Command;

fn deployer(local_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(args)
        .args(["--output", "json"])
        .env("DEPLOYER_LOCAL_DIR", local_dir)
        .output()
        .expect("run deployer")
}

#[test]
fn a_stale_record_whose_pid_was_reused_is_dropped_and_the_process_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    // Its own process group, like an emulator: `stop` signals groups.
    let mut other = Command::new("sleep")
        .arg("60")
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = other.id();
    // The record of an emulator that once had this PID: another start time, another command.
    let record = serde_json::json!({
        "pid": pid, "port": 9, "endpoint": "http://127.0.0.1:9", "log": "/dev/null",
        "started": 1, "cmdline": "/venv/bin/python3 /venv/bin/ministack"
    });
    let file = dir.path().join("emulator.json");
    std::fs::write(&file, record.to_string()).unwrap();

    let out = deployer(dir.path(), &["local", "stop"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["action"], "nothing", "{report}");
    assert!(!file.exists(), "the stale record is removed");
    assert_eq!(
        other.try_wait().unwrap(),
        None,
        "the unrelated process still runs"
    );

    // `status` treats it the same way.
    std::fs::write(&file, record.to_string()).unwrap();
    let out = deployer(dir.path(), &["local", "status"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["running"], false);
    assert!(!file.exists());
    assert_eq!(other.try_wait().unwrap(), None);
    other.kill().unwrap();
    other.wait().unwrap();
}
