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

/// Aligned rows of a string map.
pub fn map_rows(
    f: &mut std::fmt::Formatter<'_>,
    map: &std::collections::BTreeMap<String, String>,
) -> std::fmt::Result {
    let rows: Vec<(&str, String)> = map.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    self::rows(f, &rows)
}

/// A change set as lines: `+ Add`, `~ Modify`, `- Remove`, with replacements marked.
pub fn changes_text(changes: &[crate::stack::Change]) -> String {
    use crate::stack::{ChangeAction, Replacement};
    let mut out = String::new();
    for c in changes {
        let sign = match c.action {
            ChangeAction::Add => "+",
            ChangeAction::Remove => "-",
            ChangeAction::Modify => "~",
            _ => "?",
        };
        let replacement = match c.replacement {
            Some(Replacement::True) => "  (REPLACEMENT)",
            Some(Replacement::Conditional) => "  (may be replaced)",
            _ => "",
        };
        out.push_str(&format!(
            "  {sign} {:<7} {:<22} {}{replacement}\n",
            c.action.as_str(),
            c.logical_id,
            c.resource_type
        ));
    }
    out
}

/// Writes the outputs where CI wants them: a JSON file, and `$GITHUB_OUTPUT` when set.
pub fn publish_outputs(
    outputs: &std::collections::BTreeMap<String, String>,
    file: Option<&std::path::Path>,
) -> Result<(), crate::error::Error> {
    use std::io::Write;
    let io = |what: String| move |source| crate::error::Error::Io { what, source };
    if let Some(file) = file {
        let text = serde_json::to_string_pretty(outputs).expect("outputs serialize") + "\n";
        std::fs::write(file, text).map_err(io(format!("writing {}", file.display())))?;
    }
    if let Some(path) = std::env::var_os("GITHUB_OUTPUT").filter(|p| !p.is_empty()) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(format!(
                "opening $GITHUB_OUTPUT ({})",
                path.to_string_lossy()
            )))?;
        for (key, value) in outputs {
            writeln!(f, "{key}={value}").map_err(io("writing $GITHUB_OUTPUT".into()))?;
        }
    }
    Ok(())
}
