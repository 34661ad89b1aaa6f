//! `plan --claims` and `status --sizes`: the principals' tokens under the deployed mapping
//! and under the inputs', from real rows and users. Reads only: a paged, projected Scan
//! bounded by `--sample`, and the users' attributes and groups.

use crate::aws::{cfn, Clients, ErrorKind};
use crate::commands::invoke::{client_event, user_event, Group, UserEvent};
use crate::error::Error;
use crate::identity::users;
use crate::inputs::StackInputs;
use crate::preview::{self, Change, Event, Issued, Mapping, Principal, Tokens};
use crate::stack::output;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use trigger::claims::Row;
use trigger::config::{TriggerConfig, CONFIG_ENV, ROW_PRINCIPAL, ROW_SUB};
use trigger::event::EventVersion;

/// Which principals to preview.
#[derive(Debug, Clone, Default)]
pub struct Who {
    /// Rows sampled from the table, at most this many.
    pub sample: usize,
    pub users: Vec<String>,
    pub clients: Vec<String>,
}

impl From<&crate::cli::SampleArgs> for Who {
    fn from(a: &crate::cli::SampleArgs) -> Self {
        Self {
            sample: usize::from(a.sample),
            users: a.users.clone(),
            clients: a.clients.clone(),
        }
    }
}

/// `plan --claims`: exit 10 with `--detailed-exitcode` when any principal's tokens change.
pub async fn run_plan(
    s: &super::session::Session<'_>,
    args: &crate::cli::PlanArgs,
) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let clients = s.clients(&inputs).await?;
    let report = claims(&clients, &inputs, &Who::from(&args.who), false).await?;
    s.print(&report);
    Ok(match (report.changed, args.detailed_exitcode) {
        (true, true) => crate::error::exit::CLAIMS_CHANGE,
        _ => crate::error::exit::SUCCESS,
    })
}

/// The Scan's page: small, so a sample never takes much of a table's read capacity.
const PAGE: i32 = 25;

/// What the deployed stack says, when there is one.
struct Deployed {
    pool_id: String,
    client_id: String,
    table: String,
    mapping: Option<Mapping>,
}

/// One principal in the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrincipalReport {
    pub principal: String,
    /// `user` or `client`.
    pub kind: &'static str,
    pub changes: Vec<Change>,
    /// What its tokens carry under the inputs' mapping (the deployed one for `status --sizes`).
    pub tokens: Tokens,
    /// Under the deployed mapping, for the sizes before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Tokens>,
}

/// The preview.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimsReport {
    pub stack: String,
    /// Whether a deployed mapping was compared (else every claim is added).
    pub deployed: bool,
    pub principals: Vec<PrincipalReport>,
    /// `token claim` -> kind of change -> how many principals.
    pub summary: BTreeMap<String, BTreeMap<String, usize>>,
    /// For each downstream limit, the principals whose tokens pass it, largest first.
    pub over_limits: BTreeMap<String, Vec<(String, usize)>>,
    pub notes: Vec<String>,
    /// Any principal's tokens change.
    pub changed: bool,
    /// `status --sizes`: the deployed mapping measured, nothing compared.
    #[serde(skip)]
    pub sizes_only: bool,
}

