//! The local AWS emulators: start, stop, status, reset.
//!
//! Two engines: ministack (from the project venv; it runs the trigger, so logins work) and
//! fakecloud (a stricter second reference for the deploy paths: it enforces deletion
//! protection, table-name collisions and, with `--iam strict`, IAM identity policies; its
//! Lambda needs Docker, so the trigger does not run there). One emulator per engine and state
//! folder. Its PID, start time, command line, port and endpoint are recorded in
//! `<local>/emulator.json` (ministack) or `<local>/fakecloud.json`; a second `start` while it
//! answers reuses it. Both listen on 127.0.0.1 only, with what they would open elsewhere off.

use miette::Diagnostic;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the project's installed tools and local state live.
#[derive(Debug, Clone)]
pub struct Paths {
    /// `DEPLOYER_CACHE_DIR`, else `<workspace>/.cache`.
    pub cache: PathBuf,
    /// `DEPLOYER_VENV`, else `<cache>/venv`: ministack, cargo-zigbuild, ziglang, cfn-lint.
    pub venv: PathBuf,
    /// Emulator state: `DEPLOYER_LOCAL_DIR`, else `<cache>/local`.
    pub local: PathBuf,
}

impl Paths {
    /// The folders from their settings (`DEPLOYER_CACHE_DIR`, `DEPLOYER_VENV`,
    /// `DEPLOYER_LOCAL_DIR`), each defaulting as documented on the fields.
    pub fn from_vars(
        cache: Option<PathBuf>,
        venv: Option<PathBuf>,
        local: Option<PathBuf>,
    ) -> Self {
        let cache = cache.unwrap_or_else(|| crate::build::workspace().join(".cache"));
        Self {
            venv: venv.unwrap_or_else(|| cache.join("venv")),
            local: local.unwrap_or_else(|| cache.join("local")),
            cache,
        }
    }

    /// A tool from the venv, else from PATH.
    pub fn tool(&self, name: &str) -> Option<PathBuf> {
        let in_venv = self.venv.join("bin").join(name);
        if in_venv.is_file() {
            return Some(in_venv);
        }
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    }

    /// Where the project installs fakecloud (scripts/setup.sh), pinned.
    pub fn fakecloud(&self) -> PathBuf {
        self.cache
            .join("tools")
            .join(format!("fakecloud-{FAKECLOUD_VERSION}"))
            .join("bin")
            .join("fakecloud")
    }
}

/// The fakecloud release the project pins (scripts/setup.sh installs exactly this one).
pub const FAKECLOUD_VERSION: &str = "0.51.0";

/// Which emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    #[default]
    Ministack,
    Fakecloud,
}

/// How fakecloud evaluates IAM identity policies (`--iam`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Iam {
    #[default]
    Off,
    Soft,
    Strict,
}

impl Iam {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Soft => "soft",
            Self::Strict => "strict",
        }
    }
}

/// The account id both emulators are started with (ministack's own; fakecloud is told).
pub const ACCOUNT: &str = "000000000000";

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ministack => "ministack",
            Self::Fakecloud => "fakecloud",
        }
    }

    fn record(self, paths: &Paths) -> PathBuf {
        match self {
            Self::Ministack => paths.local.join("emulator.json"),
            Self::Fakecloud => paths.local.join("fakecloud.json"),
        }
    }

    fn health(self) -> &'static str {
        match self {
            Self::Ministack => "/_ministack/health",
            Self::Fakecloud => "/_fakecloud/health",
        }
    }

    fn binary(self, paths: &Paths) -> Result<PathBuf, LocalError> {
        match self {
            Self::Ministack => paths
                .tool("ministack")
                .ok_or_else(|| LocalError::NotInstalled {
                    engine: "ministack",
                    looked: format!("{}/bin and PATH", paths.venv.display()),
                }),
            Self::Fakecloud => {
                let pinned = paths.fakecloud();
                if pinned.is_file() {
                    return Ok(pinned);
                }
                Err(LocalError::NotInstalled {
                    engine: "fakecloud",
                    looked: pinned.display().to_string(),
                })
            }
        }
    }

    /// The command that starts the engine on 127.0.0.1:`port` with its state under `dir`.
    fn command(self, binary: &Path, port: u16, dir: &Path, iam: Iam) -> Command {
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(binary);
        match self {
            Self::Ministack => {
                let state = dir.join("state");
                command
                    .env("BIND_HOST", "127.0.0.1")
                    .env("GATEWAY_PORT", port.to_string())
                    .env("IOT_MTLS_ENABLED", "0")
                    .env("SFTP_ENABLED", "0")
                    .env("STATE_DIR", &state)
                    .env("S3_DATA_DIR", state.join("s3"))
                    .env("TMPDIR", dir.join("tmp"))
                    .env("LAMBDA_EXECUTOR", "local")
                    .env("MINISTACK_COGNITO_PRETOKEN_STRICT", "1")
                    .env("AWS_ENDPOINT_URL", &endpoint)
                    .env("MINISTACK_REGION", "us-east-1");
            }
            Self::Fakecloud => {
                // Its default address is 0.0.0.0:4566, and environment variables switch on
                // more listeners (SMTP, DNS): loopback, arguments only, nothing inherited.
                command
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("TMPDIR", dir.join("tmp"))
                    .args(["--addr", &format!("127.0.0.1:{port}")])
                    .args(["--account-id", ACCOUNT, "--region", "us-east-1"])
                    .args(["--iam", iam.as_str(), "--log-level", "warn"]);
            }
        }
        command
    }

    /// Paths to POST to clear all state.
    fn reset(self) -> Vec<String> {
        match self {
            Self::Ministack => vec!["/_ministack/reset".into()],
            // fakecloud resets per service: the ones a stack uses.
            Self::Fakecloud => [
                "cloudformation",
                "cognito",
                "dynamodb",
                "lambda",
                "iam",
                "s3",
                "logs",
            ]
            .iter()
            .map(|s| format!("/_fakecloud/reset/{s}"))
            .collect(),
        }
    }
}

