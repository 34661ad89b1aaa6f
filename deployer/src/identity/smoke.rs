//! `verify`: a temporary user with known rows logs in; its tokens must carry exactly the
//! claims the mapping promises for the event version.

use super::refs::StackRefs;
use super::secret::generate_password;
use super::tokens::{login, report};
use super::users::{add, remove};
use crate::aws::Clients;
use crate::error::Error;
use crate::inputs::{EventVersion, StackInputs};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use trigger::config::COGNITO_ISSUED_CLAIMS;

/// A sample value for each mapped attribute, and the claim each token must then carry.
pub struct Expectation {
    pub row: HashMap<String, AttributeValue>,
    pub id: Map<String, Value>,
    pub access: Map<String, Value>,
}

/// What `verify` writes and expects, from the inputs' mapping and event version.
pub fn expectation(inputs: &StackInputs) -> Expectation {
    use trigger::config::ClaimType;
    let mut row = HashMap::new();
    let (mut id, mut access) = (Map::new(), Map::new());
    for m in &inputs.claims {
        let stored = match m.kind {
            ClaimType::Auto | ClaimType::String => {
                AttributeValue::S(format!("verify-{}", m.attribute))
            }
            ClaimType::Number => AttributeValue::N("42".into()),
            ClaimType::Boolean => AttributeValue::Bool(true),
            ClaimType::List => AttributeValue::Ss(vec![
                format!("verify-{}-a", m.attribute),
                format!("verify-{}-b", m.attribute),
            ]),
            ClaimType::Json => AttributeValue::S(r#"{"verify":true}"#.into()),
        };
        let value = trigger::claims::convert(&stored, m.kind).unwrap_or(Value::Null);
        row.entry(m.attribute.clone()).or_insert(stored);
        if inputs.event_version == EventVersion::V1_0 {
            if m.tokens.id() {
                id.insert(
                    m.claim_name().into(),
                    Value::String(trigger::claims::flatten(&value)),
                );
            }
        } else {
            if m.tokens.id() {
                id.insert(m.claim_name().into(), value.clone());
            }
            if m.tokens.access() {
                access.insert(m.claim_name().into(), value);
            }
        }
    }
    Expectation { row, id, access }
}

/// The differences between the claims a token carries beyond Cognito's and the expected ones.
pub fn diff(token: &str, got: &Map<String, Value>, want: &Map<String, Value>) -> Vec<String> {
    let mut lines = Vec::new();
    for (k, v) in want {
        match got.get(k) {
            None => lines.push(format!("{token} token: missing claim {k} (expected {v})")),
            Some(g) if g != v => {
                lines.push(format!("{token} token: claim {k} is {g}, expected {v}"))
            }
            _ => {}
        }
    }
    for (k, v) in got {
        if !want.contains_key(k) && !COGNITO_ISSUED_CLAIMS.contains(&k.as_str()) {
            lines.push(format!("{token} token: unexpected claim {k} = {v}"));
        }
    }
    lines
}

/// What `verify` found.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub stack: String,
    pub event_version: String,
    pub user: String,
    pub id_claims: Map<String, Value>,
    pub access_claims: Map<String, Value>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stack {} verified ({}): a login carried exactly the mapped claims",
            self.stack, self.event_version
        )?;
        writeln!(
            f,
            "  ID token:     {}",
            Value::Object(self.id_claims.clone())
        )?;
        writeln!(
            f,
            "  access token: {}",
            Value::Object(self.access_claims.clone())
        )
    }
}

/// `verify`: a temporary user with known rows logs in; its tokens must carry exactly the
/// expected claims. The user and row are removed whatever happens.
pub async fn smoke(
    clients: &Clients,
    refs: &StackRefs,
    inputs: &StackInputs,
) -> Result<VerifyReport, Error> {
    let expect = expectation(inputs);
    // Nothing is made that could not sign in, or whose row could not be keyed.
    refs.require_client()?;
    let mut suffix = [0u8; 4];
    getrandom::fill(&mut suffix).expect("the OS random source");
    let user = format!("deployer-verify-{}", hex::encode(suffix));
    let email = match refs.user_key_attribute.as_deref() {
        None => None,
        Some("email") => Some(format!("{user}@verify.invalid")),
        Some(other) => {
            return Err(Error::Usage {
                message: format!("verify's temporary user cannot be given the {other} attribute that keys rows (table.userKeyAttribute)"),
                help: "check a real user's tokens with `deployer token USER`".into(),
            })
        }
    };
    let password = generate_password();
    let result = async {
        add(
            clients,
            refs,
            &user,
            email.as_deref(),
            Some(password.clone()),
            expect.row.clone(),
            (false, true, &super::secret::SecretSink::Json),
        )
        .await?;
        let tokens = login(clients, refs, &user, &password).await?;
        let report = report(refs, inputs, &user, &tokens).await?;
        Ok::<_, Error>(report)
    }
    .await;
    let cleanup = remove(clients, refs, &user).await;
    let report = result?;
    cleanup?;
    let id = report.id_token.clone().unwrap_or_default();
    let mut failed = diff("ID", &id, &expect.id);
    failed.extend(diff("access", &report.access_token, &expect.access));
    if refs.event_version != inputs.event_version.as_str() {
        failed.insert(
            0,
            format!(
                "the stack runs {} but the inputs say {}",
                refs.event_version,
                inputs.event_version.as_str()
            ),
        );
    }
    if !failed.is_empty() {
        return Err(Error::Verify {
            stack: refs.stack.clone(),
            failed: failed.into_iter().map(|l| format!("  - {l}")).collect(),
        });
    }
    let keep = |m: &Map<String, Value>| {
        m.iter()
            .filter(|(k, _)| !COGNITO_ISSUED_CLAIMS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    Ok(VerifyReport {
        stack: refs.stack.clone(),
        event_version: refs.event_version.clone(),
        user,
        id_claims: keep(&id),
        access_claims: keep(&report.access_token),
    })
}
