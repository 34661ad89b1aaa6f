//! Ephemeral stacks for CI: a unique name per pipeline run, unique global names, tags that say
//! where the stack came from and when it expires, so `gc` can clean up what a run left. Pure:
//! the environment and the clock are passed in.

use crate::inputs::{Lifecycle, StackInputs, MAX_STACK_NAME};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

pub const TAG_EPHEMERAL: &str = "deployer:ephemeral";
pub const TAG_EXPIRES: &str = "deployer:expires-at";
pub const TAG_COMMIT: &str = "deployer:commit";
pub const TAG_PIPELINE: &str = "deployer:pipeline";
pub const TAG_VERSION: &str = "deployer:version";
/// The base stack an ephemeral copy was made from (its project).
pub const TAG_BASE: &str = "deployer:base";

/// The project of a stack of this name and these deployer tags: the base stack a copy names
/// in `TAG_BASE`, else the stack itself.
pub fn project_of<'a>(name: &'a str, tags: &'a BTreeMap<String, String>) -> &'a str {
    tags.get(TAG_BASE).map(String::as_str).unwrap_or(name)
}

/// Whether these tags mark an ephemeral copy (`gc` and a pipeline's closing `down` delete it).
pub fn is_ephemeral(tags: &BTreeMap<String, String>) -> bool {
    tags.get(TAG_EPHEMERAL).map(String::as_str) == Some("true")
}

/// Whether a stack of these tags is a base stack or an ephemeral copy.
pub fn kind_of(tags: &BTreeMap<String, String>) -> crate::policy::Kind {
    if tags.contains_key(TAG_BASE) {
        crate::policy::Kind::Copies
    } else {
        crate::policy::Kind::Base
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum EphemeralError {
    #[error("ephemeral mode needs a suffix that identifies the CI run")]
    #[diagnostic(
        code(ephemeral::no_suffix),
        help(
            "pass --suffix, or run inside GitHub Actions (GITHUB_RUN_ID) or GitLab CI (CI_JOB_ID)"
        )
    )]
    NoSuffix,
    #[error("--suffix {0:?} is not usable: use 1 to 20 lower-case letters, digits and hyphens")]
    #[diagnostic(code(ephemeral::bad_suffix))]
    BadSuffix(String),
    #[error("the ephemeral copy of {base} would be named {copy}: stackName is too long to keep whole with the suffix")]
    #[diagnostic(
        code(ephemeral::name_cut),
        help("a copy is <stackName>--<suffix> within 55 characters, and the CI roles know copies by that whole prefix: shorten stackName (33 characters leave room for any suffix) or pass a shorter --suffix")
    )]
    NameCut { base: String, copy: String },
    #[error("ephemeral copies cannot run on an existing pool (userPool.existing {0}): a pool has one pre-token-generation slot, which the copies would take from each other and from the base stack")]
    #[diagnostic(
        code(ephemeral::existing_pool),
        help("give the copies a pool of their own (inputs without userPool), or preview a change with `deployer plan`")
    )]
    ExistingPool(String),
}

/// A copy whose name does not start with `<base>--` in full (a long base cut short) would fall
/// outside the ephemeral role's names, or inside another project's: refused. So is a copy on
/// an existing pool, whose one slot the copies would take from each other.
pub fn check_whole(copy: &StackInputs) -> Result<(), EphemeralError> {
    if let Some(pool) = copy.existing_pool() {
        return Err(EphemeralError::ExistingPool(pool.existing.clone()));
    }
    let base = copy.project();
    if copy
        .stack_name
        .starts_with(&format!("{base}{}", crate::policy::COPY_SEPARATOR))
    {
        Ok(())
    } else {
        Err(EphemeralError::NameCut {
            base: base.into(),
            copy: copy.stack_name.clone(),
        })
    }
}

/// The suffix for this run: `--suffix`, else GitHub Actions' run id and attempt, else GitLab's job id.
pub fn suffix(
    explicit: Option<&str>,
    env: &HashMap<String, String>,
) -> Result<String, EphemeralError> {
    let get = |k: &str| env.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let raw = match (explicit, get("GITHUB_RUN_ID"), get("CI_JOB_ID")) {
        (Some(s), _, _) => s.to_owned(),
        (None, Some(run), _) => {
            // One run holds many jobs, and a matrix job many legs: each gets its own stack.
            // GitHub names the job (GITHUB_JOB) but not the matrix leg; the pipeline passes
            // that as DEPLOYER_MATRIX (`${{ toJSON(matrix) }}`).
            let mut hash = Sha256::new();
            for part in [
                get("GITHUB_RUN_ATTEMPT").unwrap_or("1"),
                get("GITHUB_JOB").unwrap_or(""),
                get("DEPLOYER_MATRIX").unwrap_or(""),
            ] {
                hash.update((part.len() as u64).to_le_bytes());
                hash.update(part.as_bytes());
            }
            format!("gh{run}-{}", &hex::encode(hash.finalize())[..6])
        }
        (None, None, Some(job)) => format!("gl{job}"),
        (None, None, None) => return Err(EphemeralError::NoSuffix),
    };
    let ok = (1..=20).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !raw.starts_with('-')
        && !raw.ends_with('-');
    if ok {
        Ok(raw)
    } else {
        Err(EphemeralError::BadSuffix(raw))
    }
}

