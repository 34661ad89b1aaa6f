//! A user pool made outside the deployer (`userPool.existing`): checked before anything is
//! built, its pre-token-generation slot set after the stack is in place and put back by
//! `down`. Nothing else of the pool is ever changed.
//!
//! UpdateUserPool resets every setting it is not given (Cognito API reference, UpdateUserPool:
//! "If you don't provide a value for an attribute, Amazon Cognito sets it to its default
//! value"), so each write sends the pool's whole configuration as DescribeUserPool gave it
//! (`down::keep_configuration`) with only the slot changed, and the pool is read back after:
//! anything else that differs is reported.

use crate::aws::ErrorKind;
use crate::ctx::Ctx;
use crate::error::Error;
use crate::inputs::{EventVersion, StackInputs};
use aws_sdk_cognitoidentityprovider::types::{
    LambdaConfigType, PreTokenGenerationLambdaVersionType as Version,
    PreTokenGenerationVersionConfigType, UserPoolTierType, UserPoolType,
};
use serde::{Deserialize, Serialize};

/// The stack parameter (and output) recording what the slot held before the first deploy.
pub const PREVIOUS_TRIGGER: &str = "PreviousTrigger";
/// The stack parameter naming the existing pool.
pub const EXISTING_POOL: &str = "ExistingUserPool";

/// The pre-token-generation slot as the pool has it: the classic setting (V1_0 events) and
/// the versioned one. Empty: no trigger. Recorded in the stack as the pool gives it
/// (`{"PreTokenGeneration": ..., "PreTokenGenerationConfig": {"LambdaArn", "LambdaVersion"}}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    #[serde(
        rename = "PreTokenGeneration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub classic: Option<String>,
    #[serde(
        rename = "PreTokenGenerationConfig",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub versioned: Option<Versioned>,
}

/// The versioned setting: the function and the event version Cognito sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned {
    #[serde(rename = "LambdaArn")]
    pub arn: String,
    #[serde(rename = "LambdaVersion")]
    pub version: String,
}

impl Slot {
    pub fn of(config: Option<&LambdaConfigType>) -> Self {
        let Some(c) = config else {
            return Self::default();
        };
        Self {
            classic: c.pre_token_generation().map(str::to_owned),
            versioned: c.pre_token_generation_config().map(|v| Versioned {
                arn: v.lambda_arn().to_owned(),
                version: v.lambda_version().as_str().to_owned(),
            }),
        }
    }

    /// The slot calling `trigger_arn` with `version`, as the template writes it for a pool of
    /// the deployer's own: V1_0 through the classic setting, the others versioned.
    pub fn calling(trigger_arn: &str, version: EventVersion) -> Self {
        match version {
            EventVersion::V1_0 => Self {
                classic: Some(trigger_arn.to_owned()),
                versioned: None,
            },
            v => Self {
                classic: None,
                versioned: Some(Versioned {
                    arn: trigger_arn.to_owned(),
                    version: v.as_str().to_owned(),
                }),
            },
        }
    }

