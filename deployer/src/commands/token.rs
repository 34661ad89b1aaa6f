//! `token`: a user's (or a machine client's) tokens and the claims in them.

use super::session::Session;
use crate::cli::TokenArgs;
use crate::error::{exit, Error};
use crate::identity::{clients, secret, tokens};

pub async fn run(s: &Session<'_>, args: &TokenArgs) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let (aws, refs) = s.open(&inputs).await?;
    let secret = secret(s, args).await?;
    if let Some(client) = &args.client {
        let (report, access) = clients::client_token(&refs, &inputs, client, &secret).await?;
        if args.raw {
            println!("{}", serde_json::json!({ "AccessToken": access }));
        } else {
            s.print(&report);
        }
        return Ok(exit::SUCCESS);
    }
    let user = args.user.as_deref().unwrap_or_default();
    let tokens = tokens::login(&aws, &refs, user, &secret).await?;
    if args.raw {
        let raw = serde_json::to_string(&tokens).expect("tokens serialize");
        println!("{raw}");
    } else {
        s.print(&tokens::report(&refs, &inputs, user, &tokens).await?);
    }
    Ok(exit::SUCCESS)
}

/// The password (or client secret): from stdin when asked, else its environment variable,
/// else at a terminal a prompt with echo off; else the error saying how to give it.
async fn secret(s: &Session<'_>, args: &TokenArgs) -> Result<secret::Secret, Error> {
    let from_stdin = args.password_stdin || args.secret_stdin;
    secret_for(s, args.user.as_deref(), args.client.as_deref(), from_stdin).await
}

/// The password of `user` or the secret of `client` (see `secret`).
pub async fn secret_for(
    s: &Session<'_>,
    user: Option<&str>,
    client: Option<&str>,
    from_stdin: bool,
) -> Result<secret::Secret, Error> {
    let (env, what, whose) = match (client, user) {
        (Some(client), _) => ("DEPLOYER_CLIENT_SECRET", "client secret", client),
        (None, Some(user)) => ("DEPLOYER_PASSWORD", "password", user),
        (None, None) => unreachable!("clap requires a user or --client"),
    };
    if let Some(found) = secret::read_secret(from_stdin, (env, s.settings.secret(env)), what)? {
        return Ok(found);
    }
    if s.person_at_terminal() {
        if let Some(answered) = secret::prompt_secret(&format!("{what} for {whose}: ")).await? {
            return Ok(answered);
        }
    }
    let flag = if client.is_some() {
        "--secret-stdin"
    } else {
        "--password-stdin"
    };
    Err(Error::Usage {
        message: format!("no {what} given"),
        help: format!("pipe it to {flag} or set {env} (never on the command line); at a terminal it is asked for"),
    })
}
