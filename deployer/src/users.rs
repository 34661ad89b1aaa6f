//! Users, their rows and their tokens: `users add|list|remove|import`, `token`, `verify`.
//! Every command finds the pool, client and table in the deployed stack's outputs.

use crate::aws::{AwsError, Connection, Target};
use crate::deploy::Clients;
use crate::error::Error;
use crate::inputs::{EventVersion, StackInputs};
use crate::output;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, ChallengeNameType, MessageActionType,
};
use aws_sdk_dynamodb::types::AttributeValue;
use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// What the user commands need from the deployed stack.
#[derive(Debug, Clone)]
pub struct StackRefs {
    pub stack: String,
    pub pool_id: String,
    pub client_id: String,
    pub table: String,
    pub partition_key: String,
    pub domain: String,
    pub region: String,
    pub event_version: String,
    /// The endpoint the SDK talks to when it is not AWS's own (the emulator).
    pub endpoint: Option<String>,
}

impl StackRefs {
    pub async fn load(
        conn: &Connection,
        clients: &Clients,
        inputs: &StackInputs,
    ) -> Result<Self, Error> {
        let stack = crate::aws::cloudformation::describe(&clients.cfn, &inputs.stack_name).await?;
        let outputs = stack
            .filter(|s| !s.in_progress())
            .map(|s| s.outputs)
            .unwrap_or_default();
        let get = |k: &str| outputs.get(k).cloned().filter(|v| !v.is_empty());
        let (Some(pool_id), Some(client_id), Some(table)) =
            (get("UserPoolId"), get("UserPoolClientId"), get("TableName"))
        else {
            return Err(Error::NotDeployed {
                stack: inputs.stack_name.clone(),
            });
        };
        Ok(Self {
            stack: inputs.stack_name.clone(),
            pool_id,
            client_id,
            table,
            partition_key: inputs.table.partition_key.clone(),
            domain: get("UserPoolDomain").unwrap_or_default(),
            region: conn.region.clone(),
            event_version: get("EventVersion")
                .unwrap_or_else(|| inputs.event_version.as_str().into()),
            endpoint: conn.endpoint.clone(),
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
        match &self.endpoint {
            Some(endpoint) => format!(
                "{}/{}/.well-known/jwks.json",
                endpoint.trim_end_matches('/'),
                self.pool_id
            ),
            None => format!("{}/.well-known/jwks.json", self.issuer()),
        }
    }

    /// The hosted UI / OAuth base: the pool domain on AWS, the emulator's gateway locally.
    pub fn auth_base(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => format!(
                "https://{}.auth.{}.amazoncognito.com",
                self.domain, self.region
            ),
        }
    }
}

/// The clients and the deployed stack's references, for every user and token command.
pub async fn open(conn: &Connection, inputs: &StackInputs) -> Result<(Clients, StackRefs), Error> {
    let clients = Clients::new(conn);
    let refs = StackRefs::load(conn, &clients, inputs).await?;
    Ok((clients, refs))
}

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
        .map_err(|e| AwsError::from_sdk("PutItem", e))?;
    Ok(())
}

/// A secret read from stdin or the environment; never from argv, never logged.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Reads a secret: the first line of stdin when `from_stdin`, else the environment variable.
pub fn read_secret(from_stdin: bool, env: &str, what: &str) -> Result<Option<Secret>, Error> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|source| Error::Io {
                what: format!("reading the {what} from stdin"),
                source,
            })?;
        let line = line.trim_end_matches(['\n', '\r']).to_owned();
        if line.is_empty() {
            return Err(Error::Usage {
                message: format!("no {what} on stdin"),
                help: format!("pipe it in, e.g. `printf '%s' \"${env}\" | deployer ...`"),
            });
        }
        return Ok(Some(Secret(line)));
    }
    Ok(std::env::var(env)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret))
}

