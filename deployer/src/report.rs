//! How an error reaches the person who ran the command: its cause and what to do, once each.
//! For people (`--output table`): the message, a cause the message does not already say, and
//! the help; an error pointing into a file (the inputs) shows the place, as miette draws it.
//! Never the bare code line nor the OS error twice. For scripts (`--output json`): one JSON
//! object with the stable code, the message, the help and the exit code.

use crate::cli::OutputFormat;
use crate::error::Error;
use miette::Diagnostic;
use std::fmt;

/// The error as it is printed on stderr.
pub fn render(err: &Error, format: OutputFormat, terminal: bool) -> String {
    match format {
        OutputFormat::Json => {
            let value = serde_json::json!({
                "error": {
                    "code": err.code().map(|c| c.to_string()),
                    "message": err.to_string(),
                    "help": err.help().map(|h| h.to_string()),
                    "exitCode": err.exit_code(),
                }
            });
            serde_json::to_string_pretty(&value).expect("errors serialize")
        }
        OutputFormat::Table if has_place(err) => graphical(err, terminal),
        OutputFormat::Table => plain(err),
    }
}

/// Whether the error points into a source (an inputs file with a span).
fn has_place(err: &Error) -> bool {
    err.labels().is_some_and(|mut l| l.next().is_some())
}

/// `error: message`, the causes the message does not already hold, `help: ...`.
fn plain(err: &Error) -> String {
    let message = err.to_string();
    let mut out = format!("error: {message}\n");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            out.push_str(&format!("  cause: {text}\n"));
        }
        source = cause.source();
    }
    if let Some(help) = err.help() {
        out.push_str(&format!("  help: {help}\n"));
    }
    out
}

/// miette's drawing of the place in the file, without the code line and the cause chain.
fn graphical(err: &Error, terminal: bool) -> String {
    let theme = if terminal {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme)
        .with_links(false)
        .with_width(if terminal { 100 } else { 10_000 });
    let mut out = String::new();
    match handler.render_report(&mut out, &Shown(err)) {
        Ok(()) => out,
        // A place miette cannot draw: the words alone.
        Err(_) => plain(err),
    }
}

/// The error as drawn: its message, place and help, not its code or its sources.
struct Shown<'a>(&'a Error);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

impl std::error::Error for Shown<'_> {}

impl Diagnostic for Shown<'_> {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0.help()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.0.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.0.labels()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_error_is_said_once_and_the_code_only_for_scripts() {
        let err = Error::Io {
            what: "reading users.csv".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let text = render(&err, OutputFormat::Table, false);
        assert_eq!(text.matches("not found").count(), 1, "{text}");
        assert!(
            !text.contains("io\n") && text.starts_with("error: reading users.csv"),
            "{text}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(&err, OutputFormat::Json, false)).unwrap();
        assert_eq!(json["error"]["code"], "io");
        assert_eq!(json["error"]["exitCode"], 1);
    }
}
