//! `invoke`: the event Cognito would send for a user or a machine client, built for the
//! stack's event version and a trigger source, sent to the deployed function; then what it
//! would add to each token, the groups and scopes, its log line and its duration. Like
//! `sam remote invoke`, but it knows the Cognito event shapes (the Cognito developer guide,
//! "Pre token generation Lambda trigger": the fixtures in trigger/tests/fixtures follow it).

use crate::aws::Clients;
use crate::error::Error;
use crate::identity::refs::StackRefs;
use crate::logs::{self, LoginLine, RawEvent};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::LogType;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;
use trigger::event::EventVersion;

/// Whose tokens.
#[derive(Debug, Clone)]
pub enum Who {
    User(String),
    Client(String),
    /// `--event FILE`: the event as given.
    Event(PathBuf),
}

#[derive(Debug, Clone)]
pub struct InvokeOptions {
    pub who: Who,
    /// `V1_0`, `V2_0` or `V3_0`; default the stack's.
    pub version: Option<String>,
    /// A trigger source (`TokenGeneration_` may be left out); default `Authentication`, or
    /// `ClientCredentials` for a client.
    pub source: Option<String>,
}

pub use crate::identity::users::Group;

/// What a user event is built from.
#[derive(Debug, Clone)]
pub struct UserEvent<'a> {
    pub version: EventVersion,
    pub source: &'a str,
    pub region: &'a str,
    pub pool_id: &'a str,
    pub client_id: &'a str,
    pub user_name: &'a str,
    pub attributes: &'a [(String, String)],
    pub groups: &'a [Group],
    pub scopes: &'a [String],
}

fn version_number(version: EventVersion) -> &'static str {
    match version {
        EventVersion::V1 => "1",
        EventVersion::V2 => "2",
        EventVersion::V3 => "3",
    }
}

/// The event Cognito sends for a user's tokens: the user's attributes, the groups with their
/// roles (the preferred role is the role of the group with the lowest precedence), and for
/// V2_0/V3_0 the scopes of the request.
pub fn user_event(e: &UserEvent<'_>) -> Value {
    let attributes: Map<String, Value> = e
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let preferred = e
        .groups
        .iter()
        .filter(|g| g.role_arn.is_some())
        .min_by_key(|g| g.precedence.unwrap_or(i32::MAX))
        .and_then(|g| g.role_arn.clone());
    let roles: Vec<String> = e.groups.iter().filter_map(|g| g.role_arn.clone()).collect();
    let groups: Vec<&str> = e.groups.iter().map(|g| g.name.as_str()).collect();
    let mut request = json!({
        "userAttributes": attributes,
        "groupConfiguration": {
            "groupsToOverride": groups,
            "iamRolesToOverride": roles,
            "preferredRole": preferred,
        },
    });
    let response = if e.version == EventVersion::V1 {
        json!({"claimsOverrideDetails": null})
    } else {
        request["scopes"] = json!(e.scopes);
        json!({"claimsAndScopeOverrideDetails": null})
    };
    json!({
        "version": version_number(e.version),
        "triggerSource": e.source,
        "region": e.region,
        "userPoolId": e.pool_id,
        "userName": e.user_name,
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": e.client_id},
        "request": request,
        "response": response,
    })
}

/// The event Cognito sends for a machine client's client-credentials token (V3_0 only).
pub fn client_event(region: &str, pool_id: &str, client_id: &str, scopes: &[String]) -> Value {
    json!({
        "version": "3",
        "triggerSource": "TokenGeneration_ClientCredentials",
        "region": region,
        "userPoolId": pool_id,
        "userName": "ClientCredentials",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
        "request": {"userAttributes": {}, "groupConfiguration": null, "scopes": scopes},
        "response": {"claimsAndScopeOverrideDetails": null},
    })
}

/// What the trigger answered, read per token from the event version's response shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub id_token: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_added: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_suppressed: Vec<String>,
    /// The groups the token will carry, when the trigger overrode them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