/// A password Cognito's default policy accepts: 20 characters from all four classes.
pub fn generate_password() -> Secret {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the OS random source");
    let sets: [&[u8]; 4] = [
        b"ABCDEFGHJKLMNPQRSTUVWXYZ",
        b"abcdefghijkmnopqrstuvwxyz",
        b"23456789",
        b"-_.!",
    ];
    let password: String = bytes
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let set = sets[if i < 4 { i } else { (*b as usize) % 3 }];
            set[(*b as usize) % set.len()] as char
        })
        .collect();
    Secret(password)
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
            let mut set: Vec<String> = items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect();
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

/// What `users add` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddReport {
    pub user: String,
    /// created, or updated (the user existed).
    pub action: &'static str,
    pub row: BTreeMap<String, Value>,
    /// Set only when the password was generated; shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
}

impl fmt::Display for AddReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "user {} {}", self.user, self.action)?;
        for (k, v) in &self.row {
            writeln!(f, "  {k:<16} {v}")?;
        }
        if let Some(p) = &self.generated_password {
            writeln!(f, "generated password (shown once): {p}")?;
        }
        Ok(())
    }
}

fn row_json(row: &HashMap<String, AttributeValue>) -> BTreeMap<String, Value> {
    row.iter()
        .filter_map(|(k, v)| Some((k.clone(), trigger::claims::natural(v)?)))
        .collect()
}

/// `users add`: the pool user (created or updated) and the row.
pub async fn add(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
    email: Option<&str>,
    password: Option<Secret>,
    row: HashMap<String, AttributeValue>,
    invite: bool,
) -> Result<AddReport, Error> {
    let created = upsert_pool_user(clients, refs, user, email, invite).await?;
    let exists = !created;
    // A password is generated only for a new user given none (and no invitation).
    let generated = (created && password.is_none() && !invite).then(generate_password);
    if let Some(password) = password.as_ref().or(generated.as_ref()) {
        set_password(clients, refs, user, password).await?;
    }
    // An existing user given no row options keeps its row (e.g. only a new password).
    if exists && row.is_empty() {
        return Ok(AddReport {
            user: user.into(),
            action: "updated",
            row: BTreeMap::new(),
            generated_password: None,
        });
    }
    put_row(clients, refs, user, &row).await?;
    Ok(AddReport {
        user: user.into(),
        action: if exists { "updated" } else { "created" },
        row: row_json(&row),
        generated_password: generated.map(|p| p.0),
    })
}

/// `Ok(true)` when the call succeeded, `Ok(false)` when Cognito says there is no such user.
fn found<T>(result: Result<T, AwsError>) -> Result<bool, AwsError> {
    match result {
        Ok(_) => Ok(true),
        Err(err) if err.code == "UserNotFoundException" => Ok(false),
        Err(err) => Err(err),
    }
}

/// Creates the pool user (no invitation unless asked), or updates its email when it exists;
/// `true` when created. Shared by `users add` and `users import`.
pub async fn upsert_pool_user(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
    email: Option<&str>,
    invite: bool,
) -> Result<bool, AwsError> {
    let cognito = &clients.cognito;
    let attribute = |name: &str, value: &str| {
        AttributeType::builder()
            .name(name)
            .value(value)
            .build()
            .expect("name set")
    };
    let mut create = cognito
        .admin_create_user()
        .user_pool_id(&refs.pool_id)
        .username(user);
    if let Some(email) = email {
        create = create
            .user_attributes(attribute("email", email))
            .user_attributes(attribute("email_verified", "true"));
    }
    if !invite {
        create = create.message_action(MessageActionType::Suppress);
    }
    match create.send().await {
        Ok(_) => Ok(true),
        Err(err) => {
            let err = AwsError::from_sdk("AdminCreateUser", err);
            if err.code != "UsernameExistsException" {
                return Err(err);
            }
            if let Some(email) = email {
                cognito
                    .admin_update_user_attributes()
                    .user_pool_id(&refs.pool_id)
                    .username(user)
                    .user_attributes(attribute("email", email))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("AdminUpdateUserAttributes", e))?;
            }
            Ok(false)
        }
    }
}

/// Sets a permanent password (read from stdin, the environment or a generator; never argv).
pub async fn set_password(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
    password: &Secret,
) -> Result<(), AwsError> {
    clients
        .cognito
        .admin_set_user_password()
        .user_pool_id(&refs.pool_id)
        .username(user)
        .password(password.expose())
        .permanent(true)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("AdminSetUserPassword", e))?;
    Ok(())
}

