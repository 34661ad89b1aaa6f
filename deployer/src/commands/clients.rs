//! `clients add | list | remove`: the stack's machine-to-machine app clients and their rows.

use super::session::Session;
use crate::cli::ClientsCommand;
use crate::error::{exit, Error};
use crate::identity::{clients, machine, rows};

pub async fn run(s: &Session<'_>, command: &ClientsCommand) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let (aws, refs) = s.open(&inputs).await?;
    match command {
        ClientsCommand::Add {
            name,
            set,
            row,
            secret_file,
        } => {
            let row = rows::row_from(set, row.as_deref())?;
            machine::check_new(&aws, &refs, name, !row.is_empty()).await?;
            let sink = s.secret_sink(secret_file.clone());
            s.print(&clients::add_client(&aws, &refs, name, row, &sink).await?);
        }
        ClientsCommand::List => s.print(&machine::list(&aws, &refs).await?),
        ClientsCommand::Remove { client } => s.print(&machine::remove(&aws, &refs, client).await?),
    }
    Ok(exit::SUCCESS)
}