    /// What Cognito calls and with which event version: the versioned setting, else the
    /// classic one with V1_0. AWS may report a versioned write in both settings.
    pub fn effective(&self) -> Option<(&str, &str)> {
        match (&self.versioned, &self.classic) {
            (Some(v), _) => Some((&v.arn, &v.version)),
            (None, Some(arn)) => Some((arn, "V1_0")),
            (None, None) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.classic.is_none() && self.versioned.is_none()
    }

    /// The function the slot calls (either setting; the versioned one first).
    pub fn function(&self) -> Option<&str> {
        self.effective().map(|(arn, _)| arn)
    }

    /// Every function ARN the slot names, in either setting.
    fn arns(&self) -> impl Iterator<Item = &str> {
        [
            self.classic.as_deref(),
            self.versioned.as_ref().map(|v| v.arn.as_str()),
        ]
        .into_iter()
        .flatten()
    }

    /// Whether the slot calls the function named `function` (any version or alias of it).
    pub fn calls(&self, function: &str) -> bool {
        self.arns().any(|arn| function_name(arn) == Some(function))
    }

    /// Whether every function the slot names is a Lambda function of this account and region
    /// (`arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`).
    pub fn functions_in(&self, region: &str, account: &str) -> bool {
        self.arns().all(|arn| {
            let parts: Vec<&str> = arn.split(':').collect();
            matches!(parts.as_slice(),
                ["arn", _, "lambda", r, a, "function", name] | ["arn", _, "lambda", r, a, "function", name, _]
                    if *r == region && *a == account && !name.is_empty())
        })
    }

    /// Whether the slot calls a function the deployer makes for `project` (the base stack's
    /// `<project>-pretoken` or a copy's `<project>--<suffix>-pretoken`): never a trigger to put
    /// back.
    pub fn calls_deployer_function(&self, project: &str) -> bool {
        self.arns().filter_map(function_name).any(|name| {
            let stack = crate::inputs::stack_of_function(name);
            stack == Some(project)
                || stack
                    .and_then(|s| s.strip_prefix(project))
                    .is_some_and(|rest| rest.starts_with(crate::policy::COPY_SEPARATOR))
        })
    }

    /// As the stack records it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a slot serializes")
    }

    /// From the stack's record; `None` when it is not one.
    pub fn from_json(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }

    /// The pool's Lambda configuration with this slot in place and every other trigger as it is.
    pub fn applied_to(&self, config: Option<&LambdaConfigType>) -> LambdaConfigType {
        let mut config = config
            .cloned()
            .unwrap_or_else(|| LambdaConfigType::builder().build());
        config.pre_token_generation = self.classic.clone();
        config.pre_token_generation_config = self.versioned.as_ref().map(|v| {
            PreTokenGenerationVersionConfigType::builder()
                .lambda_arn(&v.arn)
                .lambda_version(Version::from(v.version.as_str()))
                .build()
                .expect("both fields are set")
        });
        config
    }

    /// In words, for messages.
    pub fn describe(&self) -> String {
        match self.effective() {
            None => "no pre-token-generation trigger".into(),
            Some((arn, version)) => format!("{arn} ({version})"),
        }
    }
}

/// `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]` -> `<name>`.
fn function_name(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.nth(5) == Some("function"))
        .then(|| parts.next())
        .flatten()
}

/// What `up` learned about the pool before building anything.
#[derive(Debug, Clone)]
pub struct Inspected {
    pub pool_id: String,
    /// What the slot holds now.
    pub current: Slot,
    /// What `down` puts back, as the stack records it.
    pub previous: Slot,
}

/// The pool's ARN, for messages and policies.
pub fn pool_arn(region: &str, account: &str, pool: &str) -> String {
    let partition = crate::inputs::partition(region);
    format!("arn:{partition}:cognito-idp:{region}:{account}:userpool/{pool}")
}

