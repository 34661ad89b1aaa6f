//! Carries a plan out: change sets made, shown, executed and followed to their end; waits for
//! other operations; deletes. Losing a race to another run is not an error here but a
//! [`Halt::LostRace`], which [`retry_lost_races`] answers by waiting and deciding again.

use super::plan::{Action, Plan};
use super::{recover, Change, ChangeKind, ChangeSetRequest, Finished, Stack, StackStatus};
use crate::aws::cfn::{self, ChangeSetState};
use crate::aws::{AwsError, Clients, ErrorKind};
use crate::cancel::{Activity, Doing};
use crate::error::Error;
use crate::progress::{Poll, Progress};
use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

/// What the engine works with: the clients, where progress goes, what Ctrl-C should report,
/// and how often to poll. Tests hand in mocked clients and `Poll::immediate()`.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub clients: &'a Clients,
    pub progress: &'a Progress,
    pub activity: &'a Activity,
    pub poll: Poll,
}

/// Why an attempt stopped.
#[derive(Debug)]
pub enum Halt {
    /// Another operation changed the stack between our look and our act.
    LostRace(String),
    Fail(Error),
}

impl<E: Into<Error>> From<E> for Halt {
    fn from(err: E) -> Self {
        Halt::Fail(err.into())
    }
}

/// Errors that mean another run acted on the stack between our look and our action.
pub fn lost_race(err: &AwsError) -> bool {
    matches!(
        err.kind,
        ErrorKind::AlreadyExists | ErrorKind::StackBusy | ErrorKind::Conflict | ErrorKind::NotFound
    )
}

/// How often `up` decides again after losing a race with another operation on the stack.
pub const MAX_ATTEMPTS: u32 = 5;

