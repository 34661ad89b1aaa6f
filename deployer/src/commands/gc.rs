//! `gc`: deletes ephemeral stacks whose time is up, several at a time. Which ones is decided
//! by `due` (pure); each deletion is an ordinary `down`.

use super::down::{self, DownOptions, DownTarget};
use crate::aws::cfn;
use crate::ctx::Ctx;
use crate::duration::{parse_rfc3339, rfc3339};
use crate::ephemeral::{is_ephemeral, TAG_EXPIRES};
use crate::error::Error;
use crate::progress::Progress;
use crate::stack::Stack;
use serde::{Serialize, Serializer};
use std::fmt;
use std::time::{Duration, SystemTime};

/// What happened to one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcResult {
    WouldDelete,
    Deleted,
    /// Left alone, and why.
    Skipped(String),
    Failed(String),
}

impl fmt::Display for GcResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WouldDelete => f.write_str("would-delete"),
            Self::Deleted => f.write_str("deleted"),
            Self::Skipped(why) => write!(f, "skipped: {why}"),
            Self::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

impl Serialize for GcResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One stack `gc` looked at.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcEntry {
    pub stack: String,
    pub reason: String,
    pub result: GcResult,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    pub considered: usize,
    pub entries: Vec<GcEntry>,
}

impl GcReport {
    pub fn any_failed(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.result, GcResult::Failed(_)))
    }
}

impl fmt::Display for GcReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |p: fn(&GcResult) -> bool| self.entries.iter().filter(|e| p(&e.result)).count();
        let would = count(|r| *r == GcResult::WouldDelete);
        let done = if would > 0 {
            format!("{would} would be deleted (dry run)")
        } else {
            format!("{} deleted", count(|r| *r == GcResult::Deleted))
        };
        writeln!(
            f,
            "{} ephemeral stack(s) considered: {done}, {} skipped, {} failed",
            self.considered,
            count(|r| matches!(r, GcResult::Skipped(_))),
            count(|r| matches!(r, GcResult::Failed(_)))
        )?;
        for e in &self.entries {
            let (word, why) = match &e.result {
                GcResult::WouldDelete => ("would delete", e.reason.clone()),
                GcResult::Deleted => ("deleted", e.reason.clone()),
                GcResult::Skipped(why) => ("skipped", why.clone()),
                GcResult::Failed(why) => ("FAILED", format!("{}; {why}", e.reason)),
            };
            writeln!(f, "  {:<40} {word:<13} {why}", e.stack)?;
        }
        Ok(())
    }
}

/// Options of `gc`.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Also ephemeral stacks created longer ago than this, expired or not.
    pub older_than: Option<Duration>,
    pub dry_run: bool,
    pub parallel: usize,
    /// Only the copies of this project (the base stack's name); `None`: every project's.
    pub project: Option<String>,
}

/// What `gc` does with one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delete(String),
    Skip(String),
}

/// Each ephemeral-tagged stack and what `gc` does with it at `now`. Pure. Only a stack the
/// deployer made, whose pool has no deletion protection and whose time is up is deleted;
/// gc never lifts a protection.
pub fn triage(
    stacks: &[Stack],
    now: SystemTime,
    older_than: Option<Duration>,
    project: Option<&str>,
) -> Vec<(String, Verdict)> {
    stacks
        .iter()
        .filter(|s| is_ephemeral(&s.tags))
        // A project's copies are `<project>--<suffix>` and name it in their tags: another
        // project's are not even considered.
        .filter(|s| {
            project.is_none_or(|p| {
                s.tags.get(crate::ephemeral::TAG_BASE).map(String::as_str) == Some(p)
                    && s.name
                        .starts_with(&format!("{p}{}", crate::policy::COPY_SEPARATOR))
            })
        })
        .map(|s| {
            let expires = s.tags.get(TAG_EXPIRES).and_then(|t| parse_rfc3339(t));
            let age = s.created.map(|c| now.duration_since(c).unwrap_or_default());
            let verdict = if !s.is_ours() {
                Verdict::Skip(crate::stack::NOT_OURS.into())
            } else if s.pool_protected() {
                Verdict::Skip("the user pool has deletion protection".into())
            } else if s.in_progress() {
                Verdict::Skip(format!("busy ({})", s.status.as_str()))
            } else if let Some(at) = expires.filter(|t| *t <= now) {
                Verdict::Delete(format!("expired at {}", rfc3339(at)))
            } else if let Some(d) = older_than.filter(|d| age.is_some_and(|a| a >= *d)) {
                Verdict::Delete(format!("older than {}", crate::duration::format(d)))
            } else {
                Verdict::Skip(match expires {
                    Some(at) => format!("expires at {}", rfc3339(at)),
                    None => "no expiry tag".into(),
                })
            };
            (s.name.clone(), verdict)
        })
        .collect()
}

