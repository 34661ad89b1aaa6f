//! The rendered template: golden files for the shipped inputs and variants, its security
//! properties read from the YAML. cfn-lint checks the same golden files in `toolchain.rs`.

use deployer::inputs::StackInputs;
use deployer::render;
use serde_json::Value;

fn inputs(text: &str) -> StackInputs {
    StackInputs::parse(text, "test.json").unwrap()
}

fn shipped() -> StackInputs {
    StackInputs::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../stack-inputs.json"
    )))
    .unwrap()
}

const V1_KEPT: &str = r#"{"stackName": "kept", "userPoolDomainName": "kept-login", "eventVersion": "V1_0", "featurePlan": "LITE",
    "lifecycle": "kept", "table": {"name": "UserInfoTable"}, "trigger": {"logRetentionDays": 90, "memoryMb": 256}}"#;
const V3_PATTERN: &str = r#"{"stackName": "m2m", "userPoolDomainName": "m2m-login", "eventVersion": "V3_0", "featurePlan": "PLUS",
    "claims": [{"attribute": "tier", "tokens": "access"}, {"attribute": "tenant_id", "claim": "tenant", "tokens": "both"}],
    "groups": {"attribute": "groups", "mode": "replace"}, "scopesAttribute": "scopes",
    "callbackUrls": ["https://app.example.com/callback"], "tags": {"team": "identity"}, "lifecycle": "disposable",
    "trigger": {"codeSigningConfigArn": "arn:aws:lambda:us-east-1:111122223333:code-signing-config:csc-0d4518bd353a0a7c6"}}"#;

const EXISTING: &str = r#"{"stackName": "main-claims", "region": "eu-west-1", "userPool": {"existing": "eu-west-1_AbC123xyz", "clients": ["4tq7abcdef"]},
    "table": {"userKeyAttribute": "email"}, "claims": [{"attribute": "role", "tokens": "access"}]}"#;
const EXISTING_WITH_CLIENT: &str = r#"{"stackName": "main-claims", "userPool": {"existing": "us-east-1_AbC123xyz", "appClient": true},
    "eventVersion": "V1_0"}"#;

#[test]
fn golden_templates() {
    insta::assert_snapshot!("existing_pool", render::render(&inputs(EXISTING)).unwrap());
    insta::assert_snapshot!("shipped", render::render(&shipped()).unwrap());
    insta::assert_snapshot!("v1_kept", render::render(&inputs(V1_KEPT)).unwrap());
    insta::assert_snapshot!("v3_pattern", render::render(&inputs(V3_PATTERN)).unwrap());
    insta::assert_snapshot!("projects_api", render::render(&projects_api()).unwrap());
    insta::assert_snapshot!("api_targets", render::render(&inputs(API_TARGETS)).unwrap());
}

/// An API on an existing pool with each kind of target.
const API_TARGETS: &str = r#"{"stackName": "orders", "userPool": {"existing": "us-east-1_AbC123xyz", "clients": ["4tq7abcdef"]},
    "claims": [{"attribute": "tenant", "tokens": "access", "type": "string"}],
    "api": {"clients": ["m2mclient"], "routes": {
        "GET /orders/{orderId}": {"resource": {"type": "Order"}, "target": "arn:aws:lambda:us-east-1:111122223333:function:orders-api:live"},
        "POST /orders": {"target": "https://orders.example.com/v1"},
        "GET /me": {}}}}"#;

fn projects_api() -> StackInputs {
    StackInputs::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/projects-api/stack-inputs.json"
    )))
    .unwrap()
}

