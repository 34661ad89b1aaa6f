//! How people and pipelines sign in: a profile with `credential_process`, an IAM Identity
//! Center (SSO) profile, a console sign-in (`aws login`). The deployer must load each the way
//! the AWS CLI does
//! (https://docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html,
//! https://docs.aws.amazon.com/sdkref/latest/guide/feature-sso-credentials.html,
//! https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-sign-in.html).
//! A loopback listener stands in for AWS and records each request's signature; it answers
//! AccessDenied (not retried) so that every run ends at once.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A fake AWS endpoint: records each request's first line and Authorization header; answers
/// the SSO portal's GetRoleCredentials with role credentials and everything else AccessDenied.
struct Endpoint {
    url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

fn endpoint() -> Endpoint {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut first, mut auth, mut length) = (String::new(), String::new(), 0usize);
            reader.read_line(&mut first).ok();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if lower.starts_with("authorization:") {
                    auth = line.trim_end().to_owned();
                }
                if let Some(n) = lower.strip_prefix("content-length:") {
                    length = n.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("x-amz-sso_bearer_token:") {
                    auth = line.trim_end().to_owned();
                }
            }
            let mut body = vec![0; length];
            std::io::Read::read_exact(&mut reader, &mut body).ok();
            record
                .lock()
                .unwrap()
                .push((first.trim_end().to_owned(), auth));
            let response = if first.contains("/federation/credentials") {
                let body = r#"{"roleCredentials":{"accessKeyId":"ASIAFROMSSO","secretAccessKey":"s","sessionToken":"t","expiration":4102444800000}}"#;
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            } else {
                let body = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>denied by the test endpoint</Message></Error><RequestId>r1</RequestId></ErrorResponse>";
                format!("HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            };
            stream.write_all(response.as_bytes()).ok();
        }
    });
    Endpoint { url, seen }
}

/// Runs `deployer outputs` with only the given AWS config file and HOME: no other credentials.
fn run(home: &Path, profile: &str, endpoint: &str) -> (i32, String) {
    run_with(home, profile, endpoint, &[])
}

fn run_with(home: &Path, profile: &str, endpoint: &str, env: &[(&str, &str)]) -> (i32, String) {
    let inputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stack-inputs.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["--endpoint-url", endpoint, "--region", "us-east-1"])
        .args(if profile.is_empty() {
            vec![]
        } else {
            vec!["--profile", profile]
        })
        .arg("-f")
        .arg(inputs)
        .arg("outputs")
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("DEPLOYER_PLAIN", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .envs(env.iter().copied())
        .output()
        .expect("run deployer");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// At least one call reached the endpoint, and every one was signed with `access_key`.
fn assert_signed_with(seen: &[(String, String)], access_key: &str, stderr: &str) {
    assert!(
        !seen.is_empty(),
        "no request reached the endpoint: {stderr}"
    );
    let credential = format!("Credential={access_key}/");
    for (request, auth) in seen {
        assert!(auth.contains(&credential), "{request} signed with {auth:?}");
    }
}

#[test]
fn a_credential_process_profile_signs_the_calls() {
    let home = tempfile::tempdir().unwrap();
    let script = home.path().join("creds.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIDFROMPROCESS\", \"SecretAccessKey\": \"s\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        home.path().join("config"),
        format!("[profile ci]\ncredential_process = {}\n", script.display()),
    )
    .unwrap();
    let aws = endpoint();
    let (code, stderr) = run(home.path(), "ci", &aws.url);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("denied"), "{stderr}");
    assert_signed_with(&aws.seen.lock().unwrap(), "AKIDFROMPROCESS", &stderr);
}

fn sso_config(home: &Path) {
    std::fs::write(
        home.join("config"),
        "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Deployer\n\n\
         [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
    )
    .unwrap();
}

#[test]
fn an_sso_profile_without_a_login_says_to_log_in() {
    let home = tempfile::tempdir().unwrap();
    sso_config(home.path());
    let aws = endpoint();
    let (code, stderr) = run(home.path(), "dev", &aws.url);
    // The SSO provider looked for the cached login (not "requires the sso feature").
    assert_says_to_sign_in(
        code,
        &stderr,
        "has no current login: run `aws sso login`",
        "dev",
    );
}

/// No credentials anywhere (no profile, no environment): what a newcomer reads is one line of cause and
/// one of what to do, as the aws CLI's "Unable to locate credentials" is; the SDK's provider
/// warnings and its error chain (Rust `Debug` dumps) stay behind DEPLOYER_LOG=debug.
#[test]
fn no_credentials_read_as_one_cause_and_one_remedy() {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config"), "").unwrap();
    std::fs::write(home.path().join("credentials"), "").unwrap();
    let aws = endpoint();
    // The instance metadata service answers, and refuses (as it does off EC2 behind a proxy):
    // the SDK's chain then warns about each provider it tried.
    let imds = endpoint();
    let env = [
        ("AWS_EC2_METADATA_DISABLED", "false"),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url.as_str()),
    ];
    let (code, stderr) = run_with(home.path(), "", &aws.url, &env);
    assert!(
        !imds.seen.lock().unwrap().is_empty(),
        "the chain asked IMDS"
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("NoCredentials: no AWS credentials could be loaded"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: no AWS credentials were found: set AWS_PROFILE or --profile"),
        "{stderr}"
    );
    for noise in ["WARN", "ProviderError", "Response {", "source:", "{ "] {
        assert!(!stderr.contains(noise), "{noise:?} in:\n{stderr}");
    }
    assert!(stderr.len() < 400, "{} characters:\n{stderr}", stderr.len());
    assert!(
        aws.seen.lock().unwrap().is_empty(),
        "nothing unsigned was sent"
    );
    // The detail is one setting away.
    let (_, debug) = run_with(home.path(), "", &aws.url, &[("DEPLOYER_LOG", "debug")]);
    assert!(
        debug.contains("the call failed before AWS answered"),
        "{debug}"
    );
}

