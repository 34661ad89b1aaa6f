//! `verify`: a test user logs in and the tokens carry the claims its row gives.

use super::session::Session;
use crate::error::{exit, Error};

pub async fn run(s: &Session<'_>) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let (clients, refs) = s.open(&inputs).await?;
    s.print(&crate::identity::smoke::smoke(&clients, &refs, &inputs).await?);
    Ok(exit::SUCCESS)
}
