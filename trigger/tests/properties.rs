//! Properties of the claim builder over arbitrary rows, mappings and events of every version
//! (proptest): it never panics, never writes a claim Cognito reserves or a type it forbids,
//! never goes over the size budgets, sends only OAuth scope tokens, and gives the same answer
//! for the same row however DynamoDB ordered its sets and map.

use aws_sdk_dynamodb::types::AttributeValue;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use trigger::claims::{build, classify, group_name, scope_token, Row};
use trigger::config::{
    ClaimMapping, ClaimType, GroupsMapping, GroupsMode, Tokens, TriggerConfig,
    ACCESS_TOKEN_MANAGED_CLAIMS, ID_TOKEN_STRING_CLAIMS, RESERVED_CLAIMS,
};
use trigger::event::PreTokenEvent;

/// Attribute names rows and mappings share, so mappings find values.
const ATTRIBUTES: &[&str] = &["projects", "role", "tenant", "groups", "scopes", "n", "sub"];

/// Claim names, Cognito's own among them: the mapping validation must keep those out.
fn claim_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z_]{1,12}",
        2 => prop::sample::select(ATTRIBUTES).prop_map(String::from),
        1 => prop::sample::select(RESERVED_CLAIMS).prop_map(String::from),
        1 => prop::sample::select(ID_TOKEN_STRING_CLAIMS).prop_map(String::from),
        1 => prop::sample::select(ACCESS_TOKEN_MANAGED_CLAIMS).prop_map(String::from),
        1 => Just("cognito:groups".to_owned()),
        1 => Just("dev:x".to_owned()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => "[ -~]{0,40}",
        1 => "\\PC{0,20}",
        1 => Just(String::new()),
        1 => "[a-z/.]{1,10}( |,)[a-z/.]{1,10}",
        // Long values, often, so the budgets are put to work.
        3 => "[a-z]{50,400}",
        1 => "x{300,700}",
    ]
}

fn attribute() -> impl Strategy<Value = AttributeValue> {
    let leaf = prop_oneof![
        text().prop_map(AttributeValue::S),
        any::<i64>().prop_map(|n| AttributeValue::N(n.to_string())),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| AttributeValue::N(f.to_string())),
        any::<bool>().prop_map(AttributeValue::Bool),
        Just(AttributeValue::Null(true)),
        prop::collection::vec(text(), 1..8).prop_map(AttributeValue::Ss),
        prop::collection::vec(-1000i32..1000, 1..8)
            .prop_map(|v| AttributeValue::Ns(v.iter().map(i32::to_string).collect())),
        Just(AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(
            vec![1u8]
        ))),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(AttributeValue::L),
            prop::collection::hash_map("[a-z]{1,6}", inner, 0..6).prop_map(AttributeValue::M),
        ]
    })
}

fn row() -> impl Strategy<Value = Row> {
    prop::collection::hash_map(
        prop::sample::select(ATTRIBUTES).prop_map(String::from),
        attribute(),
        0..ATTRIBUTES.len(),
    )
}

fn kind() -> impl Strategy<Value = ClaimType> {
    prop_oneof![
        4 => Just(ClaimType::Auto),
        1 => Just(ClaimType::String),
        1 => Just(ClaimType::Number),
        1 => Just(ClaimType::Boolean),
        1 => Just(ClaimType::List),
        1 => Just(ClaimType::Json),
    ]
}

fn tokens() -> impl Strategy<Value = Tokens> {
    prop::sample::select(vec![Tokens::Id, Tokens::Access, Tokens::Both])
}

/// Mappings that pass the trigger's own start-up checks (others never run).
fn config() -> impl Strategy<Value = TriggerConfig> {
    let mapping = (
        prop::sample::select(ATTRIBUTES),
        prop::option::weighted(0.8, claim_name()),
        tokens(),
        kind(),
    )
        .prop_map(|(a, claim, tokens, kind)| ClaimMapping {
            attribute: a.to_owned(),
            claim,
            tokens,
            kind,
        });
    (
        prop::collection::vec(mapping, 1..8),
        any::<bool>(),
        any::<bool>(),
        // Budgets from the smallest allowed to a few claims' worth, the total often little
        // above the per-claim one, so the generated rows overflow both (the largest budgets
        // allowed are exercised by the example tests).
        64usize..=600,
        0usize..=600,
    )
        .prop_map(|(claims, groups, replace, a, b)| {
            let mut config = TriggerConfig::blog_default("t");
            config.claims = claims;
            config.groups = groups.then(|| GroupsMapping {
                attribute: "groups".into(),
                mode: if replace {
                    GroupsMode::Replace
                } else {
                    GroupsMode::Add
                },
            });
            config.scopes_attribute = Some("scopes".into());
            config.max_claim_bytes = a;
            config.max_claims_bytes = a + b;
            config
        })
        .prop_filter("a mapping the trigger starts with", |c| {
            c.validate().is_ok()
        })
}

