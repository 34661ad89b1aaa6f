//! Decisions on tokens shaped as Cognito issues them, signed with a test key: the claims of
//! the developer guide's "Understanding the access token" and "Understanding the identity
//! (ID) token" examples. Whatever is wrong with a token, the call is denied (properties).

use authorizer::config::{AuthzConfig, CedarType, ResourceRef, Route, TypedClaim};
use authorizer::decide::{Engine, PolicyFile};
use authorizer::handler::{authorize, log_line};
use authorizer::keys::{Fetch, KeyCache};
use authorizer::token::{Jwk, Jwks, TokenUse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proptest::prelude::*;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Value};

// Test-only keys (PKCS#1 DER), made with `openssl genpkey -algorithm RSA`.
const KEY: &[u8] = include_bytes!("../src/testdata/test-only-rsa-2048.der");
const OTHER: &[u8] = include_bytes!("../src/testdata/test-only-rsa-2048-other.der");
const POOL: &str = "us-west-2_EXAMPLE";
const ISS: &str = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_EXAMPLE";
const CLIENT: &str = "1example23456789";
const KID: &str = "abcdefghijklmnopqrsexample=";
const NOW: u64 = 1_800_000_000;

const PROJECTS: &str = r#"permit (
    principal,
    action == App::Action::"GET /projects/{projectId}",
    resource is App::Project
) when { context.token has projects && context.token.projects.contains(resource.id) };
"#;

struct Fixed(Jwks);
impl Fetch for Fixed {
    fn fetch(&self) -> Result<Jwks, String> {
        Ok(self.0.clone())
    }
}

fn jwk(der: &[u8], kid: &str) -> Jwk {
    let key = RsaKeyPair::from_der(der).unwrap();
    let public: ring::rsa::PublicKeyComponents<Vec<u8>> = key.public().into();
    Jwk {
        kid: Some(kid.into()),
        kty: "RSA".into(),
        alg: Some("RS256".into()),
        use_: Some("sig".into()),
        n: Some(URL_SAFE_NO_PAD.encode(&public.n)),
        e: Some(URL_SAFE_NO_PAD.encode(&public.e)),
    }
}

fn sign(der: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = RsaKeyPair::from_der(der).unwrap();
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn header() -> Value {
    json!({"kid": KID, "alg": "RS256"})
}

/// An access token as a V2_0 trigger leaves it: the guide's example plus `projects`.
fn access_claims() -> Value {
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "cognito:groups": ["admin"],
        "iss": ISS,
        "version": 2,
        "client_id": CLIENT,
        "origin_jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "event_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "token_use": "access",
        "scope": "phone openid profile email",
        "auth_time": NOW - 60,
        "exp": NOW + 3540,
        "iat": NOW - 60,
        "jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "username": "my-test-user",
        "projects": ["alpha"]
    })
}

/// The guide's ID token for the same user.
fn id_claims() -> Value {
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "cognito:groups": ["admin"],
        "email_verified": true,
        "iss": ISS,
        "cognito:username": "my-test-user",
        "origin_jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "aud": CLIENT,
        "event_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "token_use": "id",
        "auth_time": NOW - 60,
        "exp": NOW + 3540,
        "iat": NOW - 60,
        "jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "email": "my-test-user@example.com",
        "projects": ["alpha"]
    })
}

/// A machine client's access token (client credentials): `sub` is the client id.
fn m2m_claims(client: &str) -> Value {
    json!({
        "sub": client, "token_use": "access", "scope": "projects/read",
        "auth_time": NOW - 60, "iss": ISS, "exp": NOW + 3540, "iat": NOW - 60,
        "version": 2, "jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "client_id": client,
        "projects": ["alpha"]
    })
}

fn engine_for(token: TokenUse, policy: &str, clients: &[&str]) -> Engine {
    let config = AuthzConfig {
        namespace: "App".into(),
        user_pool_id: POOL.into(),
        issuer: ISS.into(),
        token,
        clients: clients.iter().map(|c| (*c).to_owned()).collect(),
        claims: vec![TypedClaim {
            name: "projects".into(),
            kind: CedarType::Set,
        }],
        routes: vec![Route {
            route: "GET /projects/{projectId}".into(),
            resource: Some(ResourceRef {
                entity_type: "Project".into(),
                parameter: "projectId".into(),
            }),
        }],
    };
    let files = [PolicyFile {
        name: "projects.cedar".into(),
        text: policy.into(),
    }];
    Engine::new(config, &files).unwrap()
}

