//! The one place that waits: for another operation on the stack to end (`settle`, and
//! `observe_settled` on top of it), and for our own to end (`follow`).

use super::observe::{observe, reobserve};
use super::plan::{self, Observed};
use super::{Event, Finished, Stack};
use crate::aws::{cfn, ErrorKind};
use crate::cancel::Doing;
use crate::ctx::Ctx;
use crate::error::Error;
use crate::progress::Progress;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// Waits until the stack is settled (or gone); `TimedOut` (exit 5) after `timeout`.
pub async fn settle(ctx: Ctx<'_>, name: &str, timeout: Duration) -> Result<Option<Stack>, Error> {
    let started = Instant::now();
    let mut backoff = ctx.poll.backoff();
    let mut announced = false;
    loop {
        let stack = cfn::describe(ctx.clients, name).await?;
        let Some(busy) = stack.as_ref().filter(|s| s.in_progress()) else {
            ctx.activity.clear(name);
            return Ok(stack);
        };
        let status = busy.status.as_str().to_owned();
        if started.elapsed() >= timeout {
            ctx.activity.clear(name);
            return Err(Error::TimedOut {
                stack: name.into(),
                status,
                waited_secs: started.elapsed().as_secs(),
                help: "another operation is running on the stack (another `up` or `down`, a CI job, the console); wait for it, or raise --wait-timeout".into(),
            });
        }
        if !announced {
            ctx.progress.note(&format!(
                "stack {name} is {status}: waiting for that operation to finish"
            ));
            announced = true;
        }
        ctx.activity.set(name, Doing::Waiting { status });
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// The world once no other operation runs on the stack: observed, and while the stack is
/// busy (and not one `up` refuses anyway), waited for and observed again. `account`: known
/// from an earlier look, or asked.
pub async fn observe_settled(
    ctx: Ctx<'_>,
    (stack, table): (&str, &str),
    account: Option<&str>,
    options: plan::Options,
    timeout: Duration,
) -> Result<Observed, Error> {
    ctx.activity.set(stack, Doing::Reading);
    let mut observed = match account {
        Some(account) => reobserve(ctx.clients, account, stack, table).await?,
        None => observe(ctx.clients, stack, table).await?,
    };
    while observed.stack.as_ref().is_some_and(Stack::in_progress)
        && plan::refusal(stack, &observed, options).is_none()
    {
        settle(ctx, stack, timeout).await?;
        observed = reobserve(ctx.clients, &observed.account, stack, table).await?;
    }
    Ok(observed)
}

/// Follows an operation until the stack leaves `*_IN_PROGRESS`, showing each resource.
/// `doing` says how the status is recorded for Ctrl-C.
pub async fn follow(
    ctx: Ctx<'_>,
    name: &str,
    stack_id: &str,
    mut seen: HashSet<String>,
    doing: fn(String) -> Doing,
) -> Result<Finished, Error> {
    let mut backoff = ctx.poll.backoff();
    let mut events = Vec::new();
    let gone = |events| Finished {
        status: None,
        reason: None,
        events,
    };
    loop {
        let fresh = match cfn::new_events(ctx.clients, stack_id, &mut seen).await {
            Ok(fresh) => fresh,
            // The stack was deleted under us (by `down`, or another run's clean-up).
            Err(err) if err.is(ErrorKind::NotFound) => return Ok(gone(events)),
            Err(err) => return Err(err.into()),
        };
        show(ctx.progress, &fresh);
        events.extend(fresh);
        match cfn::describe(ctx.clients, stack_id).await? {
            Some(s) if s.in_progress() => {
                ctx.activity.set(name, doing(s.status.as_str().to_owned()));
                tokio::time::sleep(backoff.next_delay()).await
            }
            Some(s) => {
                // Events can land just after the status; take the last ones.
                let tail = cfn::new_events(ctx.clients, stack_id, &mut seen)
                    .await
                    .unwrap_or_default();
                show(ctx.progress, &tail);
                events.extend(tail);
                return Ok(Finished {
                    status: Some(s.status),
                    reason: s.reason,
                    events,
                });
            }
            None => return Ok(gone(events)),
        }
    }
}

/// One progress line per resource event (the stack's own events are the summary, not shown).
fn show(progress: &Progress, events: &[Event]) {
    for e in events.iter().filter(|e| !e.is_stack()) {
        progress.resource(
            &e.logical_id,
            &e.resource_type,
            e.status.as_str(),
            e.reason.as_deref(),
        );
    }
}