fn event() -> impl Strategy<Value = Value> {
    let source = prop::sample::select(vec![
        "TokenGeneration_HostedAuth",
        "TokenGeneration_Authentication",
        "TokenGeneration_RefreshTokens",
        "TokenGeneration_NewPasswordChallenge",
        "TokenGeneration_AuthenticateDevice",
        "TokenGeneration_ClientCredentials",
    ]);
    let list = prop_oneof![
        Just(Value::Null),
        prop::collection::vec("[a-z-]{1,8}", 0..4).prop_map(|v| json!(v)),
    ];
    (
        prop::sample::select(vec!["1", "2", "3"]),
        source,
        list.clone(),
        list,
        prop::option::of("[a-z0-9-]{4,12}"),
    )
        .prop_map(|(version, source, groups, roles, sub)| {
            json!({
                "version": version,
                "triggerSource": source,
                "userName": "jane",
                "callerContext": {"clientId": "client-1"},
                "request": {
                    "userAttributes": {"sub": sub},
                    "groupConfiguration": {"groupsToOverride": groups, "iamRolesToOverride": roles, "preferredRole": null},
                    "scopes": null
                }
            })
        })
}

/// The same row as DynamoDB might return it another time: sets and maps in another order.
fn reordered(row: &Row) -> Row {
    fn shuffle(v: &AttributeValue) -> AttributeValue {
        match v {
            AttributeValue::Ss(items) => AttributeValue::Ss(items.iter().rev().cloned().collect()),
            AttributeValue::Ns(items) => AttributeValue::Ns(items.iter().rev().cloned().collect()),
            AttributeValue::L(items) => AttributeValue::L(items.iter().map(shuffle).collect()),
            AttributeValue::M(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.reverse();
                AttributeValue::M(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), shuffle(v)))
                        .collect::<HashMap<_, _>>(),
                )
            }
            other => other.clone(),
        }
    }
    let mut entries: Vec<_> = row.iter().collect();
    entries.reverse();
    entries
        .into_iter()
        .map(|(k, v)| (k.clone(), shuffle(v)))
        .collect()
}

/// `{"name":value,...}` as the token carries it.
fn bytes(claims: &serde_json::Map<String, Value>) -> usize {
    serde_json::to_string(claims).unwrap().len()
}

fn check_token(
    claims: &serde_json::Map<String, Value>,
    config: &TriggerConfig,
    access: bool,
    typed: bool,
) -> Result<(), TestCaseError> {
    for (name, value) in claims {
        prop_assert!(
            !RESERVED_CLAIMS.contains(&name.as_str()),
            "reserved claim {name}"
        );
        prop_assert!(
            !name.starts_with("dev:") && !name.starts_with("cognito:"),
            "{name}"
        );
        if access {
            prop_assert!(
                !ACCESS_TOKEN_MANAGED_CLAIMS.contains(&name.as_str()),
                "{name}"
            );
        } else if typed && ID_TOKEN_STRING_CLAIMS.contains(&name.as_str()) {
            prop_assert!(value.is_string(), "{name} is {value} in a V2/V3 ID token");
        }
        let one = serde_json::to_string(&json!({name.clone(): value}))
            .unwrap()
            .len()
            - 2;
        prop_assert!(one <= config.max_claim_bytes, "{name}: {one} bytes");
    }
    prop_assert!(
        bytes(claims) <= config.max_claims_bytes,
        "{} bytes",
        bytes(claims)
    );
    Ok(())
}

