//! What users read, snapshot-tested (insta) so a change in it is reviewed: `--help` of every
//! command, and the main error reports as the terminal shows them (no colour, fixed width).

use clap::CommandFactory;
use deployer::error::Error;

/// `--help` of the command and each of its subcommands, by their path (`deployer users add`).
fn helps(command: &mut clap::Command, path: &str, out: &mut Vec<(String, String)>) {
    let text = command.render_long_help().to_string();
    out.push((path.to_owned(), text));
    // clap's own `help` subcommands print the same texts: not snapshotted twice.
    for sub in command
        .get_subcommands_mut()
        .filter(|s| s.get_name() != "help")
    {
        let name = format!("{path} {}", sub.get_name());
        helps(sub, &name, out);
    }
}

#[test]
fn every_commands_help() {
    let mut all = Vec::new();
    let mut cli = deployer::cli::Cli::command();
    cli.build();
    helps(&mut cli, "deployer", &mut all);
    assert!(all.len() > 20, "{} commands", all.len());
    for (path, text) in all {
        let name = path.replace(' ', "_");
        insta::assert_snapshot!(name, text, &path);
    }
}

/// The report `main` prints for an error, as a CI log shows it (no colour, no wrapping).
fn report(err: Error) -> String {
    deployer::report::render(&err, deployer::cli::OutputFormat::Table, false)
}

#[test]
fn the_main_error_reports() {
    let bad = deployer::inputs::StackInputs::parse(
        r#"{"stackName": "app 1", "userPoolDomainName": "Login", "claims": [{"attribute": "projects", "tokens": "sometimes"}]}"#,
        "stack-inputs.json",
    )
    .unwrap_err();
    insta::assert_snapshot!("bad_inputs", report(bad.into()));
    insta::assert_snapshot!(
        "destructive",
        report(Error::Destructive {
            stack: "app".into(),
            resources: vec!["UsersTable (AWS::DynamoDB::Table)".into()],
            help: "the change set was removed and nothing was executed. To accept the loss run `deployer up --allow-replace`".into(),
        })
    );
    insta::assert_snapshot!(
        "kept",
        report(Error::Kept {
            stack: "app".into()
        })
    );
    insta::assert_snapshot!(
        "not_deployed",
        report(Error::NotDeployed {
            stack: "app".into(),
            region: "us-east-2".into(),
        })
    );
    insta::assert_snapshot!(
        "drifted",
        report(Error::Drifted {
            stack: "app".into(),
            failed: vec![
                "  - trigger wired: the pool calls arn:aws:lambda:us-east-1:1:function:other"
                    .into()
            ],
        })
    );
    insta::assert_snapshot!(
        "timed_out",
        report(Error::TimedOut {
            stack: "app".into(),
            status: "UPDATE_IN_PROGRESS".into(),
            waited_secs: 1800,
            help: "another operation is running on the stack; wait for it, or raise --wait-timeout"
                .into(),
        })
    );
}
