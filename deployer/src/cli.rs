//! Command-line types only; `main` turns them into calls on the library.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Stand up, inspect and tear down a Cognito user pool whose tokens carry your application's
/// claims (read at login from DynamoDB by a Rust pre-token-generation trigger).
#[derive(Debug, Parser)]
#[command(name = "deployer", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (shown under their own heading in every command's help).
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// Use the local emulator on 127.0.0.1 (started if it is not running), with dummy credentials.
    #[arg(long, global = true, conflicts_with = "endpoint_url")]
    pub local: bool,
    /// Send every AWS call to this endpoint instead of AWS (an emulator, a proxy).
    #[arg(
        long,
        global = true,
        env = "DEPLOYER_ENDPOINT_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub endpoint_url: Option<String>,
    /// AWS region; defaults to stack-inputs.json, then the AWS profile and environment.
    #[arg(long, global = true, env = "DEPLOYER_REGION", hide_env_values = true)]
    pub region: Option<String>,
    /// Accept a region of the aws partition that this deployer does not list (one AWS launched
    /// after it was built).
    #[arg(long, global = true)]
    pub unlisted_region: bool,
    /// AWS profile from ~/.aws/config.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// How results are printed: a table for people, JSON for scripts.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Ephemeral copy for CI: suffix the stack and domain names with the run's id (--suffix, or
    /// GitHub Actions' / GitLab CI's), make it disposable, and tag it with its expiry.
    #[arg(
        long,
        global = true,
        env = "DEPLOYER_EPHEMERAL",
        hide_env_values = true
    )]
    pub ephemeral: bool,
    /// The ephemeral suffix (implies --ephemeral); default: derived from the CI run.
    #[arg(long, global = true, env = "DEPLOYER_SUFFIX", hide_env_values = true)]
    pub suffix: Option<String>,
    /// How long an ephemeral stack may live before `gc` deletes it (e.g. 90m, 2h, 1d).
    #[arg(long, global = true, env = "DEPLOYER_TTL", hide_env_values = true, default_value = "2h", value_parser = crate::duration::parse)]
    pub ttl: Duration,
    /// The stack's inputs file.
    #[arg(
        long,
        short = 'f',
        global = true,
        env = "DEPLOYER_INPUTS",
        hide_env_values = true,
        default_value = "stack-inputs.json"
    )]
    pub inputs: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