fn engine(token: TokenUse, policy: &str) -> Engine {
    engine_for(token, policy, &[CLIENT])
}

fn keys() -> KeyCache<Fixed> {
    KeyCache::new(
        Fixed(Jwks {
            keys: vec![jwk(KEY, KID)],
        }),
        NOW,
    )
}

/// A REQUEST authorizer event, payload 2.0 (API Gateway developer guide, "Working with AWS
/// Lambda authorizers for HTTP APIs").
fn event(authorization: &str, project: &str) -> Value {
    json!({
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-west-2:123456789012:abcdef123/$default/GET/projects/alpha",
        "identitySource": [authorization],
        "routeKey": "GET /projects/{projectId}",
        "rawPath": format!("/projects/{project}"),
        "headers": {"authorization": authorization},
        "pathParameters": {"projectId": project},
        "requestContext": {"http": {"method": "GET", "path": format!("/projects/{project}")}}
    })
}

fn decide(engine: &Engine, token: &str, project: &str) -> bool {
    let (answer, decision) = authorize(
        engine,
        &mut keys(),
        &event(&format!("Bearer {token}"), project),
        NOW,
    );
    assert_eq!(answer.is_authorized, decision.allow);
    if !decision.allow {
        assert!(answer.context.is_empty(), "{answer:?}");
    }
    let line = log_line(&decision, 1);
    assert!(
        !line.contains(token),
        "the log line holds the token: {line}"
    );
    answer.is_authorized
}

#[test]
fn an_access_token_allows_its_projects_only() {
    let engine = engine(TokenUse::Access, PROJECTS);
    let token = sign(KEY, &header(), &access_claims());
    let (answer, decision) = authorize(
        &engine,
        &mut keys(),
        &event(&format!("Bearer {token}"), "alpha"),
        NOW,
    );
    assert!(answer.is_authorized, "{decision:?}");
    assert_eq!(
        answer.context["principal"],
        format!("App::User::\"{POOL}|aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\"")
    );
    assert_eq!(answer.context["policies"], "projects");
    assert_eq!(answer.context["projects"], "alpha");
    assert_eq!(answer.context["username"], "my-test-user");
    assert!(!decide(&engine, &token, "beta"));
}

