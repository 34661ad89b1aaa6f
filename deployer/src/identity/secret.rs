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

/// Reads a secret: the first line of stdin when `from_stdin`, else the environment variable.
pub fn read_secret(from_stdin: bool, env: &str, what: &str) -> Result<Option<Secret>, Error> {
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
    Ok(std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret))
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