impl Command {
    /// The command's name as typed, for messages ("the next `deployer up` ...").
    pub fn name(&self) -> &'static str {
        match self {
            Self::Up(_) => "up",
            Self::Plan(_) => "plan",
            Self::Down(_) => "down",
            Self::Render => "render",
            Self::Build(_) => "build",
            Self::Outputs(_) => "outputs",
            Self::Schema => "schema",
            Self::Users(_) => "users",
            Self::Token(_) => "token",
            Self::Viewer { .. } => "viewer",
            Self::Clients(_) => "clients",
            Self::Verify => "verify",
            Self::Logs(_) => "logs",
            Self::Invoke(_) => "invoke",
            Self::Status(_) => "status",
            Self::Gc(_) => "gc",
            Self::Local(_) => "local",
            Self::Policy(_) => "policy",
            Self::Bootstrap(_) => "bootstrap",
            Self::Authz(_) => "authz",
            Self::Call(_) => "call",
        }
    }

    /// Commands that run until Ctrl-C by design: an interruption is their normal end.
    pub fn runs_until_interrupted(&self) -> bool {
        matches!(self, Self::Viewer { .. })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build, upload and deploy the stack, verify it and print its outputs.
    Up(UpArgs),
    /// Show what `up` would change (a change set, not executed).
    Plan(PlanArgs),
    /// Delete the stack and everything in it.
    Down(DownArgs),
    /// Print the rendered CloudFormation template.
    Render,
    /// Build the trigger into its reproducible Lambda zip (or find it in the local cache);
    /// print its path, size, SHA-256 and source key.
    Build(BuildArgs),
    /// Print the deployed stack's outputs.
    Outputs(OutputsArgs),
    /// Print the JSON Schema of stack-inputs.json.
    Schema,
    /// Manage the pool's users and their rows in the table.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Log a user in and print the verified, decoded ID and access tokens.
    Token(TokenArgs),
    /// Serve the token viewer: Login through the pool's hosted UI (code flow with PKCE), then
    /// the ID and access tokens decoded, signature-checked, custom claims marked.
    Viewer {
        /// Port on localhost; http://localhost:PORT/ must be one of the inputs' callbackUrls.
        #[arg(long, default_value_t = 8081)]
        port: u16,
    },
    /// Machine-to-machine app clients (client-credentials grant, V3_0 claims).
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Smoke test: a temporary user with known rows logs in; the tokens must carry exactly the
    /// expected claims. Exit 4 with the differences otherwise.
    Verify,
    /// The trigger's login lines from its log group, newest last: outcome, event version,
    /// source, principal, the row's claim names, lookup and total time.
    Logs(LogsArgs),
    /// Send the event Cognito would send for a user or a machine client to the deployed
    /// trigger; show the claims it would add to each token, its log line and duration. Exit 4
    /// when the function fails.
    Invoke(InvokeArgs),
    /// The stack's state, and whether what runs is still what was deployed: CloudFormation
    /// drift detection plus the deployer's wiring checks. Exit 0 in sync, 4 drifted.
    Status(StatusArgs),
    /// Delete ephemeral stacks whose expiry has passed (never a stack without the ephemeral tag).
    Gc(GcArgs),
    /// Print the least-privilege IAM policy of one of the three CI roles: the deployer of the
    /// kept stack, the ephemeral (pull-request) role, or the publisher of shared builds.
    Policy(PolicyArgs),
    /// Make, once per account, region and project, what the CI roles must not make
    /// themselves: the artifacts bucket and the permissions boundary of the stacks' roles.
    /// Run by an admin; idempotent; --dry-run prints the plan.
    Bootstrap(BootstrapArgs),
    /// Manage the local AWS emulator.
    #[command(subcommand)]
    Local(LocalCommand),
    /// A request through the deployed API with a user's (or machine client's) token: the
    /// status, the body and the authorizer's decision line. Exit 8 when the API refuses it.
    Call(CallArgs),
    /// The API's Cedar authorization: its schema, one decision, a table of cases; evaluated
    /// by the authorizer's own library.
    #[command(subcommand)]
    Authz(AuthzCommand),
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The method (GET, POST, ...).
    pub method: String,
    /// The path from the API's root (for example /projects/alpha).
    pub path: String,
    /// Log this user in and send their token (the password from stdin with
    /// --password-stdin, DEPLOYER_PASSWORD, or at a terminal, a prompt).
    #[arg(long, conflicts_with = "client")]
    pub user: Option<String>,
    /// Send this machine client's client-credentials token (the secret from stdin with
    /// --password-stdin, DEPLOYER_CLIENT_SECRET, or a prompt).
    #[arg(long, value_name = "CLIENT_ID")]
    pub client: Option<String>,
    /// Read the password (or the client secret) from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Which of the user's tokens to send; default the one the API takes.
    #[arg(long = "token", value_enum, value_name = "USE")]
    pub token_use: Option<TokenChoice>,
    /// A JSON body.
    #[arg(long, value_name = "JSON")]
    pub data: Option<String>,
}

/// `--token`: the ID or the access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenChoice {
    Id,
    Access,
}

