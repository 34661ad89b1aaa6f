//! A principal's row in the table: built from `--set`/`--row`, written and removed.

use super::refs::StackRefs;
use crate::aws::{AwsError, Clients};
use crate::error::Error;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use trigger::config::{ROW_PRINCIPAL, ROW_SUB};

/// Writes a principal's row: the given attributes under the table's partition key.
pub async fn put_row(
    clients: &Clients,
    refs: &StackRefs,
    key: &str,
    row: &HashMap<String, AttributeValue>,
) -> Result<(), AwsError> {
    let mut item = row.clone();
    item.insert(
        refs.partition_key.clone(),
        AttributeValue::S(key.to_owned()),
    );
    clients
        .dynamodb
        .put_item()
        .table_name(&refs.table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| clients.err("dynamodb", "PutItem", e))?;
    Ok(())
}

/// Changes the attributes `row` names in a principal's row and keeps the others (UpdateItem).
/// A row another user left behind (its `sub` is not `sub`: a user deleted and made again
/// under the same name) is replaced instead, so none of its claims reach the new user. A row
/// without `sub` (written by other tools) is the principal's, as the trigger reads it.
pub async fn merge_row(
    clients: &Clients,
    refs: &StackRefs,
    key: &str,
    row: &HashMap<String, AttributeValue>,
    sub: &str,
) -> Result<(), AwsError> {
    let mut names = HashMap::from([
        ("#pk".to_owned(), refs.partition_key.clone()),
        ("#sub".to_owned(), ROW_SUB.to_owned()),
        ("#kind".to_owned(), ROW_PRINCIPAL.to_owned()),
    ]);
    let mut values = HashMap::from([(":sub".to_owned(), AttributeValue::S(sub.to_owned()))]);
    let mut sets = Vec::new();
    let mut attrs: Vec<(&String, &AttributeValue)> = row.iter().collect();
    attrs.sort_by_key(|(k, _)| k.as_str());
    for (n, (attr, value)) in attrs.into_iter().enumerate() {
        names.insert(format!("#a{n}"), attr.clone());
        values.insert(format!(":v{n}"), value.clone());
        sets.push(format!("#a{n} = :v{n}"));
    }
    let updated = clients
        .dynamodb
        .update_item()
        .table_name(&refs.table)
        .key(&refs.partition_key, AttributeValue::S(key.to_owned()))
        .update_expression(format!("SET {}", sets.join(", ")))
        .condition_expression(
            "(attribute_not_exists(#pk) OR attribute_not_exists(#sub) OR #sub = :sub) AND attribute_not_exists(#kind)",
        )
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .send()
        .await
        .map_err(|e| clients.err("dynamodb", "UpdateItem", e));
    match updated {
        Ok(_) => Ok(()),
        // DynamoDB API reference, UpdateItem: ConditionalCheckFailedException (400).
        // Bound to another sub, or a client's: replaced only when no living user holds it.
        Err(err) if err.code == "ConditionalCheckFailedException" => {
            match holder(clients, refs, key).await? {
                Holder::Orphan(seen) => {
                    if !take_orphan(clients, refs, key, row, seen).await? {
                        return Err(err);
                    }
                    tracing::warn!(
                        key,
                        "the row belonged to a user who is gone: replaced, not merged"
                    );
                    Ok(())
                }
                Holder::Client | Holder::LivingUser => Err(err),
            }
        }
        Err(err) => Err(err),
    }
}

/// The rows under `keys` (each asked once: BatchGetItem refuses a key twice), with only
/// `attributes` when given, retrying the keys DynamoDB leaves unprocessed. At most 100 keys
/// (BatchGetItem's limit).
pub async fn batch_rows(
    clients: &Clients,
    refs: &StackRefs,
    keys: impl IntoIterator<Item = String>,
    attributes: Option<&[&str]>,
) -> Result<Vec<HashMap<String, AttributeValue>>, AwsError> {
    let keys: std::collections::BTreeSet<String> =
        keys.into_iter().filter(|k| !k.is_empty()).collect();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let keys = keys
        .into_iter()
        .map(|k| HashMap::from([(refs.partition_key.clone(), AttributeValue::S(k))]))
        .collect();
    let mut wanted = aws_sdk_dynamodb::types::KeysAndAttributes::builder().set_keys(Some(keys));
    if let Some(attributes) = attributes {
        let names: HashMap<String, String> = attributes
            .iter()
            .chain([&refs.partition_key.as_str()])
            .enumerate()
            .map(|(n, a)| (format!("#p{n}"), (*a).to_owned()))
            .collect();
        let projection = (0..names.len())
            .map(|n| format!("#p{n}"))
            .collect::<Vec<_>>();
        wanted = wanted
            .projection_expression(projection.join(", "))
            .set_expression_attribute_names(Some(names));
    }
    let mut request = Some(wanted.build().expect("keys set"));
    let mut rows = Vec::new();
    while let Some(keys) = request.take() {
        let out = clients
            .dynamodb
            .batch_get_item()
            .request_items(&refs.table, keys)
            .send()
            .await
            .map_err(|e| clients.err("dynamodb", "BatchGetItem", e))?;
        rows.extend(
            out.responses
                .unwrap_or_default()
                .remove(&refs.table)
                .unwrap_or_default(),
        );
        request = out.unprocessed_keys.and_then(|mut u| u.remove(&refs.table));
    }
    Ok(rows)
}

