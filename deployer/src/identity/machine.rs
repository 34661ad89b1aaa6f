//! The stack's machine clients (those `clients add` made: the client-credentials grant), found
//! in the pool: `clients list`, `clients remove`, and the checks `clients add` makes first (a
//! name used once; claims only where the trigger can add them).

use super::refs::StackRefs;
use crate::aws::{AwsError, Clients};
use crate::error::Error;
use aws_sdk_cognitoidentityprovider::types::OAuthFlowType;
use serde::Serialize;
use std::fmt;

/// One machine client of the pool.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineClient {
    pub name: String,
    pub client_id: String,
    pub scopes: Vec<String>,
}

/// `clients list`.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct ClientList(pub Vec<MachineClient>);

impl fmt::Display for ClientList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return writeln!(
                f,
                "no machine clients (`deployer clients add NAME` makes one)"
            );
        }
        for c in &self.0 {
            writeln!(
                f,
                "{:<24} {:<28} {}",
                c.name,
                c.client_id,
                c.scopes.join(" ")
            )?;
        }
        Ok(())
    }
}

/// The pool's machine clients (the stack's own app client, for people, is not one), by name.
pub async fn list(clients: &Clients, refs: &StackRefs) -> Result<ClientList, AwsError> {
    let cognito = &clients.cognito;
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let out = cognito
            .list_user_pool_clients()
            .user_pool_id(&refs.pool_id)
            .max_results(60)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| clients.err("cognito-idp", "ListUserPoolClients", e))?;
        ids.extend(
            out.user_pool_clients()
                .iter()
                .filter_map(|c| c.client_id.clone())
                .filter(|id| *id != refs.client_id),
        );
        token = out.next_token;
        if token.is_none() {
            break;
        }
    }
    let mut found = Vec::new();
    for id in ids {
        let out = cognito
            .describe_user_pool_client()
            .user_pool_id(&refs.pool_id)
            .client_id(&id)
            .send()
            .await
            .map_err(|e| clients.err("cognito-idp", "DescribeUserPoolClient", e))?;
        let Some(c) = out.user_pool_client else {
            continue;
        };
        if c.allowed_o_auth_flows()
            .contains(&OAuthFlowType::ClientCredentials)
        {
            found.push(MachineClient {
                name: c.client_name.clone().unwrap_or_default(),
                client_id: id,
                scopes: c.allowed_o_auth_scopes().to_vec(),
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ClientList(found))
}

/// What `clients add` must refuse before it makes anything: a name another machine client
/// of the stack has, or claims on a stack whose trigger cannot add them to a
/// client-credentials token (Cognito runs it for that grant with V3_0 events only: developer
/// guide, pre token generation, "machine-to-machine (M2M) authorization").
pub async fn check_new(
    clients: &Clients,
    refs: &StackRefs,
    name: &str,
    with_row: bool,
) -> Result<(), Error> {
    if with_row && refs.event_version != "V3_0" {
        return Err(Error::Usage {
            message: format!(
                "stack {} runs its trigger with {} events, and Cognito runs it for client-credentials tokens with V3_0 only: this client's row would never reach its tokens",
                refs.stack, refs.event_version
            ),
            help: "set \"eventVersion\": \"V3_0\" in stack-inputs.json and `deployer up` (V3_0 needs the ESSENTIALS or PLUS feature plan), or add the client without --set/--row; nothing was created".into(),
        });
    }
    let existing = list(clients, refs).await?;
    if let Some(same) = existing.0.iter().find(|c| c.name == name) {
        return Err(Error::Usage {
            message: format!(
                "stack {} has a machine client named {name} already ({})",
                refs.stack, same.client_id
            ),
            help: format!("pick another name, or `deployer clients remove {name}` first"),
        });
    }
    Ok(())
}

/// What `clients remove` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovedClient {
    pub name: String,
    pub client_id: String,
}

impl fmt::Display for RemovedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "client {} ({}) removed from the pool, its row removed from the table",
            self.name, self.client_id
        )
    }
}

/// `clients remove`: the machine client of that name or id, and its row. Never the stack's
/// own app client.
pub async fn remove(
    clients: &Clients,
    refs: &StackRefs,
    which: &str,
) -> Result<RemovedClient, Error> {
    if which == refs.client_id {
        return Err(Error::Usage {
            message: format!("{which} is the stack's own app client (the hosted UI's), not a machine client"),
            help: "it goes with the stack (`deployer down`); `deployer clients list` shows the machine clients".into(),
        });
    }
    let all = list(clients, refs).await?;
    // An id names one client; a name may have been given to several (made before names were
    // kept unique, or by other tools): then only the id will do.
    let by_id = all.0.iter().find(|c| c.client_id == which).cloned();
    let by_name: Vec<&MachineClient> = all.0.iter().filter(|c| c.name == which).collect();
    let client = match (by_id, by_name.as_slice()) {
        (Some(client), _) => client,
        (None, [one]) => (*one).clone(),
        (None, []) => {
            return Err(Error::Usage {
                message: format!("stack {} has no machine client named {which}", refs.stack),
                help: "`deployer clients list` shows them, by name and id".into(),
            })
        }
        (None, several) => {
            let ids: Vec<&str> = several.iter().map(|c| c.client_id.as_str()).collect();
            return Err(Error::Usage {
                message: format!(
                    "{} machine clients are named {which}: {}",
                    several.len(),
                    ids.join(", ")
                ),
                help: "remove one by its client id: `deployer clients remove CLIENT_ID`".into(),
            });
        }
    };
    clients
        .cognito
        .delete_user_pool_client()
        .user_pool_id(&refs.pool_id)
        .client_id(&client.client_id)
        .send()
        .await
        .map_err(|e| clients.err("cognito-idp", "DeleteUserPoolClient", e))?;
    // Its row, and never a user's: a user's row is bound to their sub, a client's has none.
    let deleted = clients
        .dynamodb
        .delete_item()
        .table_name(&refs.table)
        .key(
            &refs.partition_key,
            aws_sdk_dynamodb::types::AttributeValue::S(client.client_id.clone()),
        )
        .condition_expression("attribute_not_exists(#sub)")
        .expression_attribute_names("#sub", trigger::config::ROW_SUB)
        .send()
        .await
        .map_err(|e| clients.err("dynamodb", "DeleteItem", e));
    match deleted {
        Ok(_) => {}
        Err(err) if err.code == "ConditionalCheckFailedException" => {}
        Err(err) => return Err(err.into()),
    }
    Ok(RemovedClient {
        name: client.name,
        client_id: client.client_id,
    })
}
