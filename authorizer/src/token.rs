//! Cognito's tokens as JSON Web Tokens: an RS256 signature (RFC 7518 §3.3) checked with ring
//! against the pool's key set (RFC 7517), then the registered claims (RFC 7519 §4.1).
//! Cognito's rules for them: <https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html>.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How far the clocks of Cognito and this machine may disagree, in seconds.
pub const LEEWAY: u64 = 60;

/// A JSON Web Key Set: the pool's public signing keys.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One public key of the set. Only RSA signing keys are used.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    #[serde(default)]
    pub kid: Option<String>,
    pub kty: String,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
    /// The modulus, base64url without padding.
    #[serde(default)]
    pub n: Option<String>,
    /// The public exponent, base64url without padding.
    #[serde(default)]
    pub e: Option<String>,
}

impl Jwks {
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Vec<String>>,
}

/// What the claims must say.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// `iss`: the pool's issuer URL.
    pub issuer: &'a str,
    /// `aud` (ID tokens); access tokens carry `client_id` instead and are checked by the caller.
    pub audience: Option<&'a str>,
    /// The time to check `exp` and `nbf` against, in seconds since the epoch.
    pub now: u64,
}

/// The current time in seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| format!("not a JWT: the {what} is not base64url ({e})"))
}

/// The signing key a token names (its header's `kid`), if it is readable.
pub fn kid(token: &str) -> Option<String> {
    let header = decode_part(token.split('.').next()?, "header").ok()?;
    serde_json::from_slice::<Header>(&header).ok()?.kid
}

/// Checks the token's signature against `jwks` and its claims against `expect`; returns the
/// claims. Only RS256 is accepted, whatever the header says.
pub fn verify(jwks: &Jwks, token: &str, expect: &Expect) -> Result<Map<String, Value>, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(format!(
            "not a JWT: {} parts where a signed token has 3",
            parts.len()
        ));
    };
    let header: Header = serde_json::from_slice(&decode_part(header, "header")?)
        .map_err(|e| format!("not a JWT: unreadable header ({e})"))?;
    if header.alg != "RS256" {
        return Err(format!(
            "verification failed: the token is signed with {:?}, Cognito signs with RS256",
            header.alg
        ));
    }
    if let Some(crit) = header.crit.filter(|c| !c.is_empty()) {
        return Err(format!(
            "verification failed: unsupported critical header parameters {crit:?}"
        ));
    }
    let kid = header.kid.ok_or("the token names no signing key (kid)")?;
    // The kid is the sender's, unverified: shown quoted and cut short (no control
    // characters reach a terminal or a log reader).
    let shown: String = kid.chars().take(64).collect();
    let key = jwks
        .find(&kid)
        .ok_or_else(|| format!("the signing key {shown:?} is not in the pool's JWKS"))?;
    check_signature(key, &kid, token, &decode_part(signature, "signature")?)?;
    let claims: Map<String, Value> = serde_json::from_slice(&decode_part(payload, "payload")?)
        .map_err(|e| format!("not a JWT: the payload is not a JSON object ({e})"))?;
    check_claims(&claims, expect)?;
    Ok(claims)
}

/// Which of a pool's tokens: the ID token (`aud` names the client) or the access token
/// (`client_id` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum TokenUse {
    /// The ID token (its `aud` is the client).
    Id,
    /// The access token (its `client_id` is the client).
    #[default]
    Access,
}

impl TokenUse {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Access => "access",
        }
    }
}

