//! Webhooks end to end: a receiver on loopback that verifies every signature answers 500,
//! then stops answering (the attempts time out), while the node is killed with SIGKILL; the
//! node restarts on the same database (or, on PostgreSQL, another node carries on) and the
//! receiver comes back: every event of every acknowledged operation arrives, signed, in its
//! operation's trace, in order per operation, and ListNotificationDeliveries, `bpops
//! deliveries` and /metrics show what happened. On the test clock, a delivery failing past
//! its `max_age` expires.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cli::{bpops, stdout};
use crate::common::{ROOT, RUNNING_INSTANCE, Server, TestDir, add_tags};
use crate::traces::parts;
use crate::waiting::scrape;

const SECRET: &str = "receiver-shared-secret";
const OPERATIONS: usize = 5;
/// Far above what anything here needs (a killed node's delivery lease is the attempt's timeout
/// plus 10 s), yet bounded.
const WAIT: Duration = Duration::from_secs(60);

/// How the receiver answers, set by the test as it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `500` to everything.
    Fail,
    /// Reads the request and never answers.
    Hang,
    /// `204`.
    Accept,
}

/// One request the receiver read.
#[derive(Clone, Debug)]
struct Received {
    key: String,
    traceparent: Option<String>,
    body: Value,
    answered: Mode,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    bad_signatures: usize,
}

