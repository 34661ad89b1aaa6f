//! Logins and tokens: AdminInitiateAuth, the pool's JWKS, and verification of each token's
//! signature, issuer, audience or client, use and expiry.

use super::jwt::{self, Jwks};
use super::refs::StackRefs;
use super::secret::Secret;
use crate::aws::Clients;
use crate::error::Error;
use crate::inputs::StackInputs;
use crate::output;
use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ChallengeNameType};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// The raw tokens of a login.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawTokens {
    pub id_token: String,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub expires_in: i32,
}

/// Logs a user in with AdminInitiateAuth; each refusal gets its own message.
pub async fn login(
    clients: &Clients,
    refs: &StackRefs,
    user: &str,
    password: &Secret,
) -> Result<RawTokens, Error> {
    let client = refs.require_client()?;
    let out = clients
        .cognito
        .admin_initiate_auth()
        .user_pool_id(&refs.pool_id)
        .client_id(client)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", user)
        .auth_parameters("PASSWORD", password.expose())
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(err) => {
            let err = clients.err("cognito-idp", "AdminInitiateAuth", err);
            let (message, help) = match err.code.as_str() {
                "NotAuthorizedException" if err.message.contains("disabled") => {
                    (format!("user {user} is disabled"), "enable it with `aws cognito-idp admin-enable-user`, or use another user".to_owned())
                }
                "NotAuthorizedException" | "UserNotFoundException" => (
                    format!("login refused for {user}: unknown user or wrong password"),
                    "check the user name (`deployer users list`) and the password given on stdin or in DEPLOYER_PASSWORD".to_owned(),
                ),
                "PasswordResetRequiredException" => (format!("user {user} must reset the password"), "set a new one with `deployer users add USER --password-stdin`".into()),
                "UserNotConfirmedException" => (format!("user {user} is not confirmed"), "confirm it, or add it again with `deployer users add`".into()),
                "UserLambdaValidationException" | "UnexpectedLambdaException" | "InvalidLambdaResponseException" => (
                    format!("the pre-token-generation trigger failed the login: {}", err.message),
                    format!("see the function's log group /aws/lambda/{}-pretoken; a missing row or DynamoDB trouble denies logins when the inputs say so", refs.stack),
                ),
                _ => return Err(err.into()),
            };
            return Err(Error::Login { message, help });
        }
    };
    if let Some(challenge) = out.challenge_name {
        let help = match challenge {
            ChallengeNameType::NewPasswordRequired => "the user has a temporary password: set a permanent one with `deployer users add USER --password-stdin`",
            _ => "complete the challenge with the hosted UI (`deployer viewer`) or the AWS CLI",
        };
        return Err(Error::Login {
            message: format!(
                "user {user} must answer the {} challenge before getting tokens",
                challenge.as_str()
            ),
            help: help.into(),
        });
    }
    let result = out.authentication_result.ok_or_else(|| Error::Login {
        message: "Cognito returned no tokens".into(),
        help: "try again".into(),
    })?;
    Ok(RawTokens {
        id_token: result.id_token.unwrap_or_default(),
        access_token: result.access_token.unwrap_or_default(),
        refresh_token: result.refresh_token,
        expires_in: result.expires_in,
    })
}

/// Fetches the pool's signing keys.
pub async fn fetch_jwks(refs: &StackRefs) -> Result<Jwks, Error> {
    let url = refs.jwks_url();
    let fail = |detail: String| Error::Token {
        message: format!("cannot read the pool's signing keys from {url}: {detail}"),
        help: "check the network, or that the stack is deployed".into(),
    };
    let reply = crate::web::client().get(&url).await.map_err(fail)?;
    if !reply.status.is_success() {
        return Err(fail(format!("HTTP {}", reply.status)));
    }
    serde_json::from_slice::<Jwks>(&reply.body).map_err(|e| fail(e.to_string()))
}

pub use authorizer::token::TokenUse;

/// Checks a token's signature against the pool's keys, its issuer, its audience or client,
/// its use and its expiry; returns its claims.
pub fn verify_token(
    jwks: &Jwks,
    token: &str,
    refs: &StackRefs,
    client_id: &str,
    token_use: TokenUse,
) -> Result<Map<String, Value>, String> {
    jwt::verify_cognito(
        jwks,
        token,
        &refs.issuer(),
        &[client_id],
        token_use,
        jwt::now(),
    )
}

/// The claims the mapping adds (by name), to mark them in the output.
pub fn custom_claim_names(inputs: &StackInputs) -> Vec<String> {
    inputs
        .claims
        .iter()
        .map(|m| m.claim_name().to_owned())
        .collect()
}

/// Decoded, verified tokens for display.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReport {
    pub principal: String,
    pub verified: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Map<String, Value>>,
    pub access_token: Map<String, Value>,
    /// The claims that came from the table (the claim mapping's names present in the tokens).
    pub custom_claims: Vec<String>,
}

impl fmt::Display for TokenReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "tokens for {} — {}", self.principal, self.verified)?;
        let mut section = |title: &str, claims: &Map<String, Value>| -> fmt::Result {
            writeln!(f, "\n{title}")?;
            let rows: Vec<(String, String)> = claims
                .iter()
                .map(|(k, v)| {
                    let mark = if self.custom_claims.contains(k) {
                        "* "
                    } else {
                        "  "
                    };
                    (format!("{mark}{k}"), v.to_string())
                })
                .collect();
            let borrowed: Vec<(&str, String)> =
                rows.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            output::rows(f, &borrowed)
        };
        if let Some(id) = &self.id_token {
            section("ID token", id)?;
        }
        section("access token", &self.access_token)?;
        writeln!(f, "\n* = custom claim from the table")
    }
}

/// Verifies both tokens of a user login and builds the report.
pub async fn report(
    refs: &StackRefs,
    inputs: &StackInputs,
    user: &str,
    tokens: &RawTokens,
) -> Result<TokenReport, Error> {
    let jwks = fetch_jwks(refs).await?;
    let fail = |which: &str, message: String| Error::Token {
        message: format!("the {which} token did not verify: {message}"),
        help: "the tokens were not issued by this pool for this client, or have expired".into(),
    };
    let id = verify_token(&jwks, &tokens.id_token, refs, &refs.client_id, TokenUse::Id)
        .map_err(|m| fail("ID", m))?;
    let access = verify_token(
        &jwks,
        &tokens.access_token,
        refs,
        &refs.client_id,
        TokenUse::Access,
    )
    .map_err(|m| fail("access", m))?;
    let names = custom_claim_names(inputs);
    let mut custom: Vec<String> = names
        .into_iter()
        .filter(|n| id.contains_key(n) || access.contains_key(n))
        .collect();
    custom.dedup();
    Ok(TokenReport {
        principal: user.into(),
        verified: format!(
            "signatures verified against {}; issuer, audience and expiry checked",
            refs.jwks_url()
        ),
        id_token: Some(id),
        access_token: access,
        custom_claims: custom,
    })
}