/// The inputs of this run's copy: suffixed stack and domain names (the table, function and
/// artifact keys follow the stack name), disposable, with the ephemeral tags.
pub fn apply(
    inputs: &StackInputs,
    suffix: &str,
    ttl: Duration,
    now: SystemTime,
    env: &HashMap<String, String>,
) -> StackInputs {
    let mut out = inputs.clone();
    // `<base>--<suffix>`: no base stack name holds `--`, so the CI roles tell a project's
    // copies from its base stack and from every other project by it.
    let sep = crate::policy::COPY_SEPARATOR;
    let keep = MAX_STACK_NAME - suffix.len() - sep.len();
    out.stack_name = format!("{}{sep}{suffix}", truncate(&inputs.stack_name, keep));
    out.user_pool_domain_name = format!(
        "{}-{suffix}",
        truncate(&inputs.user_pool_domain_name, 63 - suffix.len() - 1)
    );
    // A copy's table is `<copy>-users` whatever the base's `table.name`, so a copy's names all
    // start with the copy's stack name (and the CI roles scope them by it).
    out.table.name = None;
    out.base_table = inputs.table.name.clone();
    out.lifecycle = Lifecycle::Disposable;
    // A copy's API never reaches the backends: its authorizer and policies are the pull
    // request's, so every route calls the copy's own `whoami`, which echoes what the backend
    // would receive (docs/security.md, "A stack with an API").
    if let Some(api) = &mut out.api {
        for route in api.routes.values_mut() {
            route.target = crate::inputs::WHOAMI.into();
        }
    }
    let get = |k: &str| env.get(k).cloned().filter(|v| !v.is_empty());
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    tags.insert(TAG_EPHEMERAL.into(), "true".into());
    tags.insert(TAG_BASE.into(), inputs.project().to_owned());
    tags.insert(TAG_EXPIRES.into(), crate::duration::rfc3339(now + ttl));
    tags.insert(TAG_VERSION.into(), env!("CARGO_PKG_VERSION").into());
    if let Some(commit) = get("GITHUB_SHA").or_else(|| get("CI_COMMIT_SHA")) {
        tags.insert(TAG_COMMIT.into(), commit);
    }
    let pipeline = match (
        get("GITHUB_SERVER_URL"),
        get("GITHUB_REPOSITORY"),
        get("GITHUB_RUN_ID"),
    ) {
        (Some(server), Some(repo), Some(run)) => {
            Some(format!("{server}/{repo}/actions/runs/{run}"))
        }
        _ => get("CI_PIPELINE_URL"),
    };
    if let Some(pipeline) = pipeline {
        tags.insert(TAG_PIPELINE.into(), pipeline.chars().take(256).collect());
    }
    out.deployer_tags = tags;
    out
}

/// An ephemeral copy's expiry, from its tags; `None` for any other stack.
pub fn expiry(tags: &BTreeMap<String, String>) -> Option<String> {
    is_ephemeral(tags)
        .then(|| tags.get(TAG_EXPIRES).cloned())
        .flatten()
}

/// The line that says a stack is ephemeral and until when.
pub fn expiry_line(at: &str) -> String {
    format!("ephemeral: expires {at}; `deployer gc` deletes it after that, `deployer down` sooner")
}

