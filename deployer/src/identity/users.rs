//! Pool users: `users add`, `users list`, `users remove`, and the create-or-update that
//! `users import` shares.

use super::refs::StackRefs;
use super::rows::row_json;
use super::secret::{generate_password, Secret};
use crate::aws::{AwsError, Clients};
use crate::error::Error;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use trigger::config::ROW_SUB;

/// What `users add` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddReport {
    pub user: String,
    /// created, or updated (the user existed).
    pub action: &'static str,
    pub row: BTreeMap<String, Value>,
    /// Set only when the password was generated and shown (a terminal, or --output json).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
    /// Where the generated password was written instead (--secret-file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<String>,
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
        if let Some(file) = &self.secret_file {
            writeln!(f, "generated password written to {file}")?;
        }
        writeln!(
            f,
            "next: `deployer token {}` shows the claims in their tokens",
            self.user
        )
    }
}

/// `users add`: the pool user (created or updated) and the row.
pub async fn add(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
    email: Option<&str>,
    password: Option<Secret>,
    row: HashMap<String, AttributeValue>,
    (invite, replace, sink): (bool, bool, &super::secret::SecretSink),
) -> Result<AddReport, Error> {
    if row.contains_key(&refs.partition_key) {
        return Err(Error::Usage {
            message: format!("the row attribute {:?} is the table's key", refs.partition_key),
            help: "the key is the user's name, which `users add` writes itself; drop it from --set/--row".into(),
        });
    }
    // A password the pool would refuse is refused here, before anything is made.
    if let Some(password) = &password {
        check_password(clients, refs, password).await?;
    }
    // A new user given no password gets a generated one: it must have somewhere to go before
    // the user is made.
    let mut ready = super::secret::Ready::default();
    if password.is_none() && !invite && find_identity(clients, refs, user).await?.is_none() {
        ready = sink.ready("generated password")?;
    }
    let created = std::sync::atomic::AtomicBool::new(false);
    let added = async {
        let made = upsert_pool_user(clients, refs, user, email, invite).await?;
        created.store(made, std::sync::atomic::Ordering::Relaxed);
        let created = made;
        let exists = !created;
        // A password is generated only for a new user given none (and no invitation).
        let generated = (created && password.is_none() && !invite).then(generate_password);
        // The user was deleted between the first look and its creation: the file was not made.
        if generated.is_some()
            && ready.is_empty()
            && matches!(sink, super::secret::SecretSink::File(_))
        {
            ready = sink.ready("generated password")?;
        }
        if let Some(password) = password.as_ref().or(generated.as_ref()) {
            set_password(clients, refs, user, password).await?;
        }
        // The pool is case-insensitive: the row goes under the name Cognito keeps (the one the
        // trigger is given), bound to the user's immutable sub.
        let identity = pool_identity(clients, refs, user).await?;
        let shown = write_row(clients, refs, &identity, (exists, replace), row).await?;
        // Handed over last, once the user is whole: a failure before takes a new user back out,
        // and its password with it.
        let secret_file = generated.as_ref().and_then(|_| sink.file());
        let generated_password = match generated {
            Some(secret) => sink.deliver(secret.into_inner(), &mut ready)?,
            None => None,
        };
        Ok::<_, Error>(AddReport {
            user: identity.name,
            action: if exists { "updated" } else { "created" },
            row: shown.unwrap_or_default(),
            secret_file,
            generated_password,
        })
    }
    .await;
    // A user this run made is made whole or not at all: a later step that failed (its
    // password, its row) takes it back out of the pool.
    if added.is_err() && created.load(std::sync::atomic::Ordering::Relaxed) {
        if let Err(err) = delete_pool_user(clients, refs, user).await {
            tracing::warn!(
                "user {user} was made but not finished, and could not be taken out again ({err}): remove it with `deployer users remove {user}`"
            );
        }
    }
    // No password went to the file (a failure before it was set, or the user was made
    // meanwhile by someone else): remove the empty file `ready` made.
    sink.abandon(ready);
    added
}