/// A running emulator, as recorded when it was started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Emulator {
    #[serde(default)]
    pub engine: Engine,
    pub pid: u32,
    pub port: u16,
    pub endpoint: String,
    pub log: PathBuf,
    /// The process's start time (clock ticks since boot, /proc/PID/stat field 22) and
    /// command line when it was started: a PID reused by another program matches neither.
    #[serde(default)]
    pub started: u64,
    #[serde(default)]
    pub cmdline: String,
}

impl Emulator {
    /// How the running emulator evaluates IAM, from the command line it was started with
    /// (ministack never does).
    pub fn iam(&self) -> Iam {
        let mut words = self.cmdline.split_whitespace();
        while let Some(word) = words.next() {
            if word == "--iam" {
                return match words.next() {
                    Some("soft") => Iam::Soft,
                    Some("strict") => Iam::Strict,
                    _ => Iam::Off,
                };
            }
        }
        Iam::Off
    }
}

/// What /proc says of a process: its start time and command line, if it is alive and not a
/// zombie.
fn identity(pid: u32) -> Option<(u64, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    // Field 22 of the whole line is the 20th after the name (state is field 3).
    let started = fields.get(19)?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline)
        .replace('\0', " ")
        .trim()
        .to_owned();
    Some((started, cmdline))
}

impl Emulator {
    /// Whether the recorded process still runs and is the one this record started.
    pub fn is_running(&self) -> bool {
        identity(self.pid).is_some_and(|(started, cmdline)| {
            if self.started == 0 && self.cmdline.is_empty() {
                // A record from before start times were kept: its program, at least.
                cmdline.contains(self.engine.as_str())
            } else {
                started == self.started && cmdline == self.cmdline
            }
        })
    }
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum LocalError {
    #[error("{engine} is not installed (looked in {looked})")]
    #[diagnostic(
        code(local::not_installed),
        help("run scripts/setup.sh: it installs the pinned emulators into the project cache")
    )]
    NotInstalled {
        engine: &'static str,
        looked: String,
    },
    #[error("port {0} on 127.0.0.1 is taken by another program")]
    #[diagnostic(
        code(local::port_taken),
        help("pick another with --port, or omit --port to take a free one")
    )]
    PortTaken(u16),
    #[error("the emulator exited while starting (see {log}):\n{tail}")]
    #[diagnostic(
        code(local::died),
        help("run scripts/setup.sh to reinstall the pinned version, then start again")
    )]
    Died { log: String, tail: String },
    #[error("the emulator did not answer on {endpoint} within {secs} s (log: {log})")]
    #[diagnostic(
        code(local::timeout),
        help("the machine may be overloaded; run `deployer local stop` and start again")
    )]
    Timeout {
        endpoint: String,
        secs: u64,
        log: String,
    },
    #[error("the emulator (pid {pid}) did not stop: processes {left:?} remain")]
    #[diagnostic(code(local::stuck), help("kill them by hand: kill -9 {left:?}"))]
    Stuck { pid: u32, left: Vec<i32> },
    #[error("--iam applies to fakecloud only: ministack does not evaluate IAM policies")]
    #[diagnostic(
        code(local::iam_needs_fakecloud),
        help("add --engine fakecloud, or drop --iam")
    )]
    IamNeedsFakecloud,
    #[error("{engine} is already running with --iam {running}, not --iam {wanted}")]
    #[diagnostic(
        code(local::runs_otherwise),
        help("stop it first (`deployer local stop --engine {engine}`), then start it with the mode you want")
    )]
    RunsOtherwise {
        engine: &'static str,
        running: &'static str,
        wanted: &'static str,
    },
    #[error("the local emulator is not running")]
    #[diagnostic(
        code(local::not_running),
        help("start it with `deployer local start` (any command with --local starts it too)")
    )]
    NotRunning,
    #[error("{what} failed: {source}")]
    #[diagnostic(code(local::io))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalError {
    let what = what.into();
    move |source| LocalError::Io { what, source }
}