/// Runs `attempt` until it finishes or fails; after a lost race, waits for the stack to settle
/// and runs it again, at most [`MAX_ATTEMPTS`] times. The one place races are retried.
pub async fn retry_lost_races<T, F, Fut>(
    ctx: Ctx<'_>,
    stack: &str,
    wait_timeout: Duration,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Halt>>,
{
    let mut last = String::new();
    for n in 1..=MAX_ATTEMPTS {
        match attempt(n).await {
            Ok(value) => return Ok(value),
            Err(Halt::Fail(err)) => return Err(err),
            Err(Halt::LostRace(why)) => {
                ctx.progress.note(&format!(
                    "another operation got to stack {stack} first ({why}): waiting for it, then deciding again"
                ));
                settle(ctx, stack, wait_timeout).await?;
                last = why;
            }
        }
    }
    Err(Error::Raced {
        stack: stack.into(),
        attempts: MAX_ATTEMPTS,
        last,
    })
}

/// Waits until the stack is settled (or gone); `TimedOut` (exit 5) after `timeout`.
pub async fn settle(ctx: Ctx<'_>, name: &str, timeout: Duration) -> Result<Option<Stack>, Error> {
    let started = Instant::now();
    let mut backoff = ctx.poll.backoff();
    let mut announced = false;
    loop {
        let stack = cfn::describe(ctx.clients, name).await?;
        match &stack {
            Some(s) if s.in_progress() => {
                let status = s.status.as_str().to_owned();
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
            _ => {
                ctx.activity.clear(name);
                return Ok(stack);
            }
        }
    }
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
    loop {
        let fresh = match cfn::new_events(ctx.clients, stack_id, &mut seen).await {
            Ok(fresh) => fresh,
            // The stack was deleted under us (by `down`, or another run's clean-up).
            Err(err) if err.is(ErrorKind::NotFound) => {
                return Ok(Finished {
                    status: None,
                    reason: None,
                    events,
                })
            }
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
            None => {
                return Ok(Finished {
                    status: None,
                    reason: None,
                    events,
                })
            }
        }
    }
}

/// One progress line per resource event (the stack's own events are the summary, not shown).
fn show(progress: &Progress, events: &[super::Event]) {
    for e in events.iter().filter(|e| !e.is_stack()) {
        progress.resource(
            &e.logical_id,
            &e.resource_type,
            e.status.as_str(),
            e.reason.as_deref(),
        );
    }
}

/// A change set that CloudFormation has finished preparing.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: String,
    pub stack_id: String,
    pub kind: ChangeKind,
    pub state: ChangeSetState,
}

/// Makes the change set and waits until CloudFormation has computed it.
pub async fn prepare(ctx: Ctx<'_>, req: &ChangeSetRequest) -> Result<Prepared, Halt> {
    ctx.activity.set(&req.stack, Doing::Preparing);
    let (id, stack_id) = match cfn::create_change_set(ctx.clients, req).await {
        Ok(ids) => ids,
        Err(err) if lost_race(&err) => return Err(Halt::LostRace(err.message)),
        Err(err) => return Err(err.into()),
    };
    let mut backoff = ctx.poll.backoff();
    let state = loop {
        match cfn::change_set_state(ctx.clients, &id).await {
            Ok(ChangeSetState::Pending) => tokio::time::sleep(backoff.next_delay()).await,
            Ok(state) => break state,
            Err(err) => {
                let prepared = Prepared {
                    id: id.clone(),
                    stack_id: stack_id.clone(),
                    kind: req.kind,
                    state: ChangeSetState::Pending,
                };
                discard(ctx, &prepared).await;
                return Err(if lost_race(&err) {
                    Halt::LostRace(err.message)
                } else {
                    err.into()
                });
            }
        }
    };
    Ok(Prepared {
        id,
        stack_id,
        kind: req.kind,
        state,
    })
}

/// Removes a change set that will not be executed; for a create, also the empty
/// REVIEW_IN_PROGRESS stack it made (only that: another run may be creating the stack).
pub async fn discard(ctx: Ctx<'_>, prepared: &Prepared) {
    cfn::delete_change_set(ctx.clients, &prepared.id).await.ok();
    if prepared.kind == ChangeKind::Create {
        let review = cfn::describe(ctx.clients, &prepared.stack_id)
            .await
            .ok()
            .flatten();
        if review.is_some_and(|s| s.status == StackStatus::ReviewInProgress) {
            cfn::delete_stack(ctx.clients, &prepared.stack_id, &[])
                .await
                .ok();
        }
    }
}

/// Executes a prepared change set and follows the stack to the end of the operation.
pub async fn run(ctx: Ctx<'_>, name: &str, prepared: &Prepared) -> Result<Finished, Halt> {
    // Only this operation's events are shown: the ones already there are marked seen.
    let seen = match cfn::all_events(ctx.clients, &prepared.stack_id).await {
        Ok(events) => events.into_iter().map(|e| e.id).collect(),
        Err(err) if err.is(ErrorKind::NotFound) => HashSet::new(),
        Err(err) => return Err(err.into()),
    };
    if prepared.kind == ChangeKind::Create {
        // Another run's create can have replaced the never-executed stack our change set
        // belongs to (an emulator does; AWS answers InvalidChangeSetStatus at execution).
        let now = cfn::describe(ctx.clients, name).await?;
        if now.is_some_and(|s| s.id != prepared.stack_id) {
            cfn::delete_change_set(ctx.clients, &prepared.id).await.ok();
            return Err(Halt::LostRace(
                "another run's change set replaced the stack before ours ran".into(),
            ));
        }
    }
    if let Err(err) = cfn::execute_change_set(ctx.clients, &prepared.id).await {
        // Someone else executes on this stack: drop our change set, leave the stack be.
        if lost_race(&err) {
            discard(ctx, prepared).await;
            return Err(Halt::LostRace(err.message));
        }
        // Some endpoints answer a resource failure from ExecuteChangeSet itself: the stack's
        // state and events then say what happened, as they would after following it.
        if let Ok(Some(stack)) = cfn::describe(ctx.clients, &prepared.stack_id).await {
            if stack.status != StackStatus::ReviewInProgress && !stack.in_progress() {
                let events = cfn::all_events(ctx.clients, &prepared.stack_id)
                    .await
                    .unwrap_or_default();
                return Ok(Finished {
                    status: Some(stack.status),
                    reason: stack.reason,
                    events,
                });
            }
        }
        discard(ctx, prepared).await;
        return Err(err.into());
    }
    ctx.activity.set(
        name,
        Doing::Deploying {
            status: "started".into(),
        },
    );
    let finished = follow(ctx, name, &prepared.stack_id, seen, |status| {
        Doing::Deploying { status }
    })
    .await?;
    ctx.activity.clear(name);
    if finished.status.is_none() {
        // Our stack id vanished mid-deploy: another run replaced or deleted the stack.
        return Err(Halt::LostRace(
            "the stack was deleted or replaced while it was being deployed".into(),
        ));
    }
    Ok(finished)
}

/// What executing a plan did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    Created(Vec<Change>),
    Updated(Vec<Change>),
    /// The change set was shown and removed (`plan`).
    Planned(Vec<Change>),
    /// CloudFormation found nothing to change (the fingerprint differed only in form).
    NothingToChange,
}

