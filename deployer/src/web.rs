//! HTTP for what is not an AWS API: the pool's signing keys and the hosted UI's token endpoint
//! (a client), and the token viewer's local page (a server). Both sit on hyper, hyper-util and
//! hyper-rustls, which the SDK's HTTP client already brings, and the client makes the SDK's
//! trust decision: rustls on ring with the system's root certificates. (reqwest and axum did
//! the same on top of these for 13 CPU-seconds more of a cold build.)

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

/// How long a connection may take, and a whole exchange.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read: a key set or a token response is a few KB.
const MAX_BODY: usize = 1 << 20;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// An HTTPS (and, for the emulator, plain HTTP) client.
#[derive(Clone, Debug)]
pub struct Client {
    inner: hyper_util::client::legacy::Client<Connector, Full<Bytes>>,
}

/// An answer: its status and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; `Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// The process's client, made on first use (reading the system's roots once).
pub fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(Client::new)
}

impl Client {
    fn new() -> Self {
        let mut roots = rustls::RootCertStore::empty();
        // A certificate the store cannot parse is skipped, as the SDK's client does.
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self {
            inner: hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .build(connector),
        }
    }

    /// GET `url`.
    pub async fn get(&self, url: &str) -> Result<Reply, String> {
        let request = Request::get(url)
            .body(Full::default())
            .map_err(|e| format!("bad address {url}: {e}"))?;
        self.send(request).await
    }

    /// `method url` with a bearer token and a JSON body when given (`deployer call`).
    pub async fn call(
        &self,
        method: &str,
        url: &str,
        bearer: Option<&str>,
        body: Option<&str>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder().method(method).uri(url);
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::from(body.unwrap_or_default().to_owned()))
            .map_err(|e| format!("bad request {method} {url}: {e}"))?;
        self.send(request).await
    }

    /// POST `form`, form-encoded, to `url`, with HTTP Basic credentials when given.
    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Result<Reply, String> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request =
            Request::post(url).header("content-type", "application/x-www-form-urlencoded");
        if let Some((user, password)) = basic {
            use base64::Engine;
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request = request.header("authorization", format!("Basic {pair}"));
        }
        let request = request
            .body(Full::from(body))
            .map_err(|e| format!("bad address {url}: {e}"))?;
        self.send(request).await
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<Reply, String> {
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| describe(&e))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok(Reply { status, body })
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer within {} s", TIMEOUT.as_secs()))?
    }
}

/// A client error with its causes (the TLS or connect error is the useful part).
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A response with `status`, `headers` and an HTML or text body.
pub fn response(
    status: StatusCode,
    headers: &[(&str, &str)],
    body: String,
) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::from(body))
        .expect("static header names and checked values")
}

/// A 303 to `location`, as a browser is sent on after a form or a login.
pub fn redirect(location: &str) -> Response<Full<Bytes>> {
    response(
        StatusCode::SEE_OTHER,
        &[("location", location)],
        String::new(),
    )
}

/// Serves HTTP/1.1 on `listener` until `shutdown` completes: each request's head goes to
/// `handle` (the viewer reads no request bodies).
pub async fn serve<H, F>(
    listener: tokio::net::TcpListener,
    handle: H,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    H: Fn(http::request::Parts) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        let handle = handle.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (parts, _) = request.into_parts();
                    let answer = handle(parts);
                    async move { Ok::<_, Infallible>(answer.await) }
                });
            // A client that goes away mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