/// Reads the pool and refuses, before anything is built or changed, what the deploy would
/// break: a pool not there, a feature plan without the event version, a slot holding another
/// function (unless `replace`), a listed app client not in the pool, a stack wired to another
/// pool. `deployed` is the deployed stack's parameters (what it recorded).
pub async fn inspect(
    ctx: Ctx<'_>,
    inputs: &StackInputs,
    account: &str,
    deployed: Option<&std::collections::BTreeMap<String, String>>,
    replace: bool,
) -> Result<Option<Inspected>, Error> {
    let wired_to = deployed.and_then(|p| p.get(EXISTING_POOL));
    let named = inputs.existing_pool().map(|p| p.existing.as_str());
    if let Some(wired) = wired_to.filter(|w| Some(w.as_str()) != named) {
        return Err(problem(
            wired,
            format!(
                "stack {} is wired to it, and the inputs name {}",
                inputs.stack_name,
                named.map_or("a pool of the stack's own".into(), |n| format!("user pool {n}"))
            ),
            "nothing was changed; `deployer down` (with inputs naming this pool) puts its previous trigger back, then `deployer up` with the new inputs",
        ));
    }
    let Some(existing) = inputs.existing_pool() else {
        return Ok(None);
    };
    let recorded = deployed
        .and_then(|p| p.get(PREVIOUS_TRIGGER))
        .map(String::as_str);
    let id = existing.existing.as_str();
    ctx.progress.step(&format!("reading user pool {id}"));
    let pool = describe(ctx, id, account).await?;
    check_plan(&pool, id, inputs.event_version)?;
    let slot = Slot::of(pool.lambda_config());
    let ours = inputs.function_name();
    let recorded = || recorded.and_then(Slot::from_json).unwrap_or_default();
    let previous = if slot.calls(&ours) || slot.is_empty() {
        // This stack's own function (or a slot emptied since): what the stack replaced was
        // recorded when it first took the slot.
        recorded()
    } else if let Some(other) = other_deployer_stack(ctx, &slot).await? {
        // Taken over, its record would chain: this stack's `down` would put back a function
        // the other stack's `down` deletes.
        return Err(problem(
            id,
            format!("its pre-token-generation slot calls {}, the trigger of the deployer's stack {other}", slot.describe()),
            &format!("one deployer stack per pool: `deployer down` stack {other} first (it puts back what it replaced), then `deployer up`"),
        ));
    } else if replace {
        slot.clone()
    } else {
        return Err(problem(
            id,
            format!("its pre-token-generation slot already calls {}", slot.describe()),
            "a pool has one pre-token-generation trigger. `deployer up --replace-trigger` puts this stack's there, and `deployer down` puts that one back; or remove it from the pool first",
        ));
    };
    check_clients(ctx, id, &existing.clients).await?;
    Ok(Some(Inspected {
        pool_id: id.to_owned(),
        current: slot,
        previous,
    }))
}

/// The deployer's stack whose trigger the slot calls (`<stack>-pretoken`, a stack the
/// deployer made), if any.
async fn other_deployer_stack(ctx: Ctx<'_>, slot: &Slot) -> Result<Option<String>, Error> {
    let Some(stack) = slot
        .function()
        .and_then(function_name)
        .and_then(crate::inputs::stack_of_function)
    else {
        return Ok(None);
    };
    let found = crate::aws::cfn::describe(ctx.clients, stack).await?;
    Ok(found.filter(|s| s.is_ours()).map(|s| s.name))
}

/// DescribeUserPool, with the two refusals a user can act on named.
pub async fn describe(ctx: Ctx<'_>, id: &str, account: &str) -> Result<UserPoolType, Error> {
    read(ctx, id, account).await?.ok_or_else(|| {
        problem(
            id,
            format!("no such pool in account {account}, region {}", ctx.clients.region),
            "check userPool.existing, the region and the credentials' account (`aws cognito-idp list-user-pools --max-results 60`)",
        )
    })
}

/// The pool, or `None` when it does not exist.
pub async fn read(ctx: Ctx<'_>, id: &str, account: &str) -> Result<Option<UserPoolType>, Error> {
    let region = &ctx.clients.region;
    let out = ctx
        .clients
        .cognito
        .describe_user_pool()
        .user_pool_id(id)
        .send()
        .await
        .map_err(|e| ctx.clients.err("cognito-idp", "DescribeUserPool", e));
    match out {
        Ok(out) => Ok(out.user_pool),
        Err(e) if e.is(ErrorKind::NotFound) => Ok(None),
        Err(e) if e.is(ErrorKind::AccessDenied) => Err(problem(
            id,
            format!(
                "the identity in use may not cognito-idp:DescribeUserPool on {}",
                pool_arn(region, account, id)
            ),
            "grant it on that pool (`deployer policy` prints the role for a stack on an existing pool), or pick another --profile",
        )),
        Err(e) => Err(e.into()),
    }
}

