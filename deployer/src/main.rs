//! Parse, set up logging and error reports, dispatch, and the one Ctrl-C path: nothing else.

// See lib.rs: errors carry source text for their reports.
#![allow(clippy::result_large_err)]

use clap::Parser;
use deployer::cancel::Activity;
use deployer::cli::Cli;
use deployer::commands;
use deployer::error::exit;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // DEPLOYER_LOG: `level` and `target=level` pairs, e.g. `warn,deployer=debug,aws_config=debug`.
    let filter: tracing_subscriber::filter::Targets = std::env::var("DEPLOYER_LOG")
        .ok()
        .and_then(|spec| spec.parse().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing::Level::WARN)
                .with_target("deployer", tracing::Level::INFO)
                // The SDK's credential chain warns once per provider it tried: the error the
                // command ends with says it in one sentence (DEPLOYER_LOG=debug shows them).
                .with_target("aws_config", tracing::Level::ERROR)
        });
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .without_time(),
        )
        .with(filter)
        .init();
    // In CI logs (stderr not a terminal): no colours and no wrapping, so messages stay greppable.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime");
    let activity = Activity::default();
    let tty = deployer::cancel::Terminal::save();
    let result = runtime.block_on(async {
        // The only SIGINT handler of the process, installed before any work starts: Ctrl-C
        // at any moment drops the command's future, which stops every call and wait at once.
        // At a question to a person the command first removes the change set it holds.
        let interrupt = tokio::signal::ctrl_c();
        let command = commands::dispatch(&cli, &activity);
        tokio::pin!(command);
        tokio::select! {
            result = &mut command => result,
            _ = interrupt => {
                tty.restore();
                if cli.command.runs_until_interrupted() {
                    return Ok(exit::SUCCESS);
                }
                if activity.asking() {
                    activity.interrupt();
                    let tidied = tokio::time::timeout(Duration::from_secs(15), &mut command).await;
                    if let Ok(Err(err @ deployer::error::Error::Interrupted { .. })) = tidied {
                        return Err(err);
                    }
                }
                Err(activity.interrupted(cli.command.name()))
            }
        }
    });
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            let code = err.exit_code();
            eprint!(
                "{}",
                deployer::report::render(&err, cli.global.output, terminal)
            );
            code
        }
    };
    // Blocking work still running (a hash, an emulator start) must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_millis(200));
    // Once more at the end: a password question interrupted just as it began can turn echo
    // off after the restore above (its blocking read is not cancelled).
    if code == exit::INTERRUPTED {
        tty.restore();
    }
    ExitCode::from(code)
}
