//! `gc`: deletes ephemeral stacks whose time is up, several at a time. Which ones is decided
//! by `due` (pure); each deletion is an ordinary `down`.

use super::down::{self, DownOptions, DownTarget};
use crate::aws::cfn;
use crate::ephemeral::{parse_rfc3339, rfc3339, TAG_EPHEMERAL, TAG_EXPIRES};
use crate::error::Error;
use crate::progress::Progress;
use crate::stack::execute::Ctx;
use crate::stack::Stack;
use serde::{Serialize, Serializer};
use std::fmt;
use std::time::{Duration, SystemTime};

/// What happened to one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcResult {
    WouldDelete,
    Deleted,
    Failed(String),
}

impl fmt::Display for GcResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WouldDelete => f.write_str("would-delete"),
            Self::Deleted => f.write_str("deleted"),
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
        writeln!(
            f,
            "{} ephemeral stack(s) considered, {} to delete: {} deleted, {} failed",
            self.considered,
            self.entries.len(),
            count(|r| *r == GcResult::Deleted),
            count(|r| matches!(r, GcResult::Failed(_)))
        )?;
        for e in &self.entries {
            writeln!(f, "  {:<40} {:<28} {}", e.stack, e.reason, e.result)?;
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
}

/// Which ephemeral stacks are due at `now`, and why. Pure.
pub fn due(
    stacks: &[Stack],
    now: SystemTime,
    older_than: Option<Duration>,
) -> (usize, Vec<(String, String)>) {
    let ephemeral: Vec<&Stack> = stacks
        .iter()
        .filter(|s| s.tags.get(TAG_EPHEMERAL).map(String::as_str) == Some("true"))
        .collect();
    let mut due = Vec::new();
    for s in &ephemeral {
        let expired = s
            .tags
            .get(TAG_EXPIRES)
            .and_then(|t| parse_rfc3339(t))
            .filter(|t| *t <= now);
        let old = older_than
            .zip(s.created)
            .filter(|(d, created)| now.duration_since(*created).unwrap_or_default() >= *d);
        if let Some(at) = expired {
            due.push((s.name.clone(), format!("expired at {}", rfc3339(at))));
        } else if let Some((d, _)) = old {
            due.push((s.name.clone(), format!("older than {}s", d.as_secs())));
        }
    }
    (ephemeral.len(), due)
}

/// `gc`: deletes the due stacks, `parallel` at a time; a failure is reported, not fatal.
pub async fn gc(ctx: Ctx<'_>, now: SystemTime, options: &GcOptions) -> Result<GcReport, Error> {
    use futures::StreamExt;
    let stacks = cfn::list_all(ctx.clients).await?;
    let (considered, due) = due(&stacks, now, options.older_than);
    if options.dry_run {
        let entries = due
            .into_iter()
            .map(|(stack, reason)| GcEntry {
                stack,
                reason,
                result: GcResult::WouldDelete,
            })
            .collect();
        return Ok(GcReport {
            considered,
            entries,
        });
    }
    ctx.progress.step(&format!(
        "deleting {} of {considered} ephemeral stack(s), {} at a time",
        due.len(),
        options.parallel
    ));
    let entries: Vec<GcEntry> = futures::stream::iter(due)
        .map(|(stack, reason)| async move {
            let target = DownTarget {
                stack: stack.clone(),
                disposable: Some(true),
            };
            let options = DownOptions {
                force: true,
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
    for e in &entries {
        ctx.progress.note(&format!("{}: {}", e.stack, e.result));
    }
    Ok(GcReport {
        considered,
        entries,
    })
}
