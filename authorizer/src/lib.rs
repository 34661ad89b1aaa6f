//! The API authorizer: an API Gateway (HTTP API) Lambda authorizer that checks a Cognito
//! token and decides the call with Cedar policies, in-process, from the token's claims alone.
//!
//! The pieces are pure and shared with the deployer, which generates the schema, validates
//! the policies before any deploy and evaluates the same decisions locally (`authz`):
//! [`token`] (the JWT checks), [`keys`] (the pool's key set, cached), [`route`] (route keys and
//! paths), [`schema`] (the Cedar schema from the claim types and routes), [`request`] (claims
//! to a Cedar request, following Verified Permissions' Cognito mapping), [`decide`] (the
//! policies and the decision) and [`handler`] (the API Gateway event to a decision).

pub mod config;
pub mod decide;
pub mod handler;
pub mod keys;
pub mod request;
pub mod route;
pub mod schema;
pub mod token;
