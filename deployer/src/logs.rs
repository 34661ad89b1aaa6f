//! `logs`: the trigger's login lines from its log group (CloudWatch Logs), newest last: one
//! line per login with its outcome, event version, source, principal, the claims the row gave
//! and the lookup and total times, with the warnings the trigger logged for that login.
//! The same calls on AWS and on the local emulator (which captures the function's output).

use crate::aws::{Clients, ErrorKind};
use crate::error::Error;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Which lines to show.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A user's logins (the pool's user names are compared without letter case).
    pub user: Option<String>,
    /// A machine client's token requests, by client id.
    pub client: Option<String>,
    /// An outcome (`enriched`, `no_row`, `stale_row`, ...); `denied` matches every denial.
    pub outcome: Option<String>,
}

impl Filter {
    pub fn keeps(&self, line: &LoginLine) -> bool {
        let principal = |kind: &str, want: &str| {
            line.principal.as_deref() == Some(kind)
                && line
                    .key
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case(want))
        };
        self.user.as_deref().is_none_or(|u| principal("user", u))
            && self
                .client
                .as_deref()
                .is_none_or(|c| principal("client", c))
            && self.outcome.as_deref().is_none_or(|o| {
                line.outcome == o || (o == "denied" && line.outcome.starts_with("denied"))
            })
    }
}

/// One login, as the trigger logged it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginLine {
    /// When the trigger wrote it (RFC 3339, UTC).
    pub time: String,
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `user` or `client`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The user name or client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Names of the claims the row gave (values are never logged).
    pub claims: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<f64>,
    /// Why a login was denied or malformed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// What the trigger warned about during this login (claims left out, a stale row, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl fmt::Display for LoginLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let source = self
            .source
            .as_deref()
            .map(|s| s.trim_start_matches("TokenGeneration_").to_owned());
        write!(
            f,
            "{}  {:<22} {} {:<20} {} {}",
            self.time,
            self.outcome,
            or_dash(&self.version),
            or_dash(&source),
            or_dash(&self.principal),
            or_dash(&self.key),
        )?;
        if !self.claims.is_empty() {
            write!(f, "  claims: {}", self.claims.join(", "))?;
        }
        if let (Some(l), Some(t)) = (self.lookup_ms, self.total_ms) {
            write!(f, "  lookup {l:.1} ms, total {t:.1} ms")?;
        } else if let Some(l) = self.lookup_ms {
            write!(f, "  lookup {l:.1} ms")?;
        }
        if let Some(cause) = &self.cause {
            write!(f, "  cause: {cause}")?;
        }
        for note in &self.notes {
            write!(f, "\n    ! {note}")?;
        }
        Ok(())
    }
}

/// One log event as CloudWatch Logs returns it.
#[derive(Debug, Clone)]
pub struct RawEvent {
    pub id: String,
    pub stream: String,
    pub timestamp_ms: i64,
    pub message: String,
}

