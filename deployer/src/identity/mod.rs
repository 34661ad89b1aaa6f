//! Who logs in and what their tokens carry: the stack's references, rows, pool users and
//! their import, machine clients, tokens and their verification, and the `verify` smoke test.

pub mod clients;
pub mod import;
pub use authorizer::token as jwt;
pub mod machine;
pub mod password;
pub mod refs;
pub mod rows;
pub mod secret;
pub mod smoke;
pub mod tokens;
pub mod users;
