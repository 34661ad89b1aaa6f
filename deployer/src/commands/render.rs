//! `render` and `schema`: the template the inputs make, and the inputs' JSON Schema.

use super::session::Session;
use crate::error::{exit, Error};

/// `deployer render`: the template, to stdout.
pub fn run(s: &Session<'_>) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    crate::authz::check(&inputs, s.inputs_file())?;
    print!("{}", crate::render::render(&inputs)?);
    Ok(exit::SUCCESS)
}

/// `deployer schema`: the JSON Schema of stack-inputs.json, to stdout.
pub fn schema() -> Result<u8, Error> {
    print!("{}", crate::inputs::schema());
    Ok(exit::SUCCESS)
}
