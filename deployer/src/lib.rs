//! The deployer: `stack-inputs.json` -> a CloudFormation stack with a Cognito user pool whose
//! tokens carry the application's claims. `main.rs` only parses and dispatches; each step of
//! `up` has its own module.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod local;
pub mod output;
