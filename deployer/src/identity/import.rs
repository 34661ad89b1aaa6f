//! `users import FILE`: CSV or JSON lines; bad lines reported by number, the rest imported.

use super::refs::StackRefs;
use super::rows::to_attribute;
use super::secret::Secret;
use super::users::{self, PoolIdentity};
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
use trigger::config::{ROW_PRINCIPAL, ROW_SUB};

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
    let lines = if jsonl {
        json_lines(text)
    } else {
        match csv_lines(text) {
            Ok(lines) => lines,
            Err(bad) => return (Vec::new(), vec![bad]),
        }
    };
    let (mut records, mut bad) = (Vec::new(), Vec::new());
    let mut seen = HashMap::new();
    for (line, fields) in lines {
        match fields.and_then(|fields| record(line, fields, partition_key)) {
            Ok(r) => match seen.insert(r.user.clone(), line) {
                Some(first) => bad.push(BadLine {
                    line,
                    reason: format!("user {} already appears on line {first}", r.user),
                }),
                None => records.push(r),
            },
            Err(reason) => bad.push(BadLine { line, reason }),
        }
    }
    (records, bad)
}

/// A line's fields, or why it has none.
type Line = (usize, Result<Map<String, Value>, String>);

/// JSON lines: one object per line, blank lines skipped.
fn json_lines(text: &str) -> Vec<Line> {
    text.lines()
        .enumerate()
        .filter(|(_, raw)| !raw.trim().is_empty())
        .map(|(i, raw)| {
            let fields = match serde_json::from_str::<Value>(raw) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err("not a JSON object".to_owned()),
                // The file's line is the one reported: the parser's own position is column only.
                Err(e) => {
                    let text = e.to_string();
                    let at = format!(" at line {} column {}", e.line(), e.column());
                    let what = text.strip_suffix(&at).unwrap_or(&text);
                    Err(format!("not JSON: {what} (column {})", e.column()))
                }
            };
            (i + 1, fields)
        })
        .collect()
}

/// CSV with a header naming a `username` column; empty cells left out. A header that cannot
/// be read, or has no `username`, refuses the whole file.
fn csv_lines(text: &str) -> Result<Vec<Line>, BadLine> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header_error = |reason: String| BadLine { line: 1, reason };
    let headers = reader
        .headers()
        .map_err(|e| header_error(format!("unreadable header: {e}")))?
        .clone();
    if !headers.iter().any(|h| h.eq_ignore_ascii_case("username")) {
        return Err(header_error("the header has no `username` column".into()));
    }
    Ok(reader
        .records()
        .map(|result| match result {
            Ok(rec) => {
                let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
                let fields = headers
                    .iter()
                    .zip(rec.iter())
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                    .collect();
                (line, Ok(fields))
            }
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                // The line is said once, by the report; the reason without csv's position.
                let reason = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("{len} field(s) where the header has {expected_len}"),
                    _ => e.to_string(),
                };
                (line, Err(reason))
            }
        })
        .collect())
}

/// Takes the column named `name` out of `fields`: spelled so, else in another letter case;
/// two columns of other cases are refused.
fn take(fields: &mut Map<String, Value>, name: &str) -> Result<Option<Value>, String> {
    if let Some(value) = fields.remove(name) {
        return Ok(Some(value));
    }
    take_any_case(fields, name)
}

