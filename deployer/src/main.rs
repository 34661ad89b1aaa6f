//! Parse, set up logging and error reports, dispatch: nothing else.

// See lib.rs: errors carry source text for their reports.
#![allow(clippy::result_large_err)]

use clap::Parser;
use deployer::cli::{Cli, ClientsCommand, Command, UsersCommand};
use deployer::deploy::{self, UpOptions};
use deployer::error::{exit, Error};
use deployer::inputs::{self, StackInputs};
use deployer::progress::Progress;
use deployer::{
    aws, build, commands, ephemeral, import, local::Paths, output, render, users, viewer,
};
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;
use std::time::SystemTime;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("DEPLOYER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,deployer=info")),
        )
        .init();
    // In CI logs (stderr not a terminal): no colours and no wrapping, so messages stay greppable.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    miette::set_hook(Box::new(move |_| {
        let options = miette::MietteHandlerOpts::new().terminal_links(false);
        let options = if terminal {
            options
        } else {
            options.color(false).unicode(false).width(10_000)
        };
        Box::new(options.build())
    }))
    .ok();
    match run(&cli).await {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = err.exit_code();
            eprintln!("{:?}", miette::Report::new(err));
            ExitCode::from(code)
        }
    }
}

async fn run(cli: &Cli) -> Result<u8, Error> {
    let global = &cli.global;
    let paths = Paths::from_env();
    let format = global.output;
    let load = || -> Result<StackInputs, Error> {
        let inputs = StackInputs::load(&global.inputs)?;
        if !global.ephemeral && global.suffix.is_none() {
            return Ok(inputs);
        }
        let env: HashMap<String, String> = std::env::vars().collect();
        let suffix = ephemeral::suffix(global.suffix.as_deref(), &env)?;
        let ttl = ephemeral::parse_ttl(&global.ttl)?;
        Ok(ephemeral::apply(
            &inputs,
            &suffix,
            ttl,
            SystemTime::now(),
            &env,
        ))
    };
    let connect_region = |region: Option<String>| {
        let region = global.region.clone().or(region);
        let target = commands::target(global);
        let paths = paths.clone();
        let profile = global.profile.clone();
        async move { aws::connect(&target, region.as_deref(), profile.as_deref(), &paths).await }
    };
    let connect = |inputs: &StackInputs| connect_region(inputs.region.clone());
    match &cli.command {
        Command::Local(command) => output::print(format, &commands::local(command, &paths)?),
        Command::Schema => print!("{}", inputs::schema()),
        Command::Render => print!("{}", render::render(&load()?)?),
        Command::Build => {
            let target = build::BuildTarget::choose(global.local);
            output::print(format, &build::build(&paths, &target)?);
        }
        Command::Up(args) => {
            let inputs = load()?;
            let conn = connect(&inputs).await?;
            let options = UpOptions {
                dry_run: args.dry_run,
                wait_timeout: Duration::from_secs(args.wait_timeout),
            };
            let report = deploy::up(&conn, &paths, &inputs, &options, &mut Progress::new()).await?;
            if !args.dry_run {
                commands::publish_outputs(&report.outputs, args.outputs_file.as_deref())?;
            }
            output::print(format, &report);
            if report.action == "unchanged" && args.detailed_exitcode {
                return Ok(exit::NO_CHANGE);
            }
        }
        Command::Plan(args) => {
            let inputs = load()?;
            let conn = connect(&inputs).await?;
            let options = UpOptions {
                dry_run: true,
                wait_timeout: Duration::from_secs(args.wait_timeout),
            };
            output::print(
                format,
                &deploy::up(&conn, &paths, &inputs, &options, &mut Progress::new()).await?,
            );
        }
        Command::Outputs(args) => {
            let inputs = load()?;
            let conn = connect(&inputs).await?;
            let outputs = deploy::outputs(&conn, &inputs).await?;
            commands::publish_outputs(&outputs.0, args.outputs_file.as_deref())?;
            output::print(format, &outputs);
        }
        Command::Users(command) => {
            let inputs = load()?;
            let (clients, refs) = users::open(&connect(&inputs).await?, &inputs).await?;
            match command {
                UsersCommand::Add(args) => {
                    let password =
                        users::read_secret(args.password_stdin, "DEPLOYER_PASSWORD", "password")?;
                    let row = users::row_from(&args.set, args.row.as_deref())?;
                    let report = users::add(
                        &clients,
                        &refs,
                        &args.user,
                        args.email.as_deref(),
                        password,
                        row,
                        args.invite,
                    )
                    .await?;
                    output::print(format, &report);
                }
                UsersCommand::List => output::print(format, &users::list(&clients, &refs).await?),
                UsersCommand::Import { file } => {
                    let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
                        what: format!("reading {}", file.display()),
                        source,
                    })?;
                    let (records, bad) =
                        import::parse(&text, &file.display().to_string(), &refs.partition_key);
                    let report =
                        import::import(&clients, &refs, records, bad, &Progress::new()).await?;
                    output::print(format, &report);
                    if !report.bad_lines.is_empty() {
                        return Ok(exit::BAD_INPUT);
                    }
                }
                UsersCommand::Remove { user } => {
                    output::print(format, &users::remove(&clients, &refs, user).await?)
                }
            }
        }
        Command::Token(args) => {
            let inputs = load()?;
            let (clients, refs) = users::open(&connect(&inputs).await?, &inputs).await?;
            let (env, what) = if args.client.is_some() {
                ("DEPLOYER_CLIENT_SECRET", "client secret")
            } else {
                ("DEPLOYER_PASSWORD", "password")
            };
            let secret = users::read_secret(args.password_stdin, env, what)?.ok_or_else(|| {
                Error::Usage {
                    message: format!("no {what} given"),
                    help: format!(
                        "pipe it to --password-stdin or set {env} (never on the command line)"
                    ),
                }
            })?;
            if let Some(client) = &args.client {
                let (report, access) =
                    import::client_token(&refs, &inputs, client, &secret).await?;
                if args.raw {
                    println!("{}", serde_json::json!({ "AccessToken": access }));
                } else {
                    output::print(format, &report);
                }
            } else {
                let user = args.user.as_deref().unwrap_or_default();
                let tokens = users::login(&clients, &refs, user, &secret).await?;
                let report = users::report(&refs, &inputs, user, &tokens).await?;
                if args.raw {
                    println!(
                        "{}",
                        serde_json::to_string(&tokens).expect("tokens serialize")
                    );
                } else {
                    output::print(format, &report);
                }
            }
        }
        Command::Viewer { port } => {
            let inputs = load()?;
            viewer::redirect_uri(&inputs, *port)?;
            let (_, refs) = users::open(&connect(&inputs).await?, &inputs).await?;
            viewer::serve(refs, &inputs, *port).await?;
        }
        Command::Clients(ClientsCommand::Add { name, set, row }) => {
            let inputs = load()?;
            let (clients, refs) = users::open(&connect(&inputs).await?, &inputs).await?;
            let row = users::row_from(set, row.as_deref())?;
            output::print(
                format,
                &import::add_client(&clients, &refs, name, row).await?,
            );
        }
        Command::Verify => {
            let inputs = load()?;
            let (clients, refs) = users::open(&connect(&inputs).await?, &inputs).await?;
            output::print(format, &users::smoke(&clients, &refs, &inputs).await?);
        }
        Command::Down(args) => {
            let (target, region) = match &args.from_outputs {
                Some(file) => {
                    let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
                        what: format!("reading {}", file.display()),
                        source,
                    })?;
                    let outputs: HashMap<String, String> =
                        serde_json::from_str(&text).map_err(|e| Error::Usage {
                            message: format!("{} is not an outputs file: {e}", file.display()),
                            help: "pass the file `up --outputs-file` wrote".into(),
                        })?;
                    let stack = outputs
                        .get("StackName")
                        .cloned()
                        .ok_or_else(|| Error::Usage {
                            message: format!("{} has no StackName", file.display()),
                            help: "pass the file `up --outputs-file` wrote".into(),
                        })?;
                    (
                        deploy::DownTarget {
                            stack,
                            disposable: None,
                        },
                        outputs.get("Region").cloned(),
                    )
                }
                None => {
                    let inputs = load()?;
                    let disposable = inputs.lifecycle == inputs::Lifecycle::Disposable;
                    (
                        deploy::DownTarget {
                            stack: inputs.stack_name.clone(),
                            disposable: Some(disposable),
                        },
                        inputs.region.clone(),
                    )
                }
            };
            let conn = connect_region(region).await?;
            let wait = Duration::from_secs(args.wait_timeout);
            output::print(
                format,
                &deploy::down(&conn, &target, args.force, wait, &mut Progress::new()).await?,
            );
        }
        Command::Gc(args) => {
            let older_than = args
                .older_than
                .as_deref()
                .map(ephemeral::parse_ttl)
                .transpose()?;
            let region = StackInputs::load(&global.inputs)
                .ok()
                .and_then(|i| i.region);
            let conn = connect_region(region).await?;
            let report = deploy::gc(
                &conn,
                older_than,
                args.dry_run,
                args.parallel,
                &mut Progress::new(),
            )
            .await?;
            let failed = report
                .entries
                .iter()
                .any(|e| e.result.starts_with("failed"));
            output::print(format, &report);
            if failed {
                return Ok(exit::DEPLOY_FAILED);
            }
        }
    }
    Ok(exit::SUCCESS)
}