/// The API: every route through the authorizer, with no decision cache (a cached decision
/// would be reused for another route or resource); the functions' roles write their logs and
/// nothing else; only this API may invoke them; the authorizer is called through its alias.
#[test]
fn every_route_goes_through_the_authorizer_and_nothing_else_is_granted() {
    let d = render::parse(&render::render(&projects_api()).unwrap()).unwrap();
    let r = &d["Resources"];
    let authorizer = &r["ApiAuthorizer"]["Properties"];
    assert_eq!(authorizer["AuthorizerType"], "REQUEST");
    assert_eq!(authorizer["AuthorizerPayloadFormatVersion"], "2.0");
    assert_eq!(authorizer["EnableSimpleResponses"], true);
    assert_eq!(authorizer["AuthorizerResultTtlInSeconds"], 0);
    assert!(authorizer["AuthorizerUri"]["Fn::Sub"]
        .as_str()
        .unwrap()
        .contains("${AuthorizerAlias}"));
    let routes: Vec<&Value> = r
        .as_object()
        .unwrap()
        .values()
        .filter(|v| v["Type"] == "AWS::ApiGatewayV2::Route")
        .collect();
    assert_eq!(routes.len(), 3);
    for route in routes {
        assert_eq!(
            route["Properties"]["AuthorizationType"], "CUSTOM",
            "{route}"
        );
        assert_eq!(route["Properties"]["AuthorizerId"]["Ref"], "ApiAuthorizer");
    }
    for role in ["AuthorizerRole", "WhoamiRole"] {
        let policies = r[role]["Properties"]["Policies"].as_array().unwrap();
        assert_eq!(policies.len(), 1, "{role}");
        let statements = policies[0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap();
        assert_eq!(statements.len(), 1);
        assert_eq!(
            statements[0]["Action"],
            serde_json::json!(["logs:CreateLogStream", "logs:PutLogEvents"])
        );
        assert!(
            r[role]["Properties"]["PermissionsBoundary"].is_object(),
            "{role}"
        );
    }
    let permission = &r["AuthorizerPermission"]["Properties"];
    assert_eq!(permission["Principal"], "apigateway.amazonaws.com");
    assert!(permission["SourceArn"]["Fn::Sub"]
        .as_str()
        .unwrap()
        .ends_with("${HttpApi}/authorizers/${ApiAuthorizer}"));
    let permissions: Vec<&Value> = r
        .as_object()
        .unwrap()
        .iter()
        .filter(|(id, _)| id.starts_with("Permission"))
        .map(|(_, v)| v)
        .collect();
    assert!(!permissions.is_empty());
    for p in permissions {
        assert!(p["Properties"]["SourceArn"]["Fn::Sub"]
            .as_str()
            .unwrap()
            .ends_with("${HttpApi}/*/*"));
    }
    // The pool and the accepted clients reach the authorizer from the stack.
    let env = &r["AuthorizerFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(env["AUTHZ_USER_POOL_ID"]["Ref"], "UserPool");
    assert_eq!(
        env["AUTHZ_CLIENTS"]["Fn::Join"][1][0]["Ref"],
        "UserPoolClient"
    );
    assert_eq!(d["Parameters"]["AuthorizerKey"]["Type"], "String");
    // Without an api, none of it.
    let plain = render::parse(&render::render(&shipped()).unwrap()).unwrap();
    assert!(plain["Resources"].get("HttpApi").is_none());
    assert!(plain["Parameters"].get("AuthorizerKey").is_none());
}

fn doc(text: &str) -> Value {
    render::parse(&render::render(&inputs(text)).unwrap()).unwrap()
}

/// On an existing pool the stack holds only what the deployer owns: no pool, no domain, an
/// app client only when asked for; the permission names that pool alone, and the pool's
/// previous trigger is a parameter of the stack (what `down` puts back).
#[test]
fn a_stack_on_an_existing_pool_holds_only_what_the_deployer_owns() {
    let d = doc(EXISTING);
    let resources = d["Resources"].as_object().unwrap();
    let mut names: Vec<&str> = resources.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "TriggerAlias",
            "TriggerFunction",
            "TriggerLogGroup",
            "TriggerPermission",
            "TriggerRole",
            "TriggerVersion",
            "UsersTable"
        ]
    );
    let permission = &resources["TriggerPermission"]["Properties"];
    assert_eq!(
        permission["SourceArn"]["Fn::Sub"],
        "arn:${AWS::Partition}:cognito-idp:${AWS::Region}:${AWS::AccountId}:userpool/${ExistingUserPool}"
    );
    assert_eq!(permission["Principal"], "cognito-idp.amazonaws.com");
    let parameters = d["Parameters"].as_object().unwrap();
    assert!(
        parameters.contains_key("ExistingUserPool") && parameters.contains_key("PreviousTrigger")
    );
    assert!(
        !parameters.contains_key("PoolDeletionProtection"),
        "no pool to protect"
    );
    assert_eq!(
        d["Outputs"]["UserPoolId"]["Value"]["Ref"],
        "ExistingUserPool"
    );
    assert_eq!(d["Outputs"]["UserPoolClientId"]["Value"], "4tq7abcdef");
    assert!(d["Outputs"].get("HostedUiUrl").is_none());
    let config: Value = serde_json::from_str(
        resources["TriggerFunction"]["Properties"]["Environment"]["Variables"]["TRIGGER_CONFIG"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["clients"], serde_json::json!(["4tq7abcdef"]));
    assert_eq!(config["userKeyAttribute"], "email");

    let d = doc(EXISTING_WITH_CLIENT);
    let client = &d["Resources"]["UserPoolClient"]["Properties"];
    assert_eq!(client["UserPoolId"]["Ref"], "ExistingUserPool");
    assert_eq!(
        d["Outputs"]["UserPoolClientId"]["Value"]["Ref"],
        "UserPoolClient"
    );
    assert!(
        d["Resources"].get("UserPool").is_none() && d["Resources"].get("UserPoolDomain").is_none()
    );
}

#[test]
fn the_role_reads_one_table_and_writes_its_own_logs_and_nothing_on_star() {
    let d = doc(V3_PATTERN);
    let policies = d["Resources"]["TriggerRole"]["Properties"]["Policies"]
        .as_array()
        .unwrap();
    let mut actions = Vec::new();
    for p in policies {
        for s in p["PolicyDocument"]["Statement"].as_array().unwrap() {
            assert_ne!(
                s["Resource"],
                Value::String("*".into()),
                "a statement on *: {s:?}"
            );
            match &s["Action"] {
                Value::String(a) => actions.push(a.clone()),
                Value::Array(list) => {
                    actions.extend(list.iter().map(|a| a.as_str().unwrap().to_owned()))
                }
                other => panic!("{other:?}"),
            }
        }
    }
    actions.sort();
    assert_eq!(
        actions,
        [
            "dynamodb:GetItem",
            "logs:CreateLogStream",
            "logs:PutLogEvents"
        ]
    );
    assert!(d["Resources"]["TriggerRole"]["Properties"]
        .get("ManagedPolicyArns")
        .is_none());
}

#[test]
fn the_permission_table_and_log_group_are_scoped_and_protected_as_asked() {
    let d = doc(V3_PATTERN);
    let permission = &d["Resources"]["TriggerPermission"]["Properties"];
    assert_eq!(
        permission["Principal"],
        Value::String("cognito-idp.amazonaws.com".into())
    );
    assert!(permission.get("SourceArn").is_some() && permission.get("SourceAccount").is_some());
    let table = &d["Resources"]["UsersTable"];
    assert_eq!(
        table["Properties"]["BillingMode"],
        Value::String("PAY_PER_REQUEST".into())
    );
    assert_eq!(
        table["Properties"]["SSESpecification"]["SSEEnabled"],
        Value::Bool(true)
    );
    assert_eq!(table["DeletionPolicy"], Value::String("Delete".into()));
    assert_eq!(
        d["Resources"]["TriggerLogGroup"]["Properties"]["RetentionInDays"],
        Value::Number(14.into())
    );
    let pool = &d["Resources"]["UserPool"]["Properties"];
    // Protection is a parameter: off at create, on once a kept stack exists (the deployer
    // sets it); the table's follows it as a boolean.
    assert_eq!(
        pool["DeletionProtection"]["Ref"],
        Value::String("PoolDeletionProtection".into())
    );
    assert_eq!(
        d["Parameters"]["PoolDeletionProtection"]["Default"],
        Value::String("INACTIVE".into())
    );
    assert_eq!(
        table["Properties"]["DeletionProtectionEnabled"]["Fn::If"][0],
        Value::String("TableProtected".into())
    );
    assert_eq!(
        pool["LambdaConfig"]["PreTokenGenerationConfig"]["LambdaVersion"],
        Value::String("V3_0".into())
    );
    assert_eq!(pool["UserPoolTier"], Value::String("PLUS".into()));
    let function = &d["Resources"]["TriggerFunction"]["Properties"];
    assert_eq!(function["Architectures"][0], Value::String("arm64".into()));
    assert_eq!(function["Runtime"], Value::String("provided.al2023".into()));
    // The trigger's configuration is the one the deployer validated, byte for byte.
    let config = function["Environment"]["Variables"]["TRIGGER_CONFIG"]
        .as_str()
        .unwrap();
    let parsed = trigger::config::TriggerConfig::from_json(config).unwrap();
    assert_eq!(parsed, inputs(V3_PATTERN).trigger_config());

    let kept = doc(V1_KEPT);
    // Kept data survives a delete but not a failed first create (which must roll back).
    assert_eq!(
        kept["Resources"]["UsersTable"]["DeletionPolicy"],
        Value::String("RetainExceptOnCreate".into())
    );
    assert_eq!(
        kept["Resources"]["UsersTable"]["UpdateReplacePolicy"],
        Value::String("Retain".into())
    );
    // V1_0 goes through the classic setting, which Cognito drives with V1_0 events.
    assert!(kept["Resources"]["UserPool"]["Properties"]["LambdaConfig"]
        .get("PreTokenGeneration")
        .is_some());
}

#[test]
fn the_rendered_text_must_be_one_plain_yaml_document() {
    assert_eq!(
        render::parse("a: {b: [1, 2.5, true, null, x, '7']}\n").unwrap(),
        serde_json::json!({"a": {"b": [1, 2.5, true, null, "x", "7"]}})
    );
    for (text, why) in [
        ("a: 1\na: 2\n", "a key twice"),
        ("a: 1\n---\nb: 2\n", "two documents"),
        ("a: [1\n", "unclosed"),
        ("? [1]\n: 2\n", "a key that is not a string"),
    ] {
        assert!(render::parse(text).is_err(), "{why} was accepted");
    }
}

#[test]
fn every_role_is_bounded_and_code_signing_is_wired_only_when_asked() {
    for text in [V1_KEPT, V3_PATTERN] {
        let d = doc(text);
        let role = &d["Resources"]["TriggerRole"]["Properties"];
        let stack = d["Resources"]["UserPool"]["Properties"]["UserPoolName"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(role["RoleName"], Value::String(format!("{stack}-pretoken")));
        assert_eq!(
            role["PermissionsBoundary"]["Fn::Sub"],
            Value::String(format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/deployer/{stack}-trigger-boundary-${{AWS::Region}}"))
        );
        assert_eq!(
            d["Resources"]["UserPool"]["Properties"]["UserPoolTags"]["deployer:stack"],
            Value::String(stack)
        );
    }
    let signed =
        &doc(V3_PATTERN)["Resources"]["TriggerFunction"]["Properties"]["CodeSigningConfigArn"];
    assert_eq!(
        signed,
        "arn:aws:lambda:us-east-1:111122223333:code-signing-config:csc-0d4518bd353a0a7c6"
    );
    assert!(doc(V1_KEPT)["Resources"]["TriggerFunction"]["Properties"]
        .get("CodeSigningConfigArn")
        .is_none());
}

#[test]
fn the_pool_calls_a_published_version_through_an_alias_and_a_new_mapping_publishes_one() {
    let d = doc(V3_PATTERN);
    let r = &d["Resources"];
    let alias = serde_json::json!({"Ref": "TriggerAlias"});
    assert_eq!(
        r["UserPool"]["Properties"]["LambdaConfig"]["PreTokenGenerationConfig"]["LambdaArn"],
        alias
    );
    assert_eq!(r["TriggerPermission"]["Properties"]["FunctionName"], alias);
    assert_eq!(
        r["TriggerAlias"]["Properties"]["FunctionVersion"],
        serde_json::json!({"Fn::GetAtt": ["TriggerVersion", "Version"]})
    );
    assert_eq!(
        doc(V1_KEPT)["Resources"]["UserPool"]["Properties"]["LambdaConfig"]["PreTokenGeneration"],
        alias
    );
    // The version's description names the artifact and the configuration: a new mapping
    // publishes a new version; a change elsewhere (the callback URLs) does not.
    let description = |text: &str| {
        doc(text)["Resources"]["TriggerVersion"]["Properties"]["Description"]["Fn::Sub"].clone()
    };
    let base =
        r#"{"stackName": "s", "userPoolDomainName": "d", "claims": [{"attribute": "projects"}]"#;
    let same = description(&format!("{base}}}"));
    assert_eq!(
        same,
        description(&format!(
            r#"{base}, "callbackUrls": ["https://app.example/cb"]}}"#
        ))
    );
    assert_ne!(
        same,
        description(
            r#"{"stackName": "s", "userPoolDomainName": "d", "claims": [{"attribute": "tier"}]}"#
        )
    );
    assert_ne!(
        same,
        description(&format!(r#"{base}, "trigger": {{"memoryMb": 256}}}}"#))
    );
    assert!(same.as_str().unwrap().starts_with("${ArtifactKey} config "));
}

/// A route added or removed renames no other route, integration or permission: a renamed
/// `Permission` would be replaced, and a Lambda backend's permission is an admin's to make.
#[test]
fn adding_a_route_renames_nothing_already_there() {
    let ids = |routes: &str| -> Vec<String> {
        let text = format!(
            r#"{{"stackName": "app", "userPoolDomainName": "d", "api": {{"routes": {routes}}}}}"#
        );
        let d = doc(&text);
        d["Resources"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| {
                ["Route", "Integration", "Permission"]
                    .iter()
                    .any(|p| k.starts_with(p))
            })
            .cloned()
            .collect()
    };
    let before = ids(
        r#"{"GET /b": {"target": "arn:aws:lambda:us-east-1:123456789012:function:orders"}, "GET /c": {}}"#,
    );
    let after = ids(
        r#"{"GET /a": {"target": "https://backend.example.com/a"}, "GET /b": {"target": "arn:aws:lambda:us-east-1:123456789012:function:orders"}, "GET /c": {}}"#,
    );
    assert_eq!(before.len(), 6, "{before:?}");
    for id in &before {
        assert!(after.contains(id), "{id} was renamed: {after:?}");
    }
    assert_eq!(after.len(), 8, "{after:?}");
}
