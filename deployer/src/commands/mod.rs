//! One function per command: library calls in, a typed report out. `dispatch` turns the parsed
//! command line into those calls, prints the report, and maps the typed outcome to the exit
//! code; `main` does nothing else.

pub mod bootstrap;
pub mod build;
pub mod down;
pub mod gc;
pub mod invoke;
pub mod local;
pub mod logs;
pub mod outputs;
pub mod policy;
pub mod status;
pub mod up;

use crate::aws::{self, Clients, Connection, Target};
use crate::build::BuildTarget;
use crate::cancel::Activity;
use crate::cli::{Cli, ClientsCommand, Command, Global, UsersCommand};
use crate::ctx::Ctx;
use crate::error::{exit, Error};
use crate::identity::{self, refs::StackRefs};
use crate::inputs::{self, StackInputs};
use crate::local::Paths;
use crate::output;
use crate::progress::{Poll, Progress};
use crate::{ephemeral, render, viewer};
use std::collections::HashMap;
use std::time::SystemTime;

/// The AWS target the global options name.
pub fn target(global: &Global) -> Target {
    match (&global.endpoint_url, global.local) {
        (_, true) => Target::Local,
        (Some(url), false) => Target::Endpoint(url.clone()),
        (None, false) => Target::Aws,
    }
}

