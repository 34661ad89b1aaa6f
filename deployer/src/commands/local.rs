//! `local start|stop|status|reset`: the emulator, as a report.

use crate::cli::LocalCommand;
use crate::local::{self, Emulator, Paths};
use crate::output;
use serde::Serialize;
use std::fmt;

/// The result of a `local` command.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalStatus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<&'static str>,
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// What this command did: started, reused, stopped, reset, or nothing.
    pub action: &'static str,
}

impl LocalStatus {
    fn of(emulator: Option<&Emulator>, action: &'static str) -> Self {
        Self {
            engine: emulator.map(|e| e.engine.as_str()),
            running: emulator.is_some() && action != "stopped",
            pid: emulator.map(|e| e.pid),
            endpoint: emulator.map(|e| e.endpoint.clone()),
            log: emulator.map(|e| e.log.display().to_string()),
            action,
        }
    }
}

impl fmt::Display for LocalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows = vec![(
            "emulator",
            if self.running {
                "running".to_owned()
            } else {
                "not running".to_owned()
            },
        )];
        if let Some(pid) = self.pid {
            rows.push(("pid", pid.to_string()));
        }
        if let Some(endpoint) = &self.endpoint {
            rows.push(("endpoint", endpoint.clone()));
        }
        if let Some(log) = &self.log {
            rows.push(("log", log.clone()));
        }
        rows.push(("action", self.action.to_owned()));
        output::rows(f, &rows)
    }
}

fn engine(e: &crate::cli::EngineArg) -> local::Engine {
    match e.engine {
        crate::cli::EngineName::Ministack => local::Engine::Ministack,
        crate::cli::EngineName::Fakecloud => local::Engine::Fakecloud,
    }
}

pub fn local(command: &LocalCommand, paths: &Paths) -> Result<LocalStatus, local::LocalError> {
    Ok(match command {
        LocalCommand::Start {
            engine: e,
            port,
            iam,
        } => {
            let iam = match iam {
                crate::cli::IamArg::Off => local::Iam::Off,
                crate::cli::IamArg::Soft => local::Iam::Soft,
                crate::cli::IamArg::Strict => local::Iam::Strict,
            };
            let (emulator, reused) = local::start_engine(paths, engine(e), *port, iam)?;
            LocalStatus::of(Some(&emulator), if reused { "reused" } else { "started" })
        }
        LocalCommand::Stop { engine: e } => {
            let stopped = local::stop(paths, engine(e))?;
            LocalStatus::of(
                stopped.as_ref(),
                if stopped.is_some() {
                    "stopped"
                } else {
                    "nothing"
                },
            )
        }
        LocalCommand::Status { engine: e } => {
            LocalStatus::of(local::status(paths, engine(e))?.as_ref(), "nothing")
        }
        LocalCommand::Reset { engine: e } => {
            LocalStatus::of(Some(&local::reset(paths, engine(e))?), "reset")
        }
    })
}

/// `deployer local start | stop | status | reset`.
pub fn run(
    s: &super::session::Session<'_>,
    command: &LocalCommand,
) -> Result<u8, crate::error::Error> {
    s.print(&local(command, &s.settings.paths)?);
    Ok(crate::error::exit::SUCCESS)
}
