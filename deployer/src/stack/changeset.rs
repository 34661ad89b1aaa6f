//! The one change-set path: `prepare` makes a change set and returns it as a value (its
//! changes, the destructive ones markable by the caller); the caller decides from that value
//! whether to `run` it or `discard` it; `run` executes it and follows the stack to the end.
//! `up`, a kept stack's protection and `down`'s release all go through here. Losing a race
//! to another run is not an error here but a [`Halt::LostRace`] the caller answers.

use super::{recover, wait, Change, ChangeKind, ChangeSetRequest, Finished, StackStatus};
use crate::aws::cfn::{self, ChangeSetState};
use crate::aws::{AwsError, ErrorKind};
use crate::cancel::Doing;
use crate::ctx::Ctx;
use crate::error::Error;
use std::collections::HashSet;

/// Why a change set did not run to a complete stack.
#[derive(Debug)]
pub enum Halt {
    /// Another operation changed the stack between our look and our act.
    LostRace(String),
    /// CloudFormation could not make the change set (the template, a parameter): its reason.
    /// The change set is removed; nothing changed.
    Rejected(String),
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

/// A change set CloudFormation has computed, with changes to make.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub id: String,
    pub stack: String,
    pub stack_id: String,
    pub kind: ChangeKind,
    pub changes: Vec<Change>,
}

/// Makes the change set and waits until CloudFormation has computed it. `None`: there is
/// nothing to change (the change set is removed).
pub async fn prepare(ctx: Ctx<'_>, req: &ChangeSetRequest) -> Result<Option<Prepared>, Halt> {
    ctx.activity.set(&req.stack, Doing::Preparing);
    let (id, stack_id) = match cfn::create_change_set(ctx.clients, req).await {
        Ok(ids) => ids,
        Err(err) if lost_race(&err) => return Err(Halt::LostRace(err.message)),
        Err(err) => return Err(err.into()),
    };
    let mut prepared = Prepared {
        id,
        stack: req.stack.clone(),
        stack_id,
        kind: req.kind,
        changes: Vec::new(),
    };
    let mut backoff = ctx.poll.backoff();
    loop {
        let state = match cfn::change_set_state(ctx.clients, &prepared.id).await {
            Ok(ChangeSetState::Pending) => {
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
            Ok(state) => state,
            Err(err) => {
                discard(ctx, &prepared).await;
                return Err(if lost_race(&err) {
                    Halt::LostRace(err.message)
                } else {
                    err.into()
                });
            }
        };
        match state {
            ChangeSetState::Ready(changes) => {
                prepared.changes = changes;
                return Ok(Some(prepared));
            }
            ChangeSetState::Empty => {
                discard(ctx, &prepared).await;
                return Ok(None);
            }
            ChangeSetState::Failed(reason) => {
                discard(ctx, &prepared).await;
                return Err(Halt::Rejected(reason));
            }
            ChangeSetState::Pending => unreachable!("handled above"),
        }
    }
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
    ctx.activity.clear(&prepared.stack);
}

/// Executes a prepared change set and follows the stack to the end of the operation: the
/// stack complete, or the error naming the root cause of its failure.
pub async fn run(ctx: Ctx<'_>, prepared: &Prepared) -> Result<Finished, Halt> {
    let name = prepared.stack.as_str();
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
    let finished = match cfn::execute_change_set(ctx.clients, &prepared.id).await {
        Ok(()) => {
            let doing = |status| Doing::Deploying { status };
            ctx.activity.set(name, doing("started".into()));
            wait::follow(ctx, name, &prepared.stack_id, seen, doing).await?
        }
        Err(err) => refused_execution(ctx, prepared, err).await?,
    };
    ctx.activity.clear(name);
    match &finished.status {
        // Our stack id vanished mid-deploy: another run replaced or deleted the stack.
        None => Err(Halt::LostRace(
            "the stack was deleted or replaced while it was being deployed".into(),
        )),
        Some(StackStatus::CreateComplete | StackStatus::UpdateComplete) => Ok(finished),
        Some(status) => Err(Halt::Fail(failed(name, prepared.kind, status, &finished))),
    }
}

/// ExecuteChangeSet answered an error: another run's operation (a lost race), or a resource
/// failure some endpoints report from the call itself (the stack's failed state and events
/// then say what happened, as they would after following it); any other error is the error.
async fn refused_execution(
    ctx: Ctx<'_>,
    prepared: &Prepared,
    err: AwsError,
) -> Result<Finished, Halt> {
    if lost_race(&err) {
        discard(ctx, prepared).await;
        return Err(Halt::LostRace(err.message));
    }
    if let Ok(Some(stack)) = cfn::describe(ctx.clients, &prepared.stack_id).await {
        // Only a failure this execution ended in: a stack that is complete (from an earlier
        // operation) says nothing about why ours was refused (AccessDenied, say).
        let failed = stack.status.as_str().contains("ROLLBACK")
            || stack.status.as_str().ends_with("_FAILED");
        if failed && !stack.in_progress() {
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
    Err(err.into())
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
        },
        stack: name.into(),
        cause,
        state: status.as_str().into(),
        help: recover::after_failure(status).into(),
    }
}