/// V2_0 and V3_0 need the Essentials or Plus plan (Cognito developer guide, "Pre token
/// generation Lambda trigger": "Access token customization ... requires the Essentials or
/// Plus feature plan"). The plan costs money: the deployer never changes it.
fn check_plan(pool: &UserPoolType, id: &str, version: EventVersion) -> Result<(), Error> {
    if version == EventVersion::V1_0 || pool.user_pool_tier() != Some(&UserPoolTierType::Lite) {
        return Ok(());
    }
    Err(problem(
        id,
        format!(
            "its feature plan is LITE, and eventVersion {} (access token customization) needs ESSENTIALS or PLUS",
            version.as_str()
        ),
        "upgrade the pool's feature plan yourself (it is billed; the deployer never changes it), or set \"eventVersion\": \"V1_0\" (ID token only)",
    ))
}

/// Each listed client is one of the pool's. ListUserPoolClients, not DescribeUserPoolClient,
/// whose answer carries the client's secret.
async fn check_clients(ctx: Ctx<'_>, pool: &str, listed: &[String]) -> Result<(), Error> {
    if listed.is_empty() {
        return Ok(());
    }
    let mut found = std::collections::BTreeSet::new();
    let mut token = None;
    loop {
        let out = ctx
            .clients
            .cognito
            .list_user_pool_clients()
            .user_pool_id(pool)
            .max_results(60)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| ctx.clients.err("cognito-idp", "ListUserPoolClients", e))?;
        found.extend(
            out.user_pool_clients()
                .iter()
                .filter_map(|c| c.client_id.clone()),
        );
        token = out.next_token;
        if token.is_none() {
            break;
        }
    }
    match listed.iter().find(|c| !found.contains(*c)) {
        None => Ok(()),
        Some(client) => Err(problem(
            pool,
            format!("it has no app client {client} (userPool.clients)"),
            "list the pool's clients with `aws cognito-idp list-user-pool-clients --user-pool-id <pool>` and fix userPool.clients",
        )),
    }
}

fn problem(pool: &str, problem: String, help: &str) -> Error {
    Error::Pool {
        pool: pool.to_owned(),
        problem,
        help: help.to_owned(),
    }
}

/// What a write to the slot did.
#[derive(Debug, Clone, PartialEq)]
pub enum Wired {
    /// The slot already held it: nothing written.
    Already,
    /// Written, and the pool read back the same but for the slot.
    Written,
}

/// Puts `slot` in the pool's pre-token-generation slot, sending the pool's whole configuration
/// with it, then reads the pool back: any other setting that changed is an error naming it.
pub async fn set_slot(ctx: Ctx<'_>, id: &str, account: &str, slot: &Slot) -> Result<Wired, Error> {
    let before = describe(ctx, id, account).await?;
    set_slot_from(ctx, (id, account), before, slot).await
}

