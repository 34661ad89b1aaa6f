//! What the user, token and client commands need from the deployed stack: its pool, client,
//! table and domain, read from the stack's outputs.

use crate::aws::{cfn, Clients, Connection};
use crate::error::Error;
use crate::inputs::StackInputs;
use crate::stack::output;
use crate::stack::{FINGERPRINT_OUTPUT, MANAGED_BY};

/// What the user commands need from the deployed stack.
#[derive(Debug, Clone)]
pub struct StackRefs {
    pub stack: String,
    pub pool_id: String,
    pub client_id: String,
    pub table: String,
    pub partition_key: String,
    /// The user attribute whose value keys a user's row (`table.userKeyAttribute`); `None`:
    /// the user name.
    pub user_key_attribute: Option<String>,
    pub domain: String,
    pub region: String,
    pub event_version: String,
    /// The trigger function (its log group is `/aws/lambda/<function>`).
    pub function: String,
    /// What the pool calls: the function's alias (`TriggerArn`), or the function for a stack
    /// deployed before it had one. `invoke` calls this, so it runs what logins run.
    pub trigger: String,
    /// The endpoint the SDK talks to when it is not AWS's own (the emulator).
    pub endpoint: Option<String>,
    /// The API's base URL (a stack with an `api`): its $default stage, on the emulator's
    /// endpoint for a local stack.
    pub api_endpoint: Option<String>,
    /// The API's authorizer function (its log group is `/aws/lambda/<function>`).
    pub authorizer: Option<String>,
}

/// The commands that use a deployed stack (users, tokens, clients, logs, invoke, status, the
/// viewer) act only on the deployer's own stacks: a foreign one of the same name is left
/// alone, exit 2, as `up` and `down` leave it.
pub fn refuse_foreign(found: &crate::stack::Stack) -> Result<(), Error> {
    if found.is_ours() {
        return Ok(());
    }
    Err(Error::Refused {
        stack: found.name.clone(),
        status: found.status.as_str().to_owned(),
        why: format!(
            "the deployer did not make it (no {}={} tag and {} parameter)",
            MANAGED_BY.0, MANAGED_BY.1, FINGERPRINT_OUTPUT
        ),
        help: "check stackName and the region in the inputs; `deployer up --adopt` takes a stack over on purpose".into(),
    })
}

impl StackRefs {
    pub async fn load(
        conn: &Connection,
        clients: &Clients,
        inputs: &StackInputs,
    ) -> Result<Self, Error> {
        let stack = cfn::describe(clients, &inputs.stack_name).await?;
        if let Some(found) = &stack {
            refuse_foreign(found)?;
        }
        let outputs = stack
            .filter(|s| !s.in_progress())
            .map(|s| s.outputs)
            .unwrap_or_default();
        let emulator = conn.endpoint.as_deref().filter(|_| clients.emulator);
        let outputs = crate::stack::localized(outputs, emulator);
        let get = |k: &str| outputs.get(k).cloned().filter(|v| !v.is_empty());
        // A stack on an existing pool may have no client of its own (userPool.appClient,
        // userPool.clients): the commands that sign in say so (`require_client`).
        let client_id = get(output::USER_POOL_CLIENT_ID).unwrap_or_default();
        let (Some(pool_id), Some(table)) = (get(output::USER_POOL_ID), get(output::TABLE_NAME))
        else {
            return Err(Error::NotDeployed {
                stack: inputs.stack_name.clone(),
                region: clients.region.clone(),
            });
        };
        Ok(Self {
            stack: inputs.stack_name.clone(),
            pool_id,
            client_id,
            table,
            partition_key: inputs.table.partition_key.clone(),
            user_key_attribute: inputs.table.user_key_attribute.clone(),
            domain: get("UserPoolDomain").unwrap_or_default(),
            region: conn.region.clone(),
            event_version: get("EventVersion")
                .unwrap_or_else(|| inputs.event_version.as_str().into()),
            function: get(output::FUNCTION_NAME).unwrap_or_default(),
            trigger: get(output::TRIGGER_ARN)
                .or_else(|| get(output::FUNCTION_NAME))
                .unwrap_or_default(),
            endpoint: conn.endpoint.clone(),
            api_endpoint: get(output::API_ENDPOINT),
            authorizer: get(output::AUTHORIZER_FUNCTION_NAME),
        })
    }

    /// The pool's issuer, as Cognito writes it into `iss` (the emulator uses the same form).
    pub fn issuer(&self) -> String {
        format!(
            "https://cognito-idp.{}.amazonaws.com/{}",
            self.region, self.pool_id
        )
    }

    /// Where the pool's signing keys are served: AWS's issuer URL, or the emulator's endpoint.
    pub fn jwks_url(&self) -> String {
        authorizer::keys::jwks_url(&self.issuer(), &self.pool_id, self.endpoint.as_deref())
    }

    /// The hosted UI / OAuth base: the pool domain on AWS (a custom domain as it is), the
    /// emulator's gateway locally.
    pub fn auth_base(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None if self.domain.contains('.') => format!("https://{}", self.domain),
            None => format!(
                "https://{}.auth.{}.amazoncognito.com",
                self.domain, self.region
            ),
        }
    }

    /// The app client the sign-in commands use; a stack on an existing pool may have none.
    pub fn require_client(&self) -> Result<&str, Error> {
        if self.client_id.is_empty() {
            return Err(Error::Usage {
                message: format!(
                    "stack {} has no app client to sign in with (it runs on user pool {}, with no userPool.appClient and no userPool.clients)",
                    self.stack, self.pool_id
                ),
                help: "set \"appClient\": true under userPool (the deployer makes a client of its own in the pool), or list the pool's clients in userPool.clients (the first must allow ALLOW_ADMIN_USER_PASSWORD_AUTH), then `deployer up`".into(),
            });
        }
        Ok(&self.client_id)
    }

    /// An existing pool's own domain (prefix or custom), for the hosted UI: the stack makes
    /// none there.
    pub async fn with_pool_domain(mut self, clients: &Clients) -> Result<Self, Error> {
        if !self.domain.is_empty() {
            return Ok(self);
        }
        let pool = clients
            .cognito
            .describe_user_pool()
            .user_pool_id(&self.pool_id)
            .send()
            .await
            .map_err(|e| clients.err("cognito-idp", "DescribeUserPool", e))?;
        let pool = pool.user_pool.unwrap_or_else(|| {
            aws_sdk_cognitoidentityprovider::types::UserPoolType::builder().build()
        });
        self.domain = pool
            .custom_domain()
            .or(pool.domain())
            .unwrap_or_default()
            .to_owned();
        if self.domain.is_empty() && self.endpoint.is_none() {
            return Err(Error::Usage {
                message: format!("user pool {} has no domain: the viewer signs in through the hosted UI", self.pool_id),
                help: "give the pool a domain (console: App integration > Domain), or see the claims with `deployer token USER`".into(),
            });
        }
        Ok(self)
    }
}