/// Takes every column named `name` in any letter case out of `fields` (the password, which
/// must never reach the table); two such columns are refused.
fn take_any_case(fields: &mut Map<String, Value>, name: &str) -> Result<Option<Value>, String> {
    let keys: Vec<String> = fields
        .keys()
        .filter(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .collect();
    if keys.len() > 1 {
        return Err(format!("{} columns name the {name}: keep one", keys.len()));
    }
    Ok(keys.first().and_then(|k| fields.remove(k)))
}

fn record(
    line: usize,
    mut fields: Map<String, Value>,
    partition_key: &str,
) -> Result<Record, String> {
    // The password is taken out first, in any letter case, so it can never reach the table.
    let password = match take_any_case(&mut fields, "password")? {
        Some(Value::String(p)) => Some(Secret::new(p)),
        Some(Value::Null) | None => None,
        Some(_) => return Err("password must be a string".into()),
    };
    let user = match take(&mut fields, "username")? {
        Some(Value::String(u)) if !u.trim().is_empty() => u.trim().to_owned(),
        Some(other) if !other.is_null() => {
            return Err(format!("username must be a string, not {other}"))
        }
        _ => return Err("no username".into()),
    };
    if user.len() > 128 || user.chars().any(char::is_whitespace) {
        return Err(format!("username {user:?} is not a valid Cognito user name (at most 128 characters, no spaces)"));
    }
    let email = match take(&mut fields, "email")? {
        Some(Value::String(e)) if e.contains('@') => Some(e),
        Some(Value::Null) | None => None,
        Some(other) => return Err(format!("email {other} is not an email address")),
    };
    if fields.contains_key(ROW_SUB) {
        return Err(format!(
            "column {ROW_SUB} is the deployer's: it binds the row to its user's immutable sub"
        ));
    }
    if fields.contains_key(ROW_PRINCIPAL) {
        return Err(format!(
            "column {ROW_PRINCIPAL} is the deployer's: it marks a machine client's row"
        ));
    }
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
    /// Existing users who had no password of their own (FORCE_CHANGE_PASSWORD: made without
    /// one, or invited and not yet signed in) and took the file's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passwords_given: Vec<String>,
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
        if !self.passwords_given.is_empty() {
            writeln!(
                f,
                "the file's password was set for user(s) who had none of their own yet (FORCE_CHANGE_PASSWORD): {}",
                self.passwords_given.join(", ")
            )?;
        }
        for b in &self.bad_lines {
            writeln!(f, "  line {}: {}", b.line, b.reason)?;
        }
        Ok(())
    }
}