/// Options of one execution.
pub struct Apply<'a> {
    /// Show the change set, then remove it (`plan`).
    pub dry_run: bool,
    /// Asked before executing; an error stops the plan (destructive changes need a yes).
    pub approve: &'a (dyn Fn(&[Change]) -> Result<(), Error> + Sync),
}

/// Carries out a Create, Recreate or Update plan: change set, show, approve, execute, follow.
pub async fn apply(ctx: Ctx<'_>, plan: &Plan, options: &Apply<'_>) -> Result<Applied, Halt> {
    let name = plan.stack.as_str();
    let req = plan
        .change_set
        .as_ref()
        .expect("apply is given plans with a change set");
    if let Action::Recreate { reason } = &plan.action {
        if !options.dry_run {
            ctx.progress.step(&format!(
                "stack {name} is ROLLBACK_COMPLETE from a failed create{}: deleting it to create it again",
                reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
            ));
            delete(ctx, name, &[]).await?;
        }
    }
    ctx.progress.step("creating a change set");
    let prepared = prepare(ctx, req).await?;
    let changes = match &prepared.state {
        ChangeSetState::Ready(changes) => changes.clone(),
        ChangeSetState::Empty => {
            discard(ctx, &prepared).await;
            ctx.progress.step("CloudFormation found nothing to change");
            return Ok(Applied::NothingToChange);
        }
        ChangeSetState::Failed(reason) => {
            discard(ctx, &prepared).await;
            return Err(Halt::Fail(Error::DeployFailed {
                operation: "the change set",
                stack: name.into(),
                cause: reason.clone(),
                state: if prepared.kind == ChangeKind::Create {
                    "not created".into()
                } else {
                    "unchanged".into()
                },
                help: "CloudFormation rejected the template or parameters; fix the cause and run `up` again".into(),
            }));
        }
        ChangeSetState::Pending => unreachable!("prepare returns settled change sets"),
    };
    ctx.progress.step(&format!(
        "planned changes ({}):\n{}",
        changes.len(),
        crate::output::changes_text(&changes).trim_end()
    ));
    if options.dry_run {
        discard(ctx, &prepared).await;
        ctx.activity.clear(name);
        return Ok(Applied::Planned(changes));
    }
    if let Err(err) = (options.approve)(&changes) {
        discard(ctx, &prepared).await;
        ctx.activity.clear(name);
        return Err(Halt::Fail(err));
    }
    ctx.progress.step(match prepared.kind {
        ChangeKind::Create => "creating the stack",
        ChangeKind::Update => "updating the stack",
        ChangeKind::Import => "importing into the stack",
    });
    let finished = run(ctx, name, &prepared).await?;
    let status = finished.status.clone().expect("run returns a status");
    let ok = matches!(
        status,
        StackStatus::CreateComplete | StackStatus::UpdateComplete | StackStatus::ImportComplete
    );
    if !ok {
        return Err(Halt::Fail(failed(name, prepared.kind, &status, &finished)));
    }
    if let Some(protect) = &plan.protect {
        protect_created(ctx, name, protect).await?;
    }
    Ok(match prepared.kind {
        ChangeKind::Create => Applied::Created(changes),
        _ => Applied::Updated(changes),
    })
}

