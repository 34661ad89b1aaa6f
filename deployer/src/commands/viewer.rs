//! `viewer`: the token viewer on localhost, until Ctrl-C.

use super::session::Session;
use crate::error::{exit, Error};

pub async fn run(s: &Session<'_>, port: u16) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    crate::viewer::redirect_uri(&inputs, port)?;
    let (clients, refs) = s.open(&inputs).await?;
    refs.require_client()?;
    let refs = refs.with_pool_domain(&clients).await?;
    crate::viewer::serve(refs, clients, &inputs, port).await?;
    Ok(exit::SUCCESS)
}