/// Whose a row is, when a write conditioned on its owner found it bound elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// A machine client's row (`clients add` marked it).
    Client,
    /// A user of the pool, alive (another user sharing the key attribute's value).
    LivingUser,
    /// A user no longer in the pool (deleted and made again under the same key), or no row:
    /// the sub it was seen bound to, if any.
    Orphan(Option<String>),
}

/// Reads the row under `key` and asks the pool whether its owner (`sub`) is still a user
/// (ListUsers with the filter `sub = "..."`: Cognito API reference, ListUsers).
pub async fn holder(clients: &Clients, refs: &StackRefs, key: &str) -> Result<Holder, AwsError> {
    let row = clients
        .dynamodb
        .get_item()
        .table_name(&refs.table)
        .key(&refs.partition_key, AttributeValue::S(key.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| clients.err("dynamodb", "GetItem", e))?
        .item
        .unwrap_or_default();
    if matches!(row.get(ROW_PRINCIPAL), Some(AttributeValue::S(k)) if k == "client") {
        return Ok(Holder::Client);
    }
    let Some(AttributeValue::S(sub)) = row.get(ROW_SUB) else {
        return Ok(Holder::Orphan(None));
    };
    Ok(
        match super::users::user_by_sub(clients, &refs.pool_id, sub).await? {
            None => Holder::Orphan(Some(sub.clone())),
            Some(_) => Holder::LivingUser,
        },
    )
}

/// Replaces an orphaned row, only if it is still as it was seen (bound to `seen`, or to no
/// one; never a client's): a write that came in between is not lost.
async fn take_orphan(
    clients: &Clients,
    refs: &StackRefs,
    key: &str,
    row: &HashMap<String, AttributeValue>,
    seen: Option<String>,
) -> Result<bool, AwsError> {
    let mut item = row.clone();
    item.insert(
        refs.partition_key.clone(),
        AttributeValue::S(key.to_owned()),
    );
    let mut put = clients
        .dynamodb
        .put_item()
        .table_name(&refs.table)
        .set_item(Some(item))
        .expression_attribute_names("#sub", ROW_SUB)
        .expression_attribute_names("#kind", ROW_PRINCIPAL);
    put = match seen {
        Some(seen) => put
            .condition_expression("#sub = :seen AND attribute_not_exists(#kind)")
            .expression_attribute_values(":seen", AttributeValue::S(seen)),
        None => {
            put.condition_expression("attribute_not_exists(#sub) AND attribute_not_exists(#kind)")
        }
    };
    match put
        .send()
        .await
        .map_err(|e| clients.err("dynamodb", "PutItem", e))
    {
        Ok(_) => Ok(true),
        Err(err) if err.code == "ConditionalCheckFailedException" => Ok(false),
        Err(err) => Err(err),
    }
}

/// Writes a user's whole row (`item`, key and sub included) unless the row there is bound to
/// another user: with rows keyed by an attribute (`table.userKeyAttribute`) that is another
/// living user who shares the value, whose row is never replaced. `false` when refused.
pub async fn put_own_row(
    clients: &Clients,
    refs: &StackRefs,
    item: HashMap<String, AttributeValue>,
) -> Result<bool, AwsError> {
    let sub = item
        .get(ROW_SUB)
        .cloned()
        .unwrap_or(AttributeValue::S(String::new()));
    let key = match item.get(&refs.partition_key) {
        Some(AttributeValue::S(k)) => k.clone(),
        _ => String::new(),
    };
    let put = clients
        .dynamodb
        .put_item()
        .table_name(&refs.table)
        .set_item(Some(item.clone()))
        .condition_expression(
            "(attribute_not_exists(#sub) OR #sub = :sub) AND attribute_not_exists(#kind)",
        )
        .expression_attribute_names("#sub", ROW_SUB)
        .expression_attribute_names("#kind", ROW_PRINCIPAL)
        .expression_attribute_values(":sub", sub)
        .send()
        .await
        .map_err(|e| clients.err("dynamodb", "PutItem", e));
    match put {
        Ok(_) => Ok(true),
        // DynamoDB API reference, PutItem: ConditionalCheckFailedException (400). A row of a
        // user who is gone is this user's to take.
        Err(err) if err.code == "ConditionalCheckFailedException" => {
            match holder(clients, refs, &key).await? {
                Holder::Orphan(seen) => {
                    let mut row = item;
                    row.remove(&refs.partition_key);
                    take_orphan(clients, refs, &key, &row, seen).await
                }
                Holder::Client | Holder::LivingUser => Ok(false),
            }
        }
        Err(err) => Err(err),
    }
}

/// Why a row was not written: it is another living user's, or a machine client's.
pub fn shared_key(refs: &StackRefs, user: &str, key: &str) -> Error {
    let attribute = refs.user_key_attribute.as_deref().unwrap_or("user name");
    Error::Usage {
        message: format!("the row under {key} belongs to another user or to a machine client: {user} shares its {attribute}; nothing was written"),
        help: format!("give each user their own {attribute}, or remove the other user first (`deployer users remove`)"),
    }
}

/// Turns `key=value` pairs and a JSON object into a row. JSON keeps types (numbers, booleans,
/// string arrays as string sets, other arrays as lists); `key=value` values are strings.
pub fn row_from(
    pairs: &[String],
    json: Option<&str>,
) -> Result<HashMap<String, AttributeValue>, Error> {
    let mut row = HashMap::new();
    if let Some(json) = json {
        let value: Value = serde_json::from_str(json).map_err(|e| Error::Usage {
            message: format!("--row is not JSON: {e}"),
            help: "pass an object, e.g. --row '{\"projects\":[\"p-1\"],\"role\":\"admin\"}'".into(),
        })?;
        let Value::Object(map) = value else {
            return Err(Error::Usage {
                message: "--row must be a JSON object".into(),
                help: "e.g. --row '{\"role\":\"admin\"}'".into(),
            });
        };
        for (k, v) in map {
            row.insert(k, to_attribute(&v));
        }
    }
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(Error::Usage {
                message: format!("--set {pair:?} is not key=value"),
                help: "e.g. --set projects=p-100,p-200".into(),
            });
        };
        row.insert(k.trim().to_owned(), AttributeValue::S(v.to_owned()));
    }
    for (own, why) in [
        (
            ROW_SUB,
            "it binds the row to its user's immutable sub, and `users add` writes it",
        ),
        (
            ROW_PRINCIPAL,
            "it marks a machine client's row, and `clients add` writes it",
        ),
    ] {
        if row.contains_key(own) {
            return Err(Error::Usage {
                message: format!("the row attribute {own:?} is the deployer's"),
                help: format!("{why}; keep your own data under another name"),
            });
        }
    }
    Ok(row)
}