proptest! {
    // Failures print their minimal input; nothing is written into the source tree.
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_row_gives_an_answer_cognito_accepts_and_the_same_one_every_time(
        config in config(),
        row in prop::option::weighted(0.9, row()),
        raw in event(),
    ) {
        let event: PreTokenEvent = serde_json::from_value(raw).unwrap();
        let Ok(classified) = classify(&event) else { return Ok(()) };
        let built = build(&classified, &event, row.as_ref(), &config);
        let answer = serde_json::to_value(&built.response).unwrap();

        if let Some(v1) = answer.get("claimsOverrideDetails") {
            let claims: serde_json::Map<String, Value> = v1["claimsToAddOrOverride"]
                .as_object()
                .unwrap()
                .clone();
            prop_assert!(claims.values().all(Value::is_string), "V1_0 carries strings");
            check_token(&claims, &config, false, false)?;
        } else {
            let details = &answer["claimsAndScopeOverrideDetails"];
            if let Some(id) = details["idTokenGeneration"]["claimsToAddOrOverride"].as_object() {
                check_token(id, &config, false, true)?;
            }
            let access = &details["accessTokenGeneration"];
            check_token(access["claimsToAddOrOverride"].as_object().unwrap(), &config, true, true)?;
            if let Some(scopes) = access["scopesToAdd"].as_array() {
                for scope in scopes {
                    prop_assert!(scope_token(scope.as_str().unwrap()), "{scope}");
                }
            }
        }

        let groups = answer
            .get("claimsOverrideDetails")
            .unwrap_or(&answer["claimsAndScopeOverrideDetails"])["groupOverrideDetails"]["groupsToOverride"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for group in &groups {
            prop_assert!(group_name(group.as_str().unwrap()), "{group}");
        }

        let again = build(&classified, &event, row.as_ref().map(reordered).as_ref(), &config);
        prop_assert_eq!(answer, serde_json::to_value(&again.response).unwrap());
    }

    /// Many long claims against small budgets: every token stays within both, a claim is
    /// left out only when it had to be (each one left out is reported, and every kept claim
    /// fits), and the same claims are left out whatever order the row came in.
    #[test]
    fn long_rows_are_cut_to_the_budgets_and_the_same_way_every_time(
        lengths in prop::collection::vec(0usize..700, 1..10),
        per_claim in 64usize..=800,
        extra in 0usize..=1200,
        version in prop::sample::select(vec!["1", "2", "3"]),
    ) {
        let mut config = TriggerConfig::blog_default("t");
        config.claims = (0..lengths.len())
            .map(|i| ClaimMapping {
                attribute: format!("a{i}"),
                claim: None,
                tokens: Tokens::Both,
                kind: ClaimType::Auto,
            })
            .collect();
        config.max_claim_bytes = per_claim;
        config.max_claims_bytes = per_claim + extra;
        prop_assume!(config.validate().is_ok());
        let row: Row = lengths
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("a{i}"), AttributeValue::S("v".repeat(*n))))
            .collect();
        let event: PreTokenEvent = serde_json::from_value(json!({
            "version": version,
            "triggerSource": "TokenGeneration_Authentication",
            "userName": "jane",
            "callerContext": {"clientId": "client-1"},
            "request": {"userAttributes": {"sub": "s"}, "groupConfiguration": {}}
        }))
        .unwrap();
        let classified = classify(&event).unwrap();
        let built = build(&classified, &event, Some(&row), &config);
        let answer = serde_json::to_value(&built.response).unwrap();
        let tokens: Vec<(&str, &serde_json::Map<String, Value>)> =
            if let Some(v1) = answer.get("claimsOverrideDetails") {
                vec![("ID", v1["claimsToAddOrOverride"].as_object().unwrap())]
            } else {
                let details = &answer["claimsAndScopeOverrideDetails"];
                vec![
                    ("ID", details["idTokenGeneration"]["claimsToAddOrOverride"].as_object().unwrap()),
                    ("access", details["accessTokenGeneration"]["claimsToAddOrOverride"].as_object().unwrap()),
                ]
            };
        for (token, claims) in tokens {
            check_token(claims, &config, token == "access", version != "1")?;
            for i in 0..lengths.len() {
                let name = format!("a{i}");
                let left_out = built.oversized.iter().any(|o| o.token == token && o.claim == name);
                prop_assert_ne!(claims.contains_key(&name), left_out, "{} in the {} token", name, token);
            }
        }
        let again = build(&classified, &event, Some(&reordered(&row)), &config);
        prop_assert_eq!(answer, serde_json::to_value(&again.response).unwrap());
    }
}
