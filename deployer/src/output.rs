//! How results are shown: data to stdout as a table or JSON; progress and logs go to stderr.

use crate::cli::OutputFormat;
use serde::Serialize;
use std::fmt::Display;

/// Prints a command's result in the chosen format.
pub fn print<T: Display + Serialize>(format: OutputFormat, value: &T) {
    match format {
        OutputFormat::Table => println!("{}", value.to_string().trim_end()),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).expect("results serialize")
        ),
    }
}

/// Aligned `key  value` rows.
pub fn rows(f: &mut std::fmt::Formatter<'_>, rows: &[(&str, String)]) -> std::fmt::Result {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        writeln!(f, "{key:<width$}  {value}")?;
    }
    Ok(())
}
