//! `call`: a real request through the deployed API, with a user's (or a machine client's)
//! token: the status, the body, and the authorizer's decision line for it.

use super::session::Session;
use crate::cli::CallArgs;
use crate::error::{exit, Error};
use crate::identity::{clients, tokens};
use crate::logs::{self, DecisionLine};
use authorizer::token::TokenUse;
use serde::Serialize;
use serde_json::Value;
use std::fmt;

/// What the call got.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallReport {
    pub request: String,
    pub url: String,
    /// Whose token went with it (`none`: no Authorization header).
    pub token: String,
    pub status: u16,
    pub body: Value,
    /// The authorizer's line for this call, when its log has it yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionLine>,
}

impl fmt::Display for CallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = match &self.body {
            Value::String(s) => s.clone(),
            other => serde_json::to_string_pretty(other).unwrap_or_default(),
        };
        writeln!(f, "{} -> {} ({})", self.request, self.status, self.token)?;
        writeln!(f, "{body}")?;
        match &self.decision {
            Some(line) => writeln!(f, "authorizer: {line}"),
            None => writeln!(f, "authorizer: no decision line in its log yet"),
        }
    }
}

pub async fn run(s: &Session<'_>, args: &CallArgs) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let api = crate::authz::api_of(&inputs)?;
    let (aws, refs) = s.open(&inputs).await?;
    let Some(base) = refs.api_endpoint.clone() else {
        return Err(Error::Usage {
            message: format!("stack {} has no API deployed", refs.stack),
            help: "add an `api` section to the inputs and run `deployer up`".into(),
        });
    };
    if !args.path.starts_with('/') {
        return Err(Error::Usage {
            message: format!("{:?} is not a path", args.path),
            help:
                "give the path from the API's root, starting with / (for example /projects/alpha)"
                    .into(),
        });
    }
    let token_use = match args.token_use {
        Some(crate::cli::TokenChoice::Id) => TokenUse::Id,
        Some(crate::cli::TokenChoice::Access) => TokenUse::Access,
        None => api.token,
    };
    let (who, token) = match (&args.user, &args.client) {
        (Some(user), _) => {
            let secret = super::token::secret_for(s, Some(user), None, args.password_stdin).await?;
            let raw = tokens::login(&aws, &refs, user, &secret).await?;
            let token = match token_use {
                TokenUse::Access => raw.access_token,
                TokenUse::Id => raw.id_token,
            };
            (
                format!("{user}'s {} token", token_use.as_str()),
                Some(token),
            )
        }
        (None, Some(client)) => {
            let secret =
                super::token::secret_for(s, None, Some(client), args.password_stdin).await?;
            let (_, access) = clients::client_token(&refs, &inputs, client, &secret).await?;
            (format!("client {client}'s access token"), Some(access))
        }
        (None, None) => ("none".to_owned(), None),
    };
    let method = args.method.to_ascii_uppercase();
    let url = format!("{}{}", base.trim_end_matches('/'), args.path);
    // The authorizer's line for this call is the one logged while it was under way (none when
    // API Gateway refused it before the authorizer ran, as it does a call without a token).
    let started = logs::since_ms(std::time::Duration::ZERO);
    let reply = crate::web::client()
        .call(&method, &url, token.as_deref(), args.data.as_deref())
        .await
        .map_err(|message| Error::Usage {
            message: format!("{method} {url}: {message}"),
            help: "check that the stack is up (`deployer status`) and the endpoint reachable"
                .into(),
        })?;
    let body = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&reply.body).into_owned()));
    let ended = logs::since_ms(std::time::Duration::ZERO);
    let decision = match &refs.authorizer {
        Some(function) => {
            let events = logs::fetch(&aws, &logs::log_group(function), started).await?;
            let during: Vec<_> = events
                .into_iter()
                .filter(|e| e.timestamp_ms <= ended)
                .collect();
            logs::decision_lines(&during).pop()
        }
        None => None,
    };
    let status = reply.status.as_u16();
    s.print(&CallReport {
        request: format!("{method} {}", args.path),
        url,
        token: who,
        status,
        body,
        decision,
    });
    Ok(match reply.status.is_success() {
        true => exit::SUCCESS,
        false => exit::CALL_REFUSED,
    })
}