/// The inputs file, made into this run's ephemeral copy when asked.
pub fn load_inputs(global: &Global) -> Result<StackInputs, Error> {
    let inputs = StackInputs::load(&global.inputs)?;
    if !global.ephemeral && global.suffix.is_none() {
        return Ok(inputs);
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let suffix = ephemeral::suffix(global.suffix.as_deref(), &env)?;
    let copy = ephemeral::apply(&inputs, &suffix, global.ttl, SystemTime::now(), &env);
    ephemeral::check_whole(&copy)?;
    // The suffixed names and the deployer's tags are what AWS will see: check them too.
    let violations = copy.violations();
    if !violations.is_empty() {
        return Err(crate::inputs::InputError::Invalid {
            file: format!(
                "{} (its ephemeral copy, suffix {suffix})",
                global.inputs.display()
            ),
            violations,
        }
        .into());
    }
    Ok(copy)
}

async fn connect(
    global: &Global,
    paths: &Paths,
    region: Option<String>,
) -> Result<Connection, Error> {
    let region = global.region.clone().or(region);
    let target = target(global);
    let paths = paths.clone();
    let profile = global.profile.clone();
    // Starting the emulator blocks for a moment: keep it off the async thread (and Ctrl-C live);
    // `connect` then finds it running.
    if target == Target::Local {
        let paths = paths.clone();
        tokio::task::spawn_blocking(move || crate::local::start(&paths, None))
            .await
            .expect("the emulator start task")?;
    }
    Ok(aws::connect(&target, region.as_deref(), profile.as_deref(), &paths).await?)
}

/// Runs the command; the exit code comes from its typed outcome.
pub async fn dispatch(cli: &Cli, activity: &Activity) -> Result<u8, Error> {
    let global = &cli.global;
    let paths = Paths::from_env();
    let format = global.output;
    let progress = Progress::new();
    let ctx = |clients| Ctx {
        clients,
        progress: &progress,
        activity,
        poll: Poll::from_env(),
    };
    match &cli.command {
        Command::Local(command) => output::print(format, &local::local(command, &paths)?),
        Command::Schema => print!("{}", inputs::schema()),
        Command::Policy(args) => {
            // The base inputs: a policy is for the project, never for one ephemeral copy.
            let inputs = StackInputs::load(&global.inputs)?;
            let document = policy::policy(&inputs, global.region.clone(), args)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&document).expect("policy serializes")
            );
        }
        Command::Bootstrap(args) => {
            let inputs = load_inputs(global)?;
            let conn = connect(global, &paths, inputs.region.clone()).await?;
            let options = crate::bootstrap::Options {
                dry_run: args.dry_run,
                publisher: args.publisher_role.clone(),
                signing_profile: args.signing_profile.clone(),
            };
            let report = bootstrap::run(&Clients::new(&conn), &inputs, &options).await?;
            output::print(format, &report);
        }
        Command::Render => print!("{}", render::render(&load_inputs(global)?)?),
        Command::Build(args) => {
            let target = BuildTarget::choose(global.local);
            let report = if args.publish {
                let inputs = load_inputs(global)?;
                let conn = connect(global, &paths, inputs.region.clone()).await?;
                let clients = Clients::new(&conn);
                // The account is filled in once connected.
                let project = bootstrap::target(&inputs, "", &clients.region);
                let local = (args.signed.as_deref(), conn.target == Target::Local);
                build::publish(ctx(&clients), &paths, &target, &project, local).await?
            } else {
                activity.set("", crate::cancel::Doing::Building);
                let artifact = crate::build::build(&paths, &target).await?;
                activity.clear("");
                build::BuildReport {
                    artifact,
                    published: None,
                }
            };
            output::print(format, &report);
        }
        Command::Up(args) => {
            let inputs = load_inputs(global)?;
            let conn = connect(global, &paths, inputs.region.clone()).await?;
            let clients = Clients::new(&conn);
            let options = up::UpOptions {
                dry_run: args.dry_run,
                wait_timeout: args.wait_timeout,
                trigger: BuildTarget::choose(conn.target == Target::Local),
                adopt: args.adopt,
                allow_replace: args.allow_replace,
                confirm: up::Confirm::detect(
                    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false"),
                ),
                publish: args.publish,
                bootstrap_itself: conn.target == Target::Local,
            };
            let report = up::up(ctx(&clients), &paths, &inputs, &options).await?;
            if !args.dry_run {
                output::publish_outputs(&report.outputs, args.outputs_file.as_deref())?;
            }
            output::print(format, &report);
            if report.action == up::UpAction::Unchanged && args.detailed_exitcode {
                return Ok(exit::NO_CHANGE);
            }
        }
        Command::Plan(args) => {
            let inputs = load_inputs(global)?;
            let conn = connect(global, &paths, inputs.region.clone()).await?;
            let clients = Clients::new(&conn);
            let options = up::UpOptions {
                dry_run: true,
                wait_timeout: args.wait_timeout,
                trigger: BuildTarget::choose(conn.target == Target::Local),
                adopt: args.adopt,
                allow_replace: false,
                confirm: up::Confirm::Never,
                publish: false,
                bootstrap_itself: conn.target == Target::Local,
            };
            output::print(
                format,
                &up::up(ctx(&clients), &paths, &inputs, &options).await?,
            );
        }
        Command::Outputs(args) => {
            let inputs = load_inputs(global)?;
            let conn = connect(global, &paths, inputs.region.clone()).await?;
            let clients = Clients::new(&conn);
            let outputs = outputs::outputs(&clients, &inputs.stack_name).await?;
            output::publish_outputs(&outputs.0, args.outputs_file.as_deref())?;
            output::print(format, &outputs);
        }
        Command::Down(args) => {
            let (target, region) = match &args.from_outputs {
                Some(file) => {
                    let (stack, region) = outputs::read_outputs_file(file)?;
                    (down::DownTarget { stack }, region)
                }
                None => {
                    let inputs = load_inputs(global)?;
                    (
                        down::DownTarget {
                            stack: inputs.stack_name.clone(),
                        },
                        inputs.region.clone(),
                    )
                }
            };
            let conn = connect(global, &paths, region).await?;
            let clients = Clients::new(&conn);
            let options = down::DownOptions {
                force: args.force,
                keep_protection: false,
                wait_timeout: args.wait_timeout,
                retain: args.retain.clone(),
            };
            output::print(format, &down::down(ctx(&clients), &target, &options).await?);
        }
        Command::Gc(args) => {
            // The project (and region) come from the inputs file; with --all-projects gc
            // works without one.
            let inputs = StackInputs::load(&global.inputs);
            let project = match (&inputs, args.all_projects) {
                (_, true) => None,
                (Ok(i), false) => Some(i.stack_name.clone()),
                (Err(_), false) => {
                    return Err(Error::Usage {
                        message: format!("gc needs the project: {} cannot be read", global.inputs.display()),
                        help: "run gc with the project's inputs file (-f), whose stackName names the copies to collect, or pass --all-projects to collect every project's expired copies in the region".into(),
                    })
                }
            };
            let region = inputs.ok().and_then(|i| i.region);
            let conn = connect(global, &paths, region).await?;
            let clients = Clients::new(&conn);
            let options = gc::GcOptions {
                older_than: args.older_than,
                dry_run: args.dry_run,
                parallel: args.parallel,
                project,
            };
            let report = gc::gc(ctx(&clients), SystemTime::now(), &options).await?;
            output::print(format, &report);
            if report.any_failed() {
                return Ok(exit::DEPLOY_FAILED);
            }
        }
        Command::Users(command) => {
            let inputs = load_inputs(global)?;
            let (clients, refs) = open(global, &paths, &inputs).await?;
            return users(format, command, &clients, &refs, &progress).await;
        }
        Command::Token(args) => {
            let inputs = load_inputs(global)?;
            let (clients, refs) = open(global, &paths, &inputs).await?;
            let (env, what) = if args.client.is_some() {
                ("DEPLOYER_CLIENT_SECRET", "client secret")
            } else {
                ("DEPLOYER_PASSWORD", "password")
            };
            let secret = identity::secret::read_secret(args.password_stdin, env, what)?
                .ok_or_else(|| Error::Usage {
                    message: format!("no {what} given"),
                    help: format!(
                        "pipe it to --password-stdin or set {env} (never on the command line)"
                    ),
                })?;
            if let Some(client) = &args.client {
                let (report, access) =
                    identity::clients::client_token(&refs, &inputs, client, &secret).await?;
                if args.raw {
                    println!("{}", serde_json::json!({ "AccessToken": access }));
                } else {
                    output::print(format, &report);
                }
            } else {
                let user = args.user.as_deref().unwrap_or_default();
                let tokens = identity::tokens::login(&clients, &refs, user, &secret).await?;
                let report = identity::tokens::report(&refs, &inputs, user, &tokens).await?;
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
            let inputs = load_inputs(global)?;
            viewer::redirect_uri(&inputs, *port)?;
            let (clients, refs) = open(global, &paths, &inputs).await?;
            viewer::serve(refs, clients, &inputs, *port).await?;
        }
        Command::Clients(ClientsCommand::Add {
            name,
            set,
            row,
            secret_file,
        }) => {
            let inputs = load_inputs(global)?;
            let (clients, refs) = open(global, &paths, &inputs).await?;
            let row = identity::rows::row_from(set, row.as_deref())?;
            output::print(
                format,
                &identity::clients::add_client(
                    &clients,
                    &refs,
                    name,
                    row,
                    &secret_sink(secret_file.clone(), format),
                )
                .await?,
            );
        }
        Command::Logs(args) => {
            let inputs = load_inputs(global)?;
            let (clients, refs) = open(global, &paths, &inputs).await?;
            let group = logs::log_group(&refs.function);
            let filter = logs::Filter {
                user: args.user.clone(),
                client: args.client.clone(),
                outcome: args.outcome.clone(),
            };
            let print = |line: &logs::LoginLine| match format {
                crate::cli::OutputFormat::Table => println!("{line}"),
                crate::cli::OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string(line).expect("log lines serialize")
                ),
            };
            let start = logs::since_ms(args.since);
            if args.follow {
                activity.set(&inputs.stack_name, crate::cancel::Doing::Reading);
                logs::follow(
                    &clients,
                    &group,
                    start,
                    &filter,
                    Poll::from_env().ceiling,
                    print,
                )
                .await?;
            } else {
                let lines = logs::logins(&clients, &group, start, &filter).await?;
                if lines.is_empty() {
                    progress.note(&format!(
                        "no login lines in {group} since {} that match",
                        logs::rfc3339(start)
                    ));
                }
                lines.iter().for_each(print);
            }
        }
        Command::Invoke(args) => {
            let inputs = load_inputs(global)?;
            let (clients, refs) = open(global, &paths, &inputs).await?;
            let who = match (&args.user, &args.client, &args.event) {
                (Some(u), _, _) => invoke::Who::User(u.clone()),
                (_, Some(c), _) => invoke::Who::Client(c.clone()),
                (_, _, Some(e)) => invoke::Who::Event(e.clone()),
                _ => unreachable!("clap requires one of --user, --client, --event"),
            };
            let options = invoke::InvokeOptions {
                who,
                version: args.version.clone(),
                source: args.source.clone(),
            };
            let report = invoke::invoke(&clients, &refs, &options).await?;
            output::print(format, &report);
            if report.error.is_some() {
                return Ok(exit::VERIFY_FAILED);
            }
        }
        Command::Status => {
            let inputs = load_inputs(global)?;
            let conn = connect(global, &paths, inputs.region.clone()).await?;
            let clients = Clients::new(&conn);
            let report = status::status(&clients, &inputs.stack_name, Poll::from_env()).await?;
            output::print(format, &report);
            if !report.in_sync {
                return Ok(exit::VERIFY_FAILED);
            }
        }
        Command::Verify => {
            let inputs = load_inputs(global)?;
            let (clients, refs) = open(global, &paths, &inputs).await?;
            output::print(
                format,
                &identity::smoke::smoke(&clients, &refs, &inputs).await?,
            );
        }
    }
    Ok(exit::SUCCESS)
}

