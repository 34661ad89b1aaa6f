//! The errors a command ends with, and their stable exit codes (documented in docs/ci.md).

use crate::aws::{AwsError, ConnectError};
use crate::build::BuildError;
use crate::inputs::InputError;
use crate::local::LocalError;
use crate::render::RenderError;
use miette::Diagnostic;

/// Exit codes. Stable: scripts branch on them.
pub mod exit {
    pub const SUCCESS: u8 = 0;
    /// An AWS call, the build or the emulator failed (see the message).
    pub const FAILURE: u8 = 1;
    /// The inputs file or the command line is wrong; nothing was changed.
    pub const BAD_INPUT: u8 = 2;
    /// CloudFormation could not create, update or delete the stack.
    pub const DEPLOY_FAILED: u8 = 3;
    /// The stack deployed but a post-deploy check failed.
    pub const VERIFY_FAILED: u8 = 4;
    /// Waiting for the stack (or for another operation on it) took longer than allowed.
    pub const TIMED_OUT: u8 = 5;
    /// `users import` wrote some lines and refused others (each named with its line).
    pub const PARTIAL: u8 = 6;
    /// `authz test`: some case's decision is not the expected one.
    pub const CASES_FAILED: u8 = 7;
    /// `call`: the API answered with an error status (401, 403, 5xx...).
    pub const CALL_REFUSED: u8 = 8;
    /// `up --detailed-exitcode` found nothing to change.
    pub const NO_CHANGE: u8 = 10;
    /// `plan --claims --detailed-exitcode`: some principal's tokens change.
    pub const CLAIMS_CHANGE: u8 = 10;
    /// Interrupted (Ctrl-C); the stack is left where the next run continues from.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Inputs(#[from] InputError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Ephemeral(#[from] crate::ephemeral::EphemeralError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Authz(#[from] crate::authz::AuthzError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Artifact(#[from] crate::artifacts::ArtifactError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Local(#[from] LocalError),
    #[error("{operation} of stack {stack} failed: {cause}\nthe stack is now {state}")]
    #[diagnostic(code(deploy::failed))]
    DeployFailed {
        operation: &'static str,
        stack: String,
        cause: String,
        state: String,
        #[help]
        help: String,
    },
    #[error("stack {stack} is {status}: {why}")]
    #[diagnostic(code(deploy::stuck))]
    Stuck {
        stack: String,
        status: String,
        why: String,
        #[help]
        help: String,
    },
    #[error("stack {stack}: lost the race to another operation {attempts} times in a row (last: {last})")]
    #[diagnostic(
        code(deploy::raced),
        help("another process keeps changing this stack (a CI job, another `up`); stop it or wait, then run `deployer up` again")
    )]
    Raced {
        stack: String,
        attempts: u32,
        last: String,
    },
    #[error("stack {stack} ({status}) is left alone: {why}")]
    #[diagnostic(code(deploy::refused))]
    Refused {
        stack: String,
        status: String,
        why: String,
        #[help]
        help: String,
    },
    #[error("the change set would destroy {}: nothing was executed", .resources.join("; "))]
    #[diagnostic(code(deploy::destructive))]
    Destructive {
        stack: String,
        resources: Vec<String>,
        #[help]
        help: String,
    },
    #[error("stack {stack} was still {status} after {waited_secs} s")]
    #[diagnostic(code(deploy::timeout))]
    TimedOut {
        stack: String,
        status: String,
        waited_secs: u64,
        #[help]
        help: String,
    },
    #[error("stack {stack} deployed, but {} check{} failed:\n{}", .failed.len(), if .failed.len() == 1 { "" } else { "s" }, .failed.join("\n"))]
    #[diagnostic(
        code(deploy::verify),
        help("the stack is up but not as intended; fix the cause and run `up` again")
    )]
    Verify { stack: String, failed: Vec<String> },
    #[error("stack {stack} is unchanged, but what runs was changed outside it:\n{}", .failed.join("\n"))]
    #[diagnostic(
        code(deploy::drifted),
        help("CloudFormation does not put back what was changed behind its back while the template is the same; undo the change by hand (the check says what differs), or `deployer down` and `up` a disposable stack")
    )]
    Drifted { stack: String, failed: Vec<String> },
    #[error("stack {stack} is not deployed in {region}")]
    #[diagnostic(
        code(deploy::absent),
        help("run `deployer up` first, or check the region (--region, the inputs' `region`, the profile's) and the target (--local, --endpoint-url)")
    )]
    NotDeployed { stack: String, region: String },
    #[error("stack {stack} is kept (its user pool has deletion protection)")]
    #[diagnostic(
        code(deploy::kept),
        help("it was deployed as kept: pass --force to turn deletion protection off and delete it (the table and its data are retained). The inputs file does not decide this: the deployed stack does")
    )]
    Kept { stack: String },
    #[error("the account is not bootstrapped for {project} in {region}: {} missing", .missing.join(" and "))]
    #[diagnostic(code(deploy::not_bootstrapped))]
    NotBootstrapped {
        project: String,
        region: String,
        missing: Vec<String>,
        #[help]
        help: String,
    },
    #[error("interrupted while {while_doing}")]
    #[diagnostic(code(deploy::interrupted))]
    Interrupted {
        while_doing: String,
        #[help]
        help: String,
    },
    #[error("user pool {pool}: {problem}")]
    #[diagnostic(code(pool::refused))]
    Pool {
        pool: String,
        problem: String,
        #[help]
        help: String,
    },
    #[error("{message}")]
    #[diagnostic(code(usage))]
    Usage {
        message: String,
        #[help]
        help: String,
    },
    #[error("{message}")]
    #[diagnostic(code(login::refused))]
    Login {
        message: String,
        #[help]
        help: String,
    },
    #[error("{message}")]
    #[diagnostic(code(token::invalid))]
    Token {
        message: String,
        #[help]
        help: String,
    },
    #[error("{what}: {source}")]
    #[diagnostic(code(io))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Inputs(_) | Self::Ephemeral(_) | Self::Authz(_) => exit::BAD_INPUT,
            Self::DeployFailed { .. } | Self::Stuck { .. } => exit::DEPLOY_FAILED,
            Self::Verify { .. } | Self::Drifted { .. } => exit::VERIFY_FAILED,
            Self::TimedOut { .. } | Self::Raced { .. } => exit::TIMED_OUT,
            Self::Interrupted { .. } => exit::INTERRUPTED,
            Self::Kept { .. } | Self::Usage { .. } | Self::Pool { .. } => exit::BAD_INPUT,
            Self::Refused { .. } | Self::Destructive { .. } => exit::BAD_INPUT,
            Self::Token { .. } => exit::VERIFY_FAILED,
            Self::Connect(ConnectError::Region { .. }) => exit::BAD_INPUT,
            Self::Local(
                LocalError::IamNeedsFakecloud
                | LocalError::RunsOtherwise { .. }
                | LocalError::PortTaken(_),
            ) => exit::BAD_INPUT,
            _ => exit::FAILURE,
        }
    }
}