/// `plan --claims` (`sizes_only`: `status --sizes`, the deployed mapping alone).
pub async fn claims(
    clients: &Clients,
    inputs: &StackInputs,
    who: &Who,
    sizes_only: bool,
) -> Result<ClaimsReport, Error> {
    let mut notes = Vec::new();
    let deployed = deployed(clients, inputs).await?;
    let new = Mapping {
        config: inputs.trigger_config(),
        event_version: inputs.event_version.as_str().into(),
    };
    let old = deployed.as_ref().and_then(|d| d.mapping.clone());
    if old.is_none() {
        notes.push(match sizes_only {
            true => "the stack is not deployed: no mapping to measure".into(),
            false => "the stack is not deployed: every claim is added".into(),
        });
        if sizes_only {
            return Ok(report(inputs, Vec::new(), notes, false, true));
        }
    }
    let mappings: Vec<&Mapping> = old.iter().chain(Some(&new)).collect();
    let context = context(clients, inputs, deployed.as_ref(), &mappings);
    let principals = principals(&context, who, &mappings, &mut notes).await?;
    let mut out = Vec::new();
    for p in &principals {
        let before = old.as_ref().map(|m| preview::tokens(p, m));
        let (tokens, changes) = match sizes_only {
            true => (before.clone().unwrap_or_default(), Vec::new()),
            false => {
                let after = preview::tokens(p, &new);
                let changes = preview::diff(&before.clone().unwrap_or_default(), &after);
                (after, changes)
            }
        };
        out.push(PrincipalReport {
            principal: p.name.clone(),
            kind: if p.client { "client" } else { "user" },
            changes,
            tokens,
            before: before.filter(|_| !sizes_only),
        });
    }
    let changed = out.iter().any(|p| !p.changes.is_empty());
    Ok(report(inputs, out, notes, changed, sizes_only))
}

/// Where the principals are read from: the deployed stack's pool and table (else the
/// inputs'), the attributes the mappings read.
fn context<'a>(
    clients: &'a Clients,
    inputs: &StackInputs,
    deployed: Option<&Deployed>,
    mappings: &[&Mapping],
) -> Context<'a> {
    let table = deployed
        .map(|d| d.table.clone())
        .unwrap_or_else(|| inputs.table_name());
    Context {
        clients,
        pool: deployed.map(|d| d.pool_id.clone()),
        client: deployed.map(|d| d.client_id.clone()).unwrap_or_default(),
        table,
        partition_key: inputs.table.partition_key.clone(),
        attributes: projected(mappings, &inputs.table.partition_key),
        region: clients.region.clone(),
    }
}

/// The token payloads (ID, access) each of `who` gets from the deployed stack: Cognito's own
/// claims with the trigger's over them, computed by the trigger's own code from the
/// principal's row and pool attributes (as `plan --claims` computes them).
pub async fn deployed_payloads(
    clients: &Clients,
    inputs: &StackInputs,
    who: &Who,
) -> Result<Vec<(Principal, preview::Payload, preview::Payload)>, Error> {
    let deployed = deployed(clients, inputs).await?;
    let Some(mapping) = deployed.as_ref().and_then(|d| d.mapping.clone()) else {
        return Err(Error::NotDeployed {
            stack: inputs.stack_name.clone(),
            region: clients.region.clone(),
        });
    };
    let context = context(clients, inputs, deployed.as_ref(), &[&mapping]);
    let mut notes = Vec::new();
    let principals = principals(&context, who, &[&mapping], &mut notes).await?;
    principals
        .into_iter()
        .map(|p| {
            let (id, access) = preview::payloads(&p, &mapping).map_err(|e| Error::Usage {
                message: format!("{}: {e}", p.name),
                help: "see `deployer invoke` for what the trigger answers".into(),
            })?;
            Ok((p, id, access))
        })
        .collect()
}

fn report(
    inputs: &StackInputs,
    principals: Vec<PrincipalReport>,
    notes: Vec<String>,
    changed: bool,
    sizes_only: bool,
) -> ClaimsReport {
    let sizes: Vec<(String, usize, Option<usize>)> = principals
        .iter()
        .map(|p| {
            (
                p.principal.clone(),
                p.tokens.id_token_bytes,
                p.tokens.access_token_bytes,
            )
        })
        .collect();
    ClaimsReport {
        stack: inputs.stack_name.clone(),
        deployed: !notes
            .iter()
            .any(|n| n.starts_with("the stack is not deployed")),
        summary: preview::summary(principals.iter().map(|p| &p.changes)),
        over_limits: preview::over_limits(&sizes).into_iter().collect(),
        principals,
        notes,
        changed,
        sizes_only,
    }
}

