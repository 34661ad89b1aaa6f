//! `viewer`: the blog's React token viewer, as a small local web page served by the deployer.
//! Login goes to the pool's hosted UI (authorization code with PKCE); the callback exchanges
//! the code at the token endpoint; the page shows both tokens decoded, their signatures
//! checked, and the claims from the table marked. Works against AWS and the emulator alike.

use crate::error::Error;
use crate::identity::refs::StackRefs;
use crate::identity::tokens::{self, TokenUse};
use crate::inputs::StackInputs;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the page knows.
struct Viewer {
    refs: StackRefs,
    custom: Vec<String>,
    redirect_uri: String,
    /// PKCE verifiers by OAuth `state`.
    pending: Mutex<HashMap<String, String>>,
    /// The logged-in session (one local user at a time).
    session: Mutex<Option<Session>>,
    http: reqwest::Client,
}

struct Session {
    id: Result<Map<String, Value>, String>,
    access: Result<Map<String, Value>, String>,
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The redirect URI for `port`; it must be one of the app client's callback URLs.
pub fn redirect_uri(inputs: &StackInputs, port: u16) -> Result<String, Error> {
    let wanted = [
        format!("http://localhost:{port}/"),
        format!("http://localhost:{port}"),
    ];
    inputs.callback_urls.iter().find(|u| wanted.contains(u)).cloned().ok_or_else(|| Error::Usage {
        message: format!("http://localhost:{port}/ is not a callback URL of the app client"),
        help: format!("add \"http://localhost:{port}/\" to callbackUrls in stack-inputs.json and run `up`, or use --port 8081"),
    })
}

/// Serves the viewer on 127.0.0.1:`port` until Ctrl-C.
pub async fn serve(refs: StackRefs, inputs: &StackInputs, port: u16) -> Result<(), Error> {
    let redirect_uri = redirect_uri(inputs, port)?;
    let state = Arc::new(Viewer {
        custom: tokens::custom_claim_names(inputs),
        refs,
        redirect_uri,
        pending: Mutex::new(HashMap::new()),
        session: Mutex::new(None),
        http: reqwest::Client::new(),
    });
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/logout", get(logout))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| Error::Io {
            what: format!("listening on 127.0.0.1:{port} (another viewer running? try --port)"),
            source,
        })?;
    eprintln!("token viewer on http://localhost:{port}/ (Ctrl-C to stop)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await
        .map_err(|source| Error::Io {
            what: "serving the viewer".into(),
            source,
        })
}

async fn login(State(v): State<Arc<Viewer>>) -> Redirect {
    let verifier = random_token(48);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let state = random_token(16);
    v.pending
        .lock()
        .expect("lock")
        .insert(state.clone(), verifier);
    let url = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid+email+profile&state={}&code_challenge={}&code_challenge_method=S256",
        v.refs.auth_base(),
        v.refs.client_id,
        crate::render::encode_uri_component(&v.redirect_uri),
        state,
        challenge
    );
    Redirect::to(&url)
}

async fn logout(State(v): State<Arc<Viewer>>) -> Redirect {
    *v.session.lock().expect("lock") = None;
    let url = format!(
        "{}/logout?client_id={}&logout_uri={}",
        v.refs.auth_base(),
        v.refs.client_id,
        crate::render::encode_uri_component(&v.redirect_uri)
    );
    Redirect::to(&url)
}

async fn home(State(v): State<Arc<Viewer>>, Query(cb): Query<Callback>) -> Response {
    if let Some(error) = cb.error {
        return page(
            &v,
            Some(&format!(
                "login failed: {error} {}",
                cb.error_description.unwrap_or_default()
            )),
        );
    }
    if let (Some(code), Some(state)) = (cb.code, cb.state) {
        let Some(verifier) = v.pending.lock().expect("lock").remove(&state) else {
            return page(&v, Some("unknown or reused login state: press Login again"));
        };
        match exchange(&v, &code, &verifier).await {
            Ok(session) => *v.session.lock().expect("lock") = Some(session),
            Err(message) => return page(&v, Some(&message)),
        }
        // Drop the code from the address bar.
        return Redirect::to("/").into_response();
    }
    page(&v, None)
}

async fn exchange(v: &Viewer, code: &str, verifier: &str) -> Result<Session, String> {
    let response = v
        .http
        .post(format!("{}/oauth2/token", v.refs.auth_base()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", v.refs.client_id.as_str()),
            ("code", code),
            ("redirect_uri", v.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .map_err(|e| format!("the token endpoint did not answer: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!(
            "the code exchange was refused: {} (HTTP {status})",
            body.get("error").and_then(Value::as_str).unwrap_or("?")
        ));
    }
    let jwks = tokens::fetch_jwks(&v.refs)
        .await
        .map_err(|e| e.to_string())?;
    let token = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Session {
        id: tokens::verify_token(
            &jwks,
            &token("id_token"),
            &v.refs,
            &v.refs.client_id,
            TokenUse::Id,
        ),
        access: tokens::verify_token(
            &jwks,
            &token("access_token"),
            &v.refs,
            &v.refs.client_id,
            TokenUse::Access,
        ),
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn table(title: &str, claims: &Result<Map<String, Value>, String>, custom: &[String]) -> String {
    let mut html = format!("<section><h2>{}</h2>", escape(title));
    match claims {
        Err(message) => html.push_str(&format!(
            "<p class=\"bad\">signature or claims check failed: {}</p>",
            escape(message)
        )),
        Ok(claims) => {
            html.push_str("<p class=\"ok\">signature verified against the pool's JWKS; issuer, audience and expiry checked</p><table>");
            for (k, val) in claims {
                let is_custom = custom.contains(k);
                html.push_str(&format!(
                    "<tr{}><th>{}</th><td><code>{}</code></td><td>{}</td></tr>",
                    if is_custom { " class=\"custom\"" } else { "" },
                    escape(k),
                    escape(&val.to_string()),
                    if is_custom { "custom claim" } else { "" }
                ));
            }
            html.push_str("</table>");
        }
    }
    html + "</section>"
}

fn page(v: &Viewer, message: Option<&str>) -> Response {
    let session = v.session.lock().expect("lock");
    let body = match session.as_ref() {
        None => {
            "<p>Not logged in.</p><p><a class=\"button\" id=\"login\" href=\"/login\">Login</a></p>"
                .to_owned()
        }
        Some(s) => format!(
            "<p><a class=\"button\" id=\"logout\" href=\"/logout\">Logout</a></p>{}{}",
            table("ID token", &s.id, &v.custom),
            table("Access token", &s.access, &v.custom)
        ),
    };
    let notice = message
        .map(|m| format!("<p class=\"bad\" id=\"error\">{}</p>", escape(m)))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Token viewer — {stack}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}table{{border-collapse:collapse}}\
         th,td{{text-align:left;padding:.2rem .6rem;border-bottom:1px solid #ddd}}tr.custom{{background:#fff4c2}}\
         .ok{{color:#176017}}.bad{{color:#a00}}.button{{padding:.4rem 1rem;background:#234;color:#fff;text-decoration:none;border-radius:4px}}\
         </style></head><body><h1>Token viewer — {stack}</h1><p>User pool {pool}, app client {client}</p>{notice}{body}</body></html>",
        stack = escape(&v.refs.stack),
        pool = escape(&v.refs.pool_id),
        client = escape(&v.refs.client_id),
    );
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Html(html),
    )
        .into_response()
}
