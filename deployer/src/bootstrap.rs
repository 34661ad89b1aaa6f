//! `deployer bootstrap`: what the CI roles must not make themselves, made once per account,
//! region and project by an admin: the artifacts bucket (private, encrypted, TLS only, shared
//! builds written once and never replaced or deleted, the lifecycle that keeps what stacks
//! use) and the managed policy that bounds every role the project's stacks create.
//! Idempotent: a second run changes nothing, and `--dry-run` prints the plan only.
//!
//! `up` checks both are there before anything is built or changed, and says what to run when
//! they are not; against the local emulator it bootstraps itself.

use crate::artifacts;
use crate::aws::{Clients, ErrorKind};
use crate::error::Error;
use crate::policy::{self, Kind, Role, Scope};
use serde::Serialize;
use std::fmt;

/// What is bootstrapped: the account, region and project (the base stack's name).
#[derive(Debug, Clone)]
pub struct Target {
    pub account: String,
    pub region: String,
    pub project: String,
    /// The base stack's table name when the inputs set one.
    pub table: Option<String>,
    /// Whether the stack at hand is the base stack or a copy (which boundary `up` needs).
    pub kind: Kind,
}

impl Target {
    fn scope(&self) -> Scope {
        Scope {
            partition: crate::aws::partition(&self.region).into(),
            account: self.account.clone(),
            region: self.region.clone(),
            prefix: self.project.clone(),
            table: self.table.clone(),
            role: Role::Deployer,
            code_signing: None,
            existing_pool: None,
            api: false,
        }
    }

    pub fn bucket(&self) -> String {
        artifacts::bucket_name(&self.account, &self.region)
    }

    pub fn boundary_arn(&self, kind: Kind) -> String {
        policy::boundary_arn(
            crate::aws::partition(&self.region),
            &self.account,
            &self.project,
            &self.region,
            kind,
        )
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

/// One thing bootstrap makes, and what it does (or would do) to it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub what: String,
    pub name: String,
    pub action: Action,
    pub detail: String,
}

/// `bootstrap`'s report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub account: String,
    pub region: String,
    pub project: String,
    pub dry_run: bool,
    pub steps: Vec<Step>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bootstrap of {} in account {}, {}{}:",
            self.project,
            self.account,
            self.region,
            if self.dry_run { " (plan only)" } else { "" }
        )?;
        for s in &self.steps {
            let action = match (s.action, self.dry_run) {
                (Action::Create, true) => "would create",
                (Action::Update, true) => "would update",
                (Action::Create, false) => "created",
                (Action::Update, false) => "updated",
                (Action::Unchanged, _) => "unchanged",
            };
            writeln!(f, "  {action:<13} {} {}", s.what, s.name)?;
            writeln!(f, "                {}", s.detail)?;
        }
        Ok(())
    }
}

/// Options of `bootstrap`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Print the plan only.
    pub dry_run: bool,
    /// The publisher role's ARN: the bucket then refuses shared-build writes by anyone else.
    pub publisher: Option<String>,
    /// An AWS Signer profile version: make the project's code signing configuration.
    pub signing_profile: Option<String>,
}

/// The boundary as IAM holds it now: missing, the same, or another document.
enum Boundary {
    Missing,
    Same,
    Differs,
}

async fn boundary_state(
    clients: &Clients,
    arn: &str,
    want: &serde_json::Value,
) -> Result<Boundary, Error> {
    let version = match clients.iam.policy_default_version(arn).await {
        Ok(v) => v,
        Err(e) => {
            let err = clients.err("iam", "GetPolicy", e);
            if err.is(ErrorKind::NotFound) {
                return Ok(Boundary::Missing);
            }
            return Err(err.into());
        }
    };
    let text = clients
        .iam
        .policy_document(arn, &version)
        .await
        .map_err(|e| clients.err("iam", "GetPolicyVersion", e))?;
    if crate::wiring::parse_policy(&text) == *want {
        Ok(Boundary::Same)
    } else {
        Ok(Boundary::Differs)
    }
}