/// The login lines in `events` (in time order), each with the warnings its invocation logged
/// before it. A sandbox runs one invocation at a time and writes to one stream, so the
/// warnings between two login lines of a stream belong to the second.
pub fn login_lines(events: &[RawEvent]) -> Vec<LoginLine> {
    let mut pending: std::collections::HashMap<&str, Vec<String>> = Default::default();
    let mut lines = Vec::new();
    for event in events {
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(event.message.trim()) else {
            // START/END/REPORT and anything not JSON.
            continue;
        };
        let text = |k: &str| record.get(k).and_then(Value::as_str).map(str::to_owned);
        let message = text("message").unwrap_or_default();
        if message != "login" {
            if matches!(text("level").as_deref(), Some("WARN" | "ERROR")) {
                let mut note = message;
                for (k, v) in &record {
                    if !matches!(k.as_str(), "timestamp" | "level" | "message") {
                        let v = v
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string());
                        note.push_str(&format!(" {k}={v}"));
                    }
                }
                pending.entry(&event.stream).or_default().push(note);
            }
            continue;
        }
        let us = |k: &str| {
            record
                .get(k)
                .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
                .map(|v| v / 1000.0)
        };
        // tracing writes the list in its Debug form, which for names is JSON's.
        let claims = match record.get("claims") {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_default(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        lines.push(LoginLine {
            time: text("timestamp")
                .unwrap_or_else(|| crate::duration::rfc3339_millis(event.timestamp_ms)),
            outcome: text("outcome").unwrap_or_else(|| "unknown".into()),
            version: text("version"),
            source: text("source"),
            principal: text("principal"),
            key: text("key"),
            claims,
            lookup_ms: us("lookup_us"),
            total_ms: us("total_us"),
            cause: text("cause").or_else(|| text("error")),
            notes: pending.remove(event.stream.as_str()).unwrap_or_default(),
        });
    }
    lines
}

/// The trigger's log group (the template names it after the function).
pub fn log_group(function: &str) -> String {
    format!("/aws/lambda/{function}")
}

/// Every event of `group` from `start_ms` on, in time order; none when the group does not
/// exist yet (the trigger has not run since the stack was made).
pub async fn fetch(clients: &Clients, group: &str, start_ms: i64) -> Result<Vec<RawEvent>, Error> {
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let out = match clients
            .logs
            .filter_log_events(group, start_ms, token.as_deref())
            .await
        {
            Ok(out) => out,
            Err(err) => {
                let err = clients.err("logs", "FilterLogEvents", err);
                if err.is(ErrorKind::NotFound) {
                    return Ok(Vec::new());
                }
                return Err(err.into());
            }
        };
        events.extend(out.events.into_iter().map(|e| RawEvent {
            id: e.event_id,
            stream: e.log_stream_name,
            timestamp_ms: e.timestamp,
            message: e.message,
        }));
        // A token that does not move would page forever (the SDK's paginators stop there too).
        let next = out
            .next_token
            .filter(|t| !t.is_empty() && Some(t) != token.as_ref());
        token = next;
        if token.is_none() {
            break;
        }
    }
    events.sort_by_key(|e| e.timestamp_ms);
    Ok(events)
}

/// Milliseconds since the epoch, `ago` before now.
pub fn since_ms(ago: Duration) -> i64 {
    SystemTime::now()
        .checked_sub(ago)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64)
}

/// The login lines of `group` since `start_ms` that `filter` keeps.
pub async fn logins(
    clients: &Clients,
    group: &str,
    start_ms: i64,
    filter: &Filter,
) -> Result<Vec<LoginLine>, Error> {
    let events = fetch(clients, group, start_ms).await?;
    Ok(login_lines(&events)
        .into_iter()
        .filter(|l| filter.keeps(l))
        .collect())
}

