//! `authz`: the API's Cedar authorization, checked and exercised with the authorizer's own
//! library: `schema` (what the policies are checked against), `check` (one decision, on
//! given claims or on a user's or client's real ones), `test` (a table of cases, offline).

use super::session::Session;
use crate::authz::{self, cases};
use crate::cli::{AuthzCheckArgs, AuthzCommand};
use crate::error::{exit, Error};
use authorizer::decide::Decision;
use authorizer::token::TokenUse;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

pub async fn run(s: &Session<'_>, command: &AuthzCommand) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let api = authz::api_of(&inputs)?;
    match command {
        AuthzCommand::Schema => {
            authz::check(&inputs, s.inputs_file())?;
            print!(
                "{}",
                authorizer::schema::text(&authz::offline_config(&inputs, api))
            );
            Ok(exit::SUCCESS)
        }
        AuthzCommand::Test { file } => {
            let (engine, _) =
                authz::engine(authz::offline_config(&inputs, api), s.inputs_file(), api)?;
            let report = cases::run(&engine, &cases::load(file)?);
            s.print(&report);
            Ok(match report.failed {
                0 => exit::SUCCESS,
                _ => exit::CASES_FAILED,
            })
        }
        AuthzCommand::Check(args) => check(s, &inputs, api, args).await,
    }
}

/// `authz check`'s report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckReport {
    pub request: String,
    /// Where the claims came from.
    pub claims_from: String,
    pub claims: Map<String, Value>,
    pub decision: Decision,
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.decision;
        crate::output::rows(
            f,
            &[
                ("decision", if d.allow { "ALLOW" } else { "DENY" }.into()),
                ("why", cases::why(d)),
                ("principal", d.principal.clone()),
                ("action", d.action.clone()),
                ("resource", d.resource.clone()),
                ("claims from", self.claims_from.clone()),
                (
                    "claims",
                    serde_json::to_string(&self.claims).unwrap_or_default(),
                ),
            ],
        )
    }
}

async fn check(
    s: &Session<'_>,
    inputs: &crate::inputs::StackInputs,
    api: &crate::inputs::ApiInputs,
    args: &AuthzCheckArgs,
) -> Result<u8, Error> {
    let (method, path) = cases::request(&args.request).map_err(usage)?;
    let (config, claims, from) = match &args.claims {
        Some(raw) => given_claims(inputs, api, args, raw)?,
        None => deployed_claims(s, inputs, api, args).await?,
    };
    let (engine, _) = authz::engine(config, s.inputs_file(), api)?;
    let decision = engine.decide_path(&claims, method, path).map_err(usage)?;
    s.print(&CheckReport {
        request: format!("{method} {path}"),
        claims_from: from,
        claims,
        decision,
    });
    Ok(exit::SUCCESS)
}

fn usage(message: String) -> authz::AuthzError {
    authz::AuthzError::Usage {
        message,
        help: "deployer authz check \"GET /projects/alpha\" --user NAME (the user's claims from the deployed stack), or --claims JSON [--user NAME | --client ID] (offline)".into(),
    }
}

/// What a check decides on: the configuration, the token's claims, where they came from.
type Checked = (authorizer::config::AuthzConfig, Map<String, Value>, String);

/// `--claims JSON` (or `@FILE`), over what --user or --client give: offline.
fn given_claims(
    inputs: &crate::inputs::StackInputs,
    api: &crate::inputs::ApiInputs,
    args: &AuthzCheckArgs,
    raw: &str,
) -> Result<Checked, authz::AuthzError> {
    let text = match raw.strip_prefix('@') {
        Some(file) => {
            std::fs::read_to_string(file).map_err(|e| usage(format!("reading {file}: {e}")))?
        }
        None => raw.to_owned(),
    };
    let extra: Map<String, Value> = serde_json::from_str(&text)
        .map_err(|e| usage(format!("--claims is not a JSON object: {e}")))?;
    let config = authz::offline_config(inputs, api);
    let claims = cases::token_claims(
        api.token,
        args.user.as_deref(),
        args.client.as_deref(),
        &config.clients[0],
        &args.groups,
        &extra,
    )
    .map_err(usage)?;
    Ok((config, claims, "--claims (offline)".to_owned()))
}

/// The principal's real claims: its row and pool attributes through the deployed mapping,
/// computed by the trigger's code; the pool is the one that issues them.
async fn deployed_claims(
    s: &Session<'_>,
    inputs: &crate::inputs::StackInputs,
    api: &crate::inputs::ApiInputs,
    args: &AuthzCheckArgs,
) -> Result<Checked, Error> {
    let who = super::preview::Who {
        sample: 1,
        users: args.user.iter().cloned().collect(),
        clients: args.client.iter().cloned().collect(),
    };
    if who.users.is_empty() && who.clients.is_empty() {
        return Err(usage("name --user or --client, or give --claims".into()).into());
    }
    let clients = s.clients(inputs).await?;
    let found = super::preview::deployed_payloads(&clients, inputs, &who).await?;
    let Some((principal, id, access)) = found.into_iter().next() else {
        return Err(usage("no such principal".into()).into());
    };
    let (claims, client_claim) = match api.token {
        TokenUse::Access => (access, "client_id"),
        TokenUse::Id => (id, "aud"),
    };
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default();
    let issuer = text("iss");
    let pool = issuer.rsplit('/').next().unwrap_or_default();
    // The claims are computed, not a token to verify: the client only fills the config.
    let config = authz::config(inputs, api, pool, issuer, vec![text(client_claim).into()]);
    let from = format!(
        "{} {}'s row and pool attributes, through the deployed mapping",
        if principal.client { "client" } else { "user" },
        principal.name
    );
    Ok((config, claims, from))
}