/// The deployed stack's pool, client, table and mapping (read from the function the pool
/// calls, through its alias), or `None` when it is not deployed.
async fn deployed(clients: &Clients, inputs: &StackInputs) -> Result<Option<Deployed>, Error> {
    let Some(stack) = cfn::describe(clients, &inputs.stack_name).await? else {
        return Ok(None);
    };
    crate::identity::refs::refuse_foreign(&stack)?;
    if stack.in_progress() || !stack.outputs.contains_key(output::TABLE_NAME) {
        return Ok(None);
    }
    let get = |k: &str| stack.outputs.get(k).cloned().unwrap_or_default();
    let (function, trigger) = (get(output::FUNCTION_NAME), get(output::TRIGGER_ARN));
    let qualifier = trigger.strip_prefix(&format!("{}:", get(output::FUNCTION_ARN)));
    let config = clients
        .lambda
        .get_function_configuration()
        .function_name(&function)
        .set_qualifier(qualifier.map(str::to_owned))
        .send()
        .await
        .map_err(|e| clients.err("lambda", "GetFunctionConfiguration", e))?;
    let raw = config
        .environment()
        .and_then(|e| e.variables())
        .and_then(|v| v.get(CONFIG_ENV));
    let mapping = raw
        .map(|raw| {
            TriggerConfig::from_json(raw).map_err(|e| Error::Usage {
                message: format!("the deployed function's {CONFIG_ENV} does not read: {e}"),
                help:
                    "`deployer status` shows what runs; `deployer up` deploys the inputs' mapping"
                        .into(),
            })
        })
        .transpose()?
        .map(|config| Mapping {
            config,
            event_version: get(output::EVENT_VERSION),
        });
    Ok(Some(Deployed {
        pool_id: get(output::USER_POOL_ID),
        client_id: get(output::USER_POOL_CLIENT_ID),
        table: get(output::TABLE_NAME),
        mapping,
    }))
}

/// What the reads share.
struct Context<'a> {
    clients: &'a Clients,
    pool: Option<String>,
    client: String,
    table: String,
    partition_key: String,
    /// The row attributes either mapping reads, the key, the owner and the kind.
    attributes: Vec<String>,
    region: String,
}

fn projected(mappings: &[&Mapping], key: &str) -> Vec<String> {
    let mut names = BTreeSet::from([key.to_owned(), ROW_SUB.to_owned(), ROW_PRINCIPAL.to_owned()]);
    for m in mappings {
        names.extend(
            m.config
                .projected_attributes()
                .into_iter()
                .map(str::to_owned),
        );
    }
    names.into_iter().collect()
}

/// The principals: the named users and clients, or a sample of the table's rows.
async fn principals(
    c: &Context<'_>,
    who: &Who,
    mappings: &[&Mapping],
    notes: &mut Vec<String>,
) -> Result<Vec<Principal>, Error> {
    let mut out = Vec::new();
    let named = !who.users.is_empty() || !who.clients.is_empty();
    for client in &who.clients {
        let row = get_row(c, client).await?;
        out.push(client_principal(c, client, row));
    }
    let users: Vec<(String, Option<Row>)> = match named {
        true => who.users.iter().map(|u| (u.clone(), None)).collect(),
        false => {
            let rows = scan(c, who.sample, notes).await?;
            let mut users = Vec::new();
            for (key, row) in rows {
                match row.get(ROW_PRINCIPAL) {
                    Some(AttributeValue::S(p)) if p == "client" => {
                        out.push(client_principal(c, &key, Some(row)))
                    }
                    _ => users.push((key, Some(row))),
                }
            }
            users
        }
    };
    // What the table's keys are: the deployed mapping's (the first), else the inputs'.
    let table_key = mappings
        .first()
        .and_then(|m| m.config.user_key_attribute.clone());
    let found: Vec<Result<Principal, Error>> = futures::stream::iter(users)
        .map(|(name, row)| {
            // A named user is looked up by name; a sampled row by its key when the keys are
            // user names, else by the sub it is bound to.
            let lookup = match (&row, &table_key) {
                (None, _) | (Some(_), None) => Lookup::Name,
                (Some(row), Some(attribute)) => match row.get(ROW_SUB) {
                    Some(AttributeValue::S(sub)) => Lookup::Sub(sub.clone(), attribute.clone()),
                    _ => Lookup::Unknown(attribute.clone()),
                },
            };
            user_principal(c, name, row, lookup, mappings)
        })
        .buffered(8)
        .collect()
        .await;
    for p in found {
        out.push(p?);
    }
    Ok(out)
}

