//! `outputs`: the deployed stack's outputs; and reading the file `up --outputs-file` wrote.

use crate::aws::{cfn, Clients};
use crate::error::Error;
use crate::output;

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

/// Outputs of a deployed stack.
#[derive(Debug, Serialize)]
pub struct Outputs(pub BTreeMap<String, String>);

impl fmt::Display for Outputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        output::map_rows(f, &self.0)
    }
}

/// `outputs`: the stack's outputs, or `NotDeployed`.
pub async fn outputs(clients: &Clients, stack: &str) -> Result<Outputs, Error> {
    match cfn::describe(clients, stack).await? {
        Some(s) if !s.outputs.is_empty() => {
            let emulator = clients.endpoint.as_deref().filter(|_| clients.emulator);
            Ok(Outputs(crate::stack::localized(s.outputs, emulator)))
        }
        _ => Err(Error::NotDeployed {
            stack: stack.into(),
            region: clients.region.clone(),
        }),
    }
}

/// The stack name, the region and the existing pool in an outputs file written by
/// `up --outputs-file`. The pool is its `UserPoolId` when the stack ran on a pool made outside
/// it (the file then has `PreviousTrigger`); `None` for a stack with a pool of its own.
pub fn read_outputs_file(file: &Path) -> Result<(String, Option<String>, Option<String>), Error> {
    let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
        what: format!("reading {}", file.display()),
        source,
    })?;
    let outputs: HashMap<String, String> =
        serde_json::from_str(&text).map_err(|e| Error::Usage {
            message: format!("{} is not an outputs file: {e}", file.display()),
            help: "pass the file `up --outputs-file` wrote".into(),
        })?;
    let stack = outputs
        .get("StackName")
        .cloned()
        .ok_or_else(|| Error::Usage {
            message: format!("{} has no StackName", file.display()),
            help: "pass the file `up --outputs-file` wrote".into(),
        })?;
    // The file is data from a CI workspace: its names are checked like the inputs' before
    // anything is asked of AWS (ownership is checked by `down` itself).
    if !crate::inputs::valid_stack_name(&stack) {
        return Err(Error::Usage {
            message: format!(
                "{}: StackName {stack:?} is not a stack name the deployer makes",
                file.display()
            ),
            help: "pass the file `up --outputs-file` wrote, unchanged".into(),
        });
    }
    let region = outputs.get(crate::stack::output::REGION).cloned();
    if let Some(region) = &region {
        if let Some((_, why)) = crate::inputs::region_problem(region) {
            return Err(Error::Usage {
                message: format!("{}: Region: {why}", file.display()),
                help: "pass the file `up --outputs-file` wrote, unchanged".into(),
            });
        }
    }
    let existing_pool = outputs
        .get(crate::pool::PREVIOUS_TRIGGER)
        .and(outputs.get(crate::stack::output::USER_POOL_ID))
        .cloned();
    Ok((stack, region, existing_pool))
}

/// `deployer outputs`.
pub async fn run(
    s: &super::session::Session<'_>,
    args: &crate::cli::OutputsArgs,
) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let clients = s.clients(&inputs).await?;
    let found = outputs(&clients, &inputs.stack_name).await?;
    s.publish_outputs(&found.0, args.outputs_file.as_deref())?;
    s.print(&found);
    Ok(crate::error::exit::SUCCESS)
}