/// A new default version of the boundary, making room first (IAM keeps five versions: the
/// oldest that is not the default goes).
async fn update_boundary(clients: &Clients, arn: &str, document: &str) -> Result<(), Error> {
    let versions = clients
        .iam
        .policy_versions(arn)
        .await
        .map_err(|e| clients.err("iam", "ListPolicyVersions", e))?;
    if versions.len() >= 5 {
        if let Some((oldest, _)) = versions.iter().rev().find(|(_, default)| !default) {
            clients
                .iam
                .delete_policy_version(arn, oldest)
                .await
                .map_err(|e| clients.err("iam", "DeletePolicyVersion", e))?;
        }
    }
    clients
        .iam
        .create_policy_version(arn, document)
        .await
        .map_err(|e| clients.err("iam", "CreatePolicyVersion", e))?;
    Ok(())
}

/// The description that marks the project's code signing configuration (Lambda gives it a
/// generated id).
fn code_signing_description(target: &Target) -> String {
    format!(
        "deployer: code signing of {} in {}",
        target.project, target.region
    )
}

/// The project's code signing configuration, if there, and what bootstrap does to it.
async fn code_signing_state(
    clients: &Clients,
    target: &Target,
    profile: &str,
) -> Result<(Option<String>, Action), Error> {
    let description = code_signing_description(target);
    let mut marker = None;
    loop {
        let page = clients
            .lambda
            .list_code_signing_configs()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| clients.err("lambda", "ListCodeSigningConfigs", e))?;
        for config in page.code_signing_configs() {
            if config.description() == Some(description.as_str()) {
                let same = config
                    .allowed_publishers()
                    .map(|p| p.signing_profile_version_arns() == [profile.to_owned()])
                    .unwrap_or(false)
                    && config
                        .code_signing_policies()
                        .and_then(|p| p.untrusted_artifact_on_deployment())
                        == Some(&aws_sdk_lambda::types::CodeSigningPolicy::Enforce);
                let action = if same {
                    Action::Unchanged
                } else {
                    Action::Update
                };
                return Ok((Some(config.code_signing_config_arn().to_owned()), action));
            }
        }
        match page.next_marker() {
            Some(next) if Some(next) != marker.as_deref() => marker = Some(next.to_owned()),
            _ => return Ok((None, Action::Create)),
        }
    }
}

/// Creates or updates the configuration; its ARN.
async fn put_code_signing(
    clients: &Clients,
    target: &Target,
    profile: &str,
    found: Option<String>,
    action: Action,
) -> Result<String, Error> {
    use aws_sdk_lambda::types::{AllowedPublishers, CodeSigningPolicies, CodeSigningPolicy};
    let publishers = AllowedPublishers::builder()
        .signing_profile_version_arns(profile)
        .build()
        .map_err(|e| Error::Usage {
            message: format!("--signing-profile {profile:?}: {e}"),
            help: "pass an AWS Signer profile version ARN".into(),
        })?;
    let policies = CodeSigningPolicies::builder()
        .untrusted_artifact_on_deployment(CodeSigningPolicy::Enforce)
        .build();
    match (found, action) {
        (Some(arn), Action::Unchanged) => Ok(arn),
        (Some(arn), _) => {
            clients
                .lambda
                .update_code_signing_config()
                .code_signing_config_arn(&arn)
                .allowed_publishers(publishers)
                .code_signing_policies(policies)
                .send()
                .await
                .map_err(|e| clients.err("lambda", "UpdateCodeSigningConfig", e))?;
            Ok(arn)
        }
        (None, _) => {
            let made = clients
                .lambda
                .create_code_signing_config()
                .description(code_signing_description(target))
                .allowed_publishers(publishers)
                .code_signing_policies(policies)
                .send()
                .await
                .map_err(|e| clients.err("lambda", "CreateCodeSigningConfig", e))?;
            Ok(made
                .code_signing_config()
                .map(|c| c.code_signing_config_arn().to_owned())
                .unwrap_or_default())
        }
    }
}

/// What `up` found of the bootstrap.
#[derive(Debug, Default)]
pub struct Found {
    /// The missing parts, by name (empty when done).
    pub missing: Vec<String>,
    /// The boundary is there but is not what this deployer writes (an older bootstrap: a
    /// boundary made before the API's functions existed lets them write no log).
    pub stale_boundary: Option<String>,
    /// This role may not read the boundary's version (its policy was printed by an older
    /// deployer): not known to be current.
    pub unread_boundary: Option<String>,
}