/// `set_slot`, from the pool as it was just read (`before`).
pub async fn set_slot_from(
    ctx: Ctx<'_>,
    (id, account): (&str, &str),
    before: UserPoolType,
    slot: &Slot,
) -> Result<Wired, Error> {
    if Slot::of(before.lambda_config()).effective() == slot.effective() {
        return Ok(Wired::Already);
    }
    let update = ctx.clients.cognito.update_user_pool().user_pool_id(id);
    let sent = crate::commands::down::keep_configuration(update, &before)
        .lambda_config(slot.applied_to(before.lambda_config()))
        .send()
        .await
        .map_err(|e| ctx.clients.err("cognito-idp", "UpdateUserPool", e));
    match sent {
        Ok(_) => {}
        // The CI roles do not hold it, by design (docs/security.md).
        Err(e) if e.is(ErrorKind::AccessDenied) => {
            return Err(problem(
                id,
                format!(
                    "setting its pre-token-generation slot to {} needs cognito-idp:UpdateUserPool on {}, which the identity in use does not hold (the CI roles never do)",
                    slot.describe(),
                    pool_arn(&ctx.clients.region, account, id)
                ),
                "run this once with an admin's credentials (`deployer up`, or `deployer down` to put the previous trigger back); deploys after it only move the alias the slot calls",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let after = describe(ctx, id, account).await?;
    let changed = changed_besides_slot(&before, &after);
    let read_back = Slot::of(after.lambda_config());
    if !changed.is_empty() || read_back.effective() != slot.effective() {
        return Err(problem(
            id,
            format!(
                "after setting its pre-token-generation slot to {}, the pool reads back as {} and differs in:\n{}",
                slot.describe(),
                read_back.describe(),
                changed.join("\n")
            ),
            "another change may have reached the pool at the same moment; compare it with what you expect (`aws cognito-idp describe-user-pool`) and run again",
        ));
    }
    Ok(Wired::Written)
}

/// The pool as compared before and after a write: without the modification date, and
/// without the deprecated `UnusedAccountValidityDays`, which no update can keep (the SDK
/// sends it as 0, and Cognito refuses another value beside `TemporaryPasswordValidityDays`).
pub fn comparable(p: &UserPoolType) -> UserPoolType {
    let mut p = p.clone();
    p.last_modified_date = None;
    if let Some(admin) = p.admin_create_user_config.as_mut() {
        admin.unused_account_validity_days = 0;
    }
    p
}

/// The settings that differ between two reads of a pool, leaving out the slot and what
/// `comparable` leaves out, one `+ new` / `- old` line each.
pub fn changed_besides_slot(before: &UserPoolType, after: &UserPoolType) -> Vec<String> {
    let normal = |p: &UserPoolType| {
        let mut p = comparable(p);
        let config = p.lambda_config.take().map(|mut c| {
            c.pre_token_generation = None;
            c.pre_token_generation_config = None;
            c
        });
        p.lambda_config = config.filter(|c| *c != LambdaConfigType::builder().build());
        p
    };
    let (a, b) = (normal(before), normal(after));
    if a == b {
        return Vec::new();
    }
    let (a, b) = (format!("{a:#?}"), format!("{b:#?}"));
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out: Vec<String> = b
        .iter()
        .filter(|line| !a.contains(line))
        .map(|line| format!("  + {}", line.trim()))
        .collect();
    out.extend(
        a.iter()
            .filter(|line| !b.contains(line))
            .map(|line| format!("  - {}", line.trim())),
    );
    if out.is_empty() {
        out.push("  (the same settings in another order)".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_recorded_and_read_back_as_it_was() {
        for slot in [
            Slot::default(),
            Slot::calling(
                "arn:aws:lambda:us-east-1:1:function:f:live",
                EventVersion::V1_0,
            ),
            Slot {
                classic: Some("arn:aws:lambda:us-east-1:1:function:other".into()),
                versioned: Some(Versioned {
                    arn: "arn:aws:lambda:us-east-1:1:function:other".into(),
                    version: "V2_0".into(),
                }),
            },
        ] {
            assert_eq!(
                Slot::from_json(&slot.to_json()),
                Some(slot.clone()),
                "{}",
                slot.to_json()
            );
        }
        assert_eq!(Slot::from_json("{}"), Some(Slot::default()));
        assert_eq!(Slot::from_json("not json"), None);
        assert_eq!(
            Slot::from_json(r#"{"PreTokenGenerationConfig": {"LambdaArn": 1}}"#),
            None
        );
    }

    #[test]
    fn a_recorded_slot_is_put_back_only_with_functions_of_this_account_and_region() {
        let here = |arn: &str| {
            Slot::calling(arn, EventVersion::V2_0).functions_in("us-east-1", "111122223333")
        };
        assert!(here("arn:aws:lambda:us-east-1:111122223333:function:team"));
        assert!(here(
            "arn:aws:lambda:us-east-1:111122223333:function:team:live"
        ));
        assert!(!here("arn:aws:lambda:us-east-1:999999999999:function:team"));
        assert!(!here("arn:aws:lambda:eu-west-1:111122223333:function:team"));
        assert!(!here("arn:aws:lambda:us-east-1:111122223333:layer:team"));
        assert!(!here("arn:aws:lambda:us-east-1:111122223333:function:"));
        assert!(!here("https://example.com"));
        assert!(
            Slot::default().functions_in("us-east-1", "111122223333"),
            "an empty slot"
        );
    }

    #[test]
    fn a_deployer_function_of_the_project_is_never_a_trigger_to_put_back() {
        let slot = |name: &str| {
            Slot::calling(
                &format!("arn:aws:lambda:us-east-1:1:function:{name}:live"),
                EventVersion::V2_0,
            )
        };
        assert!(slot("app-pretoken").calls_deployer_function("app"));
        assert!(slot("app--pr-7-pretoken").calls_deployer_function("app"));
        assert!(!slot("team-pretoken").calls_deployer_function("app"));
        assert!(!slot("app-signup").calls_deployer_function("app"));
        assert!(
            !slot("app-legacy-pretoken").calls_deployer_function("app"),
            "a team's own"
        );
    }

    #[test]
    fn the_slot_calls_a_function_by_name_whatever_its_qualifier() {
        let slot = Slot::calling(
            "arn:aws:lambda:us-east-1:1:function:app-pretoken:live",
            EventVersion::V2_0,
        );
        assert!(slot.calls("app-pretoken"));
        assert!(!slot.calls("app-pretoken-2"));
        assert!(!slot.calls("app"));
        let classic = Slot::calling(
            "arn:aws:lambda:us-east-1:1:function:app-pretoken",
            EventVersion::V1_0,
        );
        assert!(classic.calls("app-pretoken"));
        assert!(!Slot::default().calls("app-pretoken"));
    }

    #[test]
    fn setting_the_slot_keeps_every_other_trigger() {
        let config = LambdaConfigType::builder()
            .pre_sign_up("arn:aws:lambda:us-east-1:1:function:signup")
            .pre_token_generation("arn:aws:lambda:us-east-1:1:function:old")
            .build();
        let ours = Slot::calling(
            "arn:aws:lambda:us-east-1:1:function:app-pretoken:live",
            EventVersion::V3_0,
        );
        let applied = ours.applied_to(Some(&config));
        assert_eq!(
            applied.pre_sign_up(),
            Some("arn:aws:lambda:us-east-1:1:function:signup")
        );
        assert_eq!(Slot::of(Some(&applied)), ours);
        assert_eq!(
            Slot::default().applied_to(Some(&applied)).pre_sign_up(),
            config.pre_sign_up()
        );
    }

    #[test]
    fn a_read_back_differing_beyond_the_slot_names_the_settings() {
        let before = UserPoolType::builder()
            .id("us-east-1_A")
            .mfa_configuration(aws_sdk_cognitoidentityprovider::types::UserPoolMfaType::Optional)
            .build();
        let mut after = before.clone();
        after.lambda_config = Some(
            Slot::calling(
                "arn:aws:lambda:us-east-1:1:function:f:live",
                EventVersion::V2_0,
            )
            .applied_to(None),
        );
        after.last_modified_date = Some(aws_smithy_types::DateTime::from_secs(1));
        assert!(changed_besides_slot(&before, &after).is_empty());
        after.mfa_configuration =
            Some(aws_sdk_cognitoidentityprovider::types::UserPoolMfaType::Off);
        let changed = changed_besides_slot(&before, &after).join("\n");
        assert!(
            changed.contains("Off") && changed.contains("Optional"),
            "{changed}"
        );
    }
}
