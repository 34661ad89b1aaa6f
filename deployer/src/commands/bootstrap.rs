//! `bootstrap`: the session for `crate::bootstrap` (inputs, connection, account) and its report.

use crate::aws::Clients;
use crate::bootstrap::{self, Options, Report, Target};
use crate::error::Error;
use crate::inputs::StackInputs;

/// The bootstrap target of these inputs in the connected account: the project is the base
/// stack's name, so an ephemeral run's inputs name the same project.
pub fn target(inputs: &StackInputs, account: &str, region: &str) -> Target {
    Target {
        account: account.into(),
        region: region.into(),
        project: inputs.project().into(),
        table: inputs.base_table_name().map(str::to_owned),
        kind: inputs.stack_kind(),
    }
}

/// `deployer bootstrap`.
pub async fn run(
    s: &super::session::Session<'_>,
    args: &crate::cli::BootstrapArgs,
) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let clients = s.clients(&inputs).await?;
    let options = Options {
        dry_run: args.dry_run,
        publisher: args.publisher_role.clone(),
        signing_profile: args.signing_profile.clone(),
    };
    s.print(&bootstrap_report(&clients, &inputs, &options).await?);
    Ok(crate::error::exit::SUCCESS)
}

/// Checks the options, then makes (or with `dry_run`, lists) what is missing.
pub async fn bootstrap_report(
    clients: &Clients,
    inputs: &StackInputs,
    options: &Options,
) -> Result<Report, Error> {
    if let Some(arn) = &options.publisher {
        let ok = arn.starts_with("arn:")
            && arn
                .split(':')
                .nth(5)
                .is_some_and(|r| r.starts_with("role/"));
        if !ok {
            return Err(Error::Usage {
                message: format!("--publisher-role {arn:?} is not a role ARN"),
                help: "pass the publisher role's ARN, arn:aws:iam::<account>:role/<name>".into(),
            });
        }
    }
    if let Some(arn) = &options.signing_profile {
        let ok = arn.starts_with("arn:")
            && arn.split(':').nth(2) == Some("signer")
            && arn.contains("/signing-profiles/");
        if !ok {
            return Err(Error::Usage {
                message: format!("--signing-profile {arn:?} is not an AWS Signer profile version ARN"),
                help: "pass arn:aws:signer:<region>:<account>:/signing-profiles/<name>/<version> (`aws signer get-signing-profile --profile-name NAME` prints profileVersionArn)".into(),
            });
        }
    }
    let account = clients.account_id().await?;
    bootstrap::bootstrap(clients, &target(inputs, &account, &clients.region), options).await
}