/// Holds `<local>/<engine>.lock` exclusively until dropped (released by the kernel too if the
/// process dies), so that deciding whether an emulator runs and starting one is a single step.
fn lock(paths: &Paths, engine: Engine) -> Result<std::fs::File, LocalError> {
    std::fs::create_dir_all(&paths.local)
        .map_err(io(format!("creating {}", paths.local.display())))?;
    let path = paths.local.join(format!("{}.lock", engine.as_str()));
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(format!("opening {}", path.display())))?;
    file.lock()
        .map_err(io(format!("locking {}", path.display())))?;
    Ok(file)
}

/// The emulator record, if there is a readable one; an unreadable one is removed.
fn recorded(file: &Path) -> Option<Emulator> {
    let text = std::fs::read_to_string(file).ok()?;
    let parsed = serde_json::from_str::<Emulator>(&text).ok();
    if parsed.is_none() {
        std::fs::remove_file(file).ok();
    }
    parsed
}

/// The recorded emulator if its process is alive and it answers; a stale record is removed.
pub fn status(paths: &Paths, engine: Engine) -> Result<Option<Emulator>, LocalError> {
    let file = engine.record(paths);
    let Some(emulator) = recorded(&file) else {
        return Ok(None);
    };
    if !emulator.is_running() {
        // Stale: the emulator is gone, or its PID now belongs to another program.
        std::fs::remove_file(&file).ok();
        return Ok(None);
    }
    if http_status(emulator.port, "GET", engine.health()) == Some(200) {
        return Ok(Some(emulator));
    }
    Ok(None)
}

/// Starts ministack, or returns the one already running (`true` when reused).
pub fn start(paths: &Paths, port: Option<u16>) -> Result<(Emulator, bool), LocalError> {
    start_engine(paths, Engine::Ministack, port, Iam::Off)
}

/// Starts `engine` (or returns the running one, `true` when reused).
pub fn start_engine(
    paths: &Paths,
    engine: Engine,
    port: Option<u16>,
    iam: Iam,
) -> Result<(Emulator, bool), LocalError> {
    if engine == Engine::Ministack && iam != Iam::Off {
        return Err(LocalError::IamNeedsFakecloud);
    }
    // One start (or stop) of this engine at a time: a second command that also found none
    // waits here and then finds the first one's emulator.
    let _lock = lock(paths, engine)?;
    if let Some(running) = status(paths, engine)? {
        let running_iam = running.iam();
        if running_iam != iam {
            return Err(LocalError::RunsOtherwise {
                engine: engine.as_str(),
                running: running_iam.as_str(),
                wanted: iam.as_str(),
            });
        }
        return Ok((running, true));
    }
    // Recorded and running, but not answering yet (starting, or a loaded machine): wait for
    // it rather than start a second emulator on the same state.
    if let Some(recorded) = recorded(&engine.record(paths)).filter(Emulator::is_running) {
        return answering(recorded, engine).map(|e| (e, true));
    }
    let port = match port {
        Some(port) => {
            TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                .map_err(|_| LocalError::PortTaken(port))?;
            port
        }
        None => free_port().map_err(io("finding a free port on 127.0.0.1"))?,
    };
    let (emulator, child) = spawn(paths, engine, port, iam)?;
    ready(paths, engine, emulator, child).map(|e| (e, false))
}

/// A recorded emulator once it answers; `Timeout` after 30 s.
fn answering(recorded: Emulator, engine: Engine) -> Result<Emulator, LocalError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http_status(recorded.port, "GET", engine.health()) == Some(200) {
            return Ok(recorded);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(LocalError::Timeout {
        endpoint: recorded.endpoint.clone(),
        secs: 30,
        log: recorded.log.display().to_string(),
    })
}

