//! An existing pool, against Cognito's documented answers where the emulator is lenient:
//! UpdateUserPool resets every setting it is not given (Cognito API reference, UpdateUserPool:
//! "If you don't provide a value for an attribute, Amazon Cognito sets it to its default
//! value"), so the deployer must send them all; a Lite pool cannot take V2_0 (developer
//! guide, "Pre token generation Lambda trigger" and "User pool feature plans"); an occupied
//! slot is not taken without --replace-trigger; AccessDenied names the action and the pool.

mod mocks;

use aws_sdk_cognitoidentityprovider::operation::update_user_pool::UpdateUserPoolInput;
use aws_sdk_cognitoidentityprovider::types::{
    DeletionProtectionType, UserPoolMfaType, VerifiedAttributeType,
};
use aws_sdk_cognitoidentityprovider::Client as Cognito;
use aws_smithy_mocks::mock;
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use deployer::inputs::StackInputs;
use deployer::pool::{self, Slot};
use mocks::{json_error, Harness, Mocks, ACCOUNT};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const POOL: &str = "us-east-1_EXAMPLE";
const OURS: &str = "arn:aws:lambda:us-east-1:111122223333:function:app-pretoken:live";
const THEIRS: &str = "arn:aws:lambda:us-east-1:111122223333:function:team-pretoken";

/// A pool as DescribeUserPool returns it (API reference, DescribeUserPool, "Response
/// Syntax"): a team's production settings, the deprecated UnusedAccountValidityDays
/// included, another trigger, and the pre-token-generation slot as `slot` says.
fn pool(tier: &str, slot: Value) -> Value {
    let mut lambda =
        json!({"PreSignUp": "arn:aws:lambda:us-east-1:111122223333:function:team-signup"});
    lambda
        .as_object_mut()
        .unwrap()
        .extend(slot.as_object().unwrap().clone());
    json!({"UserPool": {
        "Id": POOL,
        "Name": "production",
        "Arn": format!("arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{POOL}"),
        "Policies": {"PasswordPolicy": {"MinimumLength": 14, "RequireUppercase": true, "RequireLowercase": true,
            "RequireNumbers": true, "RequireSymbols": true, "TemporaryPasswordValidityDays": 3}},
        "DeletionProtection": "ACTIVE",
        "LambdaConfig": lambda,
        "LastModifiedDate": 1.7e9,
        "CreationDate": 1.6e9,
        "SchemaAttributes": [{"Name": "email", "AttributeDataType": "String", "Mutable": true, "Required": true}],
        "AutoVerifiedAttributes": ["email"],
        "UsernameAttributes": ["email"],
        "VerificationMessageTemplate": {"DefaultEmailOption": "CONFIRM_WITH_LINK", "EmailSubjectByLink": "Welcome"},
        "UserAttributeUpdateSettings": {"AttributesRequireVerificationBeforeUpdate": ["email"]},
        "MfaConfiguration": "OPTIONAL",
        "EstimatedNumberOfUsers": 12000,
        "EmailConfiguration": {"EmailSendingAccount": "DEVELOPER", "SourceArn": "arn:aws:ses:us-east-1:111122223333:identity/example.com", "From": "no-reply@example.com"},
        "UserPoolTags": {"team": "identity", "aws:cloudformation:stack-name": "identity-prod"},
        "Domain": "login-example",
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": true, "UnusedAccountValidityDays": 7,
            "InviteMessageTemplate": {"EmailSubject": "Your account", "EmailMessage": "{username} {####}"}},
        "UserPoolAddOns": {"AdvancedSecurityMode": "ENFORCED"},
        "AccountRecoverySetting": {"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]},
        "UserPoolTier": tier
    }})
}