/// Writes the user's row, bound to its sub: merged into the row there, or as given with
/// `replace`. An existing user given no row options keeps its row (`None`: e.g. only a new
/// password). The row as written, for the report.
async fn write_row(
    clients: &Clients,
    refs: &StackRefs,
    identity: &PoolIdentity,
    (exists, replace): (bool, bool),
    mut row: HashMap<String, AttributeValue>,
) -> Result<Option<BTreeMap<String, Value>>, Error> {
    if exists && row.is_empty() {
        return Ok(None);
    }
    let shown = row_json(&row);
    let key = identity.row_key(refs)?;
    row.insert(ROW_SUB.into(), AttributeValue::S(identity.sub.clone()));
    let refused = || super::rows::shared_key(refs, &identity.name, key);
    if replace {
        let mut item = row.clone();
        item.insert(
            refs.partition_key.clone(),
            AttributeValue::S(key.to_owned()),
        );
        if !super::rows::put_own_row(clients, refs, item).await? {
            return Err(refused());
        }
    } else {
        match super::rows::merge_row(clients, refs, key, &row, &identity.sub).await {
            Err(e) if e.code == "ConditionalCheckFailedException" => return Err(refused()),
            other => other?,
        }
    }
    Ok(Some(shown))
}

/// Refuses a password the pool's policy would refuse, saying the policy (exit 2).
pub async fn check_password(
    clients: &Clients,
    refs: &StackRefs,
    password: &Secret,
) -> Result<(), Error> {
    let policy = super::password::read(clients, refs).await?;
    let problems = policy.problems(password.expose());
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::Usage {
        message: format!(
            "the password does not meet the pool's policy: {}",
            problems.join("; ")
        ),
        help: format!(
            "the pool asks for {}; give another (nothing was created)",
            policy.describe()
        ),
    })
}

/// Removes `user` from the pool (a user this run made and could not finish).
pub async fn delete_pool_user(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
) -> Result<(), AwsError> {
    clients
        .cognito
        .admin_delete_user()
        .user_pool_id(&refs.pool_id)
        .username(user)
        .send()
        .await
        .map_err(|e| clients.err("cognito-idp", "AdminDeleteUser", e))?;
    Ok(())
}

/// A pool user as Cognito keeps it: the canonical user name and the immutable sub.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolIdentity {
    pub name: String,
    pub sub: String,
    /// What keys the user's row: the name, or the value of `table.userKeyAttribute` (empty
    /// when the user has no such attribute).
    pub key: String,
}

impl PoolIdentity {
    /// The row key, or why there is none.
    pub fn row_key(&self, refs: &StackRefs) -> Result<&str, Error> {
        match (&refs.user_key_attribute, self.key.is_empty()) {
            (Some(attribute), true) => Err(Error::Usage {
                message: format!("user {} has no {attribute} attribute, which keys its row (table.userKeyAttribute)", self.name),
                help: "give the user the attribute (`aws cognito-idp admin-update-user-attributes`), or key rows by user name (remove table.userKeyAttribute)".into(),
            }),
            _ => Ok(&self.key),
        }
    }
}

/// The value that keys `name`'s row among the user's `attributes`.
/// The trigger's own rule (`trigger::claims::key_value`): an email or phone number keys a
/// row only once verified.
fn row_key_of(refs: &StackRefs, name: &str, attributes: &[AttributeType]) -> String {
    let Some(key) = &refs.user_key_attribute else {
        return name.to_owned();
    };
    let map = trigger::event::UserAttributes(
        attributes
            .iter()
            .map(|a| (a.name.clone(), a.value.clone()))
            .collect(),
    );
    trigger::claims::key_value(&map, key)
        .unwrap_or_default()
        .to_owned()
}