#[derive(Debug, Subcommand)]
pub enum AuthzCommand {
    /// Print the Cedar schema the policies are checked against: generated from the claim
    /// mapping (claims with a type) and the API's routes.
    Schema,
    /// Decide one request as the deployed authorizer would: ALLOW or DENY, the deciding
    /// policies, any errors.
    Check(AuthzCheckArgs),
    /// Evaluate a table of cases offline (no AWS): `N passed, M failed`; exit 7 when any
    /// case fails.
    Test {
        /// The case file: {"cases": [{"name", "user" or "client", "groups", "claims",
        /// "request": "GET /path", "expect": "allow" or "deny"}]}.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct AuthzCheckArgs {
    /// The request, `METHOD /path` (for example "GET /projects/alpha").
    pub request: String,
    /// A user: without --claims, their real claims (their row and pool attributes through the
    /// deployed mapping, as `plan --claims` computes them).
    #[arg(long, conflicts_with = "client")]
    pub user: Option<String>,
    /// A machine client (client credentials): without --claims, its row's claims.
    #[arg(long)]
    pub client: Option<String>,
    /// The token's claims as a JSON object (or @FILE), offline: over the ones --user or
    /// --client give.
    #[arg(long, value_name = "JSON")]
    pub claims: Option<String>,
    /// With --claims: a group of the user (`cognito:groups`); repeatable.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Stop after showing the planned changes.
    #[arg(long)]
    pub dry_run: bool,
    /// Also write the outputs as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub outputs_file: Option<PathBuf>,
    /// Exit with 10 instead of 0 when there was nothing to change.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Accept a change set that destroys and replaces the user pool or the table (their users
    /// and rows are lost). Without it such a change set is shown and refused (exit 2), unless
    /// a person at a terminal answers yes.
    #[arg(long)]
    pub allow_replace: bool,
    /// On an existing pool (userPool.existing) whose pre-token-generation slot calls another
    /// function: put this stack's trigger there instead. `down` puts the other one back.
    #[arg(long)]
    pub replace_trigger: bool,
    /// Take over a stack of this name that the deployer did not create (its resources are
    /// changed to match the inputs).
    #[arg(long)]
    pub adopt: bool,
    /// How long to wait for another operation on the stack to finish before giving up (exit 5).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = crate::duration::parse)]
    pub wait_timeout: Duration,
    /// Also share a trigger built here under the bucket's `_builds/` (only the publisher role
    /// may; without this flag `up` never writes a shared build).
    #[arg(long)]
    pub publish: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// How far back to start.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = crate::duration::parse)]
    pub since: Duration,
    /// Keep polling for new lines until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// Only this user's logins.
    #[arg(long, value_name = "NAME", conflicts_with = "client")]
    pub user: Option<String>,
    /// Only this machine client's token requests.
    #[arg(long, value_name = "CLIENT_ID")]
    pub client: Option<String>,
    /// Only this outcome; `denied` shows every denial.
    #[arg(long, value_parser = outcomes())]
    pub outcome: Option<String>,
    /// The API authorizer's decisions instead (a stack with an `api`): ALLOW or DENY, the
    /// principal, the route, the resource, the deciding policies, the time it took.
    #[arg(long, conflicts_with_all = ["user", "client", "outcome", "follow"])]
    pub authorizer: bool,
}

#[derive(Debug, Args)]
#[command(
    group(clap::ArgGroup::new("who").required(true).args(["user", "client", "event"])),
    disable_version_flag = true
)]
pub struct InvokeArgs {
    /// The event for this pool user (attributes and groups read from the pool).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// A client-credentials event for this app client (V3_0).
    #[arg(long, value_name = "CLIENT_ID")]
    pub client: Option<String>,
    /// Send this event file as it is.
    #[arg(long, value_name = "FILE")]
    pub event: Option<std::path::PathBuf>,
    /// The event version; default the stack's.
    #[arg(long, value_parser = ["V1_0", "V2_0", "V3_0"])]
    pub version: Option<String>,
    /// The trigger source (`TokenGeneration_` may be written too); default Authentication
    /// (ClientCredentials for --client).
    #[arg(long, value_parser = sources())]
    pub source: Option<String>,
}