pub fn answer(response: &Value) -> Answer {
    let obj = |v: &Value| v.as_object().cloned().unwrap_or_default();
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let r = &response["response"];
    if let Some(v1) = r.get("claimsOverrideDetails").filter(|v| !v.is_null()) {
        return Answer {
            id_token: obj(&v1["claimsToAddOrOverride"]),
            groups: v1["groupOverrideDetails"]
                .get("groupsToOverride")
                .map(names),
            ..Answer::default()
        };
    }
    let d = &r["claimsAndScopeOverrideDetails"];
    Answer {
        id_token: obj(&d["idTokenGeneration"]["claimsToAddOrOverride"]),
        access_token: Some(obj(&d["accessTokenGeneration"]["claimsToAddOrOverride"])),
        scopes_added: names(&d["accessTokenGeneration"]["scopesToAdd"]),
        scopes_suppressed: names(&d["accessTokenGeneration"]["scopesToSuppress"]),
        groups: d["groupOverrideDetails"].get("groupsToOverride").map(names),
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeReport {
    pub function: String,
    pub version: String,
    pub source: String,
    /// The user name or client id the event was for.
    pub principal: String,
    #[serde(flatten)]
    pub answer: Answer,
    /// The trigger's login line for this invocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LoginLine>,
    pub duration_ms: f64,
    /// The function's error (Lambda's FunctionError and the error payload), if it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl fmt::Display for InvokeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} for {} ({} {}), {:.0} ms",
            self.function, self.principal, self.version, self.source, self.duration_ms
        )?;
        if let Some(error) = &self.error {
            writeln!(f, "FUNCTION ERROR: {error}")?;
        }
        let claims = |f: &mut fmt::Formatter<'_>, token: &str, c: &Map<String, Value>| {
            if c.is_empty() {
                writeln!(f, "{token}: no claims added")
            } else {
                writeln!(f, "{token}:")?;
                for (k, v) in c {
                    writeln!(f, "  {k} = {v}")?;
                }
                Ok(())
            }
        };
        if self.error.is_none() {
            claims(f, "ID token", &self.answer.id_token)?;
            if let Some(access) = &self.answer.access_token {
                claims(f, "access token", access)?;
            }
            if !self.answer.scopes_added.is_empty() {
                writeln!(f, "scopes added: {}", self.answer.scopes_added.join(" "))?;
            }
            if let Some(groups) = &self.answer.groups {
                writeln!(f, "groups: {}", groups.join(", "))?;
            }
        }
        if let Some(line) = &self.log {
            writeln!(f, "log: {line}")?;
        }
        Ok(())
    }
}

fn usage(message: String, help: &str) -> Error {
    Error::Usage {
        message,
        help: help.into(),
    }
}

/// The event version asked for, or the stack's.
fn version_of(options: &InvokeOptions, refs: &StackRefs) -> Result<EventVersion, Error> {
    let raw = options.version.as_deref().unwrap_or(&refs.event_version);
    EventVersion::parse(raw).ok_or_else(|| {
        usage(
            format!("--version {raw:?} is not an event version"),
            "use V1_0, V2_0 or V3_0",
        )
    })
}

fn source_of(options: &InvokeOptions, default: &str) -> Result<String, Error> {
    let raw = options.source.as_deref().unwrap_or(default);
    let full = if raw.starts_with("TokenGeneration_") {
        raw.to_owned()
    } else {
        format!("TokenGeneration_{raw}")
    };
    if trigger::event::TriggerSource::parse(&full).is_none() {
        return Err(usage(
            format!("--source {raw:?} is not a pre-token-generation trigger source"),
            "use HostedAuth, Authentication, NewPasswordChallenge, AuthenticateDevice, RefreshTokens or ClientCredentials",
        ));
    }
    Ok(full)
}

/// The client's allowed OAuth scopes.
async fn client_scopes(
    clients: &Clients,
    refs: &StackRefs,
    client: &str,
) -> Result<Vec<String>, Error> {
    let out = clients
        .cognito
        .describe_user_pool_client()
        .user_pool_id(&refs.pool_id)
        .client_id(client)
        .send()
        .await
        .map_err(|e| clients.err("cognito-idp", "DescribeUserPoolClient", e))?;
    Ok(out
        .user_pool_client
        .map(|c| c.allowed_o_auth_scopes.unwrap_or_default())
        .unwrap_or_default())
}

