//! The web console's sessions, over real HTTP: a session made on one node is known to every
//! node sharing the database and ended on all of them by a sign-out; console calls and
//! failed sign-ins are in the audit trail, never with the secret; failed sign-ins are
//! throttled; the live updates opened on one node show what another node changed. (What the
//! pages do is tested in a browser: tests/console.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{ROOT, RUNNING_INSTANCE, Server, TestDir};
use crate::nodes::Cluster;

const BOUND: Duration = Duration::from_secs(10);

/// An answer of the console: status, `Set-Cookie`, JSON body.
struct Answer {
    status: u16,
    set_cookie: Option<String>,
    json: Value,
}

/// One request under `/console` on a fresh connection.
async fn send(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n\
         content-type: application/x-www-form-urlencoded\r\n",
        server.host(),
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let mut stream = TcpStream::connect(server.host()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(BOUND, stream.read_to_end(&mut received))
        .await
        .expect("an answer in time")
        .unwrap();
    let text = String::from_utf8(received).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let set_cookie = head
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .map(str::to_owned);
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    Answer {
        status,
        set_cookie,
        json,
    }
}

/// Signs in with `secret` for the root key: the answer, and the session's cookie and CSRF
/// token when it succeeded.
async fn sign_in(server: &Server, secret: &str) -> (Answer, Option<(String, String)>) {
    let body = format!("AccessKeyId={}&AccessKeySecret={secret}", ROOT.id);
    let answer = send(
        server,
        "POST",
        "/console/session",
        &[("x-bpops-console", "sign-in")],
        &body,
    )
    .await;
    let session = answer
        .set_cookie
        .as_ref()
        .filter(|_| answer.status == 200)
        .map(|c| {
            let cookie = c.split(';').next().unwrap().to_owned();
            (
                cookie,
                answer.json["CsrfToken"].as_str().unwrap().to_owned(),
            )
        });
    (answer, session)
}

/// A console API call with a session.
async fn call(server: &Server, (cookie, csrf): &(String, String), action: &str) -> Answer {
    send(
        server,
        "POST",
        "/console/api",
        &[("cookie", cookie), ("x-csrf-token", csrf)],
        &format!("Action={action}"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_on_one_node_works_on_another_until_signed_out() {
    let cluster = Cluster::new("").await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    let (answer, session) = sign_in(&a, ROOT.secret).await;
    let session = session.unwrap_or_else(|| panic!("{}", answer.json));
    let cookie = answer.set_cookie.unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let listed = call(&b, &session, "ListServices").await;
    assert_eq!(listed.status, 200, "{}", listed.json);
    assert_eq!(listed.json["Code"], "200");

    let out = send(
        &b,
        "DELETE",
        "/console/session",
        &[("cookie", &session.0), ("x-csrf-token", &session.1)],
        "",
    )
    .await;
    assert_eq!(out.status, 200, "{}", out.json);
    let after = call(&a, &session, "ListServices").await;
    assert_eq!(
        (after.status, after.json["Code"].as_str()),
        (401, Some("InvalidSession"))
    );
}

#[tokio::test]
async fn console_calls_and_failed_sign_ins_are_audited_without_the_secret() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let (failed, _) = sign_in(&server, "guessed-secret").await;
    assert_eq!(
        (failed.status, failed.json["Code"].as_str()),
        (401, Some("SignInFailed"))
    );
    let (_, session) = sign_in(&server, ROOT.secret).await;
    let listed = call(&server, &session.unwrap(), "ListServices").await;
    assert_eq!(listed.status, 200);

    let deadline = Instant::now() + BOUND;
    loop {
        let trail = server.call(ROOT, "LookupEvents", &[]).await;
        let events = trail.data()["Events"].as_array().unwrap().clone();
        let of = |id: &Value| events.iter().find(|e| e["RequestId"] == *id).cloned();
        if let (Some(failed), Some(listed)) =
            (of(&failed.json["RequestId"]), of(&listed.json["RequestId"]))
        {
            assert_eq!(failed["EventName"], "ConsoleSignIn", "{failed}");
            assert_eq!(failed["ResultCode"], "SignInFailed", "{failed}");
            assert_eq!(failed["UserIdentity"]["Verified"], false, "{failed}");
            assert_eq!(failed["UserIdentity"]["AccessKeyId"], ROOT.id, "{failed}");
            assert_eq!(listed["EventName"], "ListServices", "{listed}");
            assert_eq!(listed["UserIdentity"]["Verified"], true, "{listed}");
            let all = trail.json.to_string();
            assert!(
                !all.contains("guessed-secret") && !all.contains(ROOT.secret),
                "{all}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "not in the trail: {events:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!server.stderr_so_far().contains("guessed-secret"));
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_and_a_sign_in_needs_the_console_header() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let body = format!("AccessKeyId={}&AccessKeySecret={}", ROOT.id, ROOT.secret);
    let forged = send(&server, "POST", "/console/session", &[], &body).await;
    assert_eq!(
        (forged.status, forged.json["Code"].as_str()),
        (400, Some("InvalidParameter"))
    );
    for _ in 0..10 {
        let (answer, _) = sign_in(&server, "guess").await;
        assert_eq!(answer.status, 401);
    }
    let (answer, _) = sign_in(&server, ROOT.secret).await;
    assert_eq!(
        (answer.status, answer.json["Code"].as_str()),
        (429, Some("Throttling"))
    );
}

/// Reads `stream` into `seen` until `done(seen)`, within [`BOUND`].
async fn read_until(stream: &mut TcpStream, seen: &mut String, done: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + BOUND;
    let mut buffer = [0; 8192];
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, stream.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("not seen in time:\n{seen}"))
            .unwrap();
        assert!(n > 0, "the stream ended:\n{seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
}

/// The status the last listing in `seen` shows for operation `id`.
fn last_status<'a>(seen: &'a str, id: &str) -> Option<&'a str> {
    let row = &seen[seen.rfind(id)?..];
    let row = &row[..row.find('}')?];
    let status = row.split("\"Status\":\"").nth(1)?;
    status.split('"').next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_updates_opened_on_one_node_show_what_another_node_changed() {
    let cluster = Cluster::new(
        "[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"300ms\"\n",
    )
    .await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    let (_, session) = sign_in(&a, ROOT.secret).await;
    let (cookie, _) = session.unwrap();
    let mut stream = TcpStream::connect(a.host()).await.unwrap();
    let request = format!(
        "GET /console/events?Operation=rename HTTP/1.1\r\nhost: {}\r\ncookie: {cookie}\r\n\r\n",
        a.host()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, |s| s.contains("event: data")).await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("content-type: text/event-stream"), "{seen}");

    let attributes = json!({"instanceId": RUNNING_INSTANCE, "instance_name": "live"});
    let id = b.submit("rename", &attributes).await;
    read_until(&mut stream, &mut seen, |s| {
        last_status(s, &id) == Some("SUCCESS")
    })
    .await;

    // Another site's page cannot open one with this browser's cookie.
    let refused = send(
        &a,
        "GET",
        "/console/events",
        &[("cookie", &cookie), ("sec-fetch-site", "cross-site")],
        "",
    )
    .await;
    assert_eq!(
        (refused.status, refused.json["Code"].as_str()),
        (400, Some("InvalidParameter"))
    );
}

#[tokio::test]
async fn a_graceful_stop_ends_the_live_updates_instead_of_waiting_for_them() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let (_, session) = sign_in(&server, ROOT.secret).await;
    let (cookie, _) = session.unwrap();
    let mut stream = TcpStream::connect(server.host()).await.unwrap();
    let request = format!(
        "GET /console/events HTTP/1.1\r\nhost: {}\r\ncookie: {cookie}\r\n\r\n",
        server.host()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, |s| s.contains("event: data")).await;

    let (status, took, _) = server.stop("TERM").await;
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(5), "the stop waited {took:?}");
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(BOUND, stream.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the stream is still open");
}