/// The outcomes a login line can have (the trigger's), and `denied` for every denial.
fn outcomes() -> clap::builder::PossibleValuesParser {
    let all = trigger::outcome::ALL.iter().copied();
    clap::builder::PossibleValuesParser::new(all.chain(["denied"]))
}

/// The pre-token-generation trigger sources (Cognito developer guide, pre token generation
/// Lambda trigger, "trigger sources"), by their short names.
fn sources() -> clap::builder::PossibleValuesParser {
    use clap::builder::PossibleValue;
    let names = [
        ("HostedAuth", "TokenGeneration_HostedAuth"),
        ("Authentication", "TokenGeneration_Authentication"),
        (
            "NewPasswordChallenge",
            "TokenGeneration_NewPasswordChallenge",
        ),
        ("AuthenticateDevice", "TokenGeneration_AuthenticateDevice"),
        ("RefreshTokens", "TokenGeneration_RefreshTokens"),
        ("ClientCredentials", "TokenGeneration_ClientCredentials"),
    ];
    clap::builder::PossibleValuesParser::new(
        names.map(|(short, full)| PossibleValue::new(short).alias(full)),
    )
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Also put the zip in the artifacts bucket's shared builds, where every `up` of these
    /// sources on any machine finds it instead of building: build once in a pipeline (as the
    /// publisher role), deploy many stacks from runners without the cross-build tools. A
    /// shared build is written once: a different zip for a taken key is an error.
    #[arg(long)]
    pub publish: bool,
    /// With --publish: also share this zip, the build for these sources signed by AWS Signer,
    /// for stacks whose function requires signed code (trigger.codeSigningConfigArn).
    #[arg(long, value_name = "SIGNED_ZIP", requires = "publish")]
    pub signed: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Show what taking over a stack the deployer did not create would change.
    #[arg(long)]
    pub adopt: bool,
    /// Plan as `up --replace-trigger` would: take an existing pool's occupied
    /// pre-token-generation slot.
    #[arg(long)]
    pub replace_trigger: bool,
    /// Instead of the change set: what the inputs' mapping changes in real principals'
    /// tokens against the deployed mapping (claims added, removed, changed in value or type,
    /// scopes, groups, claims the size budgets drop), and the tokens' sizes against
    /// downstream limits. Reads only.
    #[arg(long)]
    pub claims: bool,
    #[command(flatten)]
    pub who: SampleArgs,
    /// With --claims: exit 10 when any principal's tokens change.
    #[arg(long, requires = "claims")]
    pub detailed_exitcode: bool,
    /// How long to wait for another operation on the stack to finish before giving up (exit 5).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = crate::duration::parse)]
    pub wait_timeout: Duration,
}

/// Which principals a claims preview reads.
#[derive(Debug, Clone, Args)]
pub struct SampleArgs {
    /// How many rows of the table to sample (a paged, projected Scan).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub sample: u16,
    /// These users instead of a sample (comma-separated names).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub users: Vec<String>,
    /// These machine clients instead of a sample (comma-separated client ids).
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub clients: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Instead of drift: the sizes of sampled principals' tokens under the deployed mapping,
    /// against API Gateway's, CloudFront's and a cookie's limits, the largest named.
    #[arg(long)]
    pub sizes: bool,
    #[command(flatten)]
    pub who: SampleArgs,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Turn off the user pool's deletion protection even when the inputs say the stack is kept.
    #[arg(long)]
    pub force: bool,
    /// Find the stack (name and region) in this outputs file written by `up`; no inputs needed.
    #[arg(long, value_name = "FILE")]
    pub from_outputs: Option<PathBuf>,
    /// Leave these resources (logical ids, comma-separated) behind when deleting a stack that
    /// is DELETE_FAILED because of them.
    #[arg(long, value_name = "LOGICAL_ID", value_delimiter = ',')]
    pub retain: Vec<String>,
    /// How long to wait for another operation on the stack to finish before giving up (exit 5).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = crate::duration::parse)]
    pub wait_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The 12-digit AWS account id the role lives in.
    #[arg(long, value_name = "ACCOUNT_ID")]
    pub account: String,
    /// Which role: `deployer` (the kept stack, from a protected branch: up, plan, down,
    /// outputs, status, users, logs, invoke), `ephemeral` (the same for the copies
    /// `--ephemeral` makes, from pull requests, and gc), `publisher` (build --publish: the only
    /// writer of shared builds).
    #[arg(long, value_enum)]
    pub role: PolicyRole,
    /// The base stack's name; default: the inputs' stackName. Ephemeral copies are
    /// `<prefix>-<suffix>`.
    #[arg(long)]
    pub prefix: Option<String>,
}