/// Starts the engine on `port` in its own process group, its output in its log, and records
/// it at once, so that an interrupted start still leaves something `stop` can end.
fn spawn(
    paths: &Paths,
    engine: Engine,
    port: u16,
    iam: Iam,
) -> Result<(Emulator, std::process::Child), LocalError> {
    let binary = engine.binary(paths)?;
    let dir = paths.local.join(engine.as_str());
    for sub in ["state", "tmp"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(io(format!("creating {}", d.display())))?;
    }
    let log = match engine {
        Engine::Ministack => paths.local.join("emulator.log"),
        Engine::Fakecloud => paths.local.join("fakecloud.log"),
    };
    let log_file =
        std::fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
    let out = log_file
        .try_clone()
        .map_err(io("opening the emulator log"))?;
    let child = engine
        .command(&binary, port, &dir, iam)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(log_file)
        // Its own process group, so `stop` ends it and every child it started (trigger runtimes).
        .process_group(0)
        .spawn()
        .map_err(io(format!("starting {}", binary.display())))?;
    // Right after the exec the kernel may not show the new command line yet: wait for it.
    let mut seen = identity(child.id()).unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(2);
    while seen.1.is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
        seen = identity(child.id()).unwrap_or_default();
    }
    let (started, cmdline) = seen;
    let emulator = Emulator {
        engine,
        pid: child.id(),
        port,
        endpoint: format!("http://127.0.0.1:{port}"),
        log,
        started,
        cmdline,
    };
    let text = serde_json::to_string_pretty(&emulator).expect("emulator record serializes");
    std::fs::write(engine.record(paths), text).map_err(io("recording the emulator's pid"))?;
    Ok((emulator, child))
}

/// Waits until the started emulator answers; if it dies or does not answer within 60 s, its
/// record goes and the error says what its log says.
fn ready(
    paths: &Paths,
    engine: Engine,
    emulator: Emulator,
    mut child: std::process::Child,
) -> Result<Emulator, LocalError> {
    let file = engine.record(paths);
    let log = emulator.log.display().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            std::fs::remove_file(&file).ok();
            let tail = tail(&emulator.log, 15);
            return Err(LocalError::Died { log, tail });
        }
        if http_status(emulator.port, "GET", engine.health()) == Some(200) {
            return Ok(emulator);
        }
        if Instant::now() > deadline {
            stop_group(emulator.pid as i32, &mut Some(child)).ok();
            std::fs::remove_file(&file).ok();
            let endpoint = emulator.endpoint.clone();
            return Err(LocalError::Timeout {
                endpoint,
                secs: 60,
                log,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops the recorded emulator and everything in its process group; `None` when none ran.
pub fn stop(paths: &Paths, engine: Engine) -> Result<Option<Emulator>, LocalError> {
    let _lock = lock(paths, engine)?;
    let file = engine.record(paths);
    let Some(emulator) = recorded(&file) else {
        return Ok(None);
    };
    if !emulator.is_running() {
        // The emulator is gone and its PID may be another program's now: signal nothing.
        std::fs::remove_file(&file).ok();
        return Ok(None);
    }
    let result = stop_group(emulator.pid as i32, &mut None);
    std::fs::remove_file(&file).ok();
    result.map(|()| Some(emulator))
}

/// Clears all emulator state.
pub fn reset(paths: &Paths, engine: Engine) -> Result<Emulator, LocalError> {
    let emulator = status(paths, engine)?.ok_or(LocalError::NotRunning)?;
    for path in engine.reset() {
        match http_status(emulator.port, "POST", &path) {
            Some(200 | 204) => {}
            other => {
                return Err(LocalError::Io {
                    what: format!("resetting the emulator ({path})"),
                    source: std::io::Error::other(format!("answered {other:?}")),
                })
            }
        }
    }
    Ok(emulator)
}

/// SIGTERM to the group, then SIGKILL after a grace period; waits until no member is left.
fn stop_group(pid: i32, child: &mut Option<std::process::Child>) -> Result<(), LocalError> {
    let group = Pid::from_raw(pid);
    killpg(group, Signal::SIGTERM).ok();
    for (grace, signal) in [
        (Duration::from_secs(10), Some(Signal::SIGKILL)),
        (Duration::from_secs(5), None),
    ] {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(child) = child.as_mut() {
                child.try_wait().ok();
            }
            if group_members(pid).is_empty() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(signal) = signal {
            killpg(group, signal).ok();
        }
    }
    let left = group_members(pid);
    if left.is_empty() {
        Ok(())
    } else {
        Err(LocalError::Stuck {
            pid: pid as u32,
            left,
        })
    }
}

/// Live (non-zombie) processes whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // Fields after the command name, which is in parentheses and may hold spaces.
            let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first() != Some(&"Z")
                && fields.get(2).and_then(|g| g.parse::<i32>().ok()) == Some(pgid)
        })
        .collect()
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// The status code of a bodiless request to the emulator on loopback, if it answers.
pub fn http_status(port: u16, method: &str, path: &str) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 32];
    let n = stream.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
