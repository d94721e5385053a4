//! The hardened request path, in process: `serve_on` on `127.0.0.1:0` over an SQLite store,
//! with limits set small so that each test is quick. Every test pushes one limit and then
//! shows that other clients are still served and that an operation submitted before is
//! still there, finished: the limit cost the attacker, not anyone else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bpops_api::{App, Settings};
use bpops_catalog::Catalog;
use bpops_engine::{Emulation, Engine};
use bpops_iam::{AccessKey, Directory, Principal, SecretString};
use bpops_protocol::API_VERSION;
use bpops_protocol::request::{Acs3Request, SignedRequest};
use bpops_store::{AccountId, Application, Resource, ResourceKey, Store};
use bpops_store_sqlite::SqliteStore;
use bpops_time::{Clock, ManualClock, SystemClock, Timestamp};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const ACCOUNT: &str = "1001";
const APP: &str = "APP";
const ROOT: (&str, &str) = ("LTAIroot", "root-secret");
const FLOODER: (&str, &str) = ("LTAIflooder", "flooder-secret");
/// How long any single exchange in these tests may take.
const PATIENCE: Duration = Duration::from_secs(10);

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    _engine_tasks: tokio::task::JoinSet<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start(settings: Settings, emulation: HashMap<(String, String), Emulation>) -> Server {
    start_with_clock(settings, emulation, Arc::new(SystemClock)).await
}

async fn start_with_clock(
    settings: Settings,
    emulation: HashMap<(String, String), Emulation>,
    clock: Arc<dyn Clock>,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("bpops.db")).unwrap());
    let instance = |id: &str| Resource {
        key: ResourceKey {
            account: AccountId::new(ACCOUNT),
            service: "ecs".into(),
            id: id.into(),
        },
        application: APP.into(),
        properties: json!({"instance_name": "x", "instance_type": "ecs.g7.large",
                           "status": "Running", "region_id": "cn-hangzhou"})
        .as_object()
        .unwrap()
        .clone(),
    };
    let app = Application::declared(AccountId::new(ACCOUNT), APP, None, Timestamp::EPOCH);
    store.seed_applications(&[app]).await.unwrap();
    store
        .seed_resources(&[instance("i-1"), instance("i-2")])
        .await
        .unwrap();
    let engine_settings = bpops_engine::Settings {
        emulation,
        fallback_poll: Duration::from_millis(50),
        ..bpops_engine::Settings::default()
    };
    let engine = Engine::new(
        Arc::clone(&store),
        Arc::new(Catalog::builtin()),
        engine_settings,
        clock,
    );
    let key = |(id, secret): (&str, &str)| AccessKey {
        id: id.into(),
        secret: SecretString::from(secret),
        principal: Principal::Root {
            account: ACCOUNT.into(),
        },
        active: true,
    };
    let directory = Directory::builder()
        .key(key(ROOT))
        .key(key(FLOODER))
        .build();
    let shutdown = CancellationToken::new();
    let engine_tasks = engine.start(shutdown.clone());
    let app = App::new(engine, store, Arc::new(directory), settings);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(bpops_api::serve_on(listener, app, shutdown.clone()));
    Server {
        addr,
        shutdown,
        _engine_tasks: engine_tasks,
        _dir: dir,
    }
}

/// `action` signed by `key` now, with a fresh nonce.
fn signed(server: &Server, key: (&str, &str), action: &str, params: &[(&str, &str)]) -> Vec<u8> {
    signed_at(
        server,
        key,
        action,
        params,
        SystemClock.now(),
        &fresh_nonce(),
    )
}

/// `action` signed by `key`, dated `date`, with `nonce`.
fn signed_at(
    server: &Server,
    key: (&str, &str),
    action: &str,
    params: &[(&str, &str)],
    date: Timestamp,
    nonce: &str,
) -> Vec<u8> {
    let host = server.addr.to_string();
    let request = Acs3Request {
        host: &host,
        action,
        version: API_VERSION,
        date,
        nonce,
        params,
        query: "",
    }
    .sign(key.0, key.1);
    wire(&request)
}

fn fresh_nonce() -> String {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).unwrap();
    nonce.iter().map(|b| format!("{b:02x}")).collect()
}

fn wire(request: &SignedRequest) -> Vec<u8> {
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        request.body.len()
    ));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&request.body);
    bytes
}