/// Builds the event and says whom it is for.
async fn build_event(
    clients: &Clients,
    refs: &StackRefs,
    options: &InvokeOptions,
) -> Result<(Value, String), Error> {
    match &options.who {
        Who::Event(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                what: format!("reading {}", path.display()),
                source,
            })?;
            let event: Value = serde_json::from_str(&text).map_err(|e| {
                usage(
                    format!("{} is not JSON: {e}", path.display()),
                    "give a pre-token-generation event as Cognito sends it (trigger/tests/fixtures has examples)",
                )
            })?;
            let who = event["userName"].as_str().unwrap_or("-").to_owned();
            Ok((event, who))
        }
        Who::Client(client) => {
            let version = version_of(options, refs)?;
            if version != EventVersion::V3 {
                return Err(usage(
                    format!(
                        "a client-credentials token runs the trigger only with V3_0 events, and {} uses {}",
                        refs.stack,
                        version.as_str()
                    ),
                    "deploy with \"eventVersion\": \"V3_0\" (needs the ESSENTIALS or PLUS feature plan), or pass --version V3_0 to see what the function would answer",
                ));
            }
            source_of(options, "ClientCredentials")?;
            let scopes = client_scopes(clients, refs, client).await?;
            Ok((
                client_event(&refs.region, &refs.pool_id, client, &scopes),
                client.clone(),
            ))
        }
        Who::User(name) => user_event_for(clients, refs, options, name).await,
    }
}

/// The event Cognito sends when `name` signs in: its attributes and groups, as the pool has
/// them now.
async fn user_event_for(
    clients: &Clients,
    refs: &StackRefs,
    options: &InvokeOptions,
    name: &str,
) -> Result<(Value, String), Error> {
    let version = version_of(options, refs)?;
    let source = source_of(options, "Authentication")?;
    let Some(user) = crate::identity::users::pool_user(clients, &refs.pool_id, name).await? else {
        return Err(usage(
            format!("no user {name} in the pool {}", refs.pool_id),
            "`deployer users list` shows the pool's users; `deployer users add` makes one",
        ));
    };
    // The hosted UI asks for the client's OAuth scopes; the SDK's sign-in gets this one.
    let scopes = if source == "TokenGeneration_HostedAuth" {
        client_scopes(clients, refs, &refs.client_id).await?
    } else {
        vec!["aws.cognito.signin.user.admin".to_owned()]
    };
    let event = user_event(&UserEvent {
        version,
        source: &source,
        region: &refs.region,
        pool_id: &refs.pool_id,
        client_id: &refs.client_id,
        user_name: &user.name,
        attributes: &user.attributes,
        groups: &user.groups,
        scopes: &scopes,
    });
    Ok((event, user.name))
}

/// `invoke`: the report, also when the function failed (`error` set: exit 4).
pub async fn invoke(
    clients: &Clients,
    refs: &StackRefs,
    options: &InvokeOptions,
) -> Result<InvokeReport, Error> {
    let function = refs.trigger.as_str();
    let (event, principal) = build_event(clients, refs, options).await?;
    let started = Instant::now();
    let out = clients
        .lambda
        .invoke()
        .function_name(function)
        .log_type(LogType::Tail)
        .payload(Blob::new(
            serde_json::to_vec(&event).expect("events serialize"),
        ))
        .send()
        .await
        .map_err(|e| clients.err("lambda", "Invoke", e))?;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let tail = out
        .log_result
        .as_deref()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let events: Vec<RawEvent> = tail
        .lines()
        .enumerate()
        .map(|(i, line)| RawEvent {
            id: i.to_string(),
            stream: "tail".into(),
            timestamp_ms: 0,
            message: line.to_owned(),
        })
        .collect();
    let log = logs::login_lines(&events).pop();
    let payload: Value = out
        .payload
        .as_ref()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(Value::Null);
    let error = out.function_error.map(|kind| {
        let message = payload["errorMessage"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| payload.to_string());
        format!("{kind}: {message}")
    });
    Ok(InvokeReport {
        function: function.to_owned(),
        version: event["version"]
            .as_str()
            .and_then(EventVersion::parse)
            .map_or("-", EventVersion::as_str)
            .to_owned(),
        source: event["triggerSource"].as_str().unwrap_or("-").to_owned(),
        principal,
        answer: if error.is_none() {
            answer(&payload)
        } else {
            Answer::default()
        },
        log,
        duration_ms,
        error,
    })
}