/// Where a secret this command makes may go (a terminal, --secret-file, or JSON asked for).
fn secret_sink(
    file: Option<std::path::PathBuf>,
    format: crate::cli::OutputFormat,
) -> identity::secret::SecretSink {
    use std::io::IsTerminal;
    identity::secret::SecretSink::choose(
        file,
        format == crate::cli::OutputFormat::Json,
        std::io::stdout().is_terminal(),
    )
}

/// The clients and the deployed stack's references, for the identity commands.
async fn open(
    global: &Global,
    paths: &Paths,
    inputs: &StackInputs,
) -> Result<(Clients, StackRefs), Error> {
    let conn = connect(global, paths, inputs.region.clone()).await?;
    let clients = Clients::new(&conn);
    let refs = StackRefs::load(&conn, &clients, inputs).await?;
    Ok((clients, refs))
}

async fn users(
    format: crate::cli::OutputFormat,
    command: &UsersCommand,
    clients: &Clients,
    refs: &StackRefs,
    progress: &Progress,
) -> Result<u8, Error> {
    use identity::{import, rows, secret, users};
    match command {
        UsersCommand::Add(args) => {
            let password =
                secret::read_secret(args.password_stdin, "DEPLOYER_PASSWORD", "password")?;
            let row = rows::row_from(&args.set, args.row.as_deref())?;
            let report = users::add(
                clients,
                refs,
                &args.user,
                args.email.as_deref(),
                password,
                row,
                (
                    args.invite,
                    args.replace,
                    &secret_sink(args.secret_file.clone(), format),
                ),
            )
            .await?;
            output::print(format, &report);
        }
        UsersCommand::List => output::print(format, &users::list(clients, refs).await?),
        UsersCommand::Import {
            file,
            reset_passwords,
        } => {
            let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
                what: format!("reading {}", file.display()),
                source,
            })?;
            let (records, bad) =
                import::parse(&text, &file.display().to_string(), &refs.partition_key);
            let report =
                import::import(clients, refs, records, bad, *reset_passwords, progress).await?;
            output::print(format, &report);
            if !report.bad_lines.is_empty() {
                return Ok(exit::BAD_INPUT);
            }
        }
        UsersCommand::Remove { user } => {
            output::print(format, &users::remove(clients, refs, user).await?)
        }
    }
    Ok(exit::SUCCESS)
}
