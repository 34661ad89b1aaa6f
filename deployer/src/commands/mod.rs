//! One module per command: a session opener, library calls, a typed report. `dispatch` sends
//! the parsed command line to its module; each returns its exit code. `main` does nothing
//! else.

pub mod authz;
pub mod bootstrap;
pub mod build;
pub mod call;
pub mod clients;
pub mod down;
pub mod gc;
pub mod invoke;
pub mod local;
pub mod logs;
pub mod outputs;
pub mod policy;
pub mod preview;
pub mod render;
pub mod session;
pub mod status;
pub mod token;
pub mod up;
pub mod users;
pub mod verify;
pub mod viewer;

use crate::cancel::Activity;
use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::settings::Settings;
use session::Session;

/// Runs the command; the exit code comes from its typed outcome.
pub async fn dispatch(cli: &Cli, activity: &Activity) -> Result<u8, Error> {
    let s = Session::new(&cli.global, Settings::resolve(&cli.global), activity);
    match &cli.command {
        Command::Local(command) => local::run(&s, command),
        Command::Schema => render::schema(),
        Command::Policy(args) => policy::run(&s, args),
        Command::Bootstrap(args) => bootstrap::run(&s, args).await,
        Command::Render => render::run(&s),
        Command::Build(args) => build::run(&s, args).await,
        Command::Up(args) => up::run(&s, args).await,
        Command::Plan(args) => up::run_plan(&s, args).await,
        Command::Outputs(args) => outputs::run(&s, args).await,
        Command::Down(args) => down::run(&s, args).await,
        Command::Gc(args) => gc::run(&s, args).await,
        Command::Users(command) => users::run(&s, command).await,
        Command::Token(args) => token::run(&s, args).await,
        Command::Viewer { port } => viewer::run(&s, *port).await,
        Command::Clients(command) => clients::run(&s, command).await,
        Command::Logs(args) => logs::run(&s, args).await,
        Command::Invoke(args) => invoke::run(&s, args).await,
        Command::Status(args) => status::run(&s, args).await,
        Command::Verify => verify::run(&s).await,
        Command::Authz(command) => authz::run(&s, command).await,
        Command::Call(args) => call::run(&s, args).await,
    }
}