/// The CI roles `policy` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyRole {
    Deployer,
    Ephemeral,
    Publisher,
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Print what would be made or changed, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The publisher role's ARN: the bucket's policy then refuses shared-build writes by any
    /// other identity, whatever its own policies grant.
    #[arg(long, value_name = "ROLE_ARN")]
    pub publisher_role: Option<String>,
    /// An AWS Signer profile version ARN: also make (or update) the project's Lambda code
    /// signing configuration, which refuses zips the profile did not sign, and print its ARN
    /// for trigger.codeSigningConfigArn.
    #[arg(long, value_name = "PROFILE_VERSION_ARN")]
    pub signing_profile: Option<String>,
}

#[derive(Debug, Args)]
pub struct OutputsArgs {
    /// Also write the outputs as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub outputs_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Start the emulator (or reuse the running one) and print its endpoint.
    Start {
        #[command(flatten)]
        engine: EngineArg,
        /// Port on 127.0.0.1; a free one when omitted.
        #[arg(long)]
        port: Option<u16>,
        /// fakecloud only: evaluate IAM identity policies (strict: deny what they do not
        /// allow; the test/test identity always passes).
        #[arg(long, value_enum, default_value_t = IamArg::Off)]
        iam: IamArg,
    },
    /// Stop the emulator and every process it started.
    Stop {
        #[command(flatten)]
        engine: EngineArg,
    },
    /// Whether the emulator runs, its PID and endpoint.
    Status {
        #[command(flatten)]
        engine: EngineArg,
    },
    /// Clear all of the emulator's state.
    Reset {
        #[command(flatten)]
        engine: EngineArg,
    },
}