/// Up to `limit` rows, a small page at a time, projected to what the mappings read.
async fn scan(
    c: &Context<'_>,
    limit: usize,
    notes: &mut Vec<String>,
) -> Result<Vec<(String, Row)>, Error> {
    let (projection, names) = placeholders(&c.attributes);
    let mut rows = Vec::new();
    let mut start = None;
    // Items read, whatever their key: the bound holds even for rows this key does not name.
    let mut read = 0;
    while read < limit {
        let page = c
            .clients
            .dynamodb
            .scan()
            .table_name(&c.table)
            .limit(PAGE.min((limit - read) as i32))
            .projection_expression(&projection)
            .set_expression_attribute_names(Some(names.clone()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| c.clients.err("dynamodb", "Scan", e));
        let page = match page {
            Ok(p) => p,
            Err(e) if e.is(ErrorKind::NotFound) => {
                notes.push(format!(
                    "table {} does not exist yet: no rows to preview",
                    c.table
                ));
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        let items = page.items.unwrap_or_default();
        read += items.len().max(1);
        for mut item in items {
            if let Some(AttributeValue::S(key)) = item.remove(&c.partition_key) {
                rows.push((key, item));
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    rows.truncate(limit);
    notes.push(format!(
        "{} row(s) sampled from table {}",
        rows.len(),
        c.table
    ));
    Ok(rows)
}

fn placeholders(attributes: &[String]) -> (String, HashMap<String, String>) {
    let names: HashMap<String, String> = attributes
        .iter()
        .enumerate()
        .map(|(n, a)| (format!("#p{n}"), a.clone()))
        .collect();
    let projection = (0..attributes.len())
        .map(|n| format!("#p{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    (projection, names)
}

async fn get_row(c: &Context<'_>, key: &str) -> Result<Option<Row>, Error> {
    let (projection, names) = placeholders(&c.attributes);
    let out = c
        .clients
        .dynamodb
        .get_item()
        .table_name(&c.table)
        .key(&c.partition_key, AttributeValue::S(key.to_owned()))
        .projection_expression(projection)
        .set_expression_attribute_names(Some(names))
        .send()
        .await
        .map_err(|e| c.clients.err("dynamodb", "GetItem", e));
    match out {
        Ok(out) => Ok(out.item.map(|mut i| {
            i.remove(&c.partition_key);
            i
        })),
        Err(e) if e.is(ErrorKind::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn client_principal(c: &Context<'_>, client: &str, row: Option<Row>) -> Principal {
    let pool = c.pool.clone().unwrap_or_default();
    let scopes = vec![format!("{}-api/access", pool)];
    let event = client_event(&c.region, &pool, client, &scopes);
    let issued = Issued {
        access: access_claims(c, &pool, client, "", &scopes.join(" ")),
        ..Issued::default()
    };
    Principal {
        name: client.into(),
        client: true,
        event: Event(event),
        rows: row.into_iter().map(|r| (client.to_owned(), r)).collect(),
        issued,
    }
}

/// A user as the pool has it (attributes and groups), with the rows each mapping's key names.
/// A row whose key names no pool user is previewed as a user of that name with only the row's
/// owner (`sub`) as attribute.
async fn user_principal(
    c: &Context<'_>,
    name: String,
    row: Option<Row>,
    lookup: Lookup,
    mappings: &[&Mapping],
) -> Result<Principal, Error> {
    let found = pool_user(c, &name, &lookup).await?;
    let (user_name, mut attributes, groups) = match found {
        Some(u) => (u.name, u.attributes, u.groups),
        None => (name.clone(), Vec::new(), Vec::new()),
    };
    if attributes.iter().all(|(k, _)| k != "sub") {
        if let Some(AttributeValue::S(sub)) = row.as_ref().and_then(|r| r.get(ROW_SUB)) {
            attributes.push(("sub".into(), sub.clone()));
        }
    }
    // A row keyed by an attribute whose user is not found: the attribute as the key says.
    if let (Lookup::Sub(_, attribute) | Lookup::Unknown(attribute), true) =
        (&lookup, attributes.len() <= 1)
    {
        attributes.push((attribute.clone(), name.clone()));
        attributes.push((format!("{attribute}_verified"), "true".into()));
    }
    let pool = c.pool.clone().unwrap_or_default();
    let scopes = vec!["aws.cognito.signin.user.admin".to_owned()];
    let event = user_event(&UserEvent {
        version: EventVersion::V2,
        source: "TokenGeneration_Authentication",
        region: &c.region,
        pool_id: &pool,
        client_id: &c.client,
        user_name: &user_name,
        attributes: &attributes,
        groups: &groups,
        scopes: &scopes,
    });
    let event = Event(event);
    let mut rows = BTreeMap::new();
    if let Some(row) = row {
        rows.insert(name.clone(), row);
    }
    // Each mapping's key for this user, its row read once.
    for m in mappings {
        let raw = event.for_version(&m.event_version);
        let Ok(parsed) = serde_json::from_value::<trigger::event::PreTokenEvent>(raw) else {
            continue;
        };
        let key = trigger::claims::classify_keyed(&parsed, m.config.user_key_attribute.as_deref())
            .map(|c| c.principal.key().to_owned())
            .unwrap_or_default();
        if !key.is_empty() && !rows.contains_key(&key) {
            if let Some(row) = get_row(c, &key).await? {
                rows.insert(key, row);
            }
        }
    }
    let issued = issued(c, &pool, &user_name, &attributes, &groups);
    Ok(Principal {
        name: user_name,
        client: false,
        event,
        rows,
        issued,
    })
}

/// How a principal's pool user is found.
enum Lookup {
    /// By the user name.
    Name,
    /// By the sub a row keyed by this attribute is bound to (ListUsers, filter `sub = "..."`).
    Sub(String, String),
    /// A row keyed by this attribute, bound to no one: no user to find.
    Unknown(String),
}

/// The pool user `lookup` finds, if any.
async fn pool_user(
    c: &Context<'_>,
    name: &str,
    lookup: &Lookup,
) -> Result<Option<users::PoolUser>, Error> {
    let Some(pool) = c.pool.as_deref() else {
        return Ok(None);
    };
    let user_name = match lookup {
        Lookup::Name => name.to_owned(),
        Lookup::Unknown(_) => return Ok(None),
        Lookup::Sub(sub, _) => match users::user_by_sub(c.clients, pool, sub).await? {
            Some(name) => name,
            None => return Ok(None),
        },
    };
    users::pool_user(c.clients, pool, &user_name).await
}

/// A value of a UUID's length, for the claims Cognito fills with one (`jti`, `origin_jti`...).
const UUID: &str = "a1b2c3d4-5678-90ab-cdef-0123456789ab";

/// Cognito's own claims in a user's tokens, with values of their real lengths (developer
/// guide, "Understanding the identity (ID) token", "Understanding the access token").
fn issued(
    c: &Context<'_>,
    pool: &str,
    user: &str,
    attributes: &[(String, String)],
    groups: &[Group],
) -> Issued {
    let mut id = Map::new();
    for (k, v) in attributes {
        let value = match v.as_str() {
            "true" if k.ends_with("_verified") => json!(true),
            "false" if k.ends_with("_verified") => json!(false),
            _ => json!(v),
        };
        id.insert(k.clone(), value);
    }
    id.insert("iss".into(), json!(issuer(&c.region, pool)));
    id.insert("cognito:username".into(), json!(user));
    id.insert("origin_jti".into(), json!(UUID));
    id.insert("aud".into(), json!(c.client));
    id.insert("event_id".into(), json!(UUID));
    id.insert("token_use".into(), json!("id"));
    for k in ["auth_time", "exp", "iat"] {
        id.insert(k.into(), json!(1_700_000_000));
    }
    id.insert("jti".into(), json!(UUID));
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    if !names.is_empty() {
        id.insert("cognito:groups".into(), json!(names));
    }
    let sub = attributes
        .iter()
        .find(|(k, _)| k == "sub")
        .map_or(UUID, |(_, v)| v.as_str());
    let mut access = access_claims(c, pool, &c.client, sub, "aws.cognito.signin.user.admin");
    access.insert("username".into(), json!(user));
    if !names.is_empty() {
        access.insert("cognito:groups".into(), json!(names));
    }
    Issued { id, access }
}

fn access_claims(
    c: &Context<'_>,
    pool: &str,
    client: &str,
    sub: &str,
    scope: &str,
) -> Map<String, Value> {
    let mut access = Map::new();
    access.insert(
        "sub".into(),
        json!(if sub.is_empty() { client } else { sub }),
    );
    access.insert("iss".into(), json!(issuer(&c.region, pool)));
    access.insert("version".into(), json!(2));
    access.insert("client_id".into(), json!(client));
    access.insert("origin_jti".into(), json!(UUID));
    access.insert("event_id".into(), json!(UUID));
    access.insert("token_use".into(), json!("access"));
    access.insert("scope".into(), json!(scope));
    for k in ["auth_time", "exp", "iat"] {
        access.insert(k.into(), json!(1_700_000_000));
    }
    access.insert("jti".into(), json!(UUID));
    access
}

fn issuer(region: &str, pool: &str) -> String {
    format!("https://cognito-idp.{region}.amazonaws.com/{pool}")
}

impl fmt::Display for ClaimsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for note in &self.notes {
            writeln!(f, "{note}")?;
        }
        for p in &self.principals {
            let sizes = match p.tokens.access_token_bytes {
                Some(a) => format!("ID {} B, access {} B", p.tokens.id_token_bytes, a),
                None => format!("ID {} B", p.tokens.id_token_bytes),
            };
            let head = format!("{} {} ({sizes})", p.kind, p.principal);
            if let Some(error) = &p.tokens.error {
                writeln!(f, "{head}: cannot be computed: {error}")?;
                continue;
            }
            match (self.sizes_only, p.changes.is_empty()) {
                (true, _) => writeln!(f, "{head}")?,
                (false, true) => writeln!(f, "{head}: no change")?,
                (false, false) => writeln!(f, "{head}:")?,
            }
            for c in &p.changes {
                let show = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or_default();
                match c.kind.as_str() {
                    "added" => writeln!(f, "  + {} {} = {}", c.token, c.claim, show(&c.after))?,
                    "removed" => {
                        writeln!(f, "  - {} {} (was {})", c.token, c.claim, show(&c.before))?
                    }
                    "dropped" => writeln!(f, "  ! {}: over the size budget, left out", c.claim)?,
                    kind => writeln!(
                        f,
                        "  ~ {} {} ({kind}): {} -> {}",
                        c.token,
                        c.claim,
                        show(&c.before),
                        show(&c.after)
                    )?,
                }
            }
            if !p.tokens.unreadable.is_empty() {
                writeln!(
                    f,
                    "  ! row attributes that cannot take their mapped type: {}",
                    p.tokens.unreadable.join(", ")
                )?;
            }
        }
        if !self.summary.is_empty() {
            writeln!(f, "\nsummary (principals):")?;
            for (claim, kinds) in &self.summary {
                let counts: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
                writeln!(f, "  {claim}: {}", counts.join(", "))?;
            }
        }
        writeln!(f, "\ntoken sizes:")?;
        for (limit, over) in &self.over_limits {
            match over.is_empty() {
                true => writeln!(f, "  {limit}: none over")?,
                false => {
                    let names: Vec<String> = over
                        .iter()
                        .take(5)
                        .map(|(n, b)| format!("{n} ({b} B)"))
                        .collect();
                    writeln!(
                        f,
                        "  {limit}: {} over, the largest {}",
                        over.len(),
                        names.join(", ")
                    )?
                }
            }
        }
        Ok(())
    }
}
