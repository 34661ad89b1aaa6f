//! Secrets (passwords, client secrets): read from stdin or the environment, never from argv,
//! never logged; and passwords the pool's policy accepts.

use crate::error::Error;
use std::fmt;

/// A secret read from stdin or the environment; never from argv, never logged.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads a secret: the first line of stdin when `from_stdin`, else the environment
/// variable's value (`env`: its name, and its value as the settings read it).
pub fn read_secret(
    from_stdin: bool,
    (env, value): (&str, Option<String>),
    what: &str,
) -> Result<Option<Secret>, Error> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|source| Error::Io {
                what: format!("reading the {what} from stdin"),
                source,
            })?;
        let line = line.trim_end_matches(['\n', '\r']).to_owned();
        if line.is_empty() {
            return Err(Error::Usage {
                message: format!("no {what} on stdin"),
                help: format!("pipe it in, e.g. `printf '%s' \"${env}\" | deployer ...`"),
            });
        }
        return Ok(Some(Secret(line)));
    }
    Ok(value.filter(|v| !v.is_empty()).map(Secret))
}

/// Asks a person at this terminal for a secret, echo off (on the terminal itself, never on
/// stdout). `None` when the answer is empty. Asked off the async threads, so Ctrl-C at the
/// question ends the run at once (and `main` puts the terminal's echo back).
pub async fn prompt_secret(prompt: &str) -> Result<Option<Secret>, Error> {
    let prompt = prompt.to_owned();
    let answer = tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt))
        .await
        .expect("the prompt task")
        .map_err(|source| match source.kind() {
            // Ctrl-C reached the read before `main` ended the run: the same end.
            std::io::ErrorKind::Interrupted => Error::Interrupted {
                while_doing: "asking for a password".into(),
                help: "nothing was changed".into(),
            },
            _ => Error::Io {
                what: "reading the answer from the terminal".into(),
                source,
            },
        })?;
    Ok((!answer.is_empty()).then_some(Secret(answer)))
}

/// A password Cognito's default policy accepts: 20 characters from all four classes.
pub fn generate_password() -> Secret {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the OS random source");
    let sets: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"-_.!",
    ];
    let password: String = bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let set = sets[if i < 4 { i } else { (*b as usize) % 3 }];
            set[(*b as usize) % set.len()] as char
        })
        .collect();
    Secret(password)
}

/// Where a secret the deployer makes (a generated password, a client secret) goes: never
/// where CI logs it unless asked. A terminal shows it; `--secret-file` writes it (0600, a new
/// file); `--output json` was asked for; otherwise it has nowhere to go and the command stops
/// before it makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSink {
    Terminal,
    Json,
    File(std::path::PathBuf),
    Nowhere,
}

impl SecretSink {
    pub fn choose(file: Option<std::path::PathBuf>, json: bool, stdout_terminal: bool) -> Self {
        match (file, json, stdout_terminal) {
            (Some(path), _, _) => Self::File(path),
            (None, true, _) => Self::Json,
            (None, false, true) => Self::Terminal,
            (None, false, false) => Self::Nowhere,
        }
    }

    /// Makes sure, before any call, that the secret will have somewhere to go: refuses when it
    /// has nowhere, and creates the file (new, mode 0600; an existing file or symlink is
    /// refused) so that a file that cannot be made stops the command before the user or client
    /// exists. The file stays open: the secret is written through this handle, never by
    /// opening the path again (which a symlink swapped in meanwhile could redirect).
    pub fn ready(&self, what: &str) -> Result<Ready, Error> {
        match self {
            Self::Nowhere => Err(Error::Usage {
                message: format!("the {what} would be printed where CI logs it: stdout is not a terminal"),
                help: "pass --secret-file FILE (written with mode 0600, never over an existing file), or --output json to take it from the JSON on purpose".into(),
            }),
            Self::File(path) => {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map(|file| Ready(Some(file)))
                    .map_err(|source| match source.kind() {
                        std::io::ErrorKind::AlreadyExists => Error::Usage {
                            message: format!("--secret-file {} exists", path.display()),
                            help: "name a new file: a secret is never written over another".into(),
                        },
                        _ => Error::Io {
                            what: format!("creating {}", path.display()),
                            source,
                        },
                    })
            }
            Self::Terminal | Self::Json => Ok(Ready(None)),
        }
    }

