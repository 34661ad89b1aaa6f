//! The token viewer answers only to itself on loopback: a request for another host (a
//! DNS-rebinding page that resolved its own name to 127.0.0.1) is refused, logout is a POST
//! from the viewer's own origin, never a cross-site GET. No AWS is needed until a login.

mod common;
mod mocks;

use deployer::inputs::StackInputs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A raw request, so the Host and Origin headers are exactly what a browser would send.
fn request(port: u16, head: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
        .write_all(format!("{head}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok();
    answer
}

fn status(answer: &str) -> u16 {
    answer.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn only_localhost_is_served_and_logout_is_a_same_origin_post() {
    let port = common::free_port();
    let inputs = StackInputs::parse(
        &format!(
            r#"{{"stackName": "app", "userPoolDomainName": "app-login", "callbackUrls": ["http://localhost:{port}/"]}}"#
        ),
        "t.json",
    )
    .unwrap();
    let refs = mocks::refs();
    // No login happens here, so the clients (for the trigger's log line) are never called.
    let clients = mocks::Mocks::new().clients();
    tokio::spawn(async move { deployer::viewer::serve(refs, clients, &inputs, port).await });
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let local = format!("Host: localhost:{port}");
    let ok =
        tokio::task::spawn_blocking(move || request(port, &format!("GET / HTTP/1.1\r\n{local}")))
            .await
            .unwrap();
    assert_eq!(status(&ok), 200, "{ok}");
    assert!(ok.contains("id=\"login\""), "{ok}");

    let checks = tokio::task::spawn_blocking(move || {
        [
            // Another name pointing at 127.0.0.1: refused.
            request(port, &format!("GET / HTTP/1.1\r\nHost: attacker.example:{port}")),
            request(port, "GET /login HTTP/1.1\r\nHost: attacker.example"),
            // Logout by GET (an <img> on any page): not a route.
            request(port, &format!("GET /logout HTTP/1.1\r\nHost: localhost:{port}")),
            // Logout posted from another origin: refused.
            request(
                port,
                &format!("POST /logout HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://attacker.example"),
            ),
            // From the viewer's own page: allowed, on to the hosted UI's logout.
            request(
                port,
                &format!("POST /logout HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://localhost:{port}"),
            ),
        ]
    })
    .await
    .unwrap();
    let statuses: Vec<u16> = checks.iter().map(|a| status(a)).collect();
    assert_eq!(statuses, [421, 421, 405, 403, 303], "{checks:#?}");
    assert!(
        checks[4].contains(
            "location: https://app-login.auth.us-east-1.amazoncognito.com/logout?client_id=client"
        ),
        "{}",
        checks[4]
    );
}
