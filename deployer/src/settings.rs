//! Settings resolved once, flags over environment over defaults, into one value the commands
//! receive: library code never reads the environment. (Flags clap reads from `DEPLOYER_*`
//! variables are in `cli.rs`; what is not a flag is read here.)

use crate::cli::Global;
use crate::local::Paths;
use crate::progress::Poll;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a command needs to know about where it runs. Not `Debug`: it holds the
/// environment, secrets included.
#[derive(Clone)]
pub struct Settings {
    /// The cache, the venv and the emulators' state.
    pub paths: Paths,
    /// How CloudFormation and the logs are polled (`DEPLOYER_POLL_MS` sets the ceiling).
    pub poll: Poll,
    /// A CI job (`CI` set and not `false`): nobody answers a question.
    pub ci: bool,
    /// Progress as plain lines even on a terminal (`DEPLOYER_PLAIN`).
    pub plain: bool,
    /// The AWS profile: `--profile`, else `AWS_PROFILE`.
    pub profile: Option<String>,
    /// Where GitHub Actions collects a step's outputs (`GITHUB_OUTPUT`).
    pub github_output: Option<PathBuf>,
    /// The environment, for what is named by the CI system (an ephemeral copy's suffix and
    /// the run that made it) and the secrets read from it (`DEPLOYER_PASSWORD`,
    /// `DEPLOYER_CLIENT_SECRET`).
    pub env: HashMap<String, String>,
}

impl Settings {
    /// Resolves the settings from the flags and this process's environment (variables whose
    /// name or value is not UTF-8 are none of the deployer's, and left out).
    pub fn resolve(global: &Global) -> Self {
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        Self::from(global, env)
    }

    /// Resolves the settings from the flags and `env` (tests give their own).
    pub fn from(global: &Global, env: HashMap<String, String>) -> Self {
        let get = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();
        let paths = Paths::from_vars(
            get("DEPLOYER_CACHE_DIR").map(PathBuf::from),
            get("DEPLOYER_VENV").map(PathBuf::from),
            get("DEPLOYER_LOCAL_DIR").map(PathBuf::from),
        );
        let ceiling = get("DEPLOYER_POLL_MS")
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(2));
        Self {
            paths,
            poll: Poll::with_ceiling(ceiling),
            ci: get("CI").is_some_and(|v| v != "false"),
            plain: env.contains_key("DEPLOYER_PLAIN"),
            profile: global.profile.clone().or_else(|| get("AWS_PROFILE")),
            github_output: get("GITHUB_OUTPUT").map(PathBuf::from),
            env,
        }
    }

    /// A secret from the environment variable `name`, if set and not empty.
    pub fn secret(&self, name: &str) -> Option<String> {
        self.env.get(name).filter(|v| !v.is_empty()).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn global(args: &[&str]) -> Global {
        let mut all = vec!["deployer"];
        all.extend_from_slice(args);
        all.push("status");
        crate::cli::Cli::parse_from(all).global
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn a_flag_wins_over_the_environment_which_wins_over_the_default() {
        let e = env(&[("AWS_PROFILE", "from-env"), ("DEPLOYER_POLL_MS", "40")]);
        let s = Settings::from(&global(&["--profile", "from-flag"]), e.clone());
        assert_eq!(s.profile.as_deref(), Some("from-flag"));
        assert_eq!(
            Settings::from(&global(&[]), e).profile.as_deref(),
            Some("from-env")
        );
        let default = Settings::from(&global(&[]), env(&[]));
        assert_eq!(default.profile, None);
        assert_eq!(default.poll.ceiling, Duration::from_secs(2));
    }

    #[test]
    fn ci_is_on_unless_unset_empty_or_false() {
        for (value, ci) in [("true", true), ("1", true), ("false", false), ("", false)] {
            let s = Settings::from(&global(&[]), env(&[("CI", value)]));
            assert_eq!(s.ci, ci, "CI={value:?}");
        }
        assert!(!Settings::from(&global(&[]), env(&[])).ci);
    }

    #[test]
    fn the_cache_folders_follow_their_variables() {
        let s = Settings::from(
            &global(&[]),
            env(&[("DEPLOYER_CACHE_DIR", "/c"), ("DEPLOYER_LOCAL_DIR", "/l")]),
        );
        assert_eq!(s.paths.cache, PathBuf::from("/c"));
        assert_eq!(s.paths.venv, PathBuf::from("/c/venv"));
        assert_eq!(s.paths.local, PathBuf::from("/l"));
        assert_eq!(
            Settings::from(&global(&[]), env(&[("DEPLOYER_POLL_MS", "40")]))
                .poll
                .ceiling,
            Duration::from_millis(40)
        );
    }
}
