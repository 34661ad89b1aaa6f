//! What every step that talks to AWS works with.

use crate::aws::Clients;
use crate::cancel::Activity;
use crate::progress::{Poll, Progress};

/// The clients, where progress goes, what Ctrl-C should report, and how often to poll. Tests
/// hand in mocked clients and `Poll::immediate()`.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub clients: &'a Clients,
    pub progress: &'a Progress,
    pub activity: &'a Activity,
    pub poll: Poll,
}