/// A failed run whose provider was compiled in and looked for its sign-in, with the advice
/// for that provider naming the profile.
fn assert_says_to_sign_in(code: i32, stderr: &str, advice: &str, profile: &str) {
    assert_ne!(code, 0, "{stderr}");
    assert!(!stderr.contains("cargo feature"), "{stderr}");
    assert!(stderr.contains(advice), "{stderr}");
    assert!(stderr.contains(&format!("profile {profile}")), "{stderr}");
}

#[test]
fn an_sso_profile_with_a_login_signs_the_calls_with_the_role_credentials() {
    let home = tempfile::tempdir().unwrap();
    sso_config(home.path());
    // The token cache `aws sso login` writes: ~/.aws/sso/cache/<sha1 of the session name>.json.
    let cache = home.path().join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    // SHA-1 of "corp" (`printf corp | sha1sum`).
    std::fs::write(
        cache.join("ee0bfd2552fbd840c02cc48b6e823320543c450f.json"),
        r#"{"accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z","region":"us-east-1","startUrl":"https://corp.awsapps.com/start"}"#,
    )
    .unwrap();
    let aws = endpoint();
    // The SSO portal's endpoint, as the SDKs let any service's be moved
    // (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
    let (code, stderr) = run_with(
        home.path(),
        "dev",
        &aws.url,
        &[("AWS_ENDPOINT_URL_SSO", &aws.url)],
    );
    assert_ne!(code, 0, "{stderr}");
    let seen = aws.seen.lock().unwrap().clone();
    let (portal, rest): (Vec<_>, Vec<_>) = seen
        .iter()
        .partition(|(request, _)| request.contains("/federation/credentials"));
    assert_eq!(portal.len(), 1, "{seen:?}\n{stderr}");
    assert!(portal[0].0.contains("account_id=111122223333"), "{seen:?}");
    assert!(portal[0].1.contains("sso-token"), "{seen:?}");
    let rest: Vec<_> = rest.into_iter().cloned().collect();
    assert_signed_with(&rest, "ASIAFROMSSO", &stderr);
}

/// A profile made by `aws login` (console credentials): the CLI writes `login_session` into the
/// profile and caches the session's credentials under ~/.aws/login/cache/<sha256 of the
/// login_session>.json (https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-sign-in.html).
const LOGIN_SESSION: &str = "arn:aws:iam::111122223333:user/jane";

fn login_config(home: &Path) {
    std::fs::write(
        home.join("config"),
        format!("[profile console]\nlogin_session = {LOGIN_SESSION}\nregion = us-east-1\n"),
    )
    .unwrap();
}

#[test]
fn an_aws_login_profile_signs_the_calls_with_the_session_credentials() {
    use sha2::Digest;
    let home = tempfile::tempdir().unwrap();
    login_config(home.path());
    let cache = home.path().join(".aws/login/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let name = hex::encode(sha2::Sha256::digest(LOGIN_SESSION.as_bytes()));
    // Unexpired, so nothing is refreshed and the DPoP key (used only to refresh) is never read.
    std::fs::write(
        cache.join(format!("{name}.json")),
        r#"{"accessToken":{"accessKeyId":"ASIAFROMLOGIN","secretAccessKey":"s","sessionToken":"t","accountId":"111122223333","expiresAt":"2099-01-01T00:00:00Z"},"tokenType":"aws_sigv4","refreshToken":"r","idToken":"i","clientId":"arn:aws:signin:::devtools/same-device","dpopKey":"unused"}"#,
    )
    .unwrap();
    let aws = endpoint();
    let (code, stderr) = run(home.path(), "console", &aws.url);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("denied"), "{stderr}");
    assert_signed_with(&aws.seen.lock().unwrap(), "ASIAFROMLOGIN", &stderr);
}

#[test]
fn an_aws_login_profile_without_a_session_says_to_log_in() {
    let home = tempfile::tempdir().unwrap();
    login_config(home.path());
    let aws = endpoint();
    let (code, stderr) = run(home.path(), "console", &aws.url);
    assert!(!stderr.contains("feature"), "{stderr}");
    assert_says_to_sign_in(
        code,
        &stderr,
        "has no current session: run `aws login`",
        "console",
    );
    assert!(
        aws.seen.lock().unwrap().is_empty(),
        "an unsigned call went out"
    );
}
