//! `status`: the stack's state, last update, event version, fingerprint and artifact, and
//! whether what runs is still what was deployed: CloudFormation's drift detection on the
//! stack's resources, plus the deployer's own wiring checks, which see what drift detection
//! does not (the pool's trigger and event version, the function's code against the artifact,
//! the invoke permission, the role's policy). In sync: exit 0; drifted: exit 4.

use crate::aws::{cfn, Clients};
use crate::duration::rfc3339_millis as rfc3339;
use crate::error::Error;
use crate::progress::Poll;
use crate::stack::output;
use crate::wiring::{self, Check};
use aws_sdk_cloudformation::types::{
    StackDriftDetectionStatus, StackResourceDrift, StackResourceDriftStatus,
};
use serde::Serialize;
use std::fmt;
use std::time::{Duration, Instant, SystemTime};

/// How long drift detection may take before `status` gives up on it.
const DETECTION_TIMEOUT: Duration = Duration::from_secs(300);

/// One property that differs, as drift detection reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDifference {
    pub path: String,
    /// `ADD`, `REMOVE` or `NOT_EQUAL`.
    pub kind: String,
    pub expected: String,
    pub actual: String,
}

/// A resource that is not what the template says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDrift {
    pub logical_id: String,
    pub physical_id: String,
    pub resource_type: String,
    /// `MODIFIED` or `DELETED`.
    pub status: String,
    pub differences: Vec<PropertyDifference>,
}

/// What drift detection found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    /// `IN_SYNC`, `DRIFTED`, `UNKNOWN` (detection failed or was not run).
    pub status: String,
    pub resources: Vec<ResourceDrift>,
    /// Why detection failed or was not run (e.g. a resource type it does not support).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub stack: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    pub event_version: String,
    pub fingerprint: String,
    pub artifact: String,
    pub drift: Drift,
    pub checks: Vec<Check>,
    /// Nothing drifted and every check passed.
    pub in_sync: bool,
    /// What differs, one line per resource and property or failed check.
    pub differences: Vec<String>,
    /// For an ephemeral copy, when `gc` may delete it (its expiry tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// The stack resource a wiring check looks at: its logical id and the output naming it.
fn checked_resource(check: &str) -> (&'static str, &'static str) {
    match check {
        "trigger wired" => ("UserPool", output::USER_POOL_ID),
        "only this pool invokes the trigger" => ("TriggerPermission", output::FUNCTION_NAME),
        "role is least privilege" => ("TriggerRole", output::FUNCTION_NAME),
        _ => ("TriggerFunction", output::FUNCTION_NAME),
    }
}

/// One line per difference, naming the resource: drift detection's, then the failed checks'.
pub fn differences(
    drift: &Drift,
    checks: &[Check],
    outputs: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for r in &drift.resources {
        lines.push(format!(
            "{} ({}, {}) {}",
            r.logical_id, r.physical_id, r.resource_type, r.status
        ));
        for d in &r.differences {
            lines.push(format!(
                "    {} {}: expected {}, actual {}",
                d.kind, d.path, d.expected, d.actual
            ));
        }
    }
    if let Some(note) = &drift.note {
        lines.push(note.clone());
    }
    for c in checks.iter().filter(|c| !c.ok) {
        let (logical, output) = checked_resource(c.name);
        let physical = outputs.get(output).map(String::as_str).unwrap_or("-");
        lines.push(format!("{logical} ({physical}) {}: {}", c.name, c.detail));
    }
    lines
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::output::rows(
            f,
            &[
                ("stack", self.stack.clone()),
                ("status", self.status.clone()),
                (
                    "last updated",
                    self.last_updated.clone().unwrap_or_else(|| "-".into()),
                ),
                ("event version", self.event_version.clone()),
                ("fingerprint", self.fingerprint.clone()),
                ("artifact", self.artifact.clone()),
                (
                    "drift detection",
                    match &self.drift.note {
                        Some(note) => format!("{} ({note})", self.drift.status),
                        None => self.drift.status.clone(),
                    },
                ),
                (
                    "in sync",
                    if self.in_sync { "yes" } else { "NO: drifted" }.into(),
                ),
            ],
        )?;
        if let Some(at) = &self.expires {
            writeln!(f, "{}", crate::ephemeral::expiry_line(at))?;
        }
        if !self.differences.is_empty() {
            writeln!(f, "\nwhat differs:")?;
            for line in &self.differences {
                writeln!(f, "  {line}")?;
            }
        }
        Ok(())
    }
}

