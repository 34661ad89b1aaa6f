//! The deployer: `stack-inputs.json` -> a CloudFormation stack with a Cognito user pool whose
//! tokens carry the application's claims. `main.rs` only parses and dispatches; each step of
//! `up` has a module of its name: inputs, render, build, artifacts, stack (observe, plan,
//! execute, recover), wiring, and the identity commands in `identity`.

// Errors carry the source text and spans for miette reports; they are built once, on the
// way out of a command, so their size costs nothing that matters.
#![allow(clippy::result_large_err)]

pub mod artifacts;
pub mod authz;
pub mod aws;
pub mod bootstrap;
pub mod build;
pub mod cancel;
pub mod cli;
pub mod commands;
pub mod ctx;
pub mod duration;
pub mod ephemeral;
pub mod error;
pub mod identity;
pub mod inputs;
pub mod local;
pub mod logs;
pub mod output;
pub mod policy;
pub mod pool;
pub mod preview;
pub mod progress;
pub mod render;
pub mod report;
pub mod settings;
pub mod stack;
pub mod viewer;
pub mod web;
pub mod wiring;
