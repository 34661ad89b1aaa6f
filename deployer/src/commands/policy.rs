//! `policy`: the IAM policy of one of the three CI roles (see `crate::policy`), checked
//! arguments in, the document out.

use crate::cli::{PolicyArgs, PolicyRole};
use crate::error::Error;
use crate::inputs::{valid_stack_name, StackInputs};
use crate::policy::{self, Role, Scope, MAX_EPHEMERAL_PREFIX};
use serde_json::Value;

impl From<PolicyRole> for Role {
    fn from(r: PolicyRole) -> Self {
        match r {
            PolicyRole::Deployer => Self::Deployer,
            PolicyRole::Ephemeral => Self::Ephemeral,
            PolicyRole::Publisher => Self::Publisher,
        }
    }
}

fn usage(message: String, help: &str) -> Error {
    Error::Usage {
        message,
        help: help.into(),
    }
}

/// The scope the arguments name, every value checked before it goes into a policy: a prefix
/// that is not a stack name (`""` would give `role/*`) is refused, and so is an ephemeral
/// prefix whose copies' names would be cut short.
pub fn scope(
    inputs: &StackInputs,
    (region, waived): (Option<String>, &[&str]),
    args: &PolicyArgs,
) -> Result<Scope, Error> {
    let region = region.or(inputs.region.clone()).ok_or_else(|| {
        usage(
            "no region for the policy".into(),
            "set \"region\" in stack-inputs.json or pass --region",
        )
    })?;
    let problem = crate::inputs::region_problem(&region).filter(|(id, _)| !waived.contains(id));
    if let Some((_, why)) = problem {
        return Err(usage(
            format!("--region: {why}"),
            "pass a region such as us-east-1",
        ));
    }
    if args.account.len() != 12 || !args.account.chars().all(|c| c.is_ascii_digit()) {
        return Err(usage(
            format!("--account {:?} is not an AWS account id", args.account),
            "pass the 12-digit account id (`aws sts get-caller-identity`)",
        ));
    }
    let prefix = args.prefix.clone().unwrap_or(inputs.stack_name.clone());
    if !valid_stack_name(&prefix) || prefix.contains(crate::policy::COPY_SEPARATOR) {
        return Err(usage(
            format!("--prefix {prefix:?} is not a stack name"),
            "pass the base stack's name: 1 to 55 letters, digits and hyphens, starting with a letter, without `--` (every statement is scoped by it)",
        ));
    }
    let role = Role::from(args.role);
    if role == Role::Ephemeral && prefix.len() > MAX_EPHEMERAL_PREFIX {
        return Err(usage(
            format!(
                "--prefix {prefix:?} is {} characters: an ephemeral copy's name would be cut short and no longer start with it",
                prefix.len()
            ),
            &format!("ephemeral copies need a base stack name of at most {MAX_EPHEMERAL_PREFIX} characters (stackName, or --prefix)"),
        ));
    }
    let existing_pool = inputs.existing_pool().map(|p| crate::policy::ExistingPool {
        id: p.existing.clone(),
        app_client: p.app_client,
    });
    if inputs.existing_pool().is_some_and(|p| p.app_client) {
        return Err(usage(
            "userPool.appClient asks the CI role to make an app client in an existing pool, and Cognito authorizes client administration for every client of the pool (it could make itself a client_credentials client, or change a production client's callback URLs)".into(),
            "make the client as an admin and list it in userPool.clients (set appClient to false), or deploy this stack with an admin's credentials",
        ));
    }
    if existing_pool.is_some() && role == Role::Ephemeral {
        return Err(usage(
            "ephemeral copies cannot run on an existing pool (userPool.existing): a pool has one pre-token-generation slot, which the copies would take from each other and from the base stack".into(),
            "test mapping changes on copies with a pool of their own (inputs without userPool), or with `deployer plan`",
        ));
    }
    Ok(Scope {
        partition: crate::aws::partition(&region).into(),
        account: args.account.clone(),
        region,
        prefix,
        table: inputs.table.name.clone(),
        role,
        code_signing: inputs.trigger.code_signing_config_arn.clone(),
        existing_pool,
        api: inputs.api.is_some(),
    })
}

/// The role's policy document.
pub fn policy(
    inputs: &StackInputs,
    region: (Option<String>, &[&str]),
    args: &PolicyArgs,
) -> Result<Value, Error> {
    Ok(policy::document(&scope(inputs, region, args)?))
}

/// `deployer policy`: for the project's inputs, never one ephemeral copy's.
pub fn run(s: &super::session::Session<'_>, args: &PolicyArgs) -> Result<u8, Error> {
    let region = (s.global.region.clone(), s.waived());
    let document = policy(&s.base_inputs()?, region, args)?;
    let text = serde_json::to_string_pretty(&document).expect("policy serializes");
    println!("{text}");
    Ok(crate::error::exit::SUCCESS)
}