/// A row's claim named like what the authorizer itself passes on never stands in for it.
#[test]
fn the_integration_gets_the_authorizers_own_principal_whatever_the_claims() {
    let mut config = engine(TokenUse::Access, PROJECTS).config().clone();
    for name in ["principal", "policies", "sub"] {
        config.claims.push(TypedClaim {
            name: name.into(),
            kind: CedarType::String,
        });
    }
    let files = [PolicyFile {
        name: "projects.cedar".into(),
        text: PROJECTS.into(),
    }];
    let engine = Engine::new(config, &files).unwrap();
    let mut claims = access_claims();
    claims["principal"] = json!("App::User::\"someone-else\"");
    claims["policies"] = json!("admin");
    let token = sign(KEY, &header(), &claims);
    let (answer, _) = authorize(
        &engine,
        &mut keys(),
        &event(&format!("Bearer {token}"), "alpha"),
        NOW,
    );
    assert!(answer.is_authorized);
    assert_eq!(
        answer.context["principal"],
        format!("App::User::\"{POOL}|aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\"")
    );
    assert_eq!(answer.context["policies"], "projects");
    assert_eq!(
        answer.context["sub"],
        "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    );
}

#[test]
fn a_machine_client_is_decided_on_its_own_claims() {
    let engine = engine_for(TokenUse::Access, PROJECTS, &[CLIENT, "m2mclient"]);
    let token = sign(KEY, &header(), &m2m_claims("m2mclient"));
    assert!(decide(&engine, &token, "alpha"));
    assert!(!decide(&engine, &token, "beta"));
    let users_only = PROJECTS.replace("principal,", "principal is App::User,");
    let engine = engine_for(TokenUse::Access, &users_only, &[CLIENT, "m2mclient"]);
    assert!(!decide(&engine, &token, "alpha"));
}

#[test]
fn an_id_token_is_refused_where_an_access_token_is_expected_and_the_reverse() {
    let access = engine(TokenUse::Access, PROJECTS);
    let id_token = sign(KEY, &header(), &id_claims());
    assert!(!decide(&access, &id_token, "alpha"));
    let id_policy = PROJECTS.replace("context.token", "principal");
    let id = engine(TokenUse::Id, &id_policy);
    assert!(decide(&id, &id_token, "alpha"));
    assert!(!decide(&id, &id_token, "beta"));
    assert!(!decide(
        &id,
        &sign(KEY, &header(), &access_claims()),
        "alpha"
    ));
}

#[test]
fn a_token_of_another_pool_or_key_or_client_is_refused() {
    let engine = engine(TokenUse::Access, PROJECTS);
    assert!(decide(
        &engine,
        &sign(KEY, &header(), &access_claims()),
        "alpha"
    ));
    let mut other_pool = access_claims();
    other_pool["iss"] = json!("https://cognito-idp.us-west-2.amazonaws.com/us-west-2_OTHER");
    assert!(!decide(
        &engine,
        &sign(KEY, &header(), &other_pool),
        "alpha"
    ));
    assert!(!decide(
        &engine,
        &sign(OTHER, &header(), &access_claims()),
        "alpha"
    ));
    let mut other_client = access_claims();
    other_client["client_id"] = json!("2example");
    assert!(!decide(
        &engine,
        &sign(KEY, &header(), &other_client),
        "alpha"
    ));
    let mut expired = access_claims();
    expired["exp"] = json!(NOW - 120);
    assert!(!decide(&engine, &sign(KEY, &header(), &expired), "alpha"));
    let (answer, decision) = authorize(
        &engine,
        &mut keys(),
        &json!({"routeKey": "GET /projects/{projectId}"}),
        NOW,
    );
    assert!(!answer.is_authorized);
    assert_eq!(decision.errors, ["no bearer token"]);
    let (answer, _) = authorize(&engine, &mut keys(), &json!("not an event"), NOW);
    assert!(!answer.is_authorized);
}

/// The claims a token needs for the call to be allowed; changing any of them denies.
const NEEDED: &[(&str, &str)] = &[
    (
        "iss",
        "\"https://cognito-idp.us-west-2.amazonaws.com/us-west-2_EXAMPLF\"",
    ),
    ("token_use", "\"id\""),
    ("client_id", "\"1example23456780\""),
    ("exp", "1799999000"),
    ("sub", "7"),
    ("username", "7"),
    ("projects", "[\"beta\"]"),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Flipping any bit of the token's header, payload or signature never yields ALLOW.
    #[test]
    fn a_changed_token_never_allows(at in 0usize..10_000, bit in 0u8..8) {
        let engine = engine(TokenUse::Access, PROJECTS);
        let token = sign(KEY, &header(), &access_claims());
        let mut bytes = token.clone().into_bytes();
        let i = at % bytes.len();
        bytes[i] ^= 1 << bit;
        if let Ok(changed) = String::from_utf8(bytes) {
            prop_assert!(!decide(&engine, &changed, "alpha"), "allowed {changed}");
        }
    }

    /// Re-signed with the pool's key, but one needed claim changed or removed: never ALLOW.
    #[test]
    fn a_validly_signed_token_missing_what_is_needed_never_allows(which in 0..NEEDED.len(), remove: bool) {
        let engine = engine(TokenUse::Access, PROJECTS);
        let (name, value) = NEEDED[which];
        let mut claims = access_claims();
        if remove {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = serde_json::from_str(value).unwrap();
        }
        prop_assert!(!decide(&engine, &sign(KEY, &header(), &claims), "alpha"));
    }

    /// Any header algorithm but RS256, with any signature, never allows.
    #[test]
    fn only_rs256_ever_allows(alg in "[A-Za-z0-9]{0,8}", sig in proptest::collection::vec(any::<u8>(), 0..300)) {
        prop_assume!(alg != "RS256");
        let engine = engine(TokenUse::Access, PROJECTS);
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": KID}).to_string()),
            URL_SAFE_NO_PAD.encode(access_claims().to_string())
        );
        let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
        prop_assert!(!decide(&engine, &token, "alpha"));
    }
}
