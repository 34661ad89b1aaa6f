//! `clients add`: a machine-to-machine app client with its row.

use super::session::Session;
use crate::cli::ClientsCommand;
use crate::error::{exit, Error};
use crate::identity::{clients, rows};

pub async fn run(s: &Session<'_>, command: &ClientsCommand) -> Result<u8, Error> {
    let ClientsCommand::Add {
        name,
        set,
        row,
        secret_file,
    } = command;
    let inputs = s.inputs()?;
    let (aws, refs) = s.open(&inputs).await?;
    let row = rows::row_from(set, row.as_deref())?;
    let sink = s.secret_sink(secret_file.clone());
    s.print(&clients::add_client(&aws, &refs, name, row, &sink).await?);
    Ok(exit::SUCCESS)
}
