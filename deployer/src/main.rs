//! Parse, set up logging and error reports, dispatch: nothing else.

use clap::Parser;
use deployer::cli::{Cli, Command};
use deployer::{commands, local::Paths, output};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DEPLOYER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,deployer=info")),
        )
        .init();
    let paths = Paths::from_env();
    let result: miette::Result<()> = match &cli.command {
        Command::Local(command) => commands::local(command, &paths).map(|s| output::print(cli.global.output, &s)).map_err(Into::into),
        _ => Err(miette::miette!("not implemented yet")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}
