//! `users add | list | import | remove`: the pool's users and their rows.

use super::session::Session;
use crate::cli::UsersCommand;
use crate::error::{exit, Error};
use crate::identity::{import, rows, secret, users};

pub async fn run(s: &Session<'_>, command: &UsersCommand) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let (clients, refs) = s.open(&inputs).await?;
    match command {
        UsersCommand::Add(args) => {
            let env = "DEPLOYER_PASSWORD";
            let from_env = (env, s.settings.secret(env));
            let mut password = secret::read_secret(args.password_stdin, from_env, "password")?;
            // A person adding a new user at a terminal is asked (echo off); empty generates one.
            if password.is_none() && !args.invite && s.person_at_terminal() {
                let new = users::find_identity(&clients, &refs, &args.user)
                    .await?
                    .is_none();
                if new {
                    let prompt = format!("password for {} (empty: generate one): ", args.user);
                    password = secret::prompt_secret(&prompt).await?;
                }
            }
            let row = rows::row_from(&args.set, args.row.as_deref())?;
            let mismatches = rows::claim_type_mismatches(&row, &inputs.claims);
            if !mismatches.is_empty() {
                return Err(Error::Usage {
                    message: mismatches.join("; "),
                    help: "give a value of the claim's type (e.g. --set level=3, or --row '{\"level\":3}'), or change the claim's type in stack-inputs.json; nothing was written".into(),
                });
            }
            let sink = s.secret_sink(args.secret_file.clone());
            let email = args.email.as_deref();
            let how = (args.invite, args.replace, &sink);
            let report = users::add(&clients, &refs, &args.user, email, password, row, how).await?;
            s.print(&report);
        }
        UsersCommand::List => s.print(&users::list(&clients, &refs).await?),
        UsersCommand::Import {
            file,
            reset_passwords,
        } => {
            let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
                what: format!("reading {}", file.display()),
                source,
            })?;
            let name = file.display().to_string();
            let (records, mut bad) = import::parse(&text, &name, &refs.partition_key);
            let records = import::refuse_mistyped(records, &inputs.claims, &mut bad);
            let reset = *reset_passwords;
            let report = import::import(&clients, &refs, records, bad, reset, &s.progress).await?;
            s.print(&report);
            // Nothing written is bad input; some written and some refused is its own case.
            let written = report.created + report.updated + report.rows_written;
            match (report.bad_lines.is_empty(), written) {
                (true, _) => {}
                (false, 0) => return Ok(exit::BAD_INPUT),
                (false, _) => return Ok(exit::PARTIAL),
            }
        }
        UsersCommand::Remove { user } => s.print(&users::remove(&clients, &refs, user).await?),
    }
    Ok(exit::SUCCESS)
}
