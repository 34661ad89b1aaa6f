//! Claim building and the handler, driven by events shaped as Cognito documents them
//! (fixtures/README.md cites the doc section of each) and an in-memory store.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use trigger::claims::Row;
use trigger::config::{Policy, TriggerConfig};
use trigger::handler::{handle, TriggerError};
use trigger::store::{PrincipalStore, StoreError};

fn fixture(name: &str) -> Value {
    let text = match name {
        "v1_hosted_auth" => include_str!("fixtures/v1_hosted_auth.json"),
        "v1_authentication" => include_str!("fixtures/v1_authentication.json"),
        "v2_authentication" => include_str!("fixtures/v2_authentication.json"),
        "v2_refresh" => include_str!("fixtures/v2_refresh.json"),
        "v2_new_password" => include_str!("fixtures/v2_new_password.json"),
        "v2_device" => include_str!("fixtures/v2_device.json"),
        "v3_client_credentials" => include_str!("fixtures/v3_client_credentials.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap()
}

/// Rows by key, and the keys asked for.
#[derive(Default)]
struct Memory {
    rows: HashMap<String, Row>,
    fail: Option<fn() -> StoreError>,
    asked: Mutex<Vec<String>>,
}

impl PrincipalStore for Memory {
    async fn get(&self, key: &str) -> Result<Option<Row>, StoreError> {
        self.asked.lock().unwrap().push(key.to_owned());
        if let Some(fail) = self.fail {
            return Err(fail());
        }
        Ok(self.rows.get(key).cloned())
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn store_with(key: &str, row: &[(&str, AttributeValue)]) -> Memory {
    let mut store = Memory::default();
    store.rows.insert(
        key.into(),
        row.iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    );
    store
}

fn config(json: Value) -> TriggerConfig {
    TriggerConfig::from_json(&json.to_string()).unwrap()
}

/// The pattern's cases: role and tenant in both tokens, projects as a list in the ID token,
/// a numeric level in the access token, groups from the row, scopes from the row.
fn pattern_config() -> TriggerConfig {
    config(json!({
        "table": "UserInfoTable",
        "claims": [
            {"attribute": "projects", "type": "list"},
            {"attribute": "role", "tokens": "both"},
            {"attribute": "tenant_id", "claim": "tenant", "tokens": "both"},
            {"attribute": "level", "tokens": "access", "type": "number"},
            {"attribute": "tier", "tokens": "access"},
            {"attribute": "allowed_ops", "tokens": "access"}
        ],
        "groups": {"attribute": "extra_groups", "mode": "add"},
        "scopesAttribute": "scopes"
    }))
}

fn jane() -> Memory {
    store_with(
        "jane",
        &[
            ("userName", s("jane")),
            ("projects", s("p-100, p-200")),
            ("role", s("site-engineer")),
            ("tenant_id", s("acme")),
            ("level", s("3")),
            ("extra_groups", AttributeValue::Ss(vec!["auditors".into()])),
            ("scopes", AttributeValue::L(vec![s("projects/read")])),
        ],
    )
}

#[tokio::test]
async fn v1_blog_case_puts_projects_as_a_string_in_the_id_token_and_keeps_groups() {
    let store = store_with("jane", &[("projects", s("p-100,p-200"))]);
    let out = handle(
        &store,
        &TriggerConfig::blog_default("UserInfoTable"),
        fixture("v1_hosted_auth"),
    )
    .await
    .unwrap();
    assert_eq!(
        out["response"],
        json!({"claimsOverrideDetails": {
            "claimsToAddOrOverride": {"projects": "p-100,p-200"},
            "groupOverrideDetails": {
                "groupsToOverride": ["engineers", "site-leads"],
                "iamRolesToOverride": ["arn:aws:iam::123456789012:role/engineers"],
                "preferredRole": "arn:aws:iam::123456789012:role/engineers"
            }
        }})
    );
    // The rest of the event is echoed back untouched.
    assert_eq!(out["userName"], "jane");
    assert_eq!(out["request"], fixture("v1_hosted_auth")["request"]);
    assert_eq!(*store.asked.lock().unwrap(), vec!["jane"]);
}

#[tokio::test]
async fn v1_flattens_typed_values_to_strings_and_drops_access_only_claims() {
    let out = handle(&jane(), &pattern_config(), fixture("v1_authentication"))
        .await
        .unwrap();
    let details = &out["response"]["claimsOverrideDetails"];
    assert_eq!(
        details["claimsToAddOrOverride"],
        json!({"projects": "[\"p-100\",\"p-200\"]", "role": "site-engineer", "tenant": "acme"})
    );
    assert_eq!(
        details["groupOverrideDetails"]["groupsToOverride"],
        json!(["auditors"])
    );
    assert!(out["response"]
        .get("claimsAndScopeOverrideDetails")
        .is_none());
}

#[tokio::test]
async fn v2_writes_typed_claims_into_each_token_with_scopes_and_groups() {
    let out = handle(&jane(), &pattern_config(), fixture("v2_authentication"))
        .await
        .unwrap();
    assert_eq!(
        out["response"],
        json!({"claimsAndScopeOverrideDetails": {
            "idTokenGeneration": {"claimsToAddOrOverride": {
                "projects": ["p-100", "p-200"], "role": "site-engineer", "tenant": "acme"
            }},
            "accessTokenGeneration": {
                "claimsToAddOrOverride": {"role": "site-engineer", "tenant": "acme", "level": 3},
                "scopesToAdd": ["projects/read"]
            },
            "groupOverrideDetails": {
                "groupsToOverride": ["engineers", "auditors"],
                "iamRolesToOverride": [],
                "preferredRole": null
            }
        }})
    );
}

#[tokio::test]
async fn every_documented_user_trigger_source_is_answered() {
    for name in [
        "v2_authentication",
        "v2_refresh",
        "v2_new_password",
        "v2_device",
        "v1_hosted_auth",
        "v1_authentication",
    ] {
        let out = handle(&jane(), &pattern_config(), fixture(name))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let response = &out["response"];
        let role = response
            .pointer("/claimsAndScopeOverrideDetails/idTokenGeneration/claimsToAddOrOverride/role")
            .or_else(|| response.pointer("/claimsOverrideDetails/claimsToAddOrOverride/role"));
        assert_eq!(role, Some(&json!("site-engineer")), "{name}");
    }
}

#[tokio::test]
async fn v3_client_credentials_looks_up_the_client_and_enriches_only_the_access_token() {
    let store = store_with(
        "3example4client5id6",
        &[
            ("tier", s("gold")),
            (
                "allowed_ops",
                AttributeValue::Ss(vec!["invoice:read".into(), "invoice:write".into()]),
            ),
            ("role", s("billing-service")),
        ],
    );
    let out = handle(&store, &pattern_config(), fixture("v3_client_credentials"))
        .await
        .unwrap();
    assert_eq!(
        out["response"],
        json!({"claimsAndScopeOverrideDetails": {
            "accessTokenGeneration": {"claimsToAddOrOverride": {
                "role": "billing-service", "tier": "gold", "allowed_ops": ["invoice:read", "invoice:write"]
            }}
        }})
    );
    assert_eq!(*store.asked.lock().unwrap(), vec!["3example4client5id6"]);
}

#[tokio::test]
async fn groups_replace_mode_swaps_the_pool_groups_for_the_rows() {
    let mut cfg = pattern_config();
    cfg.groups.as_mut().unwrap().mode = trigger::config::GroupsMode::Replace;
    let out = handle(&jane(), &cfg, fixture("v1_hosted_auth"))
        .await
        .unwrap();
    assert_eq!(
        out["response"]["claimsOverrideDetails"]["groupOverrideDetails"]["groupsToOverride"],
        json!(["auditors"])
    );
}

#[tokio::test]
async fn a_user_without_a_row_gets_tokens_without_claims_or_is_denied_when_configured() {
    let empty = Memory::default();
    let out = handle(&empty, &pattern_config(), fixture("v2_authentication"))
        .await
        .unwrap();
    let details = &out["response"]["claimsAndScopeOverrideDetails"];
    assert_eq!(
        details["idTokenGeneration"]["claimsToAddOrOverride"],
        json!({})
    );
    assert_eq!(
        details["accessTokenGeneration"]["claimsToAddOrOverride"],
        json!({})
    );
    assert_eq!(
        details["groupOverrideDetails"]["groupsToOverride"],
        json!(["engineers"])
    );

    let mut deny = pattern_config();
    deny.on_missing_row = Policy::Deny;
    let err = handle(&empty, &deny, fixture("v2_authentication"))
        .await
        .unwrap_err();
    assert!(matches!(err, TriggerError::Denied));
}

#[tokio::test]
async fn a_failing_lookup_denies_by_default_with_a_generic_message_or_issues_when_configured() {
    let mut store = jane();
    store.fail = Some(|| StoreError::Throttled {
        table: "UserInfoTable".into(),
        code: "ThrottlingException".into(),
    });
    let err = handle(&store, &pattern_config(), fixture("v2_authentication"))
        .await
        .unwrap_err();
    assert!(matches!(err, TriggerError::Denied));
    let message = err.to_string();
    assert!(
        !message.contains("UserInfoTable") && !message.contains("Throttling"),
        "{message}"
    );

    let mut issue = pattern_config();
    issue.on_lookup_error = Policy::Issue;
    let out = handle(&store, &issue, fixture("v2_authentication"))
        .await
        .unwrap();
    assert_eq!(
        out["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"]
            ["claimsToAddOrOverride"],
        json!({})
    );
}

#[tokio::test]
async fn values_that_cannot_take_the_configured_type_are_left_out() {
    let store = store_with("jane", &[("level", s("senior")), ("role", s("lead"))]);
    let out = handle(&store, &pattern_config(), fixture("v2_authentication"))
        .await
        .unwrap();
    assert_eq!(
        out["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]
            ["claimsToAddOrOverride"],
        json!({"role": "lead"})
    );
}

#[tokio::test]
async fn every_stored_type_maps_to_its_claim_form() {
    let cfg = config(json!({"table": "t", "claims": [
        {"attribute": "n"}, {"attribute": "f"}, {"attribute": "b"}, {"attribute": "ss"}, {"attribute": "ns"},
        {"attribute": "l"}, {"attribute": "m"}, {"attribute": "nul"}, {"attribute": "bin"},
        {"attribute": "js", "type": "json"}, {"attribute": "bs", "type": "boolean"}, {"attribute": "ns2", "type": "string"}
    ]}));
    let store = store_with(
        "jane",
        &[
            ("n", AttributeValue::N("42".into())),
            ("f", AttributeValue::N("2.5".into())),
            ("b", AttributeValue::Bool(true)),
            ("ss", AttributeValue::Ss(vec!["a".into(), "b".into()])),
            ("ns", AttributeValue::Ns(vec!["1".into(), "2".into()])),
            (
                "l",
                AttributeValue::L(vec![s("x"), AttributeValue::N("7".into())]),
            ),
            (
                "m",
                AttributeValue::M(HashMap::from([("k".to_owned(), s("v"))])),
            ),
            ("nul", AttributeValue::Null(true)),
            (
                "bin",
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(vec![1u8])),
            ),
            ("js", s(r#"{"limit":10}"#)),
            ("bs", s("false")),
            ("ns2", AttributeValue::N("9".into())),
        ],
    );
    let out = handle(&store, &cfg, fixture("v2_authentication"))
        .await
        .unwrap();
    assert_eq!(
        out["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"]
            ["claimsToAddOrOverride"],
        json!({"n": 42, "f": 2.5, "b": true, "ss": ["a", "b"], "ns": [1, 2], "l": ["x", 7], "m": {"k": "v"},
               "js": {"limit": 10}, "bs": false, "ns2": "9"})
    );
}

#[tokio::test]
async fn malformed_and_unexpected_events_are_errors_not_panics() {
    let cfg = pattern_config();
    let store = jane();
    for (event, want) in [
        (json!("not an object"), "malformed"),
        (
            json!({"triggerSource": "TokenGeneration_Authentication"}),
            "malformed",
        ),
        (
            json!({"version": "9", "triggerSource": "TokenGeneration_Authentication", "userName": "jane"}),
            "unsupported event version",
        ),
        (
            json!({"version": "2", "triggerSource": "PreSignUp_SignUp", "userName": "jane"}),
            "unsupported trigger source",
        ),
        (
            json!({"version": "2", "triggerSource": "TokenGeneration_Authentication"}),
            "no userName",
        ),
        (
            json!({"version": "2", "triggerSource": "TokenGeneration_ClientCredentials", "userName": "x"}),
            "V3_0 only",
        ),
        (
            json!({"version": "3", "triggerSource": "TokenGeneration_ClientCredentials", "callerContext": {}}),
            "no callerContext.clientId",
        ),
        (
            json!({"version": "2", "triggerSource": "TokenGeneration_Authentication", "userName": "jane", "request": {"scopes": "x"}}),
            "malformed",
        ),
    ] {
        let err = handle(&store, &cfg, event.clone()).await.unwrap_err();
        assert!(err.to_string().contains(want), "{event}: {err}");
        assert_eq!(err.kind(), "MalformedEvent");
    }
    assert!(
        store.asked.lock().unwrap().is_empty(),
        "no lookup for a bad event"
    );
}

fn id_claims(out: &Value) -> &Value {
    &out["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"]["claimsToAddOrOverride"]
}

#[tokio::test]
async fn sets_come_out_sorted_and_once_whatever_order_dynamodb_returns() {
    let cfg = config(json!({"table": "t", "claims": [{"attribute": "ss"}, {"attribute": "ns"}]}));
    let mut seen = Vec::new();
    for (ss, ns) in [
        (vec!["p-2", "p-10", "p-1"], vec!["10", "2", "-1.5"]),
        (
            vec!["p-1", "p-2", "p-10", "p-2"],
            vec!["2.0", "-1.5", "10", "2"],
        ),
    ] {
        let store = store_with(
            "jane",
            &[
                (
                    "ss",
                    AttributeValue::Ss(ss.into_iter().map(String::from).collect()),
                ),
                (
                    "ns",
                    AttributeValue::Ns(ns.into_iter().map(String::from).collect()),
                ),
            ],
        );
        let out = handle(&store, &cfg, fixture("v2_authentication"))
            .await
            .unwrap();
        seen.push(id_claims(&out).clone());
    }
    assert_eq!(
        seen[0],
        json!({"ss": ["p-1", "p-10", "p-2"], "ns": [-1.5, 2, 10]})
    );
    assert_eq!(seen[0], seen[1], "the same token at every login");
}

#[tokio::test]
async fn scopes_are_split_on_spaces_and_commas_and_non_scope_tokens_are_not_sent() {
    let cfg = pattern_config();
    let store = store_with(
        "jane",
        &[(
            "scopes",
            s("projects/read, projects/write  openid,bad\"quote projects/read back\\slash"),
        )],
    );
    let out = handle(&store, &cfg, fixture("v2_authentication"))
        .await
        .unwrap();
    assert_eq!(
        out["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]["scopesToAdd"],
        json!(["projects/read", "projects/write", "openid"])
    );
    let built = trigger::claims::build(
        &trigger::claims::classify(&serde_json::from_value(fixture("v2_authentication")).unwrap())
            .unwrap(),
        &serde_json::from_value(fixture("v2_authentication")).unwrap(),
        store.rows.get("jane"),
        &cfg,
    );
    assert_eq!(built.dropped_scopes, vec!["bad\"quote", "back\\slash"]);
}

#[tokio::test]
async fn groups_replace_mode_drops_the_roles_of_the_groups_it_removes() {
    let mut cfg = pattern_config();
    cfg.groups.as_mut().unwrap().mode = trigger::config::GroupsMode::Replace;
    let groups =
        |out: &Value| out["response"]["claimsOverrideDetails"]["groupOverrideDetails"].clone();
    // The row removes site-leads and engineers: no role of theirs stays.
    let out = handle(&jane(), &cfg, fixture("v1_hosted_auth"))
        .await
        .unwrap();
    assert_eq!(
        groups(&out),
        json!({"groupsToOverride": ["auditors"], "iamRolesToOverride": [], "preferredRole": null})
    );
    // The row keeps every group the user had: their roles stay.
    let keeps = store_with(
        "jane",
        &[(
            "extra_groups",
            AttributeValue::Ss(vec![
                "site-leads".into(),
                "engineers".into(),
                "auditors".into(),
            ]),
        )],
    );
    let out = handle(&keeps, &cfg, fixture("v1_hosted_auth"))
        .await
        .unwrap();
    assert_eq!(
        groups(&out),
        json!({
            "groupsToOverride": ["auditors", "engineers", "site-leads"],
            "iamRolesToOverride": ["arn:aws:iam::123456789012:role/engineers"],
            "preferredRole": "arn:aws:iam::123456789012:role/engineers"
        })
    );
}

#[tokio::test]
async fn null_where_cognito_may_send_an_empty_list_is_read_as_empty() {
    let mut event = fixture("v2_authentication");
    event["request"]["groupConfiguration"] =
        json!({"groupsToOverride": null, "iamRolesToOverride": null, "preferredRole": null});
    event["request"]["scopes"] = Value::Null;
    event["request"]["clientMetadata"] = Value::Null;
    let out = handle(&jane(), &pattern_config(), event).await.unwrap();
    let details = &out["response"]["claimsAndScopeOverrideDetails"];
    assert_eq!(
        details["groupOverrideDetails"]["groupsToOverride"],
        json!(["auditors"])
    );
    assert_eq!(
        details["idTokenGeneration"]["claimsToAddOrOverride"]["role"],
        "site-engineer"
    );

    let mut event = fixture("v2_authentication");
    event["request"]["userAttributes"] = Value::Null;
    event["request"]["groupConfiguration"] = Value::Null;
    handle(&jane(), &pattern_config(), event).await.unwrap();
}

#[tokio::test]
async fn claims_over_the_size_budget_are_left_out_and_the_login_goes_on() {
    let cfg = config(
        json!({"table": "t", "maxClaimBytes": 200, "maxClaimsBytes": 300, "claims": [
            {"attribute": "huge"}, {"attribute": "a"}, {"attribute": "b"}, {"attribute": "c"}
        ]}),
    );
    let store = store_with(
        "jane",
        &[
            ("huge", s(&"x".repeat(500))),
            ("a", s(&"a".repeat(120))),
            ("b", s(&"b".repeat(120))),
            ("c", s(&"c".repeat(40))),
        ],
    );
    let event: trigger::event::PreTokenEvent =
        serde_json::from_value(fixture("v2_authentication")).unwrap();
    let classified = trigger::claims::classify(&event).unwrap();
    let built = trigger::claims::build(&classified, &event, store.rows.get("jane"), &cfg);
    let left_out: Vec<(&str, &str)> = built
        .oversized
        .iter()
        .map(|o| (o.claim.as_str(), o.budget))
        .collect();
    // huge breaks the per-claim budget; a and b (128 bytes each) and c do not fit 300
    // together: the largest goes first, a before b on the tie.
    assert_eq!(left_out, vec![("huge", "per claim"), ("a", "per token")]);
    let out = handle(&store, &cfg, fixture("v2_authentication"))
        .await
        .unwrap();
    let claims = id_claims(&out).as_object().unwrap();
    assert_eq!(
        claims.keys().collect::<Vec<_>>(),
        vec!["b", "c"],
        "the login still gets the claims that fit"
    );
    assert!(serde_json::to_string(claims).unwrap().len() <= 300);
}

#[tokio::test]
async fn a_row_bound_to_another_user_of_the_same_name_gives_no_claims() {
    let cfg = pattern_config();
    let sub = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111";
    let row = |owner: Option<&str>| {
        let mut store = jane();
        if let Some(owner) = owner {
            store
                .rows
                .get_mut("jane")
                .unwrap()
                .insert("sub".into(), s(owner));
        }
        store
    };
    // Bound to this user, or written by another tool without a sub: the claims come.
    for store in [row(Some(sub)), row(None)] {
        let out = handle(&store, &cfg, fixture("v2_authentication"))
            .await
            .unwrap();
        assert_eq!(id_claims(&out)["role"], "site-engineer");
    }
    // An earlier jane's row: tokens without its claims, or no login when rows are required.
    let stale = row(Some("0ld-jane"));
    let out = handle(&stale, &cfg, fixture("v2_authentication"))
        .await
        .unwrap();
    assert_eq!(id_claims(&out), &json!({}));
    assert!(
        out["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"]["scopesToAdd"]
            .is_null()
    );
    let mut deny = pattern_config();
    deny.on_missing_row = Policy::Deny;
    let err = handle(&stale, &deny, fixture("v2_authentication"))
        .await
        .unwrap_err();
    assert!(matches!(err, TriggerError::Denied));
}

/// Federated users (`okta_jane@example.com`) keyed by an attribute the event carries: the
/// row is read under its value, and a user without it has no row (issued or denied as
/// `onMissingRow` says, without a lookup).
#[tokio::test]
async fn rows_keyed_by_a_user_attribute_are_read_under_its_value() {
    let store = store_with("jane@example.com", &[("projects", s("p-1"))]);
    let mut cfg = config(
        json!({"table": "t", "claims": [{"attribute": "projects"}], "userKeyAttribute": "email"}),
    );
    let mut event = fixture("v2_authentication");
    event["userName"] = json!("okta_jane@example.com");
    let out = handle(&store, &cfg, event.clone()).await.unwrap();
    assert_eq!(*store.asked.lock().unwrap(), vec!["jane@example.com"]);
    let id = &out["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"];
    assert_eq!(
        id["claimsToAddOrOverride"]["projects"],
        json!("p-1"),
        "{out}"
    );

    event["request"]["userAttributes"]
        .as_object_mut()
        .unwrap()
        .remove("email");
    let out = handle(&store, &cfg, event.clone()).await.unwrap();
    assert_eq!(
        store.asked.lock().unwrap().len(),
        1,
        "no lookup without the key"
    );
    assert!(
        out["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"]
            ["claimsToAddOrOverride"]
            .get("projects")
            .is_none(),
        "{out}"
    );
    cfg.on_missing_row = Policy::Deny;
    assert!(matches!(
        handle(&store, &cfg, event).await.unwrap_err(),
        TriggerError::Denied
    ));
}

/// `userPool.clients`: tokens for another app client of the pool come back as Cognito made
/// them, with no lookup; a listed client's get the claims.
#[tokio::test]
async fn only_the_listed_app_clients_tokens_get_the_claims() {
    let store = jane();
    let mut cfg = pattern_config();
    cfg.clients = vec!["another-client".into()];
    let event = fixture("v2_authentication");
    let out = handle(&store, &cfg, event.clone()).await.unwrap();
    assert_eq!(out, event, "answered unchanged");
    assert!(store.asked.lock().unwrap().is_empty(), "no lookup");
    cfg.clients.push("1example23456789".into());
    let out = handle(&store, &cfg, event).await.unwrap();
    let access = &out["response"]["claimsAndScopeOverrideDetails"]["accessTokenGeneration"];
    assert_eq!(
        access["claimsToAddOrOverride"]["tenant"],
        json!("acme"),
        "{out}"
    );
}

/// A key attribute a user can set to anyone's: an email or phone number keys a row only once
/// verified; and a machine client's row (`deployer:principal` = `client`) is never a user's,
/// whatever the user's attribute names.
#[tokio::test]
async fn a_user_cannot_point_their_key_attribute_at_another_principals_row() {
    let mut store = store_with("victim@example.com", &[("projects", s("secret"))]);
    store.rows.insert(
        "4tq7client".into(),
        [
            ("projects".to_owned(), s("machine")),
            ("deployer:principal".to_owned(), s("client")),
        ]
        .into(),
    );
    let by_email = config(
        json!({"table": "t", "claims": [{"attribute": "projects"}], "userKeyAttribute": "email"}),
    );
    let mut event = fixture("v2_authentication");
    event["request"]["userAttributes"]["email"] = json!("victim@example.com");
    event["request"]["userAttributes"]["email_verified"] = json!("false");
    let out = handle(&store, &by_email, event.clone()).await.unwrap();
    assert!(
        store.asked.lock().unwrap().is_empty(),
        "an unverified email reads nothing"
    );
    let claims = &out["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"]
        ["claimsToAddOrOverride"];
    assert!(claims.get("projects").is_none(), "{out}");

    let by_custom = config(
        json!({"table": "t", "claims": [{"attribute": "projects"}], "userKeyAttribute": "custom:badge"}),
    );
    event["request"]["userAttributes"]["custom:badge"] = json!("4tq7client");
    let out = handle(&store, &by_custom, event).await.unwrap();
    let claims = &out["response"]["claimsAndScopeOverrideDetails"]["idTokenGeneration"]
        ["claimsToAddOrOverride"];
    assert!(claims.get("projects").is_none(), "a client's row: {out}");
}

/// The listed-clients check comes first: an event of another client is answered unchanged
/// even when the trigger could not have read it.
#[tokio::test]
async fn another_clients_event_is_answered_unchanged_even_when_unreadable() {
    let mut cfg = pattern_config();
    cfg.clients = vec!["listed".into()];
    let mut event = fixture("v2_authentication");
    event["triggerSource"] = json!("SomethingNew_Source");
    let out = handle(&jane(), &cfg, event.clone()).await.unwrap();
    assert_eq!(out, event);
}