/// What `users remove` did.
#[derive(Debug, Serialize)]
pub struct RemoveReport {
    pub user: String,
    pub removed_from_pool: bool,
    pub removed_row: bool,
}

impl fmt::Display for RemoveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "user {}: pool {}, row {}",
            self.user,
            if self.removed_from_pool {
                "removed"
            } else {
                "absent"
            },
            if self.removed_row {
                "removed"
            } else {
                "absent"
            }
        )
    }
}

/// `users remove`: the pool user and the row, both.
pub async fn remove(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
) -> Result<RemoveReport, Error> {
    let removed_from_pool = found(
        clients
            .cognito
            .admin_delete_user()
            .user_pool_id(&refs.pool_id)
            .username(user)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("AdminDeleteUser", e)),
    )?;
    let deleted = clients
        .dynamodb
        .delete_item()
        .table_name(&refs.table)
        .key(&refs.partition_key, AttributeValue::S(user.to_owned()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteItem", e))?;
    Ok(RemoveReport {
        user: user.into(),
        removed_from_pool,
        removed_row: deleted.attributes.is_some_and(|a| !a.is_empty()),
    })
}

/// One line of `users list`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntry {
    pub user: String,
    pub status: String,
    pub enabled: bool,
    pub row: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Serialize)]
pub struct UserList(pub Vec<UserEntry>);

impl fmt::Display for UserList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<24} {:<22} {:<8} row", "user", "status", "enabled")?;
        for u in &self.0 {
            let row = u
                .row
                .as_ref()
                .map(|r| serde_json::to_string(r).unwrap_or_default())
                .unwrap_or_else(|| "(no row)".into());
            writeln!(f, "{:<24} {:<22} {:<8} {row}", u.user, u.status, u.enabled)?;
        }
        Ok(())
    }
}

/// `users list`: pool users joined with their rows.
pub async fn list(clients: &Clients, refs: &StackRefs) -> Result<UserList, Error> {
    let mut users = Vec::new();
    let mut token = None;
    loop {
        let out = clients
            .cognito
            .list_users()
            .user_pool_id(&refs.pool_id)
            .set_pagination_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListUsers", e))?;
        for u in out.users.unwrap_or_default() {
            users.push(UserEntry {
                user: u.username.unwrap_or_default(),
                status: u
                    .user_status
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                enabled: u.enabled,
                row: None,
            });
        }
        token = out.pagination_token;
        if token.is_none() {
            break;
        }
    }
    for chunk in users.chunks_mut(100) {
        let keys = chunk
            .iter()
            .map(|u| {
                HashMap::from([(
                    refs.partition_key.clone(),
                    AttributeValue::S(u.user.clone()),
                )])
            })
            .collect::<Vec<_>>();
        let mut request = Some(
            aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .build()
                .expect("keys set"),
        );
        while let Some(keys) = request.take() {
            let out = clients
                .dynamodb
                .batch_get_item()
                .request_items(&refs.table, keys)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("BatchGetItem", e))?;
            for item in out
                .responses
                .unwrap_or_default()
                .remove(&refs.table)
                .unwrap_or_default()
            {
                let Some(AttributeValue::S(name)) = item.get(&refs.partition_key) else {
                    continue;
                };
                if let Some(entry) = chunk.iter_mut().find(|u| &u.user == name) {
                    let mut row = row_json(&item);
                    row.remove(&refs.partition_key);
                    entry.row = Some(row);
                }
            }
            request = out.unprocessed_keys.and_then(|mut u| u.remove(&refs.table));
        }
    }
    users.sort_by(|a, b| a.user.cmp(&b.user));
    Ok(UserList(users))
}

/// The raw tokens of a login.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawTokens {
    pub id_token: String,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub expires_in: i32,
}