fn answer(body: &Value) -> HttpResponse {
    let mut response = HttpResponse::new(
        StatusCode::try_from(200).unwrap(),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("content-type", "application/x-amz-json-1.1");
    response
}

fn inputs(event_version: &str) -> StackInputs {
    StackInputs::parse(
        &json!({"stackName": "app", "userPool": {"existing": POOL}, "eventVersion": event_version})
            .to_string(),
        "stack-inputs.json",
    )
    .unwrap()
}

#[tokio::test]
async fn setting_the_slot_sends_every_setting_the_pool_has_and_changes_only_the_slot() {
    let before = pool("ESSENTIALS", json!({}));
    let mut after = before.clone();
    after["UserPool"]["LambdaConfig"]["PreTokenGenerationConfig"] =
        json!({"LambdaArn": OURS, "LambdaVersion": "V2_0"});
    after["UserPool"]["AdminCreateUserConfig"]["UnusedAccountValidityDays"] = json!(0);
    after["UserPool"]["LastModifiedDate"] = json!(1.8e9);
    let sent: Arc<Mutex<Option<UpdateUserPoolInput>>> = Arc::default();
    let mut m = Mocks::new();
    let (b, a) = (before.clone(), after.clone());
    m.cognito.push(
        mock!(Cognito::describe_user_pool)
            .sequence()
            .http_response(move || answer(&b))
            .http_response(move || answer(&a))
            .build(),
    );
    let seen = sent.clone();
    m.cognito.push(
        mock!(Cognito::update_user_pool)
            .match_requests(move |r| {
                *seen.lock().unwrap() = Some(r.clone());
                true
            })
            .then_output(|| aws_sdk_cognitoidentityprovider::operation::update_user_pool::UpdateUserPoolOutput::builder().build()),
    );
    let h = Harness::new(&m);
    let slot = Slot::calling(OURS, deployer::inputs::EventVersion::V2_0);
    let wired = pool::set_slot(h.ctx(), POOL, ACCOUNT, &slot).await.unwrap();
    assert_eq!(wired, pool::Wired::Written);

    let r = sent
        .lock()
        .unwrap()
        .clone()
        .expect("UpdateUserPool was sent");
    let policy = r.policies().unwrap().password_policy().unwrap();
    assert_eq!(
        (
            policy.minimum_length(),
            policy.require_symbols(),
            policy.temporary_password_validity_days()
        ),
        (Some(14), true, 3)
    );
    assert_eq!(
        r.deletion_protection(),
        Some(&DeletionProtectionType::Active)
    );
    assert_eq!(r.mfa_configuration(), Some(&UserPoolMfaType::Optional));
    assert_eq!(r.auto_verified_attributes(), [VerifiedAttributeType::Email]);
    assert!(r
        .admin_create_user_config()
        .unwrap()
        .allow_admin_create_user_only());
    assert_eq!(
        r.admin_create_user_config()
            .unwrap()
            .invite_message_template()
            .unwrap()
            .email_subject(),
        Some("Your account")
    );
    assert_eq!(
        r.email_configuration().unwrap().from(),
        Some("no-reply@example.com")
    );
    assert_eq!(
        r.verification_message_template()
            .unwrap()
            .email_subject_by_link(),
        Some("Welcome")
    );
    assert_eq!(
        r.user_attribute_update_settings()
            .unwrap()
            .attributes_require_verification_before_update()
            .len(),
        1
    );
    assert!(r.user_pool_add_ons().is_some() && r.account_recovery_setting().is_some());
    assert_eq!(r.pool_name(), Some("production"));
    assert_eq!(r.user_pool_tier().map(|t| t.as_str()), Some("ESSENTIALS"));
    // AWS's own tags (CloudFormation's) are not the caller's to write; the team's stay.
    let tags = r.user_pool_tags().unwrap();
    assert_eq!(tags.get("team").map(String::as_str), Some("identity"));
    assert!(!tags.keys().any(|k| k.starts_with("aws:")), "{tags:?}");
    let lambda = r.lambda_config().unwrap();
    assert_eq!(
        lambda.pre_sign_up(),
        Some("arn:aws:lambda:us-east-1:111122223333:function:team-signup")
    );
    assert_eq!(Slot::of(Some(lambda)), slot);
}

#[tokio::test]
async fn a_read_back_that_lost_a_setting_is_an_error_naming_it() {
    let before = pool("ESSENTIALS", json!({}));
    let mut after = before.clone();
    after["UserPool"]["LambdaConfig"] =
        json!({"PreTokenGenerationConfig": {"LambdaArn": OURS, "LambdaVersion": "V2_0"}});
    let mut m = Mocks::new();
    m.cognito.push(
        mock!(Cognito::describe_user_pool)
            .sequence()
            .http_response(move || answer(&before))
            .http_response(move || answer(&after))
            .build(),
    );
    m.cognito
        .push(mock!(Cognito::update_user_pool).then_output(|| {
        aws_sdk_cognitoidentityprovider::operation::update_user_pool::UpdateUserPoolOutput::builder(
        )
        .build()
    }));
    let h = Harness::new(&m);
    let slot = Slot::calling(OURS, deployer::inputs::EventVersion::V2_0);
    let err = pool::set_slot(h.ctx(), POOL, ACCOUNT, &slot)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("team-signup"),
        "the lost pre sign-up trigger is named: {text}"
    );
    assert_eq!(err.exit_code(), 2);
}

/// Only the DescribeUserPool rule: any other call (an update, a build) fails the test.
fn describing(body: HttpResponse) -> Mocks {
    let mut m = Mocks::new();
    // No deployer stack is named like the team's trigger (DescribeStacks: ValidationError).
    m.cfn.push(
        mock!(aws_sdk_cloudformation::Client::describe_stacks)
            .then_http_response(mocks::no_such_stack),
    );
    let body = Arc::new(Mutex::new(Some(body)));
    m.cognito.push(
        mock!(Cognito::describe_user_pool).then_http_response(move || {
            body.lock().unwrap().take().expect("DescribeUserPool once")
        }),
    );
    m
}

