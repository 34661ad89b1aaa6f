//! `token`: a user's (or a machine client's) tokens and the claims in them.

use super::session::Session;
use crate::cli::TokenArgs;
use crate::error::{exit, Error};
use crate::identity::{clients, secret, tokens};

pub async fn run(s: &Session<'_>, args: &TokenArgs) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let (aws, refs) = s.open(&inputs).await?;
    let (env, what) = if args.client.is_some() {
        ("DEPLOYER_CLIENT_SECRET", "client secret")
    } else {
        ("DEPLOYER_PASSWORD", "password")
    };
    let secret = secret::read_secret(args.password_stdin, (env, s.settings.secret(env)), what)?
        .ok_or_else(|| Error::Usage {
            message: format!("no {what} given"),
            help: format!("pipe it to --password-stdin or set {env} (never on the command line)"),
        })?;
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