/// `deployer invoke`: exit 4 when the trigger answered with an error.
pub async fn run(
    s: &super::session::Session<'_>,
    args: &crate::cli::InvokeArgs,
) -> Result<u8, Error> {
    let inputs = s.inputs()?;
    let (clients, refs) = s.open(&inputs).await?;
    let who = match (&args.user, &args.client, &args.event) {
        (Some(u), _, _) => Who::User(u.clone()),
        (_, Some(c), _) => Who::Client(c.clone()),
        (_, _, Some(e)) => Who::Event(e.clone()),
        _ => unreachable!("clap requires one of --user, --client, --event"),
    };
    let options = InvokeOptions {
        who,
        version: args.version.clone(),
        source: args.source.clone(),
    };
    let report = invoke(&clients, &refs, &options).await?;
    s.print(&report);
    Ok(if report.error.is_some() {
        crate::error::exit::VERIFY_FAILED
    } else {
        crate::error::exit::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trigger::claims::{classify, Principal};
    use trigger::event::PreTokenEvent;

    fn parse(v: &Value) -> PreTokenEvent {
        serde_json::from_value(v.clone()).unwrap()
    }

    #[test]
    fn built_events_are_what_the_trigger_reads_for_each_version() {
        let attributes = [("sub".to_owned(), "s-1".to_owned())];
        let groups = [
            Group {
                name: "admins".into(),
                role_arn: Some("arn:aws:iam::1:role/admin".into()),
                precedence: Some(1),
            },
            Group {
                name: "readers".into(),
                role_arn: Some("arn:aws:iam::1:role/reader".into()),
                precedence: Some(5),
            },
        ];
        for (version, has_scopes) in [
            (EventVersion::V1, false),
            (EventVersion::V2, true),
            (EventVersion::V3, true),
        ] {
            let event = user_event(&UserEvent {
                version,
                source: "TokenGeneration_Authentication",
                region: "us-east-1",
                pool_id: "us-east-1_P",
                client_id: "c",
                user_name: "jane",
                attributes: &attributes,
                groups: &groups,
                scopes: &["aws.cognito.signin.user.admin".into()],
            });
            let classified = classify(&parse(&event)).unwrap();
            assert_eq!(classified.version, version);
            assert_eq!(classified.principal, Principal::User("jane".into()));
            assert_eq!(event["request"]["userAttributes"]["sub"], "s-1");
            assert_eq!(
                event["request"]["groupConfiguration"]["preferredRole"],
                "arn:aws:iam::1:role/admin",
                "the lowest precedence wins"
            );
            assert_eq!(event["request"].get("scopes").is_some(), has_scopes);
        }
        let event = client_event("us-east-1", "us-east-1_P", "c1", &["api/read".into()]);
        let classified = classify(&parse(&event)).unwrap();
        assert_eq!(classified.principal, Principal::Client("c1".into()));
    }

    #[test]
    fn the_answer_is_read_per_token_from_each_versions_shape() {
        let v1 = json!({"response": {"claimsOverrideDetails": {"claimsToAddOrOverride": {"projects": "p-1"}}}});
        assert_eq!(answer(&v1).id_token["projects"], "p-1");
        assert_eq!(answer(&v1).access_token, None);
        let v2 = json!({"response": {"claimsAndScopeOverrideDetails": {
            "idTokenGeneration": {"claimsToAddOrOverride": {"tenant": "t"}},
            "accessTokenGeneration": {"claimsToAddOrOverride": {"tier": 2}, "scopesToAdd": ["api/read"]},
            "groupOverrideDetails": {"groupsToOverride": ["g"]}}}});
        let a = answer(&v2);
        assert_eq!(a.id_token["tenant"], "t");
        assert_eq!(a.access_token.unwrap()["tier"], 2);
        assert_eq!(a.scopes_added, ["api/read"]);
        assert_eq!(a.groups, Some(vec!["g".to_owned()]));
    }
}