fn truncate(s: &str, max: usize) -> &str {
    let end = s.len().min(max);
    s[..end].trim_end_matches('-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::{parse_rfc3339, rfc3339};
    use std::time::UNIX_EPOCH;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_suffix_comes_from_the_flag_github_or_gitlab() {
        assert_eq!(
            suffix(Some("pr-42"), &env(&[("GITHUB_RUN_ID", "9")])).unwrap(),
            "pr-42"
        );
        let gh = |pairs: &[(&str, &str)]| suffix(None, &env(pairs)).unwrap();
        let run = [
            ("GITHUB_RUN_ID", "12345678901"),
            ("GITHUB_RUN_ATTEMPT", "2"),
        ];
        let a = gh(&[run[0], run[1], ("GITHUB_JOB", "test")]);
        assert!(a.starts_with("gh12345678901-") && a.len() <= 20, "{a}");
        // Each job, matrix leg and attempt of one run gets its own suffix; the same one again
        // gets the same suffix (a re-run of a step finds its stack).
        let legs = [
            gh(&[run[0], run[1], ("GITHUB_JOB", "e2e")]),
            gh(&[run[0], ("GITHUB_RUN_ATTEMPT", "3"), ("GITHUB_JOB", "test")]),
            gh(&[
                run[0],
                run[1],
                ("GITHUB_JOB", "test"),
                ("DEPLOYER_MATRIX", r#"{"os":"linux"}"#),
            ]),
            gh(&[
                run[0],
                run[1],
                ("GITHUB_JOB", "test"),
                ("DEPLOYER_MATRIX", r#"{"os":"mac"}"#),
            ]),
        ];
        for (i, leg) in legs.iter().enumerate() {
            assert_ne!(leg, &a, "{i}");
            assert!(
                legs[i + 1..].iter().all(|other| other != leg),
                "{i}: {legs:?}"
            );
        }
        assert_eq!(a, gh(&[run[0], run[1], ("GITHUB_JOB", "test")]));
        assert_eq!(
            suffix(None, &env(&[("CI_JOB_ID", "777")])).unwrap(),
            "gl777"
        );
        assert_eq!(suffix(None, &env(&[])), Err(EphemeralError::NoSuffix));
        assert!(matches!(
            suffix(Some("Bad_Suffix"), &env(&[])),
            Err(EphemeralError::BadSuffix(_))
        ));
    }

    #[test]
    fn time_round_trips_through_rfc3339() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_379_768);
        assert_eq!(rfc3339(t), "2026-11-22T20:36:08Z");
        assert_eq!(parse_rfc3339("2026-11-22T20:36:08Z"), Some(t));
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z")
                .map(rfc3339)
                .as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
    }

    #[test]
    fn a_copys_routes_call_its_own_whoami_never_a_backend() {
        let inputs = StackInputs::parse(
            r#"{"stackName": "app", "userPoolDomainName": "d", "api": {"routes": {
                "GET /a": {"target": "arn:aws:lambda:us-east-1:123456789012:function:orders"},
                "GET /b": {"target": "https://backend.example.com/b"},
                "GET /c": {}}}}"#,
            "t.json",
        )
        .unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_795_379_768);
        let copy = apply(&inputs, "pr7", Duration::from_secs(60), now, &env(&[]));
        let targets: Vec<&str> = copy
            .api
            .as_ref()
            .unwrap()
            .routes
            .values()
            .map(|r| r.target.as_str())
            .collect();
        assert_eq!(targets, ["whoami", "whoami", "whoami"]);
        // The rendered template integrates no backend.
        let template = crate::render::render(&copy).unwrap();
        assert!(!template.contains("function:orders") && !template.contains("backend.example.com"));
        assert!(template.contains("WhoamiFunction"));
        // The base stack keeps its backends.
        let base = crate::render::render(&inputs).unwrap();
        assert!(base.contains("function:orders") && base.contains("backend.example.com"));
    }

    #[test]
    fn apply_makes_every_global_name_unique_and_tags_the_stack() {
        let inputs = StackInputs::parse(
            r#"{"stackName": "a-rather-long-stack-name-that-goes-on-and-on-and-on-xx", "userPoolDomainName": "demo-login",
                "lifecycle": "kept", "table": {"name": "UserInfoTable"}}"#,
            "t.json",
        )
        .unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_795_379_768);
        let e = env(&[
            ("GITHUB_SHA", "abc123"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_RUN_ID", "5"),
        ]);
        let out = apply(&inputs, "gh5-1", Duration::from_secs(7200), now, &e);
        assert!(
            out.stack_name.ends_with("--gh5-1") && out.stack_name.len() <= MAX_STACK_NAME,
            "{}",
            out.stack_name
        );
        // That long a name cannot stay whole: the copy is refused before any call.
        assert!(matches!(
            check_whole(&out),
            Err(EphemeralError::NameCut { .. })
        ));
        let short = StackInputs::parse(
            r#"{"stackName": "app", "userPoolDomainName": "d"}"#,
            "t.json",
        )
        .unwrap();
        let copy = apply(&short, "gh5-1", Duration::from_secs(60), now, &e);
        assert_eq!(copy.stack_name, "app--gh5-1");
        assert!(check_whole(&copy).is_ok());
        assert_eq!(out.user_pool_domain_name, "demo-login-gh5-1");
        assert_eq!(out.table_name(), format!("{}-users", out.stack_name));
        assert_eq!(out.lifecycle, Lifecycle::Disposable);
        assert_eq!(out.deployer_tags[TAG_EPHEMERAL], "true");
        assert_eq!(out.deployer_tags[TAG_EXPIRES], "2026-11-22T22:36:08Z");
        assert_eq!(out.deployer_tags[TAG_COMMIT], "abc123");
        assert_eq!(
            out.deployer_tags[TAG_PIPELINE],
            "https://github.com/o/r/actions/runs/5"
        );
        assert!(out.violations().is_empty(), "{:?}", out.violations());
    }

    #[test]
    fn a_copy_on_an_existing_pool_is_refused() {
        let inputs = StackInputs::parse(
            r#"{"stackName": "app", "userPool": {"existing": "us-east-1_AbC123"}}"#,
            "t.json",
        )
        .unwrap();
        let copy = apply(
            &inputs,
            "pr-1",
            Duration::from_secs(3600),
            SystemTime::now(),
            &HashMap::new(),
        );
        assert_eq!(
            check_whole(&copy),
            Err(EphemeralError::ExistingPool("us-east-1_AbC123".into()))
        );
    }
}
