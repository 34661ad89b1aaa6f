//! What every command opens: its settings, the inputs, the connection and the clients, and
//! how its report is printed.

use crate::aws::{self, Clients, Connection, Target};
use crate::cancel::Activity;
use crate::cli::{Global, OutputFormat};
use crate::ctx::Ctx;
use crate::ephemeral;
use crate::error::Error;
use crate::identity::{refs::StackRefs, secret::SecretSink};
use crate::inputs::{InputError, StackInputs};
use crate::output;
use crate::progress::Progress;
use crate::settings::Settings;
use serde::Serialize;
use std::fmt::Display;
use std::path::PathBuf;
use std::time::SystemTime;

/// One command's run: the global flags, the settings, where progress goes and what Ctrl-C
/// should report.
pub struct Session<'a> {
    pub global: &'a Global,
    pub settings: Settings,
    pub progress: Progress,
    pub activity: &'a Activity,
}

impl<'a> Session<'a> {
    pub fn new(global: &'a Global, settings: Settings, activity: &'a Activity) -> Self {
        let progress = Progress::new(settings.plain);
        Self {
            global,
            settings,
            progress,
            activity,
        }
    }

    /// What the engine works with, for these clients.
    pub fn ctx<'s>(&'s self, clients: &'s Clients) -> Ctx<'s> {
        Ctx {
            clients,
            progress: &self.progress,
            activity: self.activity,
            poll: self.settings.poll,
        }
    }

    pub fn format(&self) -> OutputFormat {
        self.global.output
    }

    /// Prints a report: a table for people, JSON with `--output json`.
    pub fn print<T: Display + Serialize>(&self, report: &T) {
        output::print(self.format(), report)
    }

    /// The AWS target the global options name.
    pub fn target(&self) -> Target {
        match (&self.global.endpoint_url, self.global.local) {
            (_, true) => Target::Local,
            (Some(url), false) => Target::Endpoint(url.clone()),
            (None, false) => Target::Aws,
        }
    }

    /// Whether a person can answer a question here: stdin and stderr are terminals and this
    /// is not CI. The one rule for every question (a destructive change, a password).
    pub fn person_at_terminal(&self) -> bool {
        use std::io::IsTerminal;
        !self.settings.ci && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    /// Whether the calls go to the local emulator.
    pub fn local(&self) -> bool {
        self.global.local
    }

    /// The input rules --unlisted-region waives.
    pub fn waived(&self) -> &'static [&'static str] {
        match self.global.unlisted_region {
            true => &[crate::inputs::REGION_KNOWN],
            false => &[],
        }
    }

    /// The inputs file's path (api.policies is relative to it).
    pub fn inputs_file(&self) -> &std::path::Path {
        &self.global.inputs
    }

    /// The inputs file as it is (a project's, never an ephemeral copy's).
    pub fn base_inputs(&self) -> Result<StackInputs, Error> {
        Ok(StackInputs::load_waiving(
            &self.global.inputs,
            self.waived(),
        )?)
    }

    /// The inputs file, made into this run's ephemeral copy when asked.
    pub fn inputs(&self) -> Result<StackInputs, Error> {
        let inputs = self.base_inputs()?;
        let global = self.global;
        if !global.ephemeral && global.suffix.is_none() {
            return Ok(inputs);
        }
        let env = &self.settings.env;
        let suffix = ephemeral::suffix(global.suffix.as_deref(), env)?;
        let copy = ephemeral::apply(&inputs, &suffix, global.ttl, SystemTime::now(), env);
        ephemeral::check_whole(&copy)?;
        // The suffixed names and the deployer's tags are what AWS will see: check them too.
        let mut violations = copy.violations();
        violations.retain(|v| !self.waived().contains(&v.id));
        if !violations.is_empty() {
            let file = global.inputs.display();
            return Err(InputError::Invalid {
                file: format!("{file} (its ephemeral copy, suffix {suffix})"),
                violations,
            }
            .into());
        }
        Ok(copy)
    }

    /// The connection: `--region`, else `region` (the inputs'), else the profile's. For the
    /// local emulator, started here (off the async threads, so Ctrl-C stays live) when it is
    /// not running.
    pub async fn connect(&self, region: Option<String>) -> Result<Connection, Error> {
        if let Some(flag) = &self.global.region {
            // --region is checked by the inputs' rules, in their words.
            let problem =
                crate::inputs::region_problem(flag).filter(|(id, _)| !self.waived().contains(id));
            if let Some((_, why)) = problem {
                return Err(Error::Usage {
                    message: format!("--region: {why}"),
                    help: "pass a region of the aws partition, e.g. --region us-east-1".into(),
                });
            }
            if let Some(inputs) = region.as_ref().filter(|r| *r != flag) {
                self.progress.note(&format!(
                    "--region {flag} overrides the inputs' region {inputs}: working in {flag}"
                ));
            }
        }
        let region = self.global.region.clone().or(region);
        let target = self.target();
        let endpoint = match &target {
            Target::Aws => None,
            Target::Endpoint(url) => Some(url.clone()),
            Target::Local => {
                let paths = self.settings.paths.clone();
                let (emulator, reused) =
                    tokio::task::spawn_blocking(move || crate::local::start(&paths, None))
                        .await
                        .expect("the emulator start task")?;
                if !reused {
                    tracing::info!(endpoint = %emulator.endpoint, "started the local emulator");
                }
                Some(emulator.endpoint)
            }
        };
        let profile = self.settings.profile.as_deref();
        let waived = self.waived();
        Ok(aws::connect(&target, endpoint, region.as_deref(), (profile, waived)).await?)
    }

    /// The clients for the inputs' stack.
    pub async fn clients(&self, inputs: &StackInputs) -> Result<Clients, Error> {
        let conn = self.connect(inputs.region.clone()).await?;
        Ok(Clients::new(&conn))
    }

    /// The clients and the deployed stack's references, for the identity commands.
    pub async fn open(&self, inputs: &StackInputs) -> Result<(Clients, StackRefs), Error> {
        let conn = self.connect(inputs.region.clone()).await?;
        let clients = Clients::new(&conn);
        let refs = StackRefs::load(&conn, &clients, inputs).await?;
        Ok((clients, refs))
    }

    /// Where a secret this command makes may go (a terminal, --secret-file, or JSON asked
    /// for).
    pub fn secret_sink(&self, file: Option<PathBuf>) -> SecretSink {
        use std::io::IsTerminal;
        let json = self.format() == OutputFormat::Json;
        SecretSink::choose(file, json, std::io::stdout().is_terminal())
    }

    /// Writes the outputs where CI wants them: `--outputs-file`, and `$GITHUB_OUTPUT`.
    pub fn publish_outputs(
        &self,
        outputs: &std::collections::BTreeMap<String, String>,
        file: Option<&std::path::Path>,
    ) -> Result<(), Error> {
        let github = self.settings.github_output.as_deref();
        output::publish_outputs(outputs, file, github)
    }
}
