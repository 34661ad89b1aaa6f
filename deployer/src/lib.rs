//! The deployer: `stack-inputs.json` -> a CloudFormation stack with a Cognito user pool whose
//! tokens carry the application's claims. `main.rs` only parses and dispatches; each step of
//! `up` has its own module.

// Errors carry the source text and spans for miette reports; they are built once, on the
// way out of a command, so their size costs nothing that matters.
#![allow(clippy::result_large_err)]

pub mod aws;
pub mod build;
pub mod cli;
pub mod commands;
pub mod deploy;
pub mod ephemeral;
pub mod error;
pub mod import;
pub mod inputs;
pub mod local;
pub mod output;
pub mod plan;
pub mod progress;
pub mod render;
pub mod users;
pub mod viewer;