/// A Cognito token of the pool `issuer`, of the use `token_use`, issued to one of `clients`:
/// the signature and times as [`verify`] checks them, then `token_use`, then the client (an
/// ID token's `aud`, an access token's `client_id`; developer guide, "Verifying a JSON Web
/// Token", step 3). An empty `clients` accepts no token.
pub fn verify_cognito(
    jwks: &Jwks,
    token: &str,
    issuer: &str,
    clients: &[impl AsRef<str>],
    token_use: TokenUse,
    now: u64,
) -> Result<Map<String, Value>, String> {
    let expect = Expect {
        issuer,
        audience: None,
        now,
    };
    let claims = verify(jwks, token, &expect)?;
    let found = claims.get("token_use").and_then(Value::as_str);
    if found != Some(token_use.as_str()) {
        return Err(format!(
            "verification failed: token_use is {}, expected {:?}",
            found.map_or("missing".into(), |f| format!("{f:?}")),
            token_use.as_str()
        ));
    }
    let client_claim = match token_use {
        TokenUse::Id => "aud",
        TokenUse::Access => "client_id",
    };
    match claims.get(client_claim).and_then(Value::as_str) {
        Some(client) if clients.iter().any(|c| c.as_ref() == client) => Ok(claims),
        found => Err(format!(
            "verification failed: {client_claim} is {}, not one of the accepted clients",
            found.map_or("missing".into(), |f| format!("{f:?}"))
        )),
    }
}

/// The token's signature, made by `key` (RS256, a signing key) over its header and payload.
fn check_signature(key: &Jwk, kid: &str, token: &str, signature: &[u8]) -> Result<(), String> {
    let unusable = |why: &str| format!("unusable signing key {kid}: {why}");
    if key.kty != "RSA" {
        return Err(unusable(&format!("key type {:?}, not RSA", key.kty)));
    }
    if key.alg.as_deref().is_some_and(|a| a != "RS256") {
        return Err(unusable(&format!("algorithm {:?}, not RS256", key.alg)));
    }
    if key.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err(unusable(&format!("use {:?}, not sig", key.use_)));
    }
    let component = |value: &Option<String>, name: &str| -> Result<Vec<u8>, String> {
        let value = value
            .as_deref()
            .ok_or_else(|| unusable(&format!("no {name}")))?;
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| unusable(&format!("{name} is not base64url")))
    };
    let public = ring::signature::RsaPublicKeyComponents {
        n: component(&key.n, "modulus (n)")?,
        e: component(&key.e, "exponent (e)")?,
    };
    // The signed bytes are the header and payload exactly as they appear in the token.
    let signed = &token[..token.rfind('.').unwrap_or(0)];
    public
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            signature,
        )
        .map_err(|_| "verification failed: the signature does not match the key".to_owned())
}