/// `logs --follow`: prints the lines as they come, polling every `every`, until Ctrl-C
/// (which the process-wide handler turns into exit 130). Events are told apart by id, so a
/// line is printed once however the polls overlap.
pub async fn follow(
    clients: &Clients,
    group: &str,
    start_ms: i64,
    filter: &Filter,
    every: Duration,
    mut print: impl FnMut(&LoginLine),
) -> Result<(), Error> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut from = start_ms;
    loop {
        let events = fetch(clients, group, from).await?;
        let fresh: Vec<RawEvent> = events
            .into_iter()
            .filter(|e| !seen.contains(&e.id))
            .collect();
        for line in login_lines(&fresh).iter().filter(|l| filter.keeps(l)) {
            print(line);
        }
        if let Some(last) = fresh.iter().map(|e| e.timestamp_ms).max() {
            // Keep the ids of the newest millisecond only: the next poll starts there.
            from = last;
            seen.clear();
            seen.extend(
                fresh
                    .iter()
                    .filter(|e| e.timestamp_ms == last)
                    .map(|e| e.id.clone()),
            );
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stream: &str, ms: i64, message: &str) -> RawEvent {
        RawEvent {
            id: format!("{stream}-{ms}"),
            stream: stream.into(),
            timestamp_ms: ms,
            message: message.into(),
        }
    }

    #[test]
    fn login_lines_carry_their_invocations_warnings_and_skip_the_runtimes_lines() {
        let events = [
            event("a", 1, "START RequestId: r1 Version: $LATEST"),
            event(
                "a",
                2,
                r#"{"timestamp":"2026-11-24T02:56:31.568Z","level":"WARN","message":"the row belongs to another user of this name (its sub differs); issuing tokens without the custom claims","key":"jane"}"#,
            ),
            event(
                "b",
                3,
                r#"{"timestamp":"2026-11-24T02:56:31.600Z","level":"INFO","message":"login","outcome":"enriched","version":"V2_0","source":"TokenGeneration_Authentication","principal":"user","key":"bob","claims":"[\"projects\", \"tenant\"]","lookup_us":7535,"total_us":7920}"#,
            ),
            event(
                "a",
                4,
                r#"{"timestamp":"2026-11-24T02:56:31.700Z","level":"INFO","message":"login","outcome":"stale_row","version":"V2_0","source":"TokenGeneration_Authentication","principal":"user","key":"jane","claims":"[]","lookup_us":1000,"total_us":1500}"#,
            ),
            event("a", 5, "REPORT RequestId: r1\tDuration: 8 ms"),
            event(
                "c",
                6,
                r#"{"timestamp":"2026-11-24T02:56:32.000Z","level":"ERROR","message":"login","outcome":"denied_no_row","version":"V3_0","source":"TokenGeneration_ClientCredentials","principal":"client","key":"c1","lookup_us":900,"cause":"no row in t"}"#,
            ),
        ];
        let lines = login_lines(&events);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].key.as_deref(), Some("bob"));
        assert_eq!(lines[0].claims, ["projects", "tenant"]);
        assert!(lines[0].notes.is_empty(), "another stream's warning");
        assert_eq!(lines[1].outcome, "stale_row");
        assert_eq!(lines[1].notes.len(), 1);
        assert!(lines[1].notes[0].contains("key=jane"));
        assert_eq!(lines[1].lookup_ms, Some(1.0));
        assert_eq!(lines[1].total_ms, Some(1.5));
        assert_eq!(lines[2].cause.as_deref(), Some("no row in t"));

        let keeps = |f: Filter| -> Vec<String> {
            lines
                .iter()
                .filter(|l| f.keeps(l))
                .map(|l| l.key.clone().unwrap())
                .collect()
        };
        assert_eq!(keeps(Filter::default()), ["bob", "jane", "c1"]);
        let user = |u: &str| Filter {
            user: Some(u.into()),
            ..Filter::default()
        };
        assert_eq!(keeps(user("JANE")), ["jane"], "pool names ignore case");
        assert_eq!(
            keeps(Filter {
                client: Some("c1".into()),
                ..Filter::default()
            }),
            ["c1"]
        );
        assert!(keeps(user("c1")).is_empty(), "a client is not a user");
        assert_eq!(
            keeps(Filter {
                outcome: Some("denied".into()),
                ..Filter::default()
            }),
            ["c1"]
        );
        assert_eq!(
            keeps(Filter {
                outcome: Some("enriched".into()),
                ..Filter::default()
            }),
            ["bob"]
        );
        let shown = lines[1].to_string();
        assert!(
            shown.contains("stale_row")
                && shown.contains("user jane")
                && shown.contains("! the row belongs"),
            "{shown}"
        );
    }

    #[test]
    fn event_times_print_as_rfc3339() {
        assert_eq!(
            crate::duration::rfc3339_millis(0),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            crate::duration::rfc3339_millis(1_795_488_885_003),
            "2026-11-24T02:54:45.003Z"
        );
        assert_eq!(
            crate::duration::rfc3339_millis(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
    }
}

/// One of the API authorizer's decision lines (one JSON line per call).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct DecisionLine {
    #[serde(default)]
    pub time: String,
    pub decision: String,
    #[serde(default)]
    pub principal: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub micros: u64,
}

impl fmt::Display for DecisionLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = if self.principal.is_empty() {
            "(no principal)"
        } else {
            &self.principal
        };
        write!(
            f,
            "{} {:5} {who} {} {} ({} µs)",
            self.time, self.decision, self.action, self.resource, self.micros
        )?;
        if !self.policies.is_empty() {
            write!(f, " by {}", self.policies.join(", "))?;
        }
        for error in &self.errors {
            // Errors can quote what a caller sent: no control characters to the terminal.
            let error: String = error.chars().filter(|c| !c.is_control()).collect();
            write!(f, "\n    ! {error}")?;
        }
        Ok(())
    }
}

/// The authorizer's decision lines in `events`, in time order.
pub fn decision_lines(events: &[RawEvent]) -> Vec<DecisionLine> {
    events
        .iter()
        .filter_map(|e| {
            let mut line: DecisionLine = serde_json::from_str(e.message.trim()).ok()?;
            line.time = crate::duration::rfc3339_millis(e.timestamp_ms);
            Some(line)
        })
        .collect()
}