/// Which local emulator.
#[derive(Debug, Args)]
pub struct EngineArg {
    /// ministack (the default: runs the trigger) or fakecloud (stricter deploy paths).
    #[arg(long, value_enum, default_value_t = EngineName::Ministack)]
    pub engine: EngineName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineName {
    Ministack,
    Fakecloud,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IamArg {
    Off,
    Soft,
    Strict,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create (or update) a user and write its row. The password comes from stdin
    /// (--password-stdin) or DEPLOYER_PASSWORD, or is generated and printed once.
    Add(UserAddArgs),
    /// List the pool's users joined with their rows.
    List,
    /// Import many users from a CSV file (header: username, email, password, then one column per
    /// row attribute) or JSON lines (the same keys; attribute values keep their JSON types).
    /// Bad lines are reported with their number; the good ones are imported. Safe to re-run:
    /// an existing user's password is kept unless --reset-passwords; a user with none of their
    /// own yet (FORCE_CHANGE_PASSWORD: made without one, or invited and not signed in) takes
    /// the file's, and the report names them.
    Import {
        /// The CSV or JSON-lines file.
        file: PathBuf,
        /// Also set the file's password on users that already exist.
        #[arg(long)]
        reset_passwords: bool,
    },
    /// Remove a user from the pool and its row from the table.
    Remove {
        /// The user name.
        user: String,
    },
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The user name (the row's partition key, unless table.userKeyAttribute names another).
    pub user: String,
    /// The user's email address.
    #[arg(long)]
    pub email: Option<String>,
    /// A row attribute as key=value (a string; repeat for more), e.g. --set projects=p-1,p-2.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The row as a JSON object, keeping types: --row '{"projects":["p-1"],"level":3}'.
    #[arg(long, value_name = "JSON")]
    pub row: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Send Cognito's invitation message instead of setting a password.
    #[arg(long)]
    pub invite: bool,
    /// Write the row as given, dropping the attributes it does not name (without it, --set
    /// and --row change only the attributes they name).
    #[arg(long)]
    pub replace: bool,
    /// Write a generated password to this new file (mode 0600) instead of showing it; needed
    /// when stdout is not a terminal (CI logs it) and --output is not json.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The user to log in. The password comes from stdin (--password-stdin), DEPLOYER_PASSWORD,
    /// or at a terminal, a prompt (echo off).
    #[arg(required_unless_present = "client")]
    pub user: Option<String>,
    /// Instead of a user: this app client's client-credentials token (the secret from stdin
    /// with --secret-stdin, DEPLOYER_CLIENT_SECRET, or at a terminal, a prompt).
    #[arg(long, value_name = "CLIENT_ID", conflicts_with = "user")]
    pub client: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// Read the client secret from the first line of stdin (with --client; --password-stdin
    /// is taken there too).
    #[arg(long, requires = "client")]
    pub secret_stdin: bool,
    /// Print the raw tokens (JSON, as Cognito returns them) for piping, after verifying them.
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// Also delete ephemeral stacks created longer ago than this (e.g. 6h), expired or not.
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
    pub older_than: Option<Duration>,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How many stacks to delete at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Consider every project's ephemeral stacks in the region, not only the copies of the
    /// inputs' stack.
    #[arg(long)]
    pub all_projects: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Create an app client with a secret, the client-credentials grant and the pool's
    /// resource-server scope, and write its row (keyed by the client id). Names are unique
    /// within the stack; a row needs a V3_0 stack (the only events Cognito sends for
    /// client-credentials tokens).
    Add {
        /// The client's name.
        name: String,
        /// A row attribute as key=value (a string; repeat for more).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// The row as a JSON object, keeping types.
        #[arg(long, value_name = "JSON")]
        row: Option<String>,
        /// Write the client secret to this new file (mode 0600) instead of showing it; needed
        /// when stdout is not a terminal (CI logs it) and --output is not json.
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
    },
    /// The stack's machine clients: name, client id, scopes.
    List,
    /// Remove a machine client (by name or client id) and its row.
    Remove {
        /// The client's name or id.
        client: String,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn options_with_a_fixed_set_of_values_refuse_others_and_list_them() {
        use clap::Parser;
        for (args, listed) in [
            (&["logs", "--outcome", "bogus"][..], "denied_no_row"),
            (
                &["invoke", "--user", "u", "--source", "Bogus"][..],
                "RefreshTokens",
            ),
            (
                &["invoke", "--user", "u", "--source", "TokenGeneration_Bogus"][..],
                "HostedAuth",
            ),
            (&["invoke", "--user", "u", "--version", "V4_0"][..], "V3_0"),
        ] {
            let err = super::Cli::try_parse_from(["deployer"].iter().chain(args)).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("invalid value"), "{args:?}: {text}");
            assert!(text.contains(listed), "{args:?}: {text}");
        }
        for args in [
            &["logs", "--outcome", "denied"][..],
            &["logs", "--outcome", "stale_row"][..],
            &["invoke", "--user", "u", "--source", "RefreshTokens"][..],
            &[
                "invoke",
                "--user",
                "u",
                "--source",
                "TokenGeneration_RefreshTokens",
            ][..],
        ] {
            let parsed = super::Cli::try_parse_from(["deployer"].iter().chain(args));
            assert!(parsed.is_ok(), "{args:?}: {:?}", parsed.err());
        }
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