/// Writes `bytes` on a fresh connection and reads the whole answer: status and JSON body
/// (`Null` when the body is not JSON, as hyper's own 431).
async fn exchange(server: &Server, bytes: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_answer(&mut stream).await
}

async fn read_answer(stream: &mut TcpStream) -> (u16, Value) {
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut received))
        .await
        .expect("the server answers in time")
        .ok();
    parse_answer(&received)
}

/// The status and JSON body of an answer read to its end.
fn parse_answer(received: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(received);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn call(server: &Server, action: &str, params: &[(&str, &str)]) -> (u16, Value) {
    exchange(server, &signed(server, ROOT, action, params)).await
}

/// Submits a rename of `instance` and returns its OperationId.
async fn submit(server: &Server, instance: &str, name: &str) -> String {
    let attributes = json!({"instanceId": instance, "instance_name": name}).to_string();
    let (status, body) = call(
        server,
        "ExecuteOperationASync",
        &[
            ("ServiceType", "ecs"),
            ("Operation", "rename"),
            ("ApplicationId", APP),
            ("Attributes", &attributes),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["Data"].as_str().unwrap().to_owned()
}

/// Polls until the operation is final and asserts it succeeded.
async fn assert_succeeds(server: &Server, id: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, body) =
            call(server, "GetExecuteOperationResult", &[("OperationId", id)]).await;
        assert_eq!(status, 200, "{body}");
        match body["Data"]["Status"].as_str() {
            Some("SUCCESS") => return,
            Some("INIT" | "RUNNING") if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => panic!("operation {id}: {body}"),
        }
    }
}

/// Others are served: a listing and a fresh operation both go through, and `earlier` (an
/// operation submitted before the abuse) is still there and finished.
async fn others_are_served(server: &Server, earlier: &str) {
    let (status, body) = call(server, "ListServices", &[]).await;
    assert_eq!(status, 200, "{body}");
    let fresh = submit(server, "i-2", "after").await;
    assert_succeeds(server, &fresh).await;
    assert_succeeds(server, earlier).await;
}

fn small(settings: impl FnOnce(&mut Settings)) -> Settings {
    let mut s = Settings::default();
    settings(&mut s);
    s
}

/// Reads until the server closes the connection; how long that took.
async fn time_to_close(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept a stalled connection open"),
        }
    }
}

#[tokio::test]
async fn a_client_that_stalls_in_its_headers_or_sends_nothing_is_cut_off() {
    let server = start(
        small(|s| s.header_read_timeout = Duration::from_millis(300)),
        HashMap::new(),
    )
    .await;
    let earlier = submit(&server, "i-1", "before").await;
    let mut stalled = Vec::new();
    for n in 0..8 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        if n % 2 == 0 {
            stream
                .write_all(b"POST / HTTP/1.1\r\nhost: x\r\nx-acs-action: ListSer")
                .await
                .unwrap();
        }
        stalled.push(stream);
    }
    others_are_served(&server, &earlier).await;
    for stream in &mut stalled {
        let waited = time_to_close(stream).await;
        assert!(waited < Duration::from_secs(3), "closed after {waited:?}");
    }
    others_are_served(&server, &earlier).await;
}

#[tokio::test]
async fn a_client_that_stalls_in_its_body_gets_request_timeout() {
    let server = start(
        small(|s| s.body_read_timeout = Duration::from_millis(300)),
        HashMap::new(),
    )
    .await;
    let earlier = submit(&server, "i-1", "before").await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
              content-length: 1000\r\n\r\nServiceType=ecs&",
        )
        .await
        .unwrap();
    others_are_served(&server, &earlier).await;
    let (status, body) = read_answer(&mut stream).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (408, Some("RequestTimeout")),
        "{body}"
    );
    others_are_served(&server, &earlier).await;
}

