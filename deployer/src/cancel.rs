//! One cancellation path. `main` races the whole command against Ctrl-C; the command only
//! records what it is doing here, so that an interruption at any moment can say what
//! CloudFormation is still doing and what the next run will do. Dropping the command's future
//! stops every call and wait at once; child processes are killed by their guards. The one
//! moment that must tidy up first is a question to a person (a prepared change set waits on
//! the answer): there `main` asks the command to stop (`interrupt`) and lets it remove the
//! change set before it ends.

use crate::error::Error;
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};

/// The terminal's settings as the command found them, put back when it is interrupted: a
/// question asked with echo off (a password) must not leave the person's terminal without
/// echo when Ctrl-C ends the run in the middle of it.
pub struct Terminal(Option<(std::fs::File, nix::sys::termios::Termios)>);

impl Terminal {
    /// The controlling terminal's settings now (none when there is no terminal).
    pub fn save() -> Self {
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok();
        Self(tty.and_then(|f| {
            let saved = nix::sys::termios::tcgetattr(f.as_fd()).ok()?;
            Some((f, saved))
        }))
    }

    /// Puts the saved settings back.
    pub fn restore(&self) {
        if let Some((f, saved)) = &self.0 {
            nix::sys::termios::tcsetattr(f.as_fd(), nix::sys::termios::SetArg::TCSANOW, saved).ok();
        }
    }
}

/// What the command is doing on one stack (or, keyed by "", outside any stack).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Doing {
    Building,
    Uploading {
        bucket: String,
        key: String,
    },
    /// A change set is being prepared: nothing has changed yet.
    Preparing,
    /// CloudFormation runs our operation; `status` is the last one seen.
    Deploying {
        status: String,
    },
    /// Another operation runs on the stack and we wait for it.
    Waiting {
        status: String,
    },
    Deleting {
        status: String,
    },
    Verifying,
    /// A prepared change set waits while a person is asked whether to run it.
    Asking,
    /// A no-op step (reading): nothing to undo.
    Reading,
}

/// The command's activities, shared with `main`.
#[derive(Debug, Clone)]
pub struct Activity(
    Arc<Mutex<BTreeMap<String, Doing>>>,
    Arc<tokio::sync::watch::Sender<bool>>,
);

impl Default for Activity {
    fn default() -> Self {
        Self(
            Arc::default(),
            Arc::new(tokio::sync::watch::channel(false).0),
        )
    }
}

impl Activity {
    /// Whether a person is being asked (then `main` lets the command tidy up on Ctrl-C).
    pub fn asking(&self) -> bool {
        let doings = self.0.lock().expect("activity lock");
        doings.values().any(|d| *d == Doing::Asking)
    }

    /// Asks the command to stop where it waits for `stopped` (Ctrl-C at a question).
    pub fn interrupt(&self) {
        self.1.send_replace(true);
    }

    /// Ends when `interrupt` is called.
    pub async fn stopped(&self) {
        let mut rx = self.1.subscribe();
        rx.wait_for(|stop| *stop).await.ok();
    }

    /// Records what happens on `stack` now ("" for work outside a stack).
    pub fn set(&self, stack: &str, doing: Doing) {
        self.0
            .lock()
            .expect("activity lock")
            .insert(stack.to_owned(), doing);
    }

    /// The stack is done with.
    pub fn clear(&self, stack: &str) {
        self.0.lock().expect("activity lock").remove(stack);
    }

    /// The error a Ctrl-C ends the command with: what was under way and what happens next.
    pub fn interrupted(&self, command: &str) -> Error {
        let doings = self.0.lock().expect("activity lock").clone();
        let mut what = Vec::new();
        let mut next = Vec::new();
        for (stack, doing) in &doings {
            match doing {
                Doing::Building => {
                    what.push("building the trigger".to_owned());
                    next.push("nothing was deployed; run the command again".to_owned());
                }
                Doing::Uploading { bucket, key } => {
                    what.push(format!("uploading s3://{bucket}/{key}"));
                    next.push("nothing was deployed; the next run uploads again".to_owned());
                }
                Doing::Preparing => {
                    what.push(format!("preparing a change set for stack {stack}"));
                    next.push(format!(
                        "stack {stack} was not changed; the next `deployer {command}` starts over"
                    ));
                }
                Doing::Deploying { status } => {
                    what.push(format!(
                        "CloudFormation is still deploying stack {stack} (last seen {status}) and finishes or rolls back by itself"
                    ));
                    next.push(format!(
                        "the next `deployer {command}` waits for it and continues from where it ends"
                    ));
                }
                Doing::Waiting { status } => {
                    what.push(format!(
                        "waiting for another operation on stack {stack} (last seen {status}); nothing of ours was started"
                    ));
                    next.push(format!("the next `deployer {command}` waits for it again"));
                }
                Doing::Deleting { status } => {
                    what.push(format!(
                        "CloudFormation is still deleting stack {stack} (last seen {status}) and goes on by itself"
                    ));
                    next.push(format!(
                        "the next `deployer {command}` waits for the delete and finishes the clean-up"
                    ));
                }
                Doing::Verifying => {
                    what.push(format!("verifying stack {stack}, which is deployed"));
                    next.push(
                        "run `deployer up` again (nothing to change) to repeat the checks"
                            .to_owned(),
                    );
                }
                Doing::Asking => {
                    what.push(format!(
                        "asking whether to run a destructive change set on stack {stack}"
                    ));
                    next.push(format!(
                        "the change set was removed and stack {stack} was not changed"
                    ));
                }
                Doing::Reading => {}
            }
        }
        if what.is_empty() {
            what.push(format!("running `deployer {command}`"));
            next.push("nothing was changed".to_owned());
        }
        next.dedup();
        Error::Interrupted {
            while_doing: what.join("; "),
            help: next.join("; "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interruption_says_what_cloudformation_still_does_and_what_comes_next() {
        let activity = Activity::default();
        activity.set(
            "app",
            Doing::Deploying {
                status: "UPDATE_IN_PROGRESS".into(),
            },
        );
        let Error::Interrupted { while_doing, help } = activity.interrupted("up") else {
            panic!("not an interruption")
        };
        assert!(
            while_doing.contains("stack app (last seen UPDATE_IN_PROGRESS)"),
            "{while_doing}"
        );
        assert!(
            help.contains("the next `deployer up` waits for it"),
            "{help}"
        );
        activity.clear("app");
        let Error::Interrupted { help, .. } = activity.interrupted("up") else {
            panic!("not an interruption")
        };
        assert_eq!(help, "nothing was changed");
    }
}
