//! `viewer`: the blog's React token viewer, as a small local web page served by the deployer.
//! Login goes to the pool's hosted UI (authorization code with PKCE); the callback exchanges
//! the code at the token endpoint; the page shows both tokens decoded, their signatures
//! checked, and the claims from the table marked. Works against AWS and the emulator alike.

use crate::aws::Clients;
use crate::error::Error;
use crate::identity::refs::StackRefs;
use crate::identity::tokens::{self, TokenUse};
use crate::inputs::StackInputs;
use crate::logs::{self, LoginLine};
use crate::web;
use base64::Engine;
use bytes::Bytes;
use http::request::Parts;
use http::{header, Method, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many logins may be under way at once, and for how long: a page left open, or a
/// flood of /login requests, never grows the viewer's memory.
pub const MAX_PENDING: usize = 16;
pub const PENDING_TTL: Duration = Duration::from_secs(600);

/// PKCE verifiers of logins under way, by OAuth `state`: bounded and expiring.
#[derive(Debug, Default)]
pub struct Pending(HashMap<String, (String, Instant)>);

impl Pending {
    /// Records a login started at `now`; the oldest goes when the table is full.
    pub fn insert(&mut self, state: String, verifier: String, now: Instant) {
        self.0
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < PENDING_TTL);
        while self.0.len() >= MAX_PENDING {
            let oldest = self
                .0
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
                .expect("a full table has an oldest entry");
            self.0.remove(&oldest);
        }
        self.0.insert(state, (verifier, now));
    }

    /// The verifier of a login, once, unless it expired.
    pub fn take(&mut self, state: &str, now: Instant) -> Option<String> {
        let (verifier, at) = self.0.remove(state)?;
        (now.saturating_duration_since(at) < PENDING_TTL).then_some(verifier)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The origins the viewer answers to: itself on loopback. Anything else (a DNS-rebinding
/// page that resolves its own name to 127.0.0.1) is refused.
pub fn allowed_hosts(port: u16) -> [String; 2] {
    [format!("localhost:{port}"), format!("127.0.0.1:{port}")]
}

/// What the page knows.
struct Viewer {
    refs: StackRefs,
    /// For the trigger's log line of each login (the same reads as `deployer logs`).
    clients: Clients,
    log_group: String,
    custom: Vec<String>,
    redirect_uri: String,
    /// PKCE verifiers by OAuth `state`.
    pending: Mutex<Pending>,
    port: u16,
    /// The logged-in session (one local user at a time).
    session: Mutex<Option<Session>>,
    /// Which token the stack's API takes (a stack with an `api`).
    api_token: Option<TokenUse>,
}

type Response = http::Response<Full<Bytes>>;

struct Session {
    id: Result<Map<String, Value>, String>,
    access: Result<Map<String, Value>, String>,
    /// The trigger's line for this login, or why there is none.
    log: Result<LoginLine, String>,
    /// The raw ID and access tokens, for calls to the stack's API.
    raw: (String, String),
}

/// What the hosted UI sends back to the redirect URI, from its query string.
#[derive(Debug, Default, PartialEq, Eq)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl Callback {
    fn parse(query: Option<&str>) -> Self {
        let mut callback = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let slot = match key.as_ref() {
                "code" => &mut callback.code,
                "state" => &mut callback.state,
                "error" => &mut callback.error,
                "error_description" => &mut callback.error_description,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        callback
    }
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
pub async fn serve(
    refs: StackRefs,
    clients: Clients,
    inputs: &StackInputs,
    port: u16,
) -> Result<(), Error> {
    let redirect_uri = redirect_uri(inputs, port)?;
    let log_group = logs::log_group(&refs.function);
    let state = Arc::new(Viewer {
        log_group,
        custom: tokens::custom_claim_names(inputs),
        refs,
        clients,
        redirect_uri,
        pending: Mutex::new(Pending::default()),
        port,
        session: Mutex::new(None),
        api_token: inputs.api.as_ref().map(|a| a.token),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| Error::Io {
            what: format!("listening on 127.0.0.1:{port} (another viewer running? try --port)"),
            source,
        })?;
    eprintln!("token viewer on http://localhost:{port}/ (Ctrl-C to stop)");
    let handle = move |request: Parts| {
        let v = state.clone();
        async move { route(&v, &request).await }
    };
    // Ctrl-C is main's (the process's one SIGINT handler): it drops this future, which
    // stops the server; the viewer never stops by itself.
    web::serve(listener, handle, std::future::pending::<()>())
        .await
        .map_err(|source| Error::Io {
            what: "serving the viewer".into(),
            source,
        })
}

/// The guard first, then the three routes; a known path with another method is a 405.
async fn route(v: &Viewer, request: &Parts) -> Response {
    if let Some(refusal) = guard(v, request) {
        return refusal;
    }
    let text = |status: StatusCode, body: &str| web::response(status, &[], body.to_owned());
    match (&request.method, request.uri.path()) {
        (&Method::GET, "/") => home(v, Callback::parse(request.uri.query())).await,
        (&Method::GET, "/login") => login(v),
        (&Method::POST, "/logout") => logout(v),
        (&Method::POST, "/call") => call(v, request.uri.query()).await,
        (_, "/" | "/login" | "/logout" | "/call") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

fn login(v: &Viewer) -> Response {
    let verifier = random_token(48);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let state = random_token(16);
    v.pending
        .lock()
        .expect("lock")
        .insert(state.clone(), verifier, Instant::now());
    let url = format!(
        "{}/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid+email+profile&state={}&code_challenge={}&code_challenge_method=S256",
        v.refs.auth_base(),
        v.refs.client_id,
        crate::render::encode_uri_component(&v.redirect_uri),
        state,
        challenge
    );
    web::redirect(&url)
}

/// Refuses requests for any other host than the viewer itself, and a logout posted from
/// another origin.
fn guard(v: &Viewer, request: &Parts) -> Option<Response> {
    let allowed = allowed_hosts(v.port);
    let header = |name: header::HeaderName| {
        request
            .headers
            .get(name)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    };
    let (status, message) = if !header(header::HOST).is_some_and(|h| allowed.contains(&h)) {
        (
            StatusCode::MISDIRECTED_REQUEST,
            format!("this viewer answers only to http://localhost:{}/", v.port),
        )
    } else if request.method == Method::POST
        && !header(header::ORIGIN)
            .is_some_and(|o| allowed.iter().any(|h| o == format!("http://{h}")))
    {
        (
            StatusCode::FORBIDDEN,
            "cross-site request refused".to_owned(),
        )
    } else {
        return None;
    };
    Some(web::response(
        status,
        &[("content-type", "text/plain; charset=utf-8")],
        message,
    ))
}

/// The methods the page's call form offers.
const CALL_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

/// A call to the stack's API with the logged-in token (POST, so the guard's Origin check
/// keeps other sites from making it): `method` and `path` in the query; the answer as text.
async fn call(v: &Viewer, query: Option<&str>) -> Response {
    let text = |status: StatusCode, body: String| {
        web::response(
            status,
            &[("content-type", "text/plain; charset=utf-8")],
            body,
        )
    };
    let (Some(base), Some(token_use)) = (v.refs.api_endpoint.as_deref(), v.api_token) else {
        return text(StatusCode::NOT_FOUND, "this stack has no API".into());
    };
    let mut method = String::new();
    let mut path = String::new();
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "method" => method = value.into_owned(),
            "path" => path = value.into_owned(),
            _ => {}
        }
    }
    if !CALL_METHODS.contains(&method.as_str())
        || !path.starts_with('/')
        || path.len() > 2048
        || path.chars().any(|c| c.is_control() || c == ' ')
    {
        return text(
            StatusCode::BAD_REQUEST,
            "give a method (GET, POST, PUT, PATCH, DELETE) and a path starting with /".into(),
        );
    }
    let token = {
        let session = v.session.lock().expect("lock");
        let Some(session) = session.as_ref() else {
            return text(StatusCode::UNAUTHORIZED, "log in first".into());
        };
        match token_use {
            TokenUse::Id => session.raw.0.clone(),
            TokenUse::Access => session.raw.1.clone(),
        }
    };
    let url = format!("{}{path}", base.trim_end_matches('/'));
    match web::client().call(&method, &url, Some(&token), None).await {
        Ok(reply) => text(
            StatusCode::OK,
            format!(
                "{method} {path} -> {}\n{}",
                reply.status.as_u16(),
                String::from_utf8_lossy(&reply.body)
            ),
        ),
        Err(e) => text(StatusCode::BAD_GATEWAY, format!("{method} {path}: {e}")),
    }
}

fn logout(v: &Viewer) -> Response {
    *v.session.lock().expect("lock") = None;
    let url = format!(
        "{}/logout?client_id={}&logout_uri={}",
        v.refs.auth_base(),
        v.refs.client_id,
        crate::render::encode_uri_component(&v.redirect_uri)
    );
    web::redirect(&url)
}

async fn home(v: &Viewer, cb: Callback) -> Response {
    if let Some(error) = cb.error {
        return page(
            v,
            Some(&format!(
                "login failed: {error} {}",
                cb.error_description.unwrap_or_default()
            )),
        );
    }
    if let (Some(code), Some(state)) = (cb.code, cb.state) {
        let taken = v.pending.lock().expect("lock").take(&state, Instant::now());
        let Some(verifier) = taken else {
            return page(
                v,
                Some("unknown, reused or expired login state: press Login again"),
            );
        };
        match exchange(v, &code, &verifier).await {
            Ok(session) => *v.session.lock().expect("lock") = Some(session),
            Err(message) => return page(v, Some(&message)),
        }
        // Drop the code from the address bar.
        return web::redirect("/");
    }
    page(v, None)
}

async fn exchange(v: &Viewer, code: &str, verifier: &str) -> Result<Session, String> {
    let reply = web::client()
        .post_form(
            &format!("{}/oauth2/token", v.refs.auth_base()),
            &[
                ("grant_type", "authorization_code"),
                ("client_id", v.refs.client_id.as_str()),
                ("code", code),
                ("redirect_uri", v.redirect_uri.as_str()),
                ("code_verifier", verifier),
            ],
            None,
        )
        .await
        .map_err(|e| format!("the token endpoint did not answer: {e}"))?;
    let status = reply.status;
    let body = reply.json();
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
    let id = tokens::verify_token(
        &jwks,
        &token("id_token"),
        &v.refs,
        &v.refs.client_id,
        TokenUse::Id,
    );
    let log = match &id {
        Ok(claims) => login_line(v, claims).await,
        Err(_) => Err("no verified ID token to match a log line to".into()),
    };
    Ok(Session {
        id,
        access: tokens::verify_token(
            &jwks,
            &token("access_token"),
            &v.refs,
            &v.refs.client_id,
            TokenUse::Access,
        ),
        log,
        raw: (token("id_token"), token("access_token")),
    })
}

/// The trigger's line for the login these claims come from: the user's last login line
/// from a little before the token was issued. CloudWatch Logs may take a few seconds to
/// show it on AWS, so it is asked for a few times.
async fn login_line(v: &Viewer, claims: &Map<String, Value>) -> Result<LoginLine, String> {
    let user = claims
        .get("cognito:username")
        .and_then(Value::as_str)
        .ok_or("the ID token has no cognito:username")?;
    let issued_ms = claims.get("iat").and_then(Value::as_i64).unwrap_or(0) * 1000;
    let filter = logs::Filter {
        user: Some(user.to_owned()),
        ..logs::Filter::default()
    };
    for attempt in 0..5 {
        let lines = logs::logins(&v.clients, &v.log_group, issued_ms - 30_000, &filter)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(line) = lines.into_iter().last() {
            return Ok(line);
        }
        if attempt < 4 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
    Err(format!(
        "no line for {user} in {} yet (CloudWatch Logs can take a few seconds: reload)",
        v.log_group
    ))
}

fn log_section(log: &Result<LoginLine, String>) -> String {
    let mut html =
        "<section id=\"trigger-log\"><h2>The trigger's log line for this login</h2>".to_owned();
    match log {
        Err(message) => html.push_str(&format!("<p>{}</p>", escape(message))),
        Ok(line) => {
            let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ms"));
            let rows = [
                ("outcome", line.outcome.clone()),
                ("time", line.time.clone()),
                (
                    "event",
                    format!(
                        "{} {}",
                        line.version.clone().unwrap_or_default(),
                        line.source.clone().unwrap_or_default()
                    ),
                ),
                (
                    "claims from the row",
                    if line.claims.is_empty() {
                        "none".into()
                    } else {
                        line.claims.join(", ")
                    },
                ),
                ("lookup", ms(line.lookup_ms)),
                ("total", ms(line.total_ms)),
            ];
            html.push_str("<table>");
            for (k, val) in rows {
                html.push_str(&format!(
                    "<tr><th>{}</th><td id=\"log-{}\">{}</td></tr>",
                    escape(k),
                    escape(&k.replace(' ', "-")),
                    escape(&val)
                ));
            }
            html.push_str("</table>");
            for note in &line.notes {
                html.push_str(&format!("<p class=\"bad\">{}</p>", escape(note)));
            }
        }
    }
    html + "</section>"
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

/// The form that calls a route of the stack's API with the logged-in token (none without
/// an API). The call goes through the viewer (`POST /call`), which holds the token.
fn call_section(v: &Viewer) -> String {
    if v.api_token.is_none() || v.refs.api_endpoint.is_none() {
        return String::new();
    }
    let options: String = CALL_METHODS
        .iter()
        .map(|m| format!("<option>{m}</option>"))
        .collect();
    format!(
        "<section><h2>Call the API</h2><form id=\"call-form\"><select id=\"call-method\">{options}</select> \
         <input id=\"call-path\" value=\"/\" size=\"40\"> <button class=\"button\" id=\"call\" type=\"submit\">Call</button></form>\
         <pre id=\"call-result\"></pre><script>document.getElementById('call-form').onsubmit=async(e)=>{{e.preventDefault();\
         const q=new URLSearchParams({{method:document.getElementById('call-method').value,path:document.getElementById('call-path').value}});\
         const r=await fetch('/call?'+q,{{method:'POST'}});document.getElementById('call-result').textContent=await r.text();}};</script></section>"
    )
}

fn page(v: &Viewer, message: Option<&str>) -> Response {
    let session = v.session.lock().expect("lock");
    let body = match session.as_ref() {
        None => {
            "<p>Not logged in.</p><p><a class=\"button\" id=\"login\" href=\"/login\">Login</a></p>"
                .to_owned()
        }
        Some(s) => format!(
            "<form method=\"post\" action=\"/logout\"><button class=\"button\" id=\"logout\" type=\"submit\">Logout</button></form>{}{}",
            table("ID token", &s.id, &v.custom),
            table("Access token", &s.access, &v.custom)
        ) + &log_section(&s.log)
            + &call_section(v),
    };
    let notice = message
        .map(|m| format!("<p class=\"bad\" id=\"error\">{}</p>", escape(m)))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Token viewer — {stack}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}table{{border-collapse:collapse}}\
         th,td{{text-align:left;padding:.2rem .6rem;border-bottom:1px solid #ddd}}tr.custom{{background:#fff4c2}}\
         .ok{{color:#176017}}.bad{{color:#a00}}.button{{padding:.4rem 1rem;background:#234;color:#fff;text-decoration:none;border:0;border-radius:4px;font:inherit;cursor:pointer}}\
         </style></head><body><h1>Token viewer — {stack}</h1><p>User pool {pool}, app client {client}</p>{notice}{body}</body></html>",
        stack = escape(&v.refs.stack),
        pool = escape(&v.refs.pool_id),
        client = escape(&v.refs.client_id),
    );
    web::response(
        StatusCode::OK,
        &[
            ("content-type", "text/html; charset=utf-8"),
            ("cache-control", "no-store"),
        ],
        html,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_is_read_from_the_query_decoded() {
        assert_eq!(Callback::parse(None), Callback::default());
        let cb = Callback::parse(Some(
            "error=invalid_request&error_description=Invalid+code+verifier%21&other=x",
        ));
        assert_eq!(cb.error.as_deref(), Some("invalid_request"));
        assert_eq!(
            cb.error_description.as_deref(),
            Some("Invalid code verifier!")
        );
        let cb = Callback::parse(Some("code=a%2Fb&state=s1"));
        assert_eq!(
            (cb.code.as_deref(), cb.state.as_deref()),
            (Some("a/b"), Some("s1"))
        );
    }

    #[test]
    fn pending_logins_are_bounded_single_use_and_expire() {
        let start = Instant::now();
        let mut p = Pending::default();
        for i in 0..(MAX_PENDING + 5) {
            p.insert(
                format!("s{i}"),
                format!("v{i}"),
                start + Duration::from_secs(i as u64),
            );
        }
        assert_eq!(p.len(), MAX_PENDING, "bounded");
        assert_eq!(p.take("s0", start), None, "the oldest went first");
        let last = format!("s{}", MAX_PENDING + 4);
        assert_eq!(
            p.take(&last, start + Duration::from_secs(30)),
            Some(format!("v{}", MAX_PENDING + 4))
        );
        assert_eq!(p.take(&last, start), None, "single use");
        let late = start + PENDING_TTL + Duration::from_secs(60);
        assert_eq!(p.take("s10", late), None, "expired");
        p.insert("new".into(), "v".into(), late);
        assert_eq!(p.len(), 1, "expired ones are dropped on the next login");
    }
}
