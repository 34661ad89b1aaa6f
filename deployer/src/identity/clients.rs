//! Machine-to-machine app clients: `clients add` (a secret, the client-credentials grant on
//! the pool's resource-server scope, and the client's row) and `token --client`.

use super::refs::StackRefs;
use super::rows::put_row;
use super::secret::Secret;
use super::tokens::{self, TokenReport, TokenUse};
use crate::aws::Clients;
use crate::error::Error;
use aws_sdk_cognitoidentityprovider::types::{OAuthFlowType, ResourceServerScopeType};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;

/// The resource server and scope M2M clients get.
pub fn resource_server(refs: &StackRefs) -> (String, String) {
    let identifier = format!("{}-api", refs.stack);
    let scope = format!("{identifier}/access");
    (identifier, scope)
}

/// What `clients add` made. The secret is shown once.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientReport {
    pub name: String,
    pub client_id: String,
    /// Shown on a terminal or with --output json; else written to --secret-file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<String>,
    pub scope: String,
    pub token_endpoint: String,
    pub row: std::collections::BTreeMap<String, Value>,
}

impl fmt::Display for ClientReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::output::rows(
            f,
            &[
                ("client", self.name.clone()),
                ("client id", self.client_id.clone()),
                match (&self.client_secret, &self.secret_file) {
                    (Some(secret), _) => ("client secret (shown once)", secret.clone()),
                    (None, Some(file)) => ("client secret", format!("written to {file}")),
                    (None, None) => ("client secret", "not shown".into()),
                },
                ("scope", self.scope.clone()),
                ("token endpoint", self.token_endpoint.clone()),
                ("row", serde_json::to_string(&self.row).unwrap_or_default()),
            ],
        )
    }
}

/// `clients add`: an app client with a secret and the client-credentials grant on the pool's
/// resource server scope, and its row (keyed by the client id) for the V3_0 trigger.
pub async fn add_client(
    clients: &Clients,
    refs: &StackRefs,
    name: &str,
    row: HashMap<String, AttributeValue>,
    sink: &super::secret::SecretSink,
) -> Result<ClientReport, Error> {
    let mut ready = sink.ready("client secret")?;
    let added = async {
        let cognito = &clients.cognito;
        let (identifier, scope) = resource_server(refs);
        let existing = cognito
            .describe_resource_server()
            .user_pool_id(&refs.pool_id)
            .identifier(&identifier)
            .send()
            .await;
        if existing.is_err() {
            cognito
                .create_resource_server()
                .user_pool_id(&refs.pool_id)
                .identifier(&identifier)
                .name(&identifier)
                .scopes(
                    ResourceServerScopeType::builder()
                        .scope_name("access")
                        .scope_description("machine-to-machine access")
                        .build()
                        .expect("fields set"),
                )
                .send()
                .await
                .map_err(|e| clients.err("cognito-idp", "CreateResourceServer", e))?;
        }
        let created = cognito
            .create_user_pool_client()
            .user_pool_id(&refs.pool_id)
            .client_name(name)
            .generate_secret(true)
            .allowed_o_auth_flows(OAuthFlowType::ClientCredentials)
            .allowed_o_auth_scopes(&scope)
            .allowed_o_auth_flows_user_pool_client(true)
            .send()
            .await
            .map_err(|e| clients.err("cognito-idp", "CreateUserPoolClient", e))?;
        let client = created.user_pool_client.unwrap_or_else(|| {
            aws_sdk_cognitoidentityprovider::types::UserPoolClientType::builder().build()
        });
        let client_id = client.client_id.unwrap_or_default();
        // Into the file as soon as the client exists: a failed row write does not lose it.
        let client_secret = sink.deliver(client.client_secret.unwrap_or_default(), &mut ready)?;
        // Marked as a client's: a user whose key attribute names this id never reads it.
        let mut item = row.clone();
        item.insert(
            trigger::config::ROW_PRINCIPAL.into(),
            AttributeValue::S("client".into()),
        );
        put_row(clients, refs, &client_id, &item).await?;
        Ok::<_, Error>(ClientReport {
            name: name.into(),
            client_id,
            client_secret,
            secret_file: sink.file(),
            scope,
            token_endpoint: format!("{}/oauth2/token", refs.auth_base()),
            row: row
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), trigger::claims::natural(v)?)))
                .collect(),
        })
    }
    .await;
    // Nothing went to the file: remove the empty one `ready` made, so a retry can use it.
    sink.abandon(ready);
    added
}

/// `token --client`: the client-credentials grant at the pool's token endpoint, then the
/// access token verified like a user's.
pub async fn client_token(
    refs: &StackRefs,
    inputs: &crate::inputs::StackInputs,
    client_id: &str,
    secret: &Secret,
) -> Result<(TokenReport, String), Error> {
    let url = format!("{}/oauth2/token", refs.auth_base());
    let fail = |message: String, help: &str| Error::Login {
        message,
        help: help.into(),
    };
    let reply = crate::web::client()
        .post_form(
            &url,
            &[("grant_type", "client_credentials")],
            Some((client_id, secret.expose())),
        )
        .await
        .map_err(|e| {
            fail(
                format!("cannot reach the token endpoint {url}: {e}"),
                "check the network and that the pool has a domain",
            )
        })?;
    let status = reply.status;
    let body: Value = reply.json();
    if !status.is_success() {
        let error = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown error")
            .to_owned();
        return Err(fail(
            format!("the token endpoint refused client {client_id}: {error} (HTTP {status})"),
            "check the client id and the secret given on stdin or in DEPLOYER_CLIENT_SECRET; the client needs the client-credentials grant (`deployer clients add`)",
        ));
    }
    let access = body
        .get("access_token")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let jwks = tokens::fetch_jwks(refs).await?;
    let claims =
        tokens::verify_token(&jwks, &access, refs, client_id, TokenUse::Access).map_err(|m| {
            Error::Token {
                message: format!("the access token did not verify: {m}"),
                help: "the token was not issued by this pool for this client".into(),
            }
        })?;
    let names = tokens::custom_claim_names(inputs);
    let custom = names
        .into_iter()
        .filter(|n| claims.contains_key(n))
        .collect();
    Ok((
        TokenReport {
            principal: format!("client {client_id}"),
            verified: format!(
                "signature verified against {}; issuer, client and expiry checked",
                refs.jwks_url()
            ),
            id_token: None,
            access_token: claims,
            custom_claims: custom,
        },
        access,
    ))
}