/// The canonical name and sub of `user` (any letter case: the pool is case-insensitive);
/// `None` when there is no such user.
pub async fn find_identity(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
) -> Result<Option<PoolIdentity>, AwsError> {
    Ok(find_user(clients, refs, user)
        .await?
        .map(|(identity, _)| identity))
}

/// `find_identity`, with whether the user has never had a password of their own
/// (FORCE_CHANGE_PASSWORD: Cognito API reference, UserStatusType: made by an administrator,
/// not yet signed in with a password they chose). One AdminGetUser.
pub async fn find_user(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
) -> Result<Option<(PoolIdentity, bool)>, AwsError> {
    let out = clients
        .cognito
        .admin_get_user()
        .user_pool_id(&refs.pool_id)
        .username(user)
        .send()
        .await
        .map_err(|e| clients.err("cognito-idp", "AdminGetUser", e));
    let out = match out {
        Ok(out) => out,
        Err(err) if err.code == "UserNotFoundException" => return Ok(None),
        Err(err) => return Err(err),
    };
    let unclaimed = out.user_status
        == Some(aws_sdk_cognitoidentityprovider::types::UserStatusType::ForceChangePassword);
    let attributes = out.user_attributes.unwrap_or_default();
    let sub = attributes
        .iter()
        .find(|a| a.name == "sub")
        .and_then(|a| a.value.clone())
        .unwrap_or_default();
    Ok(Some((
        PoolIdentity {
            key: row_key_of(refs, &out.username, &attributes),
            name: out.username,
            sub,
        },
        unclaimed,
    )))
}

/// The identity of a user that exists (just created or updated).
pub async fn pool_identity(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
) -> Result<PoolIdentity, AwsError> {
    find_identity(clients, refs, user)
        .await?
        .filter(|i| !i.sub.is_empty())
        .ok_or_else(|| AwsError {
            service: "cognito-idp",
            operation: "AdminGetUser",
            code: "UserNotFoundException".into(),
            message: format!("user {user} was not found right after it was written"),
            kind: crate::aws::ErrorKind::NotFound,
            principal: None,
            detail: String::new(),
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
            let err = clients.err("cognito-idp", "AdminCreateUser", err);
            if err.code != "UsernameExistsException" {
                return Err(err);
            }
            if let Some(email) = email {
                // Verified, as on a new user: an unverified email keys no row.
                cognito
                    .admin_update_user_attributes()
                    .user_pool_id(&refs.pool_id)
                    .username(user)
                    .user_attributes(attribute("email", email))
                    .user_attributes(attribute("email_verified", "true"))
                    .send()
                    .await
                    .map_err(|e| clients.err("cognito-idp", "AdminUpdateUserAttributes", e))?;
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
        .map_err(|e| clients.err("cognito-idp", "AdminSetUserPassword", e))?;
    Ok(())
}

/// What `users remove` did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveReport {
    pub user: String,
    pub removed_from_pool: bool,
    pub removed_row: bool,
}

impl fmt::Display for RemoveReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let said = |removed: bool, what: &str| match removed {
            true => format!("removed from the {what}"),
            false => format!("not in the {what}"),
        };
        writeln!(
            f,
            "user {}: {}, its row {}",
            self.user,
            said(self.removed_from_pool, "pool"),
            said(self.removed_row, "table")
        )
    }
}

