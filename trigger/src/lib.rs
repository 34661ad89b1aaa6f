//! The Cognito pre-token-generation trigger: reads the principal's row from DynamoDB at
//! login and adds it to the ID and/or access token, in the shape the event version asks for.
//!
//! `main.rs` wires the Lambda runtime; everything here is testable without Lambda or AWS.

pub mod claims;
pub mod config;
pub mod event;
#[cfg(feature = "runtime")]
pub mod handler;
pub mod outcome;
#[cfg(feature = "runtime")]
pub mod store;