/// Reads drift detection's answer into values.
pub fn resource_drift(d: &StackResourceDrift) -> ResourceDrift {
    ResourceDrift {
        logical_id: d.logical_resource_id.clone().unwrap_or_default(),
        physical_id: d.physical_resource_id.clone().unwrap_or_default(),
        resource_type: d.resource_type.clone().unwrap_or_default(),
        status: d
            .stack_resource_drift_status
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        differences: d
            .property_differences
            .iter()
            .flatten()
            .map(|p| PropertyDifference {
                path: p.property_path.clone().unwrap_or_default(),
                kind: p
                    .difference_type
                    .as_ref()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                expected: p.expected_value.clone().unwrap_or_default(),
                actual: p.actual_value.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

/// Runs drift detection on the stack and waits for its answer.
pub async fn detect(clients: &Clients, stack: &str, poll: Poll) -> Result<Drift, Error> {
    let id = clients
        .cfn
        .detect_stack_drift()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| clients.err("cloudformation", "DetectStackDrift", e))?
        .stack_drift_detection_id
        .unwrap_or_default();
    let (status, note) = detection(clients, &id, poll).await?;
    let resources = drifted_resources(clients, stack).await?;
    Ok(Drift {
        status,
        resources,
        note,
    })
}

/// Waits for the detection to end: the stack's drift status, and a note when it could not
/// finish (then the status is UNKNOWN).
async fn detection(
    clients: &Clients,
    id: &str,
    poll: Poll,
) -> Result<(String, Option<String>), Error> {
    let started = Instant::now();
    let mut wait = poll.first;
    Ok(loop {
        let out = clients
            .cfn
            .describe_stack_drift_detection_status()
            .stack_drift_detection_id(id)
            .send()
            .await
            .map_err(|e| clients.err("cloudformation", "DescribeStackDriftDetectionStatus", e))?;
        match out.detection_status {
            Some(StackDriftDetectionStatus::DetectionInProgress) => {}
            Some(StackDriftDetectionStatus::DetectionFailed) => {
                // Detection stops at resources it cannot check, and still reports the others.
                break (
                    "UNKNOWN".to_owned(),
                    Some(format!(
                        "drift detection failed: {}",
                        out.detection_status_reason.unwrap_or_default()
                    )),
                );
            }
            _ => {
                break (
                    out.stack_drift_status
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_else(|| "UNKNOWN".into()),
                    None,
                )
            }
        }
        if started.elapsed() > DETECTION_TIMEOUT {
            break (
                "UNKNOWN".to_owned(),
                Some(format!(
                    "drift detection {id} did not finish in {} s",
                    DETECTION_TIMEOUT.as_secs()
                )),
            );
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(poll.ceiling);
    })
}

/// The resources that were changed or deleted outside the stack.
async fn drifted_resources(clients: &Clients, stack: &str) -> Result<Vec<ResourceDrift>, Error> {
    let mut resources = Vec::new();
    let mut token = None;
    loop {
        let out = clients
            .cfn
            .describe_stack_resource_drifts()
            .stack_name(stack)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
            .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| clients.err("cloudformation", "DescribeStackResourceDrifts", e))?;
        resources.extend(
            out.stack_resource_drifts
                .iter()
                .flatten()
                .map(resource_drift),
        );
        token = out.next_token;
        if token.is_none() {
            break;
        }
    }
    Ok(resources)
}

/// The zip's SHA-256 from its key (`<stack>/trigger-<sha256>.zip`).
pub fn artifact_sha256(key: &str) -> Option<&str> {
    artifact_sha256_of(key, "trigger")
}

/// The SHA-256 in the key of one of a stack's zips, by function (`authorizer-<sha>.zip`).
pub fn artifact_sha256_of<'a>(key: &'a str, function: &str) -> Option<&'a str> {
    key.rsplit('/')
        .next()?
        .strip_prefix(function)?
        .strip_prefix('-')?
        .strip_suffix(".zip")
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `status`.
pub async fn status(clients: &Clients, stack: &str, poll: Poll) -> Result<StatusReport, Error> {
    let Some(found) = cfn::describe(clients, stack).await? else {
        return Err(Error::NotDeployed {
            stack: stack.into(),
            region: clients.region.clone(),
        });
    };
    crate::identity::refs::refuse_foreign(&found)?;
    let artifact = found
        .parameters
        .get("ArtifactKey")
        .cloned()
        .unwrap_or_default();
    let event_version = found
        .outputs
        .get("EventVersion")
        .cloned()
        .unwrap_or_default();
    let drift = if found.in_progress() {
        Drift {
            status: "UNKNOWN".into(),
            resources: Vec::new(),
            note: Some(format!("not run: the stack is {}", found.status.as_str())),
        }
    } else {
        detect(clients, stack, poll).await?
    };
    let checks = if found.outputs.is_empty() {
        Vec::new()
    } else {
        wiring::verify(
            clients,
            &found.outputs,
            wiring::Expected {
                event_version: &event_version,
                code_sha256: artifact_sha256(&artifact),
                project: found.project(),
                kind: found.kind(),
                authorizer_sha256: found
                    .parameters
                    .get(crate::stack::AUTHORIZER_KEY)
                    .and_then(|k| artifact_sha256_of(k, "authorizer")),
            },
        )
        .await?
    };
    // A detection that did not finish vouches for nothing: not in sync, with the reason.
    let in_sync =
        drift.resources.is_empty() && drift.status != "UNKNOWN" && checks.iter().all(|c| c.ok);
    let differences = differences(&drift, &checks, &found.outputs);
    Ok(StatusReport {
        differences,
        expires: crate::ephemeral::expiry(&found.tags),
        stack: found.name.clone(),
        status: found.status.as_str().to_owned(),
        last_updated: found.updated.or(found.created).map(|t| {
            rfc3339(
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64),
            )
        }),
        event_version,
        fingerprint: found
            .outputs
            .get(crate::stack::FINGERPRINT_OUTPUT)
            .cloned()
            .unwrap_or_default(),
        artifact,
        drift,
        checks,
        in_sync,
    })
}

/// `deployer status`: exit 4 when the stack is not in sync with its template.
pub async fn run(
    s: &super::session::Session<'_>,
    args: &crate::cli::StatusArgs,
) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let clients = s.clients(&inputs).await?;
    if args.sizes {
        let who = super::preview::Who::from(&args.who);
        s.print(&super::preview::claims(&clients, &inputs, &who, true).await?);
        return Ok(crate::error::exit::SUCCESS);
    }
    let report = status(&clients, &inputs.stack_name, s.settings.poll).await?;
    s.print(&report);
    Ok(if report.in_sync {
        crate::error::exit::SUCCESS
    } else {
        crate::error::exit::VERIFY_FAILED
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifacts_sha256_comes_from_its_key() {
        let sha = "a".repeat(64);
        assert_eq!(
            artifact_sha256(&format!("app/trigger-{sha}.zip")),
            Some(sha.as_str())
        );
        assert_eq!(artifact_sha256("app/trigger-abc.zip"), None);
        assert_eq!(artifact_sha256(""), None);
    }
}