struct Receiver {
    url: String,
    mode: Arc<Mutex<Mode>>,
    log: Arc<Mutex<Log>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/bpops", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(Mode::Fail));
        let log = Arc::new(Mutex::new(Log::default()));
        let (m, l) = (Arc::clone(&mode), Arc::clone(&log));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&m), Arc::clone(&l)));
            }
        });
        Receiver { url, mode, log }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    /// Waits until `done` holds for what was received.
    async fn until(&self, what: &str, done: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(&self.received()) {
            assert!(Instant::now() < deadline, "the receiver never saw {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Reads one HTTP/1.1 request, checks its signature, and answers as the mode says.
async fn serve(mut stream: TcpStream, mode: Arc<Mutex<Mode>>, log: Arc<Mutex<Log>>) {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        bytes.extend_from_slice(&chunk[..n]);
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&bytes[..header_end]).to_string();
    let header = |name: &str| {
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length").unwrap().parse().unwrap();
    while bytes.len() < header_end + length {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    let body = &bytes[header_end..header_end + length];
    let timestamp: u64 = header("x-bpops-timestamp").unwrap().parse().unwrap();
    let signed = bpops_executors::verify_signature(
        SECRET,
        timestamp,
        body,
        &header("x-bpops-signature").unwrap_or_default(),
    );
    let answered = *mode.lock().unwrap();
    {
        let mut log = log.lock().unwrap();
        if !signed {
            log.bad_signatures += 1;
        }
        log.received.push(Received {
            key: header("idempotency-key").unwrap(),
            traceparent: header("traceparent"),
            body: serde_json::from_slice(body).unwrap(),
            answered,
        });
    }
    let answer: &[u8] = match answered {
        Mode::Fail => b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndown",
        Mode::Accept => b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n",
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
    };
    let _ = stream.write_all(answer).await;
}

/// Waits until every event of `ids` (of kinds `expected`) was accepted by the receiver, and
/// checks them: all signed, each in its operation's trace, in order per operation (the
/// first receipt of each delivery id, as a receiver deduplicating by it would see them).
async fn delivered_in_order(
    receiver: &Receiver,
    ids: &[String],
    traces: &HashMap<String, String>,
    expected: &[&str],
) {
    receiver
        .until("every event delivered", |r| {
            ids.iter().all(|id| {
                expected.iter().all(|kind| {
                    r.iter().any(|x| {
                        x.answered == Mode::Accept
                            && x.body["notification"] == "all"
                            && x.body["operation_id"] == id.as_str()
                            && x.body["event"]["kind"] == *kind
                    })
                })
            })
        })
        .await;

    let received = receiver.received();
    assert_eq!(receiver.log.lock().unwrap().bad_signatures, 0);
    // In order per operation: the first delivery of each key, as accepted.
    let mut firsts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen_keys = std::collections::HashSet::new();
    for r in received.iter().filter(|r| r.answered == Mode::Accept) {
        if r.body["notification"] != "all" || !seen_keys.insert(r.key.clone()) {
            continue;
        }
        let id = r.body["operation_id"].as_str().unwrap().to_owned();
        let (trace, ..) = parts(r.traceparent.as_deref().expect("a traceparent"));
        assert_eq!(trace, traces[&id], "a delivery is in its operation's trace");
        firsts
            .entry(id)
            .or_default()
            .push(r.body["event"]["kind"].as_str().unwrap().to_owned());
    }
    for id in ids {
        assert_eq!(firsts[id], expected, "{id}: in order, each once");
    }
}

/// Waits until no delivery is pending: a receiver has an answer before its node records it.
async fn all_settled(server: &Server) {
    let deadline = Instant::now() + WAIT;
    while !deliveries(server, &[("Status", "pending")])
        .await
        .is_empty()
    {
        assert!(Instant::now() < deadline, "deliveries stay pending");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two webhooks on `url`: `all`, quick to time out and retry, and `failures-only`.
fn hooks(url: &str) -> String {
    format!(
        r#"
[[notifications]]
name = "all"
url = "{url}"
secret = "{SECRET}"
timeout = "300ms"
backoff = "100ms"

[[notifications]]
name = "failures-only"
url = "{url}"
secret = "{SECRET}"
statuses = ["FAILURE"]
"#
    )
}

fn config(dir: &TestDir, url: &str) -> std::path::PathBuf {
    dir.config(&hooks(url))
}

/// The trace id of each operation, from its history.
async fn trace_ids(server: &Server, ids: &[String]) -> HashMap<String, String> {
    let mut traces = HashMap::new();
    for id in ids {
        let reply = server
            .call(ROOT, "ListExecuteOperationEvents", &[("OperationId", id)])
            .await;
        let trace = reply.data()["Events"][0]["TraceId"].as_str().unwrap();
        traces.insert(id.clone(), trace.to_owned());
    }
    traces
}

/// Every page of ListNotificationDeliveries with `params`.
async fn deliveries(server: &Server, params: &[(&str, &str)]) -> Vec<Value> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut page_params = params.to_vec();
        if let Some(token) = &token {
            page_params.push(("NextToken", token));
        }
        let reply = server
            .call(ROOT, "ListNotificationDeliveries", &page_params)
            .await;
        reply.assert_ok();
        all.extend(reply.data()["Deliveries"].as_array().unwrap().clone());
        match reply.data()["NextToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return all,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_through_failures_timeouts_and_kill_9() {
    let receiver = Receiver::start().await;
    let dir = TestDir::new();
    let config = config(&dir, &receiver.url);
    let server = dir.serve(&config).await;
    let mut ids = Vec::new();
    for n in 0..OPERATIONS {
        let tags = json!({ format!("k{n}"): "v" });
        ids.push(
            server
                .submit("addTags", &add_tags(RUNNING_INSTANCE, tags))
                .await,
        );
    }
    let traces = trace_ids(&server, &ids).await;

    // Down: every first attempt is answered 500.
    receiver
        .until("a first attempt of each operation", |r| {
            ids.iter()
                .all(|id| r.iter().any(|x| x.body["operation_id"] == id.as_str()))
        })
        .await;
    // Then silent: attempts time out. Once one has, the node is killed mid-attempt.
    receiver.set(Mode::Hang);
    let deadline = Instant::now() + WAIT;
    loop {
        let timed_out = deliveries(&server, &[]).await.iter().any(|d| {
            d["AttemptLog"].as_array().unwrap().iter().any(|a| {
                a["Error"]
                    .as_str()
                    .is_some_and(|e| e.contains("no answer within"))
            })
        });
        if timed_out {
            break;
        }
        assert!(Instant::now() < deadline, "no attempt timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let hanging = receiver.received().len();
    receiver
        .until("an attempt in flight at the kill", |r| {
            r[hanging..].iter().any(|x| x.answered == Mode::Hang)
        })
        .await;
    server.kill().await;
    assert!(
        !receiver
            .received()
            .iter()
            .any(|r| r.answered == Mode::Accept),
        "nothing was delivered before the kill"
    );

    // Back: the receiver answers and the restarted node delivers everything.
    receiver.set(Mode::Accept);
    let server = dir.serve(&config).await;
    let expected = ["submitted", "finished"];
    delivered_in_order(&receiver, &ids, &traces, &expected).await;
    all_settled(&server).await;
    let received = receiver.received();
    // A failure-only webhook wanted none of these successes.
    assert!(received.iter().all(|r| r.body["notification"] == "all"));

    // What an operator finds: each delivery, delivered, with its failed attempts.
    let shown = deliveries(&server, &[("Status", "delivered"), ("MaxResults", "3")]).await;
    assert_eq!(shown.len(), OPERATIONS * expected.len());
    let errors: Vec<String> = shown
        .iter()
        .flat_map(|d| d["AttemptLog"].as_array().unwrap().clone())
        .filter_map(|a| a["Error"].as_str().map(str::to_owned))
        .collect();
    assert!(errors.iter().any(|e| e == "status 500"), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("no answer within")),
        "{errors:?}"
    );
    let one = deliveries(&server, &[("OperationId", &ids[0])]).await;
    assert_eq!(one.len(), expected.len());
    assert!(
        deliveries(&server, &[("Status", "pending")])
            .await
            .is_empty()
    );
    let table = stdout(&bpops(&server, &["deliveries", "--operation", &ids[0]]).await);
    assert!(
        table.contains("submitted") && table.contains("delivered"),
        "{table}"
    );
    let metrics = scrape(&server).await;
    assert!(
        metrics.contains("bpops_webhook_deliveries_pending 0"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"bpops_webhook_deliveries_total{notification="all",outcome="delivered"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn another_account_sees_none_of_the_deliveries() {
    let receiver = Receiver::start().await;
    receiver.set(Mode::Accept);
    let dir = TestDir::new();
    let server = dir.serve(&config(&dir, &receiver.url)).await;
    let id = server
        .submit("addTags", &add_tags(RUNNING_INSTANCE, json!({"k": "v"})))
        .await;
    receiver.until("the deliveries", |r| r.len() >= 2).await;
    assert_eq!(deliveries(&server, &[]).await.len(), 2);
    let other = crate::common::OTHER_ROOT;
    let reply = server.call(other, "ListNotificationDeliveries", &[]).await;
    reply.assert_ok();
    assert_eq!(reply.data()["Deliveries"], json!([]));
    server
        .call(other, "ListNotificationDeliveries", &[("OperationId", &id)])
        .await
        .assert_error(404, "InvalidOperationId.NotFound");
    server
        .call(ROOT, "ListNotificationDeliveries", &[("Status", "lost")])
        .await
        .assert_error(400, "InvalidParameter");
}

/// On the test clock: a delivery still failing past `max_age` is given up, with the
/// deliveries behind it, and stays visible and counted.
#[tokio::test]
async fn a_delivery_failing_past_max_age_expires_visibly() {
    let receiver = Receiver::start().await;
    let dir = TestDir::new();
    let config = dir.config(&format!(
        "[testing]\nclock = \"manual\"\n\n[[notifications]]\nname = \"all\"\nurl = \"{}\"\n\
         secret = \"{SECRET}\"\nmax_age = \"1h\"\nbackoff = \"10m\"\n",
        receiver.url
    ));
    let server = dir.serve(&config).await;
    let id = server
        .submit("addTags", &add_tags(RUNNING_INSTANCE, json!({"k": "v"})))
        .await;
    receiver.until("the first attempt", |r| !r.is_empty()).await;
    server
        .call(ROOT, "AdvanceClock", &[("Duration", "2h")])
        .await
        .assert_ok();
    let deadline = Instant::now() + WAIT;
    let expired = loop {
        // N.B. the operation itself has expired by now (an hour's retention): its deliveries
        // outlive it, listed by account.
        let expired = deliveries(&server, &[("Status", "expired")]).await;
        if expired.len() == 2 {
            break expired;
        }
        assert!(Instant::now() < deadline, "{expired:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(expired.iter().all(|d| d["OperationId"] == id.as_str()));
    let log = |d: &Value| d["AttemptLog"].as_array().unwrap().clone();
    let (first, behind) = (log(&expired[0]), log(&expired[1]));
    assert_eq!(
        (first[0]["HttpStatus"].as_u64(), first[0]["Error"].as_str()),
        (Some(500), Some("status 500")),
        "{expired:?}"
    );
    let gave_up = |record: &Value| {
        record["HttpStatus"].is_null()
            && record["Error"]
                .as_str()
                .is_some_and(|e| e.contains("not delivered within max_age"))
    };
    assert!(
        first.len() == 2 && gave_up(&first[1]) && behind.len() == 1 && gave_up(&behind[0]),
        "given up without a request, and the delivery behind it too: {expired:?}"
    );
    assert_eq!(receiver.received().len(), 1, "nothing is sent past max_age");
    let metrics = scrape(&server).await;
    assert!(
        metrics
            .contains(r#"bpops_webhook_deliveries_total{notification="all",outcome="expired"} 2"#),
        "{metrics}"
    );
}

/// Two nodes on PostgreSQL: the node that stored the deliveries is killed while its
/// receiver is down; the other delivers every one, in order, once the receiver is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_delivers_what_a_killed_node_stored() {
    let receiver = Receiver::start().await;
    let cluster = crate::nodes::Cluster::new(&hooks(&receiver.url)).await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    let mut ids = Vec::new();
    for n in 0..OPERATIONS {
        let tags = json!({ format!("k{n}"): "v" });
        ids.push(a.submit("addTags", &add_tags(RUNNING_INSTANCE, tags)).await);
    }
    let traces = trace_ids(&b, &ids).await;
    receiver
        .until("a first attempt of each operation", |r| {
            ids.iter()
                .all(|id| r.iter().any(|x| x.body["operation_id"] == id.as_str()))
        })
        .await;
    a.kill().await;
    receiver.set(Mode::Accept);
    delivered_in_order(&receiver, &ids, &traces, &["submitted", "finished"]).await;
    all_settled(&b).await;
    assert_eq!(
        deliveries(&b, &[("Status", "delivered")]).await.len(),
        2 * OPERATIONS
    );
}
