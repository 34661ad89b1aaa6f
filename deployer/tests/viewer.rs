//! The token viewer in a real browser: headless Chromium (Debian's, driven through
//! chromedriver) clicks Login, fills the emulator's hosted UI, lands back on the page and finds
//! the custom claim on screen, then logs out. A screenshot is left in the test output folder.

mod common;

use common::{deployer, deployer_with, Inputs};
use fantoccini::{ClientBuilder, Locator};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

async fn wait_for(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_viewer_logs_in_through_the_hosted_ui_and_shows_the_custom_claim() {
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            std::path::Path::new(tool).exists(),
            "{tool} is missing: run scripts/setup.sh (Debian's chromium and chromium-driver)"
        );
    }
    let port = common::free_port();
    let inputs = Inputs::new(json!({
        "claims": [{"attribute": "projects", "tokens": "both", "type": "list"}],
        "callbackUrls": [format!("http://localhost:{port}/")],
        "api": {"routes": {"GET /projects/{projectId}": {"resource": {"type": "Project"}}}}
    }));
    std::fs::create_dir(inputs.dir.path().join("policies")).unwrap();
    std::fs::write(
        inputs.dir.path().join("policies/projects.cedar"),
        r#"permit (principal, action, resource is App::Project)
           when { context.token has projects && context.token.projects.contains(resource.id) };"#,
    )
    .unwrap();
    deployer(&inputs.path, &["up"]).await.succeeded();
    deployer_with(
        &inputs.path,
        &[
            "users",
            "add",
            "jane",
            "--set",
            "projects=p-100,p-200",
            "--password-stdin",
        ],
        &[],
        Some("Viewer-passw0rd-1"),
    )
    .await
    .succeeded();

    let viewer = Killed(
        Command::new(env!("CARGO_BIN_EXE_deployer"))
            .args(["--local", "-f"])
            .arg(&inputs.path)
            .args(["viewer", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(port, "the viewer").await;
    let driver_port = common::free_port();
    let driver = Killed(
        Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(driver_port, "chromedriver").await;

    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": "/usr/bin/chromium", "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1100,900", format!("--user-data-dir={}", profile.path().display())
        ]}),
    );
    // This test binary links rustls with both ring (the deployer's) and aws-lc (fantoccini's
    // default): name the one to use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let browser = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("chromedriver session");

    browser
        .goto(&format!("http://localhost:{port}/"))
        .await
        .unwrap();
    browser
        .find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The emulator's hosted UI.
    browser
        .wait()
        .for_element(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("jane")
        .await
        .unwrap();
    browser
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("Viewer-passw0rd-1")
        .await
        .unwrap();
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Back on the viewer, with the tokens.
    let custom = browser
        .wait()
        .for_element(Locator::Css("tr.custom"))
        .await
        .unwrap();
    let row = custom.text().await.unwrap();
    assert!(
        row.contains("projects") && row.contains("p-100") && row.contains("custom claim"),
        "{row}"
    );
    let page = browser.source().await.unwrap();
    assert_eq!(
        page.matches("signature verified").count(),
        2,
        "both tokens verified:\n{page}"
    );
    // Beside the tokens, the trigger's log line for this login, read from its log group.
    let outcome = browser
        .find(Locator::Id("log-outcome"))
        .await
        .expect("the trigger's log line is shown")
        .text()
        .await
        .unwrap();
    assert_eq!(outcome, "enriched");
    let from_row = browser
        .find(Locator::Id("log-claims-from-the-row"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(from_row.contains("projects"), "{from_row}");
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .as_str()
            .ends_with(&format!("localhost:{port}/")),
        "the code is gone from the address bar"
    );
    // The API, called from the page with the logged-in token: her project, then another.
    for (path, status) in [("/projects/p-100", "200"), ("/projects/p-300", "403")] {
        let field = browser.find(Locator::Id("call-path")).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(path).await.unwrap();
        browser
            .find(Locator::Id("call"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let mut answer = String::new();
        for _ in 0..100 {
            answer = browser
                .find(Locator::Id("call-result"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if answer.starts_with(&format!("GET {path} -> ")) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(
            answer.starts_with(&format!("GET {path} -> {status}")),
            "{path}: {answer}"
        );
    }
    let shot = browser.screenshot().await.unwrap();
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("viewer.png");
    std::fs::write(&path, shot).unwrap();
    println!("screenshot: {}", path.display());

    let logout = browser.find(Locator::Id("logout")).await.unwrap();
    logout.clone().click().await.unwrap();
    // The form's POST clears the session. A navigation started before its answer came would
    // cancel it: wait until the page it was posted from is gone (its button goes stale).
    let mut gone = false;
    for _ in 0..100 {
        if logout.tag_name().await.is_err() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(gone, "the logout POST never left the page");
    browser
        .goto(&format!("http://localhost:{port}/"))
        .await
        .unwrap();
    browser
        .wait()
        .for_element(Locator::Id("login"))
        .await
        .expect("logged out: the Login button is back");
    browser.close().await.ok();
    drop(driver);
    drop(viewer);
    deployer(&inputs.path, &["down"]).await.succeeded();
}
