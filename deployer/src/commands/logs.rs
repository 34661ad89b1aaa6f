//! `logs`: the trigger's login lines (`crate::logs`), printed as they are read, or followed.

use super::session::Session;
use crate::cli::{LogsArgs, OutputFormat};
use crate::error::{exit, Error};
use crate::logs::{self, Filter, LoginLine};

pub async fn run(s: &Session<'_>, args: &LogsArgs) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let (clients, refs) = s.open(&inputs).await?;
    if args.authorizer {
        return decisions(s, &clients, &refs, args).await;
    }
    let group = logs::log_group(&refs.function);
    let filter = Filter {
        user: args.user.clone(),
        client: args.client.clone(),
        outcome: args.outcome.clone(),
    };
    let format = s.format();
    let print = |line: &LoginLine| match format {
        OutputFormat::Table => println!("{line}"),
        OutputFormat::Json => {
            println!(
                "{}",
                serde_json::to_string(line).expect("log lines serialize")
            )
        }
    };
    let start = logs::since_ms(args.since);
    if args.follow {
        s.activity
            .set(&inputs.stack_name, crate::cancel::Doing::Reading);
        let every = s.settings.poll.ceiling;
        logs::follow(&clients, &group, start, &filter, every, print).await?;
        return Ok(exit::SUCCESS);
    }
    let lines = logs::logins(&clients, &group, start, &filter).await?;
    if lines.is_empty() {
        let since = crate::duration::rfc3339_millis(start);
        s.progress.note(&format!(
            "no login lines in {group} since {since} that match"
        ));
    }
    lines.iter().for_each(print);
    Ok(exit::SUCCESS)
}

/// `logs --authorizer`: the API authorizer's decision lines.
async fn decisions(
    s: &Session<'_>,
    clients: &crate::aws::Clients,
    refs: &crate::identity::refs::StackRefs,
    args: &LogsArgs,
) -> Result<u8, Error> {
    let Some(function) = &refs.authorizer else {
        return Err(Error::Usage {
            message: format!("stack {} has no API deployed", refs.stack),
            help: "add an `api` section to the inputs and run `deployer up`".into(),
        });
    };
    let group = logs::log_group(function);
    let start = logs::since_ms(args.since);
    let lines = logs::decision_lines(&logs::fetch(clients, &group, start).await?);
    if lines.is_empty() {
        let since = crate::duration::rfc3339_millis(start);
        s.progress
            .note(&format!("no decision lines in {group} since {since}"));
    }
    for line in &lines {
        match s.format() {
            OutputFormat::Table => println!("{line}"),
            OutputFormat::Json => println!(
                "{}",
                serde_json::to_string(line).expect("log lines serialize")
            ),
        }
    }
    Ok(exit::SUCCESS)
}