/// Logs a user in with AdminInitiateAuth; each refusal gets its own message.
pub async fn login(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
    password: &Secret,
) -> Result<RawTokens, Error> {
    let out = clients
        .cognito
        .admin_initiate_auth()
        .user_pool_id(&refs.pool_id)
        .client_id(&refs.client_id)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", user)
        .auth_parameters("PASSWORD", password.expose())
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(err) => {
            let err = AwsError::from_sdk("AdminInitiateAuth", err);
            let (message, help) = match err.code.as_str() {
                "NotAuthorizedException" if err.message.contains("disabled") => {
                    (format!("user {user} is disabled"), "enable it with `aws cognito-idp admin-enable-user`, or use another user".to_owned())
                }
                "NotAuthorizedException" | "UserNotFoundException" => (
                    format!("login refused for {user}: unknown user or wrong password"),
                    "check the user name (`deployer users list`) and the password given on stdin or in DEPLOYER_PASSWORD".to_owned(),
                ),
                "PasswordResetRequiredException" => (format!("user {user} must reset the password"), "set a new one with `deployer users add USER --password-stdin`".into()),
                "UserNotConfirmedException" => (format!("user {user} is not confirmed"), "confirm it, or add it again with `deployer users add`".into()),
                "UserLambdaValidationException" | "UnexpectedLambdaException" | "InvalidLambdaResponseException" => (
                    format!("the pre-token-generation trigger failed the login: {}", err.message),
                    format!("see the function's log group /aws/lambda/{}-pretoken; a missing row or DynamoDB trouble denies logins when the inputs say so", refs.stack),
                ),
                _ => return Err(err.into()),
            };
            return Err(Error::Login { message, help });
        }
    };
    if let Some(challenge) = out.challenge_name {
        let help = match challenge {
            ChallengeNameType::NewPasswordRequired => "the user has a temporary password: set a permanent one with `deployer users add USER --password-stdin`",
            _ => "complete the challenge with the hosted UI (`deployer viewer`) or the AWS CLI",
        };
        return Err(Error::Login {
            message: format!(
                "user {user} must answer the {} challenge before getting tokens",
                challenge.as_str()
            ),
            help: help.into(),
        });
    }
    let result = out.authentication_result.ok_or_else(|| Error::Login {
        message: "Cognito returned no tokens".into(),
        help: "try again".into(),
    })?;
    Ok(RawTokens {
        id_token: result.id_token.unwrap_or_default(),
        access_token: result.access_token.unwrap_or_default(),
        refresh_token: result.refresh_token,
        expires_in: result.expires_in,
    })
}

/// Fetches the pool's signing keys.
pub async fn fetch_jwks(refs: &StackRefs) -> Result<JwkSet, Error> {
    let url = refs.jwks_url();
    let fail = |detail: String| Error::Token {
        message: format!("cannot read the pool's signing keys from {url}: {detail}"),
        help: "check the network, or that the stack is deployed".into(),
    };
    let response = reqwest::get(&url).await.map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    response
        .json::<JwkSet>()
        .await
        .map_err(|e| fail(e.to_string()))
}

/// Which token, and for which client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    Id,
    Access,
}

/// Checks a token's signature against the pool's keys, its issuer, its audience or client,
/// its use and its expiry; returns its claims.
pub fn verify_token(
    jwks: &JwkSet,
    token: &str,
    refs: &StackRefs,
    client_id: &str,
    token_use: TokenUse,
) -> Result<Map<String, Value>, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
    let kid = header.kid.ok_or("the token names no signing key (kid)")?;
    let jwk = jwks
        .find(&kid)
        .ok_or_else(|| format!("the signing key {kid} is not in the pool's JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable signing key {kid}: {e}"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[refs.issuer()]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    match token_use {
        TokenUse::Id => validation.set_audience(&[client_id]),
        TokenUse::Access => validation.validate_aud = false,
    }
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| format!("verification failed: {e}"))?;
    let claims = data.claims;
    let want_use = if token_use == TokenUse::Id {
        "id"
    } else {
        "access"
    };
    if claims.get("token_use").and_then(Value::as_str) != Some(want_use) {
        return Err(format!(
            "token_use is {:?}, expected {want_use:?}",
            claims.get("token_use")
        ));
    }
    if token_use == TokenUse::Access
        && claims.get("client_id").and_then(Value::as_str) != Some(client_id)
    {
        return Err(format!(
            "client_id is {:?}, expected {client_id:?}",
            claims.get("client_id")
        ));
    }
    Ok(claims)
}