/// `users remove`: the pool user and the row, both.
pub async fn remove(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
) -> Result<RemoveReport, Error> {
    // The row is under the name Cognito keeps, whatever case was typed (or the attribute
    // that keys rows), read before the user is gone.
    let identity = find_identity(clients, refs, user).await?;
    let sub = identity.as_ref().map(|i| i.sub.clone());
    let key = match (&identity, &refs.user_key_attribute) {
        (Some(i), _) => i.key.clone(),
        (None, None) => user.to_owned(),
        // No user left to read the attribute from: its row cannot be found by name.
        (None, Some(_)) => String::new(),
    };
    let user = &identity.map_or_else(|| user.to_owned(), |i| i.name);
    let removed_from_pool = found(
        clients
            .cognito
            .admin_delete_user()
            .user_pool_id(&refs.pool_id)
            .username(user)
            .send()
            .await
            .map_err(|e| clients.err("cognito-idp", "AdminDeleteUser", e)),
    )?;
    let deleted = match key.is_empty() {
        true => None,
        false => delete_own_row(clients, refs, key, sub.as_deref()).await?,
    };
    Ok(RemoveReport {
        user: user.into(),
        removed_from_pool,
        removed_row: deleted.is_some_and(|a| !a.is_empty()),
    })
}

/// Deletes the row under `key` unless it is bound to another user than `sub` (with rows keyed
/// by an attribute, another living user who shares the value). The row removed, if any.
async fn delete_own_row(
    clients: &Clients,
    refs: &StackRefs,
    key: String,
    sub: Option<&str>,
) -> Result<Option<HashMap<String, AttributeValue>>, Error> {
    let mut delete = clients
        .dynamodb
        .delete_item()
        .table_name(&refs.table)
        .key(&refs.partition_key, AttributeValue::S(key.clone()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld);
    // Never a machine client's row; with rows keyed by an attribute, only this user's own
    // (another user may share the value, and an unbound row may be anyone's).
    delete = delete
        .condition_expression("attribute_not_exists(#kind)")
        .expression_attribute_names("#kind", trigger::config::ROW_PRINCIPAL);
    if let (Some(_), Some(sub)) = (&refs.user_key_attribute, sub) {
        delete = delete
            .condition_expression("attribute_not_exists(#kind) AND #sub = :sub")
            .expression_attribute_names("#sub", ROW_SUB)
            .expression_attribute_values(":sub", AttributeValue::S(sub.to_owned()));
    }
    match delete
        .send()
        .await
        .map_err(|e| clients.err("dynamodb", "DeleteItem", e))
    {
        Ok(out) => Ok(out.attributes),
        // DynamoDB API reference, DeleteItem: ConditionalCheckFailedException (400).
        Err(e) if e.code == "ConditionalCheckFailedException" => {
            tracing::warn!(
                key,
                "the row under this key is another user's: left as it is"
            );
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// One line of `users list`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntry {
    pub user: String,
    pub status: String,
    pub enabled: bool,
    pub row: Option<BTreeMap<String, Value>>,
    /// The row holds another user's sub: it belonged to an earlier user of this name, and the
    /// trigger gives its claims to nobody. Re-run `users add` to bind it to this user.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale_row: bool,
    #[serde(skip)]
    sub: Option<String>,
    /// What keys the user's row (`PoolIdentity::key`).
    #[serde(skip)]
    key: String,
}

#[derive(Debug, Serialize)]
pub struct UserList(pub Vec<UserEntry>);

impl fmt::Display for UserList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return writeln!(
                f,
                "no users in the pool (`deployer users add NAME` makes one)"
            );
        }
        writeln!(f, "{:<24} {:<22} {:<8} row", "user", "status", "enabled")?;
        for u in &self.0 {
            let row = u
                .row
                .as_ref()
                .map(|r| serde_json::to_string(r).unwrap_or_default())
                .unwrap_or_else(|| "(no row)".into());
            let stale = if u.stale_row {
                "  (the row of an earlier user of this name: its claims go to nobody)"
            } else {
                ""
            };
            writeln!(
                f,
                "{:<24} {:<22} {:<8} {row}{stale}",
                u.user, u.status, u.enabled
            )?;
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
            .map_err(|e| clients.err("cognito-idp", "ListUsers", e))?;
        for u in out.users.unwrap_or_default() {
            let name = u.username.clone().unwrap_or_default();
            let key = row_key_of(refs, &name, u.attributes());
            users.push(UserEntry {
                key,
                user: name,
                status: u
                    .user_status
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                enabled: u.enabled,
                row: None,
                stale_row: false,
                sub: u
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .find(|a| a.name == "sub")
                    .and_then(|a| a.value),
            });
        }
        token = out.pagination_token;
        if token.is_none() {
            break;
        }
    }
    for chunk in users.chunks_mut(100) {
        attach_rows(clients, refs, chunk).await?;
    }
    users.sort_by(|a, b| a.user.cmp(&b.user));
    Ok(UserList(users))
}

/// Each user's row (up to 100 users, one BatchGetItem and its unprocessed keys), and whether
/// it is another user's of the same name (its `sub` differs).
async fn attach_rows(
    clients: &Clients,
    refs: &StackRefs,
    chunk: &mut [UserEntry],
) -> Result<(), Error> {
    let keys = chunk.iter().map(|u| u.key.clone());
    for item in super::rows::batch_rows(clients, refs, keys, None).await? {
        let Some(AttributeValue::S(name)) = item.get(&refs.partition_key) else {
            continue;
        };
        // Users keyed by an attribute may share a value: each gets the row.
        for entry in chunk.iter_mut().filter(|u| &u.key == name) {
            let mut row = row_json(&item);
            row.remove(&refs.partition_key);
            let owner = row.remove(ROW_SUB);
            entry.stale_row = match (owner, &entry.sub) {
                (Some(Value::String(owner)), Some(sub)) => &owner != sub,
                _ => false,
            };
            entry.row = Some(row);
        }
    }
    Ok(())
}

/// A pool group as a login's event lists it.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub role_arn: Option<String>,
    pub precedence: Option<i32>,
}