/// `deployer gc`: exit 1 when a delete failed.
pub async fn run(s: &super::session::Session<'_>, args: &crate::cli::GcArgs) -> Result<u8, Error> {
    // The project (and region) come from the inputs file; with --all-projects gc works
    // without one.
    let inputs = s.base_inputs();
    let project = match (&inputs, args.all_projects) {
        (_, true) => None,
        (Ok(i), false) => Some(i.stack_name.clone()),
        (Err(_), false) => {
            return Err(Error::Usage {
                message: format!("gc needs the project: {} cannot be read", s.global.inputs.display()),
                help: "run gc with the project's inputs file (-f), whose stackName names the copies to collect, or pass --all-projects to collect every project's expired copies in the region".into(),
            })
        }
    };
    let conn = s.connect(inputs.ok().and_then(|i| i.region)).await?;
    let clients = crate::aws::Clients::new(&conn);
    let options = GcOptions {
        older_than: args.older_than,
        dry_run: args.dry_run,
        parallel: args.parallel,
        project,
    };
    let report = gc(s.ctx(&clients), SystemTime::now(), &options).await?;
    s.print(&report);
    Ok(if report.any_failed() {
        crate::error::exit::DEPLOY_FAILED
    } else {
        crate::error::exit::SUCCESS
    })
}

/// `gc`: deletes the stacks whose time is up, `parallel` at a time; lists the others as
/// skipped with the reason. A failure is reported, not fatal.
pub async fn gc(ctx: Ctx<'_>, now: SystemTime, options: &GcOptions) -> Result<GcReport, Error> {
    use futures::StreamExt;
    let stacks = cfn::list_all(ctx.clients).await?;
    let verdicts = triage(&stacks, now, options.older_than, options.project.as_deref());
    let considered = verdicts.len();
    let mut entries = Vec::new();
    let mut due = Vec::new();
    for (stack, verdict) in verdicts {
        match verdict {
            Verdict::Skip(why) => entries.push(GcEntry {
                stack,
                reason: why.clone(),
                result: GcResult::Skipped(why),
            }),
            Verdict::Delete(reason) if options.dry_run => entries.push(GcEntry {
                stack,
                reason,
                result: GcResult::WouldDelete,
            }),
            Verdict::Delete(reason) => due.push((stack, reason)),
        }
    }
    if !due.is_empty() {
        ctx.progress.step(&format!(
            "deleting {} of {considered} ephemeral stack(s), {} at a time",
            due.len(),
            options.parallel
        ));
    }
    let deleted: Vec<GcEntry> = futures::stream::iter(due)
        .map(|(stack, reason)| async move {
            let target = DownTarget {
                stack: stack.clone(),
                named_pool: None,
            };
            let options = DownOptions {
                force: false,
                keep_protection: true,
                wait_timeout: Duration::from_secs(600),
                retain: Vec::new(),
            };
            // Each deletion shows its own plain lines, side by side with the others.
            let quiet = Progress::plain();
            let ctx = Ctx {
                progress: &quiet,
                ..ctx
            };
            let result = match down::down(ctx, &target, &options).await {
                Ok(_) => GcResult::Deleted,
                Err(Error::Kept { .. }) => {
                    GcResult::Skipped("the user pool has deletion protection".into())
                }
                Err(err) => GcResult::Failed(err.to_string()),
            };
            GcEntry {
                stack,
                reason,
                result,
            }
        })
        .buffer_unordered(options.parallel.max(1))
        .collect()
        .await;
    for e in &deleted {
        ctx.progress.note(&format!("{}: {}", e.stack, e.result));
    }
    entries.extend(deleted);
    entries.sort_by(|a, b| a.stack.cmp(&b.stack));
    Ok(GcReport {
        considered,
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ephemeral::{TAG_BASE, TAG_EPHEMERAL};
    use crate::stack::{StackStatus, FINGERPRINT_OUTPUT, MANAGED_BY};
    use std::collections::BTreeMap;

    fn copy(name: &str, base: Option<&str>) -> Stack {
        let mut tags = BTreeMap::from([
            (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
            (TAG_EPHEMERAL.to_owned(), "true".to_owned()),
            (TAG_EXPIRES.to_owned(), "2020-01-01T00:00:00Z".to_owned()),
        ]);
        if let Some(base) = base {
            tags.insert(TAG_BASE.to_owned(), base.to_owned());
        }
        Stack {
            name: name.into(),
            id: format!("arn:aws:cloudformation:us-east-1:1:stack/{name}/x"),
            status: StackStatus::CreateComplete,
            reason: None,
            outputs: BTreeMap::from([(FINGERPRINT_OUTPUT.to_owned(), "f".to_owned())]),
            tags,
            parameters: BTreeMap::new(),
            created: None,
            updated: None,
        }
    }

    #[test]
    fn gc_considers_only_the_projects_copies_unless_asked_for_all() {
        let stacks = [
            copy("app--pr1", Some("app")),
            copy("app-admin--pr1", Some("app-admin")),
            // A tag that names the project on a name that is not its copy's: not considered.
            copy("billing--x", Some("app")),
            // Deployed before copies named their project: only --all-projects takes it.
            copy("app-pr0", None),
        ];
        let names =
            |v: Vec<(String, Verdict)>| -> Vec<String> { v.into_iter().map(|(n, _)| n).collect() };
        let now = SystemTime::now();
        assert_eq!(names(triage(&stacks, now, None, Some("app"))), ["app--pr1"]);
        assert_eq!(
            names(triage(&stacks, now, None, Some("app-admin"))),
            ["app-admin--pr1"]
        );
        assert_eq!(triage(&stacks, now, None, None).len(), 4);
    }
}