/// What of the bootstrap is there for `up`. Reads only: HeadBucket, GetPolicy and
/// GetPolicyVersion, which every deploying role may call; with `strict`, a refused
/// GetPolicyVersion is the error, else the boundary is reported unread.
pub async fn missing(clients: &Clients, target: &Target, strict: bool) -> Result<Found, Error> {
    let bucket = target.bucket();
    let arn = target.boundary_arn(target.kind);
    let want = policy::boundary_document(&target.scope(), target.kind);
    let (there, boundary) = tokio::join!(
        artifacts::bucket_there(clients, &bucket, &target.account),
        boundary_state(clients, &arn, &want),
    );
    let mut found = Found::default();
    if !there? {
        found.missing.push(format!("the artifacts bucket {bucket}"));
    }
    match boundary {
        Ok(Boundary::Missing) => found
            .missing
            .push(format!("the permissions boundary {arn}")),
        Ok(Boundary::Differs) => found.stale_boundary = Some(arn),
        Ok(Boundary::Same) => {}
        // A role whose policy predates the GetPolicyVersion read cannot tell: say so, and go
        // on (unless `strict`).
        Err(Error::Aws(e))
            if !strict && e.is(ErrorKind::AccessDenied) && e.operation == "GetPolicyVersion" =>
        {
            found.unread_boundary = Some(arn)
        }
        Err(e) => return Err(e),
    }
    Ok(found)
}

/// The error `up` stops with when `missing` found something.
pub fn not_bootstrapped(target: &Target, missing: Vec<String>) -> Error {
    Error::NotBootstrapped {
        project: target.project.clone(),
        region: target.region.clone(),
        missing,
        help: format!(
            "an admin of account {} runs `deployer bootstrap --region {}` once with these inputs (it prints its plan with --dry-run); the CI roles cannot make these themselves, by design",
            target.account, target.region
        ),
    }
}

/// Makes or updates the bucket and the two boundaries (or, with `dry_run`, says what it
/// would do).
pub async fn bootstrap(
    clients: &Clients,
    target: &Target,
    options: &Options,
) -> Result<Report, Error> {
    let scope = target.scope();
    let bucket = target.bucket();
    let kinds = [Kind::Base, Kind::Copies];
    let wanted: Vec<(Kind, String, serde_json::Value)> = kinds
        .iter()
        .map(|k| {
            (
                *k,
                target.boundary_arn(*k),
                policy::boundary_document(&scope, *k),
            )
        })
        .collect();
    let (there, existing, states) = look(clients, target, &wanted).await?;
    let bucket_policy = policy::bucket_policy(
        crate::aws::partition(&target.region),
        &bucket,
        &target.project,
        options.publisher.as_deref(),
        existing.as_ref(),
    );
    let mut steps = vec![bucket_step(
        target,
        options,
        there,
        existing.as_ref() == Some(&bucket_policy),
    )];
    steps.extend(boundary_steps(&wanted, &states));
    let mut report = Report {
        account: target.account.clone(),
        region: target.region.clone(),
        project: target.project.clone(),
        dry_run: options.dry_run,
        steps,
    };
    let signing = match &options.signing_profile {
        Some(profile) => Some((profile, code_signing_state(clients, target, profile).await?)),
        None => None,
    };
    if let Some((profile, (found, action))) = &signing {
        report.steps.push(Step {
            what: "code signing configuration".into(),
            name: found.clone().unwrap_or_else(|| "(new)".into()),
            action: *action,
            detail: format!("Lambda refuses a zip that {profile} did not sign (Enforce); set its ARN as trigger.codeSigningConfigArn"),
        });
    }
    if options.dry_run {
        return Ok(report);
    }
    if !there {
        artifacts::create_bucket(clients, &bucket, &target.account).await?;
    }
    let policy = bucket_policy.to_string();
    artifacts::configure_bucket(clients, &bucket, &target.account, &policy).await?;
    for ((kind, arn, want), state) in wanted.iter().zip(states) {
        put_boundary(clients, target, *kind, arn, want, state).await?;
    }
    if let Some((profile, (found, action))) = signing {
        let arn = put_code_signing(clients, target, profile, found, action).await?;
        if let Some(step) = report.steps.last_mut() {
            step.name = arn;
        }
    }
    Ok(report)
}

