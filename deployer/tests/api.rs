//! The pattern's other half end to end on the suite's emulator (ministack serves HTTP APIs
//! with REQUEST Lambda authorizers at `/_aws/execute-api/<api id>/$default/...`), with the
//! real aarch64 authorizer and whoami functions: a user whose row holds `projects: [alpha]`
//! gets 200 on `GET /projects/alpha` and 403 on `/projects/beta`; no token, a forged token, an
//! ID token where the API takes access tokens, a token of another pool: refused; a machine
//! client is decided on its own row's claims; after the row changes and the token is
//! refreshed, the decision changes; `down` leaves nothing.

mod common;

use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ExplicitAuthFlowsType};
use aws_sdk_cognitoidentityprovider::Client as Cognito;
use common::{deployer, deployer_with, sdk, unique, Emu, Inputs};
use serde_json::{json, Value};

const PASSWORD: &str = "Correct-Horse-42-battery";

fn example_policies(dir: &std::path::Path) {
    let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/projects-api/policies/projects.cedar");
    std::fs::create_dir(dir.join("policies")).unwrap();
    std::fs::copy(from, dir.join("policies/projects.cedar")).unwrap();
}

/// `call` with a user's password or a client's secret.
async fn call(inputs: &Inputs, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let mut all = vec!["call"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "json"]);
    let run = deployer_with(&inputs.path, &all, env, None).await;
    assert!(
        run.code == 0 || run.code == 8,
        "call {args:?} failed: {}",
        run.stderr
    );
    (run.code, run.json())
}

/// A raw request to the API with this Authorization header (or none).
async fn raw(endpoint: &str, path: &str, authorization: Option<&str>) -> u16 {
    let token = authorization.map(|a| a.trim_start_matches("Bearer "));
    deployer::web::client()
        .call("GET", &format!("{endpoint}{path}"), token, None)
        .await
        .unwrap()
        .status
        .as_u16()
}

/// A pool of its own (not the stack's), with a client and a user: its tokens are valid
/// Cognito tokens, of another issuer.
async fn other_pools_token(cognito: &Cognito) -> String {
    let pool = cognito
        .create_user_pool()
        .pool_name(unique("other"))
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap()
        .id
        .unwrap();
    let client = cognito
        .create_user_pool_client()
        .user_pool_id(&pool)
        .client_name("other")
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
        .send()
        .await
        .unwrap()
        .user_pool_client
        .unwrap()
        .client_id
        .unwrap();
    common::pool_user(&pool, "jane", Some(PASSWORD)).await;
    cognito
        .admin_initiate_auth()
        .user_pool_id(&pool)
        .client_id(&client)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", "jane")
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await
        .unwrap()
        .authentication_result
        .unwrap()
        .access_token
        .unwrap()
}