/// Imports the good records: pool users (several at a time) and rows (batches of 25). A
/// user that exists keeps its password unless `reset_passwords`. A batch DynamoDB refuses is
/// written item by item, so one bad item is reported by its line and the rest are written.
pub async fn import(
    clients: &Clients,
    refs: &StackRefs,
    records: Vec<Record>,
    mut bad: Vec<BadLine>,
    reset_passwords: bool,
    progress: &Progress,
) -> Result<ImportReport, Error> {
    let policy = match records.iter().any(|r| r.password.is_some()) {
        true => Some(super::password::read(clients, refs).await?),
        false => None,
    };
    let bar = progress.counter(records.len() as u64, "importing users");
    let results: Vec<(&Record, Result<Upserted, String>)> = futures::stream::iter(records.iter())
        .map(|r| {
            let (bar, policy) = (bar.clone(), policy.as_ref());
            async move {
                let result = upsert_user(clients, refs, r, (reset_passwords, policy)).await;
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
                (r, result)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let (mut created, mut updated) = (0, 0);
    let (mut rows, mut passwords_given) = (Vec::new(), Vec::new());
    for (record, result) in results {
        match result {
            // No attribute to key the row by (table.userKeyAttribute): the user is there,
            // the row cannot be.
            Ok((_, identity, _)) if identity.row_key(refs).is_err() => bad.push(BadLine {
                line: record.line,
                reason: identity.row_key(refs).unwrap_err().to_string(),
            }),
            Ok((was_created, identity, given)) => {
                if given {
                    passwords_given.push(identity.name.clone());
                }
                if was_created {
                    created += 1;
                } else {
                    updated += 1;
                }
                // Under the name Cognito keeps, bound to the user's sub.
                let mut item = record.row.clone();
                item.insert(refs.partition_key.clone(), AttributeValue::S(identity.key));
                item.insert(ROW_SUB.into(), AttributeValue::S(identity.sub));
                rows.push((record.line, item));
            }
            Err(reason) => bad.push(BadLine {
                line: record.line,
                reason,
            }),
        }
    }
    passwords_given.sort();
    rows.sort_by_key(|(line, _)| *line);
    let rows_written = write_rows(clients, refs, &rows, &mut bad).await?;
    bad.sort_by_key(|b| b.line);
    Ok(ImportReport {
        created,
        updated,
        rows_written,
        bad_lines: bad,
        passwords_given,
    })
}

/// Writes the rows 25 per batch; a batch DynamoDB refuses for one item is written item by
/// item, so that item is reported by its line (in `bad`) and the rest are written. The
/// number written.
async fn write_rows(
    clients: &Clients,
    refs: &StackRefs,
    rows: &[(usize, HashMap<String, AttributeValue>)],
    bad: &mut Vec<BadLine>,
) -> Result<usize, Error> {
    let mut rows_written = 0;
    // Rows keyed by an attribute are written one by one, each only over a row of its own
    // user: another living user may share the value.
    if refs.user_key_attribute.is_some() {
        for (line, item) in rows {
            if super::rows::put_own_row(clients, refs, item.clone()).await? {
                rows_written += 1;
            } else {
                bad.push(BadLine {
                    line: *line,
                    reason: "the user was imported, but the row under its key is another user's (they share the attribute that keys rows): not written".into(),
                });
            }
        }
        return Ok(rows_written);
    }
    for chunk in rows.chunks(25) {
        // A machine client's row under a user's name is never written over.
        let clients_rows = client_rows(clients, refs, chunk).await?;
        let (theirs, chunk): (Vec<_>, Vec<_>) = chunk.iter().cloned().partition(|(_, item)| {
            item.get(&refs.partition_key)
                .is_some_and(|k| clients_rows.contains(k))
        });
        for (line, _) in theirs {
            bad.push(BadLine {
                line,
                reason: "the user was imported, but the row under its name is a machine client's (clients add): not written".into(),
            });
        }
        let chunk = chunk.as_slice();
        if chunk.is_empty() {
            continue;
        }
        match write_batch(clients, refs, chunk).await {
            Ok(()) => rows_written += chunk.len(),
            // DynamoDB refuses the whole batch for one bad item: find it.
            Err(err) if err.code == "ValidationException" => {
                for (line, item) in chunk {
                    let put = clients
                        .dynamodb
                        .put_item()
                        .table_name(&refs.table)
                        .set_item(Some(item.clone()))
                        .send()
                        .await
                        .map_err(|e| clients.err("dynamodb", "PutItem", e));
                    match put {
                        Ok(_) => rows_written += 1,
                        Err(err) if err.code == "ValidationException" => bad.push(BadLine {
                            line: *line,
                            reason: format!(
                                "the user was imported but DynamoDB refused the row: {}",
                                err.message
                            ),
                        }),
                        Err(err) => return Err(err.into()),
                    }
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(rows_written)
}

/// The keys among `rows` whose row in the table is a machine client's (its marker read alone).
async fn client_rows(
    clients: &Clients,
    refs: &StackRefs,
    rows: &[(usize, HashMap<String, AttributeValue>)],
) -> Result<Vec<AttributeValue>, AwsError> {
    let keys = rows
        .iter()
        .filter_map(|(_, item)| match item.get(&refs.partition_key) {
            Some(AttributeValue::S(k)) => Some(k.clone()),
            _ => None,
        });
    let found = super::rows::batch_rows(clients, refs, keys, Some(&[ROW_PRINCIPAL])).await?;
    Ok(found
        .into_iter()
        .filter(
            |item| matches!(item.get(ROW_PRINCIPAL), Some(AttributeValue::S(k)) if k == "client"),
        )
        .filter_map(|mut item| item.remove(&refs.partition_key))
        .collect())
}

/// Writes up to 25 rows with BatchWriteItem, retrying what DynamoDB leaves unprocessed.
async fn write_batch(
    clients: &Clients,
    refs: &StackRefs,
    rows: &[(usize, HashMap<String, AttributeValue>)],
) -> Result<(), AwsError> {
    let mut pending: Vec<WriteRequest> = rows
        .iter()
        .map(|(_, item)| {
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .expect("item set"),
                )
                .build()
        })
        .collect();
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
    Ok(())
}

/// Whether the user was created (else updated), and its canonical name and sub.
/// Whether the user was created, who it is, and whether an existing user without a password
/// of their own took the file's.
type Upserted = (bool, PoolIdentity, bool);

/// The pool user for `r`: created (with the file's password), or updated. The file's password
/// is set on a new user, on every user with `reset_passwords`, and on a user who has none of
/// their own yet (FORCE_CHANGE_PASSWORD); only a password that would be set is held to the
/// pool's policy, and a refused one makes no user.
async fn upsert_user(
    clients: &Clients,
    refs: &StackRefs,
    r: &Record,
    (reset_passwords, policy): (bool, Option<&super::password::PasswordPolicy>),
) -> Result<Upserted, String> {
    let text = |e: AwsError| e.to_string();
    let problems = match (&r.password, policy) {
        (Some(p), Some(policy)) => policy.problems(p.expose()),
        _ => Vec::new(),
    };
    let existing = users::find_user(clients, refs, &r.user)
        .await
        .map_err(text)?;
    let unclaimed = existing.as_ref().is_some_and(|(_, unclaimed)| *unclaimed);
    let sets = existing.is_none() || reset_passwords || unclaimed;
    if sets && !problems.is_empty() {
        let policy = policy.map(|p| p.describe()).unwrap_or_default();
        return Err(format!(
            "the password does not meet the pool's policy: {} (the pool asks for {policy})",
            problems.join("; ")
        ));
    }
    let created = users::upsert_pool_user(clients, refs, &r.user, r.email.as_deref(), false)
        .await
        .map_err(text)?;
    let mut given = false;
    if let Some(password) = r.password.as_ref().filter(|_| created || sets) {
        if let Err(err) = users::set_password(clients, refs, &r.user, password).await {
            if created {
                users::delete_pool_user(clients, refs, &r.user).await.ok();
            }
            return Err(err.to_string());
        }
        given = !created && !reset_passwords && unclaimed;
    }
    // An existing user's name and sub are what the first look read (neither changes); a new
    // one's are read now.
    let identity = match (created, existing) {
        (false, Some((identity, _))) => identity,
        _ => users::pool_identity(clients, refs, &r.user)
            .await
            .map_err(text)?,
    };
    Ok((created, identity, given))
}

/// Takes out the records holding a value their mapped claim cannot take, as bad lines naming
/// the claim: those users are not imported (the trigger would leave the claim out).
pub fn refuse_mistyped(
    records: Vec<Record>,
    claims: &[trigger::config::ClaimMapping],
    bad: &mut Vec<BadLine>,
) -> Vec<Record> {
    records
        .into_iter()
        .filter(|r| {
            let found = super::rows::claim_type_mismatches(&r.row, claims);
            if found.is_empty() {
                return true;
            }
            bad.push(BadLine {
                line: r.line,
                reason: found.join("; "),
            });
            false
        })
        .collect()
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
        // A line of another length: its line once, the reason without csv's position.
        let (_, bad) = parse("username,projects\nann,p1\n{bad\n", "u.csv", "userName");
        assert_eq!(bad[0].line, 3);
        assert_eq!(bad[0].reason, "1 field(s) where the header has 2");
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
        // The file's line number, and only the column from the parser.
        assert_eq!(bad[0].reason, "not JSON: key must be a string (column 2)");
        assert!(bad[1].reason.contains("the table's key"));
    }

    #[test]
    fn a_password_column_in_any_letter_case_never_reaches_the_row() {
        let text = "UserName,Email,PassWord,role\njane,jane@example.com,Secret-1,lead\n";
        let (records, bad) = parse(text, "users.csv", "userName");
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(records[0].user, "jane");
        assert_eq!(
            records[0].password.as_ref().map(|p| p.expose()),
            Some("Secret-1")
        );
        assert_eq!(records[0].row.keys().collect::<Vec<_>>(), ["role"]);

        let text = "{\"username\":\"a\",\"PASSWORD\":\"x\",\"password\":\"y\"}\n{\"username\":\"b\",\"sub\":\"forged\"}\n";
        let (records, bad) = parse(text, "users.jsonl", "userName");
        assert!(records.is_empty());
        assert!(
            bad[0].reason.contains("2 columns name the password"),
            "{bad:?}"
        );
        assert!(
            bad[1].reason.contains("column sub is the deployer's"),
            "{bad:?}"
        );
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