/// A JSON value as a DynamoDB attribute.
pub fn to_attribute(v: &Value) -> AttributeValue {
    match v {
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Null => AttributeValue::Null(true),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => {
            // DynamoDB refuses a set with duplicates and keeps no order: each value once.
            let mut set: Vec<String> = items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect();
            set.sort();
            set.dedup();
            AttributeValue::Ss(set)
        }
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// The row values a mapped claim cannot take (the trigger would leave that claim out of the
/// tokens): one phrase each, naming the attribute, its value, the claim and its type.
pub fn claim_type_mismatches(
    row: &HashMap<String, AttributeValue>,
    claims: &[trigger::config::ClaimMapping],
) -> Vec<String> {
    claims
        .iter()
        .filter_map(|m| {
            let value = row.get(&m.attribute)?;
            if trigger::claims::convert(value, m.kind).is_some() {
                return None;
            }
            let shown = trigger::claims::natural(value).map_or("?".into(), |v| v.to_string());
            let kind = format!("{:?}", m.kind).to_lowercase();
            Some(format!(
                "{}={shown} cannot be the {kind} claim `{}` (the trigger would leave it out)",
                m.attribute,
                m.claim_name()
            ))
        })
        .collect()
}

/// A row as JSON, for reports.
pub fn row_json(row: &HashMap<String, AttributeValue>) -> BTreeMap<String, Value> {
    row.iter()
        .filter_map(|(k, v)| Some((k.clone(), trigger::claims::natural(v)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_its_claim_cannot_take_is_named_with_the_claim() {
        let claims: Vec<trigger::config::ClaimMapping> = serde_json::from_str(
            r#"[{"attribute": "level", "type": "number"}, {"attribute": "projects", "type": "list"}]"#,
        )
        .unwrap();
        let row = row_from(&["level=abc".into(), "projects=p1,p2".into()], None).unwrap();
        assert_eq!(
            claim_type_mismatches(&row, &claims),
            ["level=\"abc\" cannot be the number claim `level` (the trigger would leave it out)"]
        );
        let row = row_from(&["level=3".into()], None).unwrap();
        assert!(claim_type_mismatches(&row, &claims).is_empty());
    }

    #[test]
    fn a_string_set_holds_each_value_once_wherever_the_duplicates_are() {
        let row = row_from(
            &[],
            Some(r#"{"projects": ["p-2", "p-1", "p-2", "p-3", "p-1"]}"#),
        )
        .unwrap();
        assert_eq!(
            row["projects"],
            AttributeValue::Ss(vec!["p-1".into(), "p-2".into(), "p-3".into()])
        );
    }

    #[test]
    fn the_owner_attribute_cannot_be_set_by_hand() {
        for (pairs, json) in [
            (vec!["sub=someone-else".to_owned()], None),
            (vec![], Some(r#"{"sub": "x"}"#)),
        ] {
            let err = row_from(&pairs, json).unwrap_err();
            assert!(
                err.to_string().contains("\"sub\" is the deployer's"),
                "{err}"
            );
        }
    }
}