#[tokio::test]
async fn the_api_decides_every_call_on_the_tokens_claims() {
    let inputs = Inputs::new(json!({
        "eventVersion": "V3_0",
        "featurePlan": "ESSENTIALS",
        "claims": [
            {"attribute": "projects", "tokens": "both", "type": "list"},
            {"attribute": "role", "tokens": "access", "type": "string"}
        ],
        "api": {"routes": {
            "GET /projects/{projectId}": {"resource": {"type": "Project"}},
            "DELETE /projects/{projectId}": {"resource": {"type": "Project"}},
            "GET /me": {}
        }}
    }));
    example_policies(inputs.dir.path());
    let up = deployer(&inputs.path, &["up", "--output", "json"])
        .await
        .succeeded()
        .json();
    let outputs = &up["outputs"];
    let endpoint = outputs["ApiEndpoint"].as_str().unwrap().to_owned();
    assert!(endpoint.contains("/_aws/execute-api/"), "{outputs}");
    assert_eq!(up["apiKeys"].as_array().unwrap().len(), 2, "{up}");
    // The post-deploy checks cover the authorizer: its zip, one version, only this API.
    for name in [
        "authorizer runs the deployed zip and policies",
        "authorizer alias runs one version",
        "only this API invokes the authorizer",
        "authorizer trusts only this pool",
        "authorizer role is least privilege",
        "authorizer role is bounded",
        "whoami role is least privilege",
        "whoami role is bounded",
        "only this API invokes whoami",
    ] {
        let check = up["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name);
        assert_eq!(check.map(|c| &c["ok"]), Some(&json!(true)), "{name}: {up}");
    }

    deployer_with(
        &inputs.path,
        &[
            "users",
            "add",
            "jane",
            "--row",
            r#"{"projects": ["alpha"]}"#,
            "--password-stdin",
        ],
        &[],
        Some(PASSWORD),
    )
    .await
    .succeeded();
    let jane = [("DEPLOYER_PASSWORD", PASSWORD)];

    // Her project: the whoami integration answers with what the authorizer passed on.
    let (code, alpha) = call(
        &inputs,
        &["GET", "/projects/alpha", "--user", "jane"],
        &jane,
    )
    .await;
    assert_eq!((code, alpha["status"].as_u64()), (0, Some(200)), "{alpha}");
    let seen = &alpha["body"]["authorizer"];
    assert!(
        seen["principal"]
            .as_str()
            .unwrap()
            .starts_with("App::User::"),
        "{alpha}"
    );
    assert_eq!(seen["policies"], "read-own-projects", "{alpha}");
    assert_eq!(seen["projects"], "alpha", "{alpha}");
    assert_eq!(alpha["body"]["route"], "GET /projects/{projectId}");
    // Another project, and a route no policy permits her: 403.
    let (code, beta) = call(&inputs, &["GET", "/projects/beta", "--user", "jane"], &jane).await;
    assert_eq!((code, beta["status"].as_u64()), (8, Some(403)), "{beta}");
    let (_, delete) = call(
        &inputs,
        &["DELETE", "/projects/alpha", "--user", "jane"],
        &jane,
    )
    .await;
    assert_eq!(delete["status"], 403, "{delete}");
    // Her ID token where the API takes access tokens: refused.
    let (_, id) = call(
        &inputs,
        &["GET", "/projects/alpha", "--user", "jane", "--token", "id"],
        &jane,
    )
    .await;
    assert_eq!(id["status"], 403, "{id}");
    // No token: API Gateway refuses it before the authorizer (the identity source is missing).
    let (code, none) = call(&inputs, &["GET", "/projects/alpha"], &[]).await;
    assert_eq!((code, none["status"].as_u64()), (8, Some(401)), "{none}");
    // A forged token: her access token with another project, signature left as it was.
    let tokens = deployer_with(&inputs.path, &["token", "jane", "--raw"], &jane, None)
        .await
        .succeeded()
        .json();
    let access = tokens["AccessToken"].as_str().unwrap().to_owned();
    assert_eq!(raw(&endpoint, "/projects/alpha", Some(&access)).await, 200);
    let parts: Vec<&str> = access.split('.').collect();
    let mut claims = common::claims(&access);
    claims["projects"] = json!(["alpha", "beta"]);
    use base64::Engine;
    let forged_payload =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    assert_eq!(raw(&endpoint, "/projects/beta", Some(&forged)).await, 403);
    // A valid token of another pool.
    let cognito = Cognito::new(&sdk().await);
    let foreign = other_pools_token(&cognito).await;
    assert_eq!(raw(&endpoint, "/projects/alpha", Some(&foreign)).await, 403);

    // The row changes; a refreshed token carries the new claims, and the decision follows.
    deployer_with(
        &inputs.path,
        &[
            "users",
            "add",
            "jane",
            "--row",
            r#"{"projects": ["alpha", "beta"]}"#,
            "--password-stdin",
        ],
        &[],
        Some(PASSWORD),
    )
    .await
    .succeeded();
    assert_eq!(
        raw(&endpoint, "/projects/beta", Some(&access)).await,
        403,
        "the old token still says alpha only"
    );
    let login = cognito
        .admin_initiate_auth()
        .user_pool_id(outputs["UserPoolId"].as_str().unwrap())
        .client_id(outputs["UserPoolClientId"].as_str().unwrap())
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", "jane")
        .auth_parameters("PASSWORD", PASSWORD)
        .send()
        .await
        .unwrap()
        .authentication_result
        .unwrap();
    let refreshed = cognito
        .admin_initiate_auth()
        .user_pool_id(outputs["UserPoolId"].as_str().unwrap())
        .client_id(outputs["UserPoolClientId"].as_str().unwrap())
        .auth_flow(AuthFlowType::RefreshTokenAuth)
        .auth_parameters("REFRESH_TOKEN", login.refresh_token().unwrap())
        .send()
        .await
        .unwrap()
        .authentication_result
        .unwrap()
        .access_token
        .unwrap();
    assert_eq!(
        raw(&endpoint, "/projects/beta", Some(&refreshed)).await,
        200
    );

    // A machine client, on its own row's claims, once the API accepts it.
    let client = deployer(
        &inputs.path,
        &[
            "clients",
            "add",
            "reporting",
            "--row",
            r#"{"projects": ["beta"], "role": "admin"}"#,
            "--output",
            "json",
        ],
    )
    .await
    .succeeded()
    .json();
    let (id, secret) = (
        client["clientId"].as_str().unwrap().to_owned(),
        client["clientSecret"].as_str().unwrap().to_owned(),
    );
    let m2m = [("DEPLOYER_CLIENT_SECRET", secret.as_str())];
    let (_, refused) = call(&inputs, &["GET", "/projects/beta", "--client", &id], &m2m).await;
    assert_eq!(
        refused["status"], 403,
        "not an accepted client yet: {refused}"
    );
    let mut api: Value =
        serde_json::from_str(&std::fs::read_to_string(&inputs.path).unwrap()).unwrap();
    api["api"]["clients"] = json!([id]);
    inputs.rewrite(json!({"api": api["api"]}));
    deployer(&inputs.path, &["up"]).await.succeeded();
    let (_, beta) = call(&inputs, &["GET", "/projects/beta", "--client", &id], &m2m).await;
    assert_eq!(beta["status"], 200, "{beta}");
    assert!(
        beta["body"]["authorizer"]["principal"]
            .as_str()
            .unwrap()
            .starts_with("App::Client::"),
        "{beta}"
    );
    let (_, alpha) = call(&inputs, &["GET", "/projects/alpha", "--client", &id], &m2m).await;
    assert_eq!(alpha["status"], 403, "{alpha}");
    // A machine is never a User: the admin-only delete is not for it, whatever its row says.
    let (_, delete) = call(
        &inputs,
        &["DELETE", "/projects/beta", "--client", &id],
        &m2m,
    )
    .await;
    assert_eq!(delete["status"], 403, "{delete}");
    // The stack's own app client is still accepted.
    let (_, still) = call(&inputs, &["GET", "/projects/beta", "--user", "jane"], &jane).await;
    assert_eq!(still["status"], 200, "{still}");

    // `authz check` on the user's real claims, as the trigger computes them from her row.
    let check = deployer(
        &inputs.path,
        &[
            "authz",
            "check",
            "GET /projects/beta",
            "--user",
            "jane",
            "--output",
            "json",
        ],
    )
    .await
    .succeeded()
    .json();
    assert_eq!(check["decision"]["allow"], true, "{check}");
    assert_eq!(
        check["claims"]["projects"],
        json!(["alpha", "beta"]),
        "{check}"
    );

    deployer(&inputs.path, &["down"]).await.succeeded();
    let emu = Emu::ministack();
    assert_eq!(emu.leftovers(&inputs.stack).await, Vec::<String>::new());
    assert_ne!(
        raw(&endpoint, "/me", Some(&refreshed)).await,
        200,
        "the API is gone"
    );
}