/// The claims the mapping adds (by name), to mark them in the output.
pub fn custom_claim_names(inputs: &StackInputs) -> Vec<String> {
    inputs
        .claims
        .iter()
        .map(|m| m.claim_name().to_owned())
        .collect()
}

/// Decoded, verified tokens for display.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReport {
    pub principal: String,
    pub verified: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Map<String, Value>>,
    pub access_token: Map<String, Value>,
    /// The claims that came from the table (the claim mapping's names present in the tokens).
    pub custom_claims: Vec<String>,
}

impl fmt::Display for TokenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tokens for {} — {}", self.principal, self.verified)?;
        let mut section = |title: &str, claims: &Map<String, Value>| -> fmt::Result {
            writeln!(f, "\n{title}")?;
            let rows: Vec<(String, String)> = claims
                .iter()
                .map(|(k, v)| {
                    let mark = if self.custom_claims.contains(k) {
                        "* "
                    } else {
                        "  "
                    };
                    (format!("{mark}{k}"), v.to_string())
                })
                .collect();
            let borrowed: Vec<(&str, String)> =
                rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            output::rows(f, &borrowed)
        };
        if let Some(id) = &self.id_token {
            section("ID token", id)?;
        }
        section("access token", &self.access_token)?;
        writeln!(f, "\n* = custom claim from the table")
    }
}

/// Verifies both tokens of a user login and builds the report.
pub async fn report(
    refs: &StackRefs,
    inputs: &StackInputs,
    user: &str,
    tokens: &RawTokens,
) -> Result<TokenReport, Error> {
    let jwks = fetch_jwks(refs).await?;
    let fail = |which: &str, message: String| Error::Token {
        message: format!("the {which} token did not verify: {message}"),
        help: "the tokens were not issued by this pool for this client, or have expired".into(),
    };
    let id = verify_token(&jwks, &tokens.id_token, refs, &refs.client_id, TokenUse::Id)
        .map_err(|m| fail("ID", m))?;
    let access = verify_token(
        &jwks,
        &tokens.access_token,
        refs,
        &refs.client_id,
        TokenUse::Access,
    )
    .map_err(|m| fail("access", m))?;
    let names = custom_claim_names(inputs);
    let mut custom: Vec<String> = names
        .into_iter()
        .filter(|n| id.contains_key(n) || access.contains_key(n))
        .collect();
    custom.dedup();
    Ok(TokenReport {
        principal: user.into(),
        verified: format!(
            "signatures verified against {}; issuer, audience and expiry checked",
            refs.jwks_url()
        ),
        id_token: Some(id),
        access_token: access,
        custom_claims: custom,
    })
}

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

/// Claims Cognito writes itself; everything else in a token came from the trigger.
pub const COGNITO_CLAIMS: &[&str] = &[
    "sub",
    "iss",
    "token_use",
    "iat",
    "exp",
    "jti",
    "aud",
    "auth_time",
    "origin_jti",
    "cognito:username",
    "cognito:groups",
    "cognito:roles",
    "cognito:preferred_role",
    "client_id",
    "scope",
    "username",
    "event_id",
    "version",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "identities",
    "at_hash",
    "nonce",
];

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
        if !want.contains_key(k) && !COGNITO_CLAIMS.contains(&k.as_str()) {
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
    let mut suffix = [0u8; 4];
    getrandom::fill(&mut suffix).expect("the OS random source");
    let user = format!("deployer-verify-{}", hex::encode(suffix));
    let password = generate_password();
    let result = async {
        add(
            clients,
            refs,
            &user,
            None,
            Some(password.clone()),
            expect.row.clone(),
            false,
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
            .filter(|(k, _)| !COGNITO_CLAIMS.contains(&k.as_str()))
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

/// Whether the connection is the local emulator (for messages).
pub fn is_local(conn: &Connection) -> bool {
    conn.target == Target::Local
}