#[tokio::test]
async fn a_request_past_the_overall_deadline_is_answered_and_its_operation_kept() {
    // Only a test sets the deadline below the sync wait: here the slow part is the server's.
    let emulation = HashMap::from([(
        ("ecs".to_owned(), "rename".to_owned()),
        Emulation {
            latency: Duration::from_millis(800),
            failure_rate: 0.0,
        },
    )]);
    let server = start(
        small(|s| {
            s.sync_wait = Duration::from_secs(5);
            s.request_timeout = Duration::from_millis(300);
        }),
        emulation,
    )
    .await;
    let attributes = json!({"instanceId": "i-1", "instance_name": "slow"}).to_string();
    let params = [
        ("ServiceType", "ecs"),
        ("Operation", "rename"),
        ("ApplicationId", APP),
        ("Attributes", attributes.as_str()),
        ("ClientToken", "deadline-token"),
    ];
    let started = Instant::now();
    let (status, body) = call(&server, "ExecuteOperationSync", &params).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (503, Some("ServiceUnavailable")),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // Retried with its ClientToken, the request finds the operation it had started.
    let (status, body) = call(&server, "ExecuteOperationASync", &params).await;
    assert_eq!(status, 200, "{body}");
    let id = body["Data"].as_str().unwrap().to_owned();
    assert_succeeds(&server, &id).await;
}

#[tokio::test]
async fn too_many_or_too_large_headers_are_refused_before_any_parsing() {
    let server = start(Settings::default(), HashMap::new()).await;
    let earlier = submit(&server, "i-1", "before").await;
    let mut many = String::from("POST / HTTP/1.1\r\nhost: x\r\n");
    for n in 0..100 {
        many.push_str(&format!("x-filler-{n}: y\r\n"));
    }
    many.push_str("connection: close\r\n\r\n");
    let (status, _) = exchange(&server, many.as_bytes()).await;
    assert_eq!(status, 431);

    let large = format!(
        "POST / HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\nconnection: close\r\n\r\n",
        "y".repeat(40 * 1024)
    );
    let (status, _) = exchange(&server, large.as_bytes()).await;
    assert_eq!(status, 431);
    others_are_served(&server, &earlier).await;
}

