//! `users import FILE`: CSV or JSON lines; bad lines reported by number, the rest imported.

use super::refs::StackRefs;
use super::rows::to_attribute;
use super::secret::Secret;
use super::users;
use crate::aws::{AwsError, Clients};
use crate::error::Error;
use crate::progress::Progress;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// One user to import.
#[derive(Debug, Clone)]
pub struct Record {
    pub line: usize,
    pub user: String,
    pub email: Option<String>,
    pub password: Option<Secret>,
    pub row: HashMap<String, AttributeValue>,
}

/// A line that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadLine {
    pub line: usize,
    pub reason: String,
}

/// Parses a CSV file (a header row with `username`, optional `email` and `password`, and one
/// column per row attribute, as strings) or JSON lines (one object per line: the same keys,
/// attribute values keeping their JSON types). Pure: `partition_key` may not be a column.
pub fn parse(text: &str, name: &str, partition_key: &str) -> (Vec<Record>, Vec<BadLine>) {
    let jsonl =
        name.ends_with(".jsonl") || name.ends_with(".ndjson") || text.trim_start().starts_with('{');
    let mut records = Vec::new();
    let mut bad = Vec::new();
    let mut seen = HashMap::new();
    let mut accept = |line: usize, fields: Map<String, Value>, bad: &mut Vec<BadLine>| match record(
        line,
        fields,
        partition_key,
    ) {
        Ok(r) => {
            if let Some(first) = seen.insert(r.user.clone(), line) {
                bad.push(BadLine {
                    line,
                    reason: format!("user {} already appears on line {first}", r.user),
                });
            } else {
                records.push(r);
            }
        }
        Err(reason) => bad.push(BadLine { line, reason }),
    };
    if jsonl {
        for (i, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(raw) {
                Ok(Value::Object(map)) => accept(i + 1, map, &mut bad),
                Ok(_) => bad.push(BadLine {
                    line: i + 1,
                    reason: "not a JSON object".into(),
                }),
                Err(e) => bad.push(BadLine {
                    line: i + 1,
                    reason: format!("not JSON: {e}"),
                }),
            }
        }
    } else {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => {
                return (
                    Vec::new(),
                    vec![BadLine {
                        line: 1,
                        reason: format!("unreadable header: {e}"),
                    }],
                )
            }
        };
        if !headers.iter().any(|h| h == "username") {
            return (
                Vec::new(),
                vec![BadLine {
                    line: 1,
                    reason: "the header has no `username` column".into(),
                }],
            );
        }
        for result in reader.records() {
            match result {
                Ok(rec) => {
                    let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
                    let fields = headers
                        .iter()
                        .zip(rec.iter())
                        .filter(|(_, v)| !v.is_empty())
                        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                        .collect();
                    accept(line, fields, &mut bad);
                }
                Err(e) => {
                    let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                    bad.push(BadLine {
                        line,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
    (records, bad)
}

fn record(
    line: usize,
    mut fields: Map<String, Value>,
    partition_key: &str,
) -> Result<Record, String> {
    let user = match fields.remove("username") {
        Some(Value::String(u)) if !u.trim().is_empty() => u.trim().to_owned(),
        Some(other) if !other.is_null() => {
            return Err(format!("username must be a string, not {other}"))
        }
        _ => return Err("no username".into()),
    };
    if user.len() > 128 || user.chars().any(char::is_whitespace) {
        return Err(format!("username {user:?} is not a valid Cognito user name (at most 128 characters, no spaces)"));
    }
    let email = match fields.remove("email") {
        Some(Value::String(e)) if e.contains('@') => Some(e),
        Some(Value::Null) | None => None,
        Some(other) => return Err(format!("email {other} is not an email address")),
    };
    let password = match fields.remove("password") {
        Some(Value::String(p)) => Some(Secret::new(p)),
        Some(Value::Null) | None => None,
        Some(_) => return Err("password must be a string".into()),
    };
    if fields.contains_key(partition_key) {
        return Err(format!(
            "column {partition_key} is the table's key: it is the username"
        ));
    }
    let row = fields
        .iter()
        .map(|(k, v)| (k.clone(), to_attribute(v)))
        .collect();
    Ok(Record {
        line,
        user,
        email,
        password,
        row,
    })
}

/// What `users import` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub rows_written: usize,
    pub bad_lines: Vec<BadLine>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "imported {} user(s): {} created, {} updated; {} row(s) written",
            self.created + self.updated,
            self.created,
            self.updated,
            self.rows_written
        )?;
        for b in &self.bad_lines {
            writeln!(f, "  line {}: {}", b.line, b.reason)?;
        }
        Ok(())
    }
}

/// Imports the good records: pool users (several at a time) and rows (batches of 25).
pub async fn import(
    clients: &Clients,
    refs: &StackRefs,
    records: Vec<Record>,
    mut bad: Vec<BadLine>,
    progress: &Progress,
) -> Result<ImportReport, Error> {
    let bar = progress.counter(records.len() as u64, "importing users");
    let results: Vec<(usize, Result<bool, AwsError>)> = futures::stream::iter(records.iter())
        .map(|r| {
            let bar = bar.clone();
            async move {
                let result = upsert_user(clients, refs, r).await;
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
                (r.line, result)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (mut created, mut updated) = (0, 0);
    let mut failed_lines = Vec::new();
    for (line, result) in results {
        match result {
            Ok(true) => created += 1,
            Ok(false) => updated += 1,
            Err(err) => {
                failed_lines.push(line);
                bad.push(BadLine {
                    line,
                    reason: err.to_string(),
                });
            }
        }
    }
    let rows: Vec<WriteRequest> = records
        .iter()
        .filter(|r| !failed_lines.contains(&r.line))
        .map(|r| {
            let mut item = r.row.clone();
            item.insert(
                refs.partition_key.clone(),
                AttributeValue::S(r.user.clone()),
            );
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("item set"),
                )
                .build()
        })
        .collect();
    let rows_written = rows.len();
    for chunk in rows.chunks(25) {
        let mut pending = chunk.to_vec();
        let mut delay = Duration::from_millis(50);
        while !pending.is_empty() {
            let out = clients
                .dynamodb
                .batch_write_item()
                .request_items(&refs.table, pending)
                .send()
                .await
                .map_err(|e| clients.err("dynamodb", "BatchWriteItem", e))?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&refs.table))
                .unwrap_or_default();
            if !pending.is_empty() {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
        }
    }
    bad.sort_by_key(|b| b.line);
    Ok(ImportReport {
        created,
        updated,
        rows_written,
        bad_lines: bad,
    })
}

/// Creates the user, or updates it when it exists; `true` when created.
async fn upsert_user(clients: &Clients, refs: &StackRefs, r: &Record) -> Result<bool, AwsError> {
    let created =
        users::upsert_pool_user(clients, refs, &r.user, r.email.as_deref(), false).await?;
    if let Some(password) = &r.password {
        users::set_password(clients, refs, &r.user, password).await?;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_become_records_and_bad_lines_are_named() {
        let text = "username,email,projects,role\njane,jane@example.com,\"p-1,p-2\",lead\n,nobody@example.com,p-3,x\nraj,not-an-email,p-4,dev\njane,j2@example.com,p-5,dev\nkim,,p-6,\n";
        let (records, bad) = parse(text, "users.csv", "userName");
        let users: Vec<&str> = records.iter().map(|r| r.user.as_str()).collect();
        assert_eq!(users, ["jane", "kim"]);
        assert_eq!(
            records[0].row["projects"],
            AttributeValue::S("p-1,p-2".into())
        );
        assert_eq!(records[0].email.as_deref(), Some("jane@example.com"));
        assert!(
            !records[1].row.contains_key("role"),
            "empty cells are left out"
        );
        let lines: Vec<(usize, &str)> = bad.iter().map(|b| (b.line, b.reason.as_str())).collect();
        assert_eq!(lines[0], (3, "no username"));
        assert_eq!(lines[1].0, 4);
        assert!(lines[1].1.contains("not an email"));
        assert_eq!(lines[2], (5, "user jane already appears on line 2"));
    }

    #[test]
    fn json_lines_keep_types_and_report_broken_lines() {
        let text = "{\"username\":\"a\",\"level\":3,\"projects\":[\"p-1\"]}\n{oops}\n\n{\"username\":\"b\",\"userName\":\"x\"}\n[1]\n";
        let (records, bad) = parse(text, "users.jsonl", "userName");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].row["level"], AttributeValue::N("3".into()));
        assert_eq!(
            records[0].row["projects"],
            AttributeValue::Ss(vec!["p-1".into()])
        );
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [2, 4, 5]);
        assert!(bad[1].reason.contains("the table's key"));
    }

    #[test]
    fn a_csv_without_a_username_column_is_refused_whole() {
        let (records, bad) = parse("name,email\njane,j@x\n", "u.csv", "userName");
        assert!(records.is_empty());
        assert_eq!(
            bad,
            vec![BadLine {
                line: 1,
                reason: "the header has no `username` column".into()
            }]
        );
    }
}