/// A pool user as a login's event carries them: the name Cognito keeps, the attributes and
/// the groups (with their roles).
pub struct PoolUser {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub groups: Vec<Group>,
}

/// The pool's user `name` (any letter case), or `None` when there is no such user.
pub async fn pool_user(
    clients: &Clients,
    pool: &str,
    name: &str,
) -> Result<Option<PoolUser>, Error> {
    let user = clients
        .cognito
        .admin_get_user()
        .user_pool_id(pool)
        .username(name)
        .send()
        .await
        .map_err(|e| clients.err("cognito-idp", "AdminGetUser", e));
    let user = match user {
        Ok(u) => u,
        Err(e) if e.is(crate::aws::ErrorKind::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let attributes = user
        .user_attributes
        .unwrap_or_default()
        .into_iter()
        .map(|a| (a.name, a.value.unwrap_or_default()))
        .collect();
    let groups = clients
        .cognito
        .admin_list_groups_for_user()
        .user_pool_id(pool)
        .username(&user.username)
        .send()
        .await
        .map_err(|e| clients.err("cognito-idp", "AdminListGroupsForUser", e))?
        .groups
        .unwrap_or_default()
        .into_iter()
        .map(|g| Group {
            name: g.group_name.unwrap_or_default(),
            role_arn: g.role_arn,
            precedence: g.precedence,
        })
        .collect();
    Ok(Some(PoolUser {
        name: user.username,
        attributes,
        groups,
    }))
}

/// The name of the pool user whose immutable `sub` this is, if there is one (ListUsers with
/// the filter `sub = "..."`; Cognito API reference, ListUsers: quotation marks in the filter
/// are escaped with a backslash).
pub async fn user_by_sub(
    clients: &Clients,
    pool: &str,
    sub: &str,
) -> Result<Option<String>, AwsError> {
    let escaped = sub.replace('\\', "\\\\").replace('"', "\\\"");
    let found = clients
        .cognito
        .list_users()
        .user_pool_id(pool)
        .filter(format!("sub = \"{escaped}\""))
        .limit(1)
        .send()
        .await
        .map_err(|e| clients.err("cognito-idp", "ListUsers", e))?;
    Ok(found
        .users()
        .first()
        .and_then(|u| u.username())
        .map(str::to_owned))
}