/// The token's times, issuer, subject and audience, as `expect` says.
fn check_claims(claims: &Map<String, Value>, expect: &Expect) -> Result<(), String> {
    let time = |name: &str| -> Result<Option<u64>, String> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                .map(Some)
                .ok_or_else(|| format!("verification failed: {name} is not a time ({v})")),
        }
    };
    let exp = time("exp")?.ok_or("verification failed: the token has no exp")?;
    if expect.now > exp.saturating_add(LEEWAY) {
        return Err(format!(
            "verification failed: the token expired {} s ago",
            expect.now - exp
        ));
    }
    if let Some(nbf) = time("nbf")? {
        if expect.now.saturating_add(LEEWAY) < nbf {
            return Err("verification failed: the token is not valid yet (nbf)".into());
        }
    }
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == expect.issuer => {}
        Some(iss) => {
            return Err(format!(
                "verification failed: issued by {iss}, expected {}",
                expect.issuer
            ))
        }
        None => return Err("verification failed: the token has no iss".into()),
    }
    if !claims.get("sub").is_some_and(Value::is_string) {
        return Err("verification failed: the token has no sub".into());
    }
    if let Some(audience) = expect.audience {
        let ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "verification failed: the audience is {}, expected {audience}",
                claims.get("aud").map_or("missing".into(), Value::to_string)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
    use serde_json::json;

    // Keys made for these tests with `openssl genpkey -algorithm RSA`, in PKCS#1 DER; they sign
    // nothing else.
    const KEY: &[u8] = include_bytes!("testdata/test-only-rsa-2048.der");
    const OTHER: &[u8] = include_bytes!("testdata/test-only-rsa-2048-other.der");
    const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc";
    const NOW: u64 = 1_800_000_000;

    fn pair(der: &[u8]) -> RsaKeyPair {
        RsaKeyPair::from_der(der).expect("the test key")
    }

    fn jwk(der: &[u8], kid: &str) -> Jwk {
        let key = pair(der);
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

    fn jwks() -> Jwks {
        Jwks {
            keys: vec![jwk(OTHER, "k0"), jwk(KEY, "k1")],
        }
    }

    fn sign(der: &[u8], header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = pair(der);
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

    fn claims() -> Value {
        json!({"sub": "u-1", "iss": ISS, "aud": "client-1", "exp": NOW + 3600, "iat": NOW,
               "token_use": "id", "tenant": "acme"})
    }

    fn header() -> Value {
        json!({"alg": "RS256", "kid": "k1"})
    }

    fn id() -> Expect<'static> {
        Expect {
            issuer: ISS,
            audience: Some("client-1"),
            now: NOW,
        }
    }

    fn check(token: &str) -> Result<Map<String, Value>, String> {
        verify(&jwks(), token, &id())
    }

    #[test]
    fn a_token_signed_by_the_pools_key_verifies_and_gives_its_claims() {
        let got = check(&sign(KEY, &header(), &claims())).unwrap();
        assert_eq!(got["tenant"], "acme");
        assert_eq!(got["sub"], "u-1");
    }

    #[test]
    fn a_changed_payload_or_signature_is_refused() {
        let token = sign(KEY, &header(), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(claims().to_string().replace("acme", "evil"));
        let err = check(&format!("{}.{forged}.{}", parts[0], parts[2])).unwrap_err();
        assert!(err.contains("signature does not match"), "{err}");

        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[10] ^= 1;
        let err = check(&format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(sig)
        ))
        .unwrap_err();
        assert!(err.contains("signature does not match"), "{err}");
    }

    #[test]
    fn a_token_signed_by_another_key_under_the_pools_kid_is_refused() {
        let err = check(&sign(OTHER, &header(), &claims())).unwrap_err();
        assert!(err.contains("signature does not match"), "{err}");
    }

    #[test]
    fn only_rs256_is_accepted_whatever_the_header_says() {
        for alg in ["none", "HS256", "RS512", "PS256"] {
            let token = sign(KEY, &json!({"alg": alg, "kid": "k1"}), &claims());
            let err = check(&token).unwrap_err();
            assert!(err.contains("Cognito signs with RS256"), "{alg}: {err}");
        }
        // An unsigned token ("alg": "none" with an empty signature) is refused too.
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        assert!(check(&unsigned).is_err());
    }

    #[test]
    fn an_unknown_or_missing_kid_and_malformed_tokens_are_refused() {
        let err = check(&sign(KEY, &json!({"alg": "RS256", "kid": "k9"}), &claims())).unwrap_err();
        assert!(err.contains("\"k9\" is not in the pool's JWKS"), "{err}");
        // A kid made to reach a terminal is quoted, escaped and cut short.
        let long = format!("\u{1b}]52;c;{}\u{7}", "x".repeat(200));
        let err = check(&sign(KEY, &json!({"alg": "RS256", "kid": long}), &claims())).unwrap_err();
        assert!(!err.contains('\u{1b}') && err.len() < 160, "{err}");
        let err = check(&sign(KEY, &json!({"alg": "RS256"}), &claims())).unwrap_err();
        assert!(err.contains("no signing key (kid)"), "{err}");
        assert!(check("a.b").unwrap_err().contains("2 parts"));
        assert!(check("!!.b.c").unwrap_err().contains("base64url"));
        let crit = sign(
            KEY,
            &json!({"alg": "RS256", "kid": "k1", "crit": ["b64"]}),
            &claims(),
        );
        assert!(check(&crit).unwrap_err().contains("critical"));
    }

    #[test]
    fn expiry_is_checked_with_a_minute_of_leeway() {
        let at = |exp: u64| {
            let mut c = claims();
            c["exp"] = json!(exp);
            check(&sign(KEY, &header(), &c))
        };
        assert!(at(NOW - LEEWAY).is_ok());
        let err = at(NOW - LEEWAY - 1).unwrap_err();
        assert!(err.contains("expired 61 s ago"), "{err}");
        let mut c = claims();
        c.as_object_mut().unwrap().remove("exp");
        assert!(check(&sign(KEY, &header(), &c))
            .unwrap_err()
            .contains("no exp"));
        let mut c = claims();
        c["nbf"] = json!(NOW + LEEWAY + 10);
        assert!(check(&sign(KEY, &header(), &c))
            .unwrap_err()
            .contains("not valid yet"));
    }

    #[test]
    fn issuer_subject_and_audience_must_be_the_pools() {
        let with = |key: &str, value: Value| {
            let mut c = claims();
            c[key] = value;
            check(&sign(KEY, &header(), &c))
        };
        let err = with(
            "iss",
            json!("https://cognito-idp.us-east-1.amazonaws.com/other"),
        )
        .unwrap_err();
        assert!(err.contains("issued by"), "{err}");
        let err = with("aud", json!("client-2")).unwrap_err();
        assert!(err.contains("audience"), "{err}");
        assert!(with("aud", json!(["client-2", "client-1"])).is_ok());
        assert!(with("sub", json!(7)).unwrap_err().contains("no sub"));
        // Access tokens have no aud: the caller checks client_id instead.
        let mut c = claims();
        c.as_object_mut().unwrap().remove("aud");
        let token = sign(KEY, &header(), &c);
        assert!(check(&token).is_err());
        let access = Expect {
            audience: None,
            ..id()
        };
        assert!(verify(&jwks(), &token, &access).is_ok());
    }

    #[test]
    fn keys_that_are_not_rsa_signing_keys_are_unusable() {
        let mut set = jwks();
        set.keys[1].use_ = Some("enc".into());
        let err = verify(&set, &sign(KEY, &header(), &claims()), &id()).unwrap_err();
        assert!(err.contains("unusable signing key k1"), "{err}");
        let mut set = jwks();
        set.keys[1].kty = "EC".into();
        assert!(verify(&set, &sign(KEY, &header(), &claims()), &id()).is_err());
    }

    #[test]
    fn a_cognito_token_must_have_the_use_and_one_of_the_clients() {
        let clients = ["client-1", "client-9"];
        let check = |c: &Value, use_: TokenUse| {
            verify_cognito(&jwks(), &sign(KEY, &header(), c), ISS, &clients, use_, NOW)
        };
        // ID token: aud names the client.
        assert!(check(&claims(), TokenUse::Id).is_ok());
        let err = check(&claims(), TokenUse::Access).unwrap_err();
        assert!(
            err.contains("token_use is \"id\", expected \"access\""),
            "{err}"
        );
        let mut other = claims();
        other["aud"] = json!("client-2");
        let err = check(&other, TokenUse::Id).unwrap_err();
        assert!(err.contains("aud is \"client-2\""), "{err}");
        // Access token: client_id names it, and there is no aud.
        let access = json!({"sub": "u-1", "iss": ISS, "client_id": "client-9", "exp": NOW + 60,
                            "token_use": "access", "scope": "aws.cognito.signin.user.admin"});
        assert!(check(&access, TokenUse::Access).is_ok());
        let mut no_client = access.clone();
        no_client.as_object_mut().unwrap().remove("client_id");
        let err = check(&no_client, TokenUse::Access).unwrap_err();
        assert!(err.contains("client_id is missing"), "{err}");
        let none: [&str; 0] = [];
        let token = sign(KEY, &header(), &access);
        assert!(verify_cognito(&jwks(), &token, ISS, &none, TokenUse::Access, NOW).is_err());
    }

    #[test]
    fn a_cognito_jwks_document_parses() {
        let doc = r#"{"keys":[{"alg":"RS256","e":"AQAB","kid":"abc=","kty":"RSA","n":"xyz","use":"sig"}]}"#;
        let set: Jwks = serde_json::from_str(doc).unwrap();
        assert_eq!(set.find("abc=").unwrap().e.as_deref(), Some("AQAB"));
    }
}