#[tokio::test]
async fn a_lite_pool_is_refused_for_v2_and_never_upgraded() {
    for version in ["V2_0", "V3_0"] {
        let h = Harness::new(&describing(answer(&pool("LITE", json!({})))));
        let err = pool::inspect(h.ctx(), &inputs(version), ACCOUNT, None, false)
            .await
            .unwrap_err();
        let help = match &err {
            deployer::error::Error::Pool { help, .. } => help.clone(),
            other => panic!("{other:?}"),
        };
        let text = format!("{err}\n{help}");
        assert!(
            text.contains(&format!(
                "user pool {POOL}: its feature plan is LITE, and eventVersion {version}"
            )),
            "{text}"
        );
        assert!(
            text.contains("never changes it") && text.contains("V1_0"),
            "{text}"
        );
    }
    let h = Harness::new(&describing(answer(&pool("LITE", json!({})))));
    let ok = pool::inspect(h.ctx(), &inputs("V1_0"), ACCOUNT, None, false)
        .await
        .unwrap();
    assert!(ok.is_some(), "V1_0 needs no plan");
}

#[tokio::test]
async fn an_occupied_slot_is_refused_without_replace_trigger_and_recorded_with_it() {
    let theirs = json!({"PreTokenGeneration": THEIRS, "PreTokenGenerationConfig": {"LambdaArn": THEIRS, "LambdaVersion": "V1_0"}});
    let h = Harness::new(&describing(answer(&pool("PLUS", theirs.clone()))));
    let err = pool::inspect(h.ctx(), &inputs("V2_0"), ACCOUNT, None, false)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("already calls {THEIRS}")), "{text}");
    assert_eq!(err.exit_code(), 2);

    let h = Harness::new(&describing(answer(&pool("PLUS", theirs))));
    let got = pool::inspect(h.ctx(), &inputs("V2_0"), ACCOUNT, None, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.previous.effective(),
        Some((THEIRS, "V1_0")),
        "what down puts back"
    );
    assert!(Slot::from_json(&got.previous.to_json())
        .unwrap()
        .calls("team-pretoken"));

    // The stack's own function in the slot: the record made when it took the slot stands.
    let ours = json!({"PreTokenGenerationConfig": {"LambdaArn": OURS, "LambdaVersion": "V2_0"}});
    let h = Harness::new(&describing(answer(&pool("PLUS", ours))));
    let recorded = Slot::calling(THEIRS, deployer::inputs::EventVersion::V1_0).to_json();
    let deployed = std::collections::BTreeMap::from([
        (pool::EXISTING_POOL.to_owned(), POOL.to_owned()),
        (pool::PREVIOUS_TRIGGER.to_owned(), recorded),
    ]);
    let got = pool::inspect(h.ctx(), &inputs("V2_0"), ACCOUNT, Some(&deployed), false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.previous.effective(), Some((THEIRS, "V1_0")));
}

/// A stack wired to one pool is not moved to another, or to a pool of its own, by an inputs
/// change: the first pool would keep calling the stack's function with no way back. Refused
/// before any call.
#[tokio::test]
async fn a_stack_wired_to_one_pool_is_not_moved_to_another() {
    let deployed = std::collections::BTreeMap::from([(
        pool::EXISTING_POOL.to_owned(),
        "us-east-1_FIRST".to_owned(),
    )]);
    let own = StackInputs::parse(
        r#"{"stackName": "app", "userPoolDomainName": "app-login"}"#,
        "t.json",
    )
    .unwrap();
    for inputs in [inputs("V2_0"), own] {
        let h = Harness::new(&Mocks::new());
        let err = pool::inspect(h.ctx(), &inputs, ACCOUNT, Some(&deployed), false)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("user pool us-east-1_FIRST: stack app is wired to it"),
            "{text}"
        );
    }
}

/// An identity without cognito-idp:DescribeUserPool on the pool: Cognito answers 400
/// AccessDeniedException naming the action (Cognito API reference, "Common Errors").
#[tokio::test]
async fn access_denied_on_the_pool_names_the_action_and_the_pool() {
    let message = format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/ci-deployer/run-42 is not authorized to perform: cognito-idp:DescribeUserPool on resource: arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{POOL}");
    let h = Harness::new(&describing(json_error(
        400,
        "AccessDeniedException",
        &message,
    )));
    let err = pool::inspect(h.ctx(), &inputs("V2_0"), ACCOUNT, None, false)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("may not cognito-idp:DescribeUserPool on arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{POOL}")),
        "{text}"
    );
    let h = Harness::new(&describing(json_error(
        400,
        "ResourceNotFoundException",
        "User pool us-east-1_EXAMPLE does not exist.",
    )));
    let err = pool::inspect(h.ctx(), &inputs("V2_0"), ACCOUNT, None, false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "no such pool in account {ACCOUNT}, region us-east-1"
        )),
        "{err}"
    );
}