    /// Hands the secret over: `Some(secret)` to show it (terminal or JSON), `None` once it is in
    /// the file `ready` made.
    pub fn deliver(&self, secret: String, ready: &mut Ready) -> Result<Option<String>, Error> {
        match self {
            Self::File(path) => {
                use std::io::Write;
                let mut file = ready.0.take().ok_or_else(|| Error::Io {
                    what: format!("writing {}", path.display()),
                    source: std::io::Error::other("the secret file was not made before the call"),
                })?;
                writeln!(file, "{secret}")
                    .and_then(|()| file.sync_all())
                    .map_err(|source| Error::Io {
                        what: format!("writing {}", path.display()),
                        source,
                    })?;
                Ok(None)
            }
            Self::Nowhere => Ok(None),
            Self::Terminal | Self::Json => Ok(Some(secret)),
        }
    }

    /// Undoes `ready` when no secret came to be written (the command failed, or a user made
    /// meanwhile by someone else needed none): the empty file it made is removed, so the same
    /// command can be run again with the same path. Only that file: what is at the path now
    /// (not following a symlink) must be the one `ready` opened, still empty.
    pub fn abandon(&self, ready: Ready) {
        use std::os::unix::fs::MetadataExt;
        let (Self::File(path), Some(file)) = (self, ready.0) else {
            return;
        };
        let (Ok(made), Ok(there)) = (file.metadata(), std::fs::symlink_metadata(path)) else {
            return;
        };
        if made.dev() == there.dev() && made.ino() == there.ino() && there.len() == 0 {
            let _ = std::fs::remove_file(path);
        }
    }

    /// The file the secret went to, for the report.
    pub fn file(&self) -> Option<String> {
        match self {
            Self::File(path) => Some(path.display().to_string()),
            _ => None,
        }
    }
}

/// What `ready` made: the open secret file, if the secret goes to one.
#[derive(Debug, Default)]
pub struct Ready(Option<std::fs::File>);

impl Ready {
    /// No file was made (yet).
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

#[cfg(test)]
mod sink_tests {
    use super::*;

    #[test]
    fn a_secret_goes_to_a_terminal_a_new_0600_file_or_json_and_nowhere_else() {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(SecretSink::choose(None, false, true), SecretSink::Terminal);
        assert_eq!(SecretSink::choose(None, true, false), SecretSink::Json);
        assert_eq!(SecretSink::choose(None, false, false), SecretSink::Nowhere);
        assert!(SecretSink::Nowhere.ready("client secret").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let sink = SecretSink::choose(Some(path.clone()), true, true);
        let mut ready = sink.ready("password").unwrap();
        assert_eq!(sink.deliver("s3cret".into(), &mut ready).unwrap(), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "s3cret\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Never over an existing file: refused before anything is made.
        assert!(sink.ready("password").is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "s3cret\n");
        // A file that cannot be made stops it too.
        let nowhere = SecretSink::File(dir.path().join("missing/dir/secret"));
        assert!(nowhere.ready("password").is_err());
    }

    #[test]
    fn the_secret_goes_through_the_file_made_never_to_what_the_path_names_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let elsewhere = dir.path().join("elsewhere");
        let sink = SecretSink::File(path.clone());
        let mut ready = sink.ready("password").unwrap();
        // The path is swapped for a symlink between `ready` and `deliver`.
        std::fs::rename(&path, dir.path().join("made")).unwrap();
        std::fs::write(&elsewhere, "").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        sink.deliver("s3cret".into(), &mut ready).unwrap();
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("made")).unwrap(),
            "s3cret\n"
        );

        // `abandon` removes only the empty file it made: not a file swapped in at the path.
        std::fs::remove_file(&path).unwrap();
        let ready = sink.ready("password").unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "").unwrap();
        sink.abandon(ready);
        assert!(path.exists(), "not the file `ready` made");
        std::fs::remove_file(&path).unwrap();
        let ready = sink.ready("password").unwrap();
        sink.abandon(ready);
        assert!(!path.exists(), "the empty file `ready` made");
    }
}