#[tokio::test]
async fn too_many_or_too_long_parameters_are_invalid() {
    let server = start(Settings::default(), HashMap::new()).await;
    let earlier = submit(&server, "i-1", "before").await;
    let names: Vec<String> = (0..150).map(|n| format!("P{n}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    let long_value = "v".repeat(200 * 1024);
    let long_name = "K".repeat(1000);
    for params in [
        many,
        vec![("Note", long_value.as_str())],
        vec![(long_name.as_str(), "v")],
    ] {
        let (status, body) = call(&server, "ListServices", &params).await;
        assert_eq!(
            (status, body["Code"].as_str()),
            (400, Some("InvalidParameter")),
            "{body}"
        );
        assert!(body["Message"].as_str().unwrap().len() < 300, "{body}");
    }
    others_are_served(&server, &earlier).await;
}

#[tokio::test]
async fn attributes_over_64_kib_are_invalid_and_nothing_is_stored() {
    let server = start(Settings::default(), HashMap::new()).await;
    let earlier = submit(&server, "i-1", "before").await;
    let name = "n".repeat(64 * 1024);
    let attributes = json!({"instanceId": "i-2", "instance_name": name}).to_string();
    let (status, body) = call(
        &server,
        "ExecuteOperationASync",
        &[
            ("ServiceType", "ecs"),
            ("Operation", "rename"),
            ("Attributes", &attributes),
            ("ClientToken", "too-big"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidParameter")),
        "{body}"
    );
    assert!(
        body["Message"].as_str().unwrap().contains("Attributes"),
        "{body}"
    );
    // The token was never used: the same token with other parameters is a fresh operation.
    let small = json!({"instanceId": "i-2", "instance_name": "fits"}).to_string();
    let (status, body) = call(
        &server,
        "ExecuteOperationASync",
        &[
            ("ServiceType", "ecs"),
            ("Operation", "rename"),
            ("Attributes", &small),
            ("ClientToken", "too-big"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    others_are_served(&server, &earlier).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_unread() {
    let server = start(
        small(|s| {
            s.max_body = 4096;
            s.linger_time = Duration::from_millis(300);
        }),
        HashMap::new(),
    )
    .await;
    let earlier = submit(&server, "i-1", "before").await;
    // Only the head is sent: the answer comes without the server waiting for the body.
    assert_too_large(&exchange(&server, &oversized_head(5_000_000)).await);
    others_are_served(&server, &earlier).await;
}

/// A request head declaring a form body of `length` bytes.
fn oversized_head(length: usize) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: {length}\r\nconnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// Issue 11 item 11: a client that writes its whole body before reading (as the Python SDKs
/// do) gets the 413, not a reset connection, whether the body's length is declared or not.
#[tokio::test]
async fn a_client_that_sends_its_whole_oversized_body_before_reading_gets_the_answer() {
    let server = start(
        small(|s| {
            s.max_body = 64 * 1024;
            s.linger_bytes = 64 * 1024 * 1024;
        }),
        HashMap::new(),
    )
    .await;
    let earlier = submit(&server, "i-1", "before").await;
    // More than the sockets' buffers hold, so that the server must read it for the client
    // to finish writing.
    let body = vec![b'x'; 32 * 1024 * 1024];
    let declared = [oversized_head(body.len()), body.clone()].concat();
    let mut chunked =
        b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            .to_vec();
    for chunk in body.chunks(256 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    for request in [declared, chunked] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        tokio::time::timeout(PATIENCE, stream.write_all(&request))
            .await
            .expect("the server reads what the client sends")
            .expect("the whole body is written");
        assert_too_large(&read_answer(&mut stream).await);
    }
    others_are_served(&server, &earlier).await;
}

/// Sends an endless body (the head declares a huge one) in `chunk`s, one every `every`, and
/// reads the answer meanwhile. Returns the answer, how much was written and how long it took
/// until the server cut the connection off.
async fn send_endless_body(
    server: &Server,
    chunk: usize,
    every: Duration,
) -> ((u16, Value), usize, Duration) {
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut reading, mut writing) = stream.into_split();
    let started = Instant::now();
    let answer = tokio::spawn(async move {
        let mut received = Vec::new();
        // The connection ends with a reset when unread bytes are left: what came before counts.
        let _ = reading.read_to_end(&mut received).await;
        received
    });
    writing.write_all(&oversized_head(1 << 40)).await.unwrap();
    let data = vec![b'x'; chunk];
    let mut written = 0;
    let cut_off = loop {
        match tokio::time::timeout(PATIENCE, writing.write_all(&data)).await {
            Ok(Ok(())) => written += chunk,
            Ok(Err(_)) => break started.elapsed(),
            Err(_) => panic!("the server stopped reading but kept the connection"),
        }
        assert!(
            started.elapsed() < PATIENCE,
            "still reading after {PATIENCE:?}"
        );
        tokio::time::sleep(every).await;
    };
    let answer = parse_answer(&answer.await.unwrap());
    (answer, written, cut_off)
}

fn assert_too_large((status, body): &(u16, Value)) {
    assert_eq!(
        (*status, body["Code"].as_str()),
        (413, Some("RequestEntityTooLarge")),
        "{body}"
    );
}

/// Sends an endless body to a server with `settings`: it is answered 413 and cut off, and
/// others are still served. Returns how much was written and when the cut came.
async fn endless_body_is_cut_off(
    settings: Settings,
    chunk: usize,
    every: Duration,
) -> (usize, Duration) {
    let server = start(settings, HashMap::new()).await;
    let earlier = submit(&server, "i-1", "before").await;
    let (answer, written, cut_off) = send_endless_body(&server, chunk, every).await;
    assert_too_large(&answer);
    eprintln!("cut off after {written} bytes written, {cut_off:?}");
    others_are_served(&server, &earlier).await;
    (written, cut_off)
}

#[tokio::test]
async fn an_endless_body_is_discarded_only_up_to_the_byte_bound() {
    let settings = small(|s| {
        s.max_body = 4096;
        s.linger_bytes = 1024 * 1024;
        s.linger_time = Duration::from_secs(60);
    });
    let (written, _) = endless_body_is_cut_off(settings, 64 * 1024, Duration::ZERO).await;
    // Beyond the bound, only what the two sockets' buffers hold was accepted.
    assert!(written < 16 * 1024 * 1024, "{written} bytes accepted");
}

#[tokio::test]
async fn an_endless_body_is_discarded_only_up_to_the_time_bound() {
    let settings = small(|s| {
        s.max_body = 4096;
        s.linger_time = Duration::from_millis(500);
    });
    let (_, cut_off) = endless_body_is_cut_off(settings, 1024, Duration::from_millis(10)).await;
    assert!(
        cut_off >= Duration::from_millis(500) && cut_off < Duration::from_secs(3),
        "cut off after {cut_off:?}"
    );
}

#[tokio::test]
async fn a_flood_of_unique_nonces_throttles_only_the_flooding_key() {
    let server = start(small(|s| s.max_nonces_per_key = 40), HashMap::new()).await;
    let earlier = submit(&server, "i-1", "before").await;
    let mut throttled = 0;
    for _ in 0..60 {
        let (status, body) =
            exchange(&server, &signed(&server, FLOODER, "ListServices", &[])).await;
        match (status, body["Code"].as_str()) {
            (200, _) => {}
            (429, Some("Throttling")) => throttled += 1,
            other => panic!("{other:?}: {body}"),
        }
    }
    assert_eq!(throttled, 20);
    others_are_served(&server, &earlier).await;
}

#[tokio::test]
async fn an_over_long_signature_nonce_is_invalid() {
    let server = start(Settings::default(), HashMap::new()).await;
    let request = signed_at(
        &server,
        ROOT,
        "ListServices",
        &[],
        SystemClock.now(),
        &"n".repeat(129),
    );
    let (status, body) = exchange(&server, &request).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidParameter")),
        "{body}"
    );
}

#[tokio::test]
async fn past_the_connection_cap_clients_wait_for_a_free_slot_and_are_served() {
    let server = start(
        small(|s| {
            s.max_connections = 2;
            s.header_read_timeout = Duration::from_millis(500);
        }),
        HashMap::new(),
    )
    .await;
    let earlier = submit(&server, "i-1", "before").await;
    // Two idle connections take both slots until their header timeout frees them.
    let _idle = [
        TcpStream::connect(server.addr).await.unwrap(),
        TcpStream::connect(server.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    others_are_served(&server, &earlier).await;
    assert!(started.elapsed() < PATIENCE);
}

/// The clock-skew window of the replay property: short, so that cases move the clock little.
const SKEW_MS: i64 = 2_000;

/// A request is sent, then the very same bytes again `gap` ms later, the second copy `edge` ms
/// from the last millisecond of the request's window, on a clock that only the test moves.
/// Whatever the two moments, a copy is accepted exactly when its timestamp is in the window
/// and no copy was accepted before: never twice, in particular not at the window's edge.
#[test]
fn no_replay_is_accepted_at_any_moment_around_the_window() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let settings = small(|s| s.clock_skew = Duration::from_millis(SKEW_MS.unsigned_abs()));
    let server = runtime.block_on(start_with_clock(settings, HashMap::new(), clock.clone()));
    // Both moments near the edge more often than a uniform draw would put them there.
    let edge = prop_oneof![-2i64..=2, -1_500i64..=1_500];
    let gap = prop_oneof![0i64..=2, 0..=2 * SKEW_MS + 2_000];
    let mut runner = TestRunner::new(Config::with_cases(256));
    runner
        .run(&(edge, gap), |(edge, gap)| {
            // The window's last millisecond `end` is `timestamp + skew`, on a whole second
            // (timestamps are), and the first copy is sent no earlier than the clock shows.
            let clock_now = clock.now().as_millis();
            let end = (clock_now - edge + gap + 999) / 1_000 * 1_000;
            let (first, second) = (end + edge - gap, end + edge);
            let timestamp = end - SKEW_MS;
            let in_window = |now: i64| timestamp - SKEW_MS <= now && now <= end;
            let request = signed_at(
                &server,
                ROOT,
                "ListServices",
                &[],
                Timestamp::from_millis(timestamp),
                &fresh_nonce(),
            );
            let mut accepted = Vec::new();
            for now in [first, second] {
                clock.advance(Timestamp::from_millis(now).duration_since(clock.now()));
                let (status, body) = runtime.block_on(exchange(&server, &request));
                match (status, body["Code"].as_str()) {
                    (200, _) => accepted.push(now),
                    (400, Some("InvalidTimeStamp.Expired" | "SignatureNonceUsed")) => {}
                    other => panic!("{other:?}: {body}"),
                }
            }
            let expected: Vec<i64> = [first, second]
                .into_iter()
                .filter(|now| in_window(*now))
                .take(1)
                .collect();
            prop_assert_eq!(accepted, expected, "window ends at {}", end);
            Ok(())
        })
        .unwrap();
}
