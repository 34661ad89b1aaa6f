//! One login: classify the event, read the row, build the answer, log one line.

use crate::claims::{self, EventError};
use crate::config::{Policy, TriggerConfig};
use crate::event::PreTokenEvent;
use crate::outcome;
use crate::store::{PrincipalStore, StoreError};
use serde::Deserialize;
use serde_json::Value;
use std::time::Instant;

/// Why a login gets no tokens. The `Display` text reaches the user through Cognito
/// ("PreTokenGeneration failed with error ..."), so denials stay generic; the cause is logged.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("malformed pre-token-generation event: {0}")]
    Malformed(String),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("sign-in is not available for this account right now")]
    Denied,
}

impl TriggerError {
    /// A stable name for the Lambda error type.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Malformed(_) | Self::Event(_) => "MalformedEvent",
            Self::Denied => "LoginDenied",
        }
    }
}

/// Answers one event: the same event back, with `response` filled for its version.
pub async fn handle<S: PrincipalStore>(
    store: &S,
    config: &TriggerConfig,
    mut raw: Value,
) -> Result<Value, TriggerError> {
    let started = Instant::now();
    // Read in place: no copy of the event on the login path.
    let event = match PreTokenEvent::deserialize(&raw) {
        Ok(event) => event,
        Err(err) => {
            tracing::error!(outcome = outcome::MALFORMED, error = %err, "login");
            return Err(TriggerError::Malformed(err.to_string()));
        }
    };
    // Another app client's tokens are Cognito's alone: answered as they came, whatever the
    // event holds.
    if !claims::serves_client(&event, &config.clients) {
        tracing::info!(
            outcome = outcome::OTHER_CLIENT,
            source = %event.trigger_source,
            total_us = started.elapsed().as_micros() as u64,
            "login"
        );
        return Ok(raw);
    }
    let key_attribute = config.user_key_attribute.as_deref();
    let classified = claims::classify_keyed(&event, key_attribute).inspect_err(|err| {
        tracing::error!(outcome = outcome::MALFORMED, source = %event.trigger_source, error = %err, "login");
    })?;
    let principal = &classified.principal;
    let log_denied = |outcome: &str, cause: &dyn std::fmt::Display, lookup_us: u64| {
        tracing::error!(
            outcome,
            version = classified.version.as_str(),
            source = %event.trigger_source,
            principal = principal.kind(),
            key = principal.key(),
            lookup_us,
            cause = %cause,
            "login"
        );
    };

    let lookup_started = Instant::now();
    // A user without the attribute that keys the rows has no row to read.
    let found = match principal.key() {
        "" => Ok(None),
        key => store.get(key).await,
    };
    let lookup_us = lookup_started.elapsed().as_micros() as u64;
    let stale = |row: &claims::Row| {
        matches!(principal, claims::Principal::User(_))
            && claims::binding(&event, row) == claims::Binding::Stale
    };
    let (row, outcome) = match found {
        // The row of an earlier user of this name: not this user's claims.
        Ok(Some(row)) if stale(&row) => {
            if config.on_missing_row == Policy::Deny {
                log_denied(
                    outcome::DENIED_STALE_ROW,
                    &"the row belongs to another user of this name (its sub differs)",
                    lookup_us,
                );
                return Err(TriggerError::Denied);
            }
            tracing::warn!(
                key = principal.key(),
                "the row belongs to another user of this name (its sub differs); issuing tokens without the custom claims"
            );
            (None, outcome::STALE_ROW)
        }
        Ok(Some(row)) => (Some(row), outcome::ENRICHED),
        Ok(None) if config.on_missing_row == Policy::Deny => {
            log_denied(
                outcome::DENIED_NO_ROW,
                &format_args!("no row in {}", config.table),
                lookup_us,
            );
            return Err(TriggerError::Denied);
        }
        Ok(None) => (None, outcome::NO_ROW),
        Err(err) if config.on_lookup_error == Policy::Deny => {
            log_denied(deny_outcome(&err), &err, lookup_us);
            return Err(TriggerError::Denied);
        }
        Err(err) => {
            tracing::warn!(cause = %err, "lookup failed; issuing tokens without the custom claims (onLookupError: issue)");
            (None, outcome::LOOKUP_FAILED_ISSUED)
        }
    };

    let built = claims::build(&classified, &event, row.as_ref(), config);
    for skipped in &built.skipped {
        tracing::warn!(attribute = %skipped.attribute, expected = ?skipped.expected, "attribute left out: its value cannot take the configured type");
    }
    for o in &built.oversized {
        tracing::warn!(claim = %o.claim, token = o.token, bytes = o.bytes, budget = o.budget, "claim left out: over the size budget");
    }
    if !built.dropped_groups.is_empty() {
        tracing::warn!(groups = ?built.dropped_groups, "groups left out: not Cognito group names");
    }
    if !built.dropped_scopes.is_empty() {
        tracing::warn!(scopes = ?built.dropped_scopes, "scopes left out: not OAuth scope tokens");
    }
    raw["response"] = serde_json::to_value(&built.response)
        .map_err(|e| TriggerError::Malformed(e.to_string()))?;
    tracing::info!(
        outcome,
        version = classified.version.as_str(),
        source = %event.trigger_source,
        principal = principal.kind(),
        key = principal.key(),
        claims = ?built.added,
        lookup_us,
        total_us = started.elapsed().as_micros() as u64,
        "login"
    );
    Ok(raw)
}

fn deny_outcome(err: &StoreError) -> &'static str {
    match err {
        StoreError::Timeout { .. } => outcome::DENIED_TIMEOUT,
        StoreError::Throttled { .. } => outcome::DENIED_THROTTLED,
        _ => outcome::DENIED_LOOKUP_ERROR,
    }
}