/// Whether the bucket is there, its policy if so, and each boundary's state.
async fn look(
    clients: &Clients,
    target: &Target,
    wanted: &[(Kind, String, serde_json::Value)],
) -> Result<(bool, Option<serde_json::Value>, Vec<Boundary>), Error> {
    let bucket = target.bucket();
    let (there, existing, states) = tokio::join!(
        artifacts::bucket_there(clients, &bucket, &target.account),
        artifacts::bucket_policy(clients, &bucket, &target.account),
        futures::future::try_join_all(
            wanted
                .iter()
                .map(|(_, arn, want)| boundary_state(clients, arn, want))
        ),
    );
    let (there, states) = (there?, states?);
    let existing = if there { existing? } else { None };
    Ok((there, existing, states))
}

/// What bootstrap does to the artifacts bucket: make it, or bring its policy to `want`
/// (`same`: it is there already).
fn bucket_step(target: &Target, options: &Options, there: bool, same: bool) -> Step {
    Step {
        what: "artifacts bucket".into(),
        name: format!("s3://{}", target.bucket()),
        action: match (there, same) {
            (false, _) => Action::Create,
            (true, true) => Action::Unchanged,
            (true, false) => Action::Update,
        },
        detail: format!(
            "private, encrypted, TLS only; shared builds written once, never replaced or deleted{}; artifacts no stack runs any more (neither current nor previous) expire after {} days, shared builds after {} days; other projects' statements kept",
            match &options.publisher {
                Some(p) => format!(", and under _builds/{}/ only by {p}", target.project),
                None => String::new(),
            },
            artifacts::EXPIRE_DAYS,
            artifacts::BUILDS_EXPIRE_DAYS
        ),
    }
}

/// What bootstrap does to each of the two boundaries, from their state.
fn boundary_steps(wanted: &[(Kind, String, serde_json::Value)], states: &[Boundary]) -> Vec<Step> {
    wanted
        .iter()
        .zip(states)
        .map(|((kind, arn, _), state)| Step {
            what: match kind {
                Kind::Base => "permissions boundary (base stack)".into(),
                Kind::Copies => "permissions boundary (ephemeral copies)".into(),
            },
            name: arn.clone(),
            action: match state {
                Boundary::Missing => Action::Create,
                Boundary::Same => Action::Unchanged,
                Boundary::Differs => Action::Update,
            },
            detail: "the most a role of these stacks may do: dynamodb:GetItem on their table and log writes to their function's log group, from inside that function only".into(),
        })
        .collect()
}

/// Makes the boundary, or a new version of it when it differs.
async fn put_boundary(
    clients: &Clients,
    target: &Target,
    kind: Kind,
    arn: &str,
    want: &serde_json::Value,
    state: Boundary,
) -> Result<(), Error> {
    let document = want.to_string();
    let state = match state {
        Boundary::Missing => {
            let created = clients
                .iam
                .create_policy(
                    &policy::boundary_name(&target.project, &target.region, kind),
                    policy::BOUNDARY_PATH,
                    &document,
                    &format!(
                        "Bounds the roles of the deployer's stacks {} in {}",
                        target.project, target.region
                    ),
                )
                .await
                .map_err(|e| clients.err("iam", "CreatePolicy", e));
            match created {
                Ok(()) => Boundary::Same,
                // Another bootstrap (or a parallel local `up`) made it first: look again.
                Err(err) if err.is(ErrorKind::AlreadyExists) => {
                    boundary_state(clients, arn, want).await?
                }
                Err(err) => return Err(err.into()),
            }
        }
        other => other,
    };
    if let Boundary::Differs = state {
        update_boundary(clients, arn, &document).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_line_says_which_artifacts_expire_and_when() {
        let target = Target {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            project: "app".into(),
            table: None,
            kind: Kind::Base,
        };
        let step = bucket_step(&target, &Options::default(), false, false);
        assert_eq!(step.action, Action::Create);
        assert!(
            step.detail.contains(&format!(
                "artifacts no stack runs any more (neither current nor previous) expire after {} days, shared builds after {} days",
                artifacts::EXPIRE_DAYS,
                artifacts::BUILDS_EXPIRE_DAYS
            )),
            "{}",
            step.detail
        );
    }
}