/// Switches a kept stack's deletion protection on, now that the stack exists.
async fn protect_created(ctx: Ctx<'_>, name: &str, req: &ChangeSetRequest) -> Result<(), Halt> {
    ctx.progress
        .step("switching on deletion protection (a kept stack, now created)");
    let unfinished = |cause: String, state: &str| {
        Halt::Fail(Error::DeployFailed {
            operation: "protecting",
            stack: name.into(),
            cause,
            state: state.into(),
            help: "the stack was created but its deletion protection is not on yet; run `deployer up` again to switch it on".into(),
        })
    };
    let prepared = match prepare(ctx, req).await {
        Ok(p) => p,
        Err(Halt::LostRace(why)) => return Err(unfinished(why, "CREATE_COMPLETE")),
        Err(err) => return Err(err),
    };
    match &prepared.state {
        ChangeSetState::Ready(_) => {}
        ChangeSetState::Empty => {
            discard(ctx, &prepared).await;
            return Ok(());
        }
        ChangeSetState::Failed(reason) => {
            discard(ctx, &prepared).await;
            return Err(unfinished(reason.clone(), "CREATE_COMPLETE"));
        }
        ChangeSetState::Pending => unreachable!("prepare returns settled change sets"),
    }
    let finished = match run(ctx, name, &prepared).await {
        Ok(f) => f,
        Err(Halt::LostRace(why)) => return Err(unfinished(why, "unknown")),
        Err(err) => return Err(err),
    };
    let status = finished.status.clone().expect("run returns a status");
    if status != StackStatus::UpdateComplete {
        return Err(Halt::Fail(failed(
            name,
            ChangeKind::Update,
            &status,
            &finished,
        )));
    }
    Ok(())
}

/// The error for an operation that ended in a failed state, with its root cause.
pub fn failed(name: &str, kind: ChangeKind, status: &StackStatus, finished: &Finished) -> Error {
    // Some endpoints report the failure only in the stack's status reason.
    let cause = recover::root_cause(&finished.events)
        .map(recover::describe)
        .or_else(|| finished.reason.clone().filter(|r| !r.is_empty()))
        .unwrap_or_else(|| "no failed resource was reported; see the stack events".into());
    Error::DeployFailed {
        operation: match kind {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Import => "import",
        },
        stack: name.into(),
        cause,
        state: status.as_str().into(),
        help: recover::after_failure(status).into(),
    }
}

/// Deletes the stack and follows the delete; `retain` keeps resources of a DELETE_FAILED
/// stack. DELETE_FAILED ends in an error naming each resource that blocked it.
pub async fn delete(ctx: Ctx<'_>, name: &str, retain: &[String]) -> Result<(), Error> {
    let Some(stack) = cfn::describe(ctx.clients, name).await? else {
        return Ok(());
    };
    let seen: HashSet<String> = cfn::all_events(ctx.clients, &stack.id)
        .await?
        .into_iter()
        .map(|e| e.id)
        .collect();
    ctx.activity.set(
        name,
        Doing::Deleting {
            status: "DELETE_IN_PROGRESS".into(),
        },
    );
    cfn::delete_stack(ctx.clients, &stack.id, retain).await?;
    let finished = follow(ctx, name, &stack.id, seen, |status| Doing::Deleting {
        status,
    })
    .await?;
    ctx.activity.clear(name);
    match &finished.status {
        None | Some(StackStatus::DeleteComplete) => Ok(()),
        Some(status) => {
            let failures = recover::delete_failures(&finished.events);
            let ids: Vec<&str> = failures.iter().map(|(id, _)| id.as_str()).collect();
            Err(Error::DeployFailed {
                operation: "delete",
                stack: name.into(),
                cause: if failures.is_empty() {
                    "no failed resource was reported; see the stack events".into()
                } else {
                    failures
                        .iter()
                        .map(|(_, l)| l.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                },
                state: status.as_str().into(),
                help: if ids.is_empty() {
                    "resolve what blocked the delete, then run `deployer down` again".into()
                } else {
                    format!(
                        "resolve what blocked {} (e.g. deletion protection, objects left in it), then run `deployer down` again; to leave them behind, run `deployer down --retain {}`",
                        ids.join(", "),
                        ids.join(",")
                    )
                },
            })
        }
    }
}