/// The CI roles never hold UpdateUserPool on an existing pool (docs/security.md): Cognito's
/// 400 AccessDeniedException on the write names the action, the pool, and who must run it.
#[tokio::test]
async fn the_slot_written_without_update_user_pool_says_an_admin_runs_it_once() {
    let mut m = Mocks::new();
    let before = pool("ESSENTIALS", json!({}));
    m.cognito
        .push(mock!(Cognito::describe_user_pool).then_http_response(move || answer(&before)));
    let message = format!("User: arn:aws:sts::{ACCOUNT}:assumed-role/ci-deployer/run-42 is not authorized to perform: cognito-idp:UpdateUserPool on resource: arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{POOL}");
    m.cognito.push(
        mock!(Cognito::update_user_pool)
            .then_http_response(move || json_error(400, "AccessDeniedException", &message)),
    );
    let h = Harness::new(&m);
    let slot = Slot::calling(OURS, deployer::inputs::EventVersion::V2_0);
    let err = pool::set_slot(h.ctx(), POOL, ACCOUNT, &slot)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("needs cognito-idp:UpdateUserPool on arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{POOL}")),
        "{text}"
    );
    let deployer::error::Error::Pool { help, .. } = err else {
        panic!()
    };
    assert!(help.contains("admin's credentials"), "{help}");
}

/// The listed clients are looked up with ListUserPoolClients (API reference: its answer has
/// no secrets, unlike DescribeUserPoolClient's), across pages; one not there is named.
#[tokio::test]
async fn a_listed_client_not_in_the_pool_is_named_and_no_secret_is_read() {
    let page = |clients: &[&str], next: Option<&str>| {
        let mut body = json!({"UserPoolClients": clients.iter().map(|c| json!({"ClientId": c, "UserPoolId": POOL, "ClientName": "x"})).collect::<Vec<_>>()});
        if let Some(next) = next {
            body["NextToken"] = json!(next);
        }
        answer(&body)
    };
    let inputs = |clients: &[&str]| {
        StackInputs::parse(
            &json!({"stackName": "app", "userPool": {"existing": POOL, "clients": clients}})
                .to_string(),
            "stack-inputs.json",
        )
        .unwrap()
    };
    for (listed, ok) in [
        (&["web1", "web3"][..], true),
        (&["web1", "gone"][..], false),
    ] {
        let mut m = describing(answer(&pool("ESSENTIALS", json!({}))));
        m.cognito.push(
            mock!(Cognito::list_user_pool_clients)
                .sequence()
                .http_response(move || page(&["web1", "web2"], Some("p2")))
                .http_response(move || page(&["web3"], None))
                .build(),
        );
        let h = Harness::new(&m);
        let got = pool::inspect(h.ctx(), &inputs(listed), ACCOUNT, None, false).await;
        match ok {
            true => assert!(got.is_ok(), "{got:?}"),
            false => assert!(
                got.unwrap_err()
                    .to_string()
                    .contains("it has no app client gone"),
                "{listed:?}"
            ),
        }
    }
}

/// The slot calls another deployer stack's trigger (`app-pretoken`, stack `app` made by the
/// deployer): taking it over, even with --replace-trigger, would chain the records (this
/// stack's `down` would put back a function `app`'s `down` deletes). Refused.
#[tokio::test]
async fn a_slot_held_by_another_deployer_stack_is_not_taken_even_with_replace_trigger() {
    let theirs = json!({"PreTokenGenerationConfig": {"LambdaArn": OURS, "LambdaVersion": "V2_0"}});
    let mut m = Mocks::new();
    m.cognito.push(
        mock!(Cognito::describe_user_pool)
            .then_http_response(move || answer(&pool("PLUS", theirs.clone()))),
    );
    m.cfn.push(
        mock!(aws_sdk_cloudformation::Client::describe_stacks)
            .match_requests(|r| r.stack_name() == Some("app"))
            .then_output(|| {
                mocks::described(mocks::ours(
                    aws_sdk_cloudformation::types::StackStatus::UpdateComplete,
                    "fp",
                ))
            }),
    );
    let second = StackInputs::parse(
        &json!({"stackName": "second", "userPool": {"existing": POOL}}).to_string(),
        "stack-inputs.json",
    )
    .unwrap();
    let h = Harness::new(&m);
    let err = pool::inspect(h.ctx(), &second, ACCOUNT, None, true)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("the trigger of the deployer's stack app"),
        "{text}"
    );
    assert_eq!(err.exit_code(), 2);
}
