//! product.md "Operations and executors": an acknowledged operation is durable, and "a crash
//! never applies an effect twice or loses it". The server is killed with SIGKILL while
//! submissions are in flight and operations are queued and running, then restarted on the
//! same database.
//!
//! Each operation adds one distinct tag to one instance, and an operation's `Message` is the
//! instance's state after it. Operations on one instance run one at a time, so the tag sets
//! their results report must form a chain, each holding one more tag than the one before;
//! a lost, repeated or reordered effect breaks the chain.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use crate::common::{
    Acs3, ROOT, RUNNING_INSTANCE, Server, TestDir, add_tags, arguments, execute_params, is_final,
    operation_id, state,
};

/// Instances seeded for the test, and operations submitted to each: 200 in all.
const INSTANCES: usize = 40;
const OPS_PER_INSTANCE: usize = 5;
/// Submissions in flight at once, so some are mid-request when the kill comes.
const IN_FLIGHT: usize = 16;
/// The server is killed as soon as this many submissions were acknowledged.
const KILL_AFTER_ACKS: usize = 100;

/// How long the restarted server may take to finish everything acknowledged: the store
/// releases the dead process's leases at open, so this is far below the 30 s lease.
const RECOVERY: Duration = Duration::from_secs(10);

/// An acknowledged submission: HTTP 200 with an OperationId.
#[derive(Clone, Debug)]
pub(crate) struct Acked {
    id: String,
    instance: String,
    tag: String,
    value: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_operations_survive_kill_9_and_each_applies_exactly_once() {
    crash_and_recover(RECOVERY).await;
}

/// README "Limits of the request path": a spent signature nonce outlives a restart, graceful
/// or `kill -9`, so a captured submission cannot be replayed to create the operation again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_replayed_after_a_restart_or_kill_9_is_refused() {
    let dir = TestDir::new();
    replayed_after_restarts_is_refused(&dir, &dir.config("")).await;
}

/// Sends a signed submission to a server of `config` and kills it (`kill -9`), then a second
/// one and stops it gracefully (SIGTERM): after each restart, every request sent before is
/// refused, the very same bytes, while a fresh request is served.
pub(crate) async fn replayed_after_restarts_is_refused(dir: &TestDir, config: &Path) {
    let submission = |server: &Server, name: &str| {
        let attributes = json!({"instanceId": RUNNING_INSTANCE, "instance_name": name});
        Acs3::new("ExecuteOperationASync")
            .params(&execute_params("rename", &attributes.to_string()))
            .sign(&server.host(), ROOT)
    };
    let server = dir.serve(config).await;
    let killed = submission(&server, "before-the-kill");
    operation_id(&server.send(&killed).await);
    server.kill().await;

    let server = dir.serve(config).await;
    server
        .send(&killed)
        .await
        .assert_error(400, "SignatureNonceUsed");
    let stopped = submission(&server, "before-the-stop");
    operation_id(&server.send(&stopped).await);
    let (status, _, _) = server.stop("TERM").await;
    assert!(status.success(), "a graceful stop exits cleanly: {status}");

    let server = dir.serve(config).await;
    for request in [&killed, &stopped] {
        server
            .send(request)
            .await
            .assert_error(400, "SignatureNonceUsed");
    }
    server.call(ROOT, "ListServices", &[]).await.assert_ok();
}

/// Submits, kills the server mid-flight, restarts it, and checks that every acknowledged
/// operation finishes `within` the restart, exactly once.
async fn crash_and_recover(within: Duration) {
    let dir = TestDir::new();
    let config = dir.config(&config());

    let server = dir.serve(&config).await;
    let acked = submit_and_kill(server, &[]).await;

    let server = dir.serve(&config).await;
    let restarted = Instant::now();
    let results = wait_all_final(&server, &acked, within).await;
    eprintln!(
        "{} acknowledged operations finished {:?} after the restart",
        acked.len(),
        restarted.elapsed()
    );

    check_exactly_once(&server, &acked, &results).await;
}

/// Every acknowledged operation succeeded, each instance's results form a chain, and the
/// final state holds every acknowledged tag and nothing more.
pub(crate) async fn check_exactly_once(
    server: &Server,
    acked: &[Acked],
    results: &BTreeMap<String, Value>,
) {
    for op in acked {
        let data = &results[&op.id];
        assert_eq!(data["Status"], "SUCCESS", "{op:?}: {data}");
        assert_eq!(
            arguments(data),
            json!({"tagMap": {&op.tag: [&op.instance]}}),
            "{op:?}"
        );
    }
    for instance in instances() {
        check_chain(&instance, acked, results);
    }
    check_final_tags(server, acked).await;
    check_histories(server, acked, results).await;
}

/// Each operation's history agrees with it: submitted first, each claim a new attempt, and
/// one end, last, with the operation's result, whatever node died in between.
async fn check_histories(server: &Server, acked: &[Acked], results: &BTreeMap<String, Value>) {
    for op in acked {
        let reply = server
            .call(
                ROOT,
                "ListExecuteOperationEvents",
                &[("OperationId", op.id.as_str()), ("MaxResults", "100")],
            )
            .await;
        reply.assert_ok();
        let events = reply.data()["Events"].as_array().unwrap().clone();
        let kinds: Vec<&str> = events.iter().map(|e| e["Type"].as_str().unwrap()).collect();
        assert_eq!(kinds.first(), Some(&"Submitted"), "{op:?}: {events:?}");
        assert_eq!(kinds.last(), Some(&"Finished"), "{op:?}: {events:?}");
        assert_eq!(
            kinds.iter().filter(|k| **k == "Finished").count(),
            1,
            "{op:?}: {events:?}"
        );
        let attempts: Vec<u64> = events
            .iter()
            .filter(|e| e["Type"] == "Claimed")
            .map(|e| e["Attempt"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> = (1..=attempts.len() as u64).collect();
        assert_eq!(attempts, expected, "{op:?}: {events:?}");
        let (end, result) = (events.last().unwrap(), &results[&op.id]);
        assert_eq!(
            (&end["Status"], &end["Message"]),
            (&result["Status"], &result["Message"]),
            "{op:?}"
        );
    }
}

/// 40 running instances in the base application; `addTags` takes 200 ms, so most operations
/// are still queued behind their instance's earlier ones when the kill comes.
pub(crate) fn config() -> String {
    let mut text = String::from(
        "[[operations.emulation]]\nservice = \"ecs\"\noperation = \"addTags\"\nlatency = \"200ms\"\n",
    );
    for instance in instances() {
        text.push_str(&format!(
            "\n[[resources]]\napplication = \"APP-WEB\"\nservice = \"ecs\"\nid = \"{instance}\"\n\
             properties = {{ instance_name = \"{instance}\", instance_type = \"ecs.g7.large\", \
             status = \"Running\", region_id = \"cn-hangzhou\" }}\n"
        ));
    }
    text
}

pub(crate) fn instances() -> impl Iterator<Item = String> {
    (0..INSTANCES).map(|n| format!("i-dur{n:02}"))
}

/// Sends every submission round-robin over `victim` and `others` (nodes sharing its
/// database), and kills `victim` with SIGKILL once [`KILL_AFTER_ACKS`] were acknowledged.
/// Returns the acknowledged ones.
pub(crate) async fn submit_and_kill(victim: Server, others: &[&Server]) -> Vec<Acked> {
    let nodes: Vec<&Server> = std::iter::once(&victim)
        .chain(others.iter().copied())
        .collect();
    let burst = Burst::start(&nodes);
    burst.half_acknowledged().await;
    let output = victim.kill().await;
    burst.end(&output.stderr).await
}

/// Every submission of the test, in flight, at most [`IN_FLIGHT`] at a time.
pub(crate) struct Burst {
    acked: Arc<Mutex<Vec<Acked>>>,
    enough: Arc<Notify>,
    tasks: JoinSet<Option<u16>>,
}

impl Burst {
    /// Starts sending every submission, round-robin over `nodes`.
    pub(crate) fn start(nodes: &[&Server]) -> Burst {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let enough = Arc::new(Notify::new());
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        let mut tasks = JoinSet::new();
        // Round-robin over instances, so each instance's operations are spread over the run.
        for round in 0..OPS_PER_INSTANCE {
            for (n, instance) in instances().enumerate() {
                let node = nodes[(round * INSTANCES + n) % nodes.len()];
                let op = Acked {
                    id: String::new(),
                    tag: format!("k{round}-{n:02}"),
                    value: format!("v{round}"),
                    instance,
                };
                let attributes = add_tags(&op.instance, json!({&op.tag: &op.value})).to_string();
                let request = Acs3::new("ExecuteOperationASync")
                    .params(&execute_params("addTags", &attributes))
                    .sign(&node.host(), ROOT);
                let sender = node.sender();
                let (acked, enough, slots) =
                    (Arc::clone(&acked), Arc::clone(&enough), Arc::clone(&slots));
                tasks.spawn(async move {
                    let _slot = slots.acquire_owned().await.expect("never closed");
                    let reply = sender.try_send(&request).await.ok()?;
                    if reply.status != 200 {
                        return Some(reply.status);
                    }
                    let id = operation_id(&reply);
                    let mut acked = acked.lock().expect("lock");
                    acked.push(Acked { id, ..op });
                    if acked.len() == KILL_AFTER_ACKS {
                        enough.notify_one();
                    }
                    Some(200)
                });
            }
        }
        Burst {
            acked,
            enough,
            tasks,
        }
    }

    /// Returns once [`KILL_AFTER_ACKS`] submissions were acknowledged.
    pub(crate) async fn half_acknowledged(&self) {
        tokio::time::timeout(Duration::from_secs(30), self.enough.notified())
            .await
            .expect("the server acknowledges submissions");
    }

    /// Waits for every answer and returns the acknowledged submissions. A submission may be
    /// refused as unavailable or left unanswered, never answered with a server error (the
    /// assertion shows `logs`).
    pub(crate) async fn end(mut self, logs: &str) -> Vec<Acked> {
        let mut refused = BTreeMap::new();
        let mut unanswered = 0;
        while let Some(outcome) = self.tasks.join_next().await {
            match outcome.expect("a submission task panicked") {
                None => unanswered += 1,
                Some(200) => {}
                Some(status) => *refused.entry(status).or_insert(0) += 1,
            }
        }
        let acked = self.acked.lock().expect("lock").clone();
        eprintln!(
            "{} acknowledged; {unanswered} got no answer; refused: {refused:?}",
            acked.len()
        );
        assert!(
            refused.keys().all(|status| *status < 500 || *status == 503),
            "server errors: {refused:?}\nstderr:\n{logs}"
        );
        acked
    }
}

/// Polls every acknowledged id until it is final; each must stay readable throughout.
pub(crate) async fn wait_all_final(
    server: &Server,
    acked: &[Acked],
    within: Duration,
) -> BTreeMap<String, Value> {
    let deadline = Instant::now() + within;
    let mut results = BTreeMap::new();
    loop {
        let mut pending = Vec::new();
        for op in acked {
            if results.contains_key(&op.id) {
                continue;
            }
            let reply = server.result(ROOT, &op.id).await;
            let data = reply.json.get("Data").unwrap_or_else(|| {
                panic!(
                    "acknowledged operation {op:?} is unreadable after the restart: {}",
                    reply.json
                )
            });
            if is_final(data) {
                results.insert(op.id.clone(), data.clone());
            } else {
                pending.push(data["Status"].clone());
            }
        }
        if pending.is_empty() {
            return results;
        }
        assert!(
            Instant::now() < deadline,
            "{} acknowledged operations are not final {within:?} after the restart, e.g. {}",
            pending.len(),
            pending[0]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The tag sets reported by `instance`'s acknowledged operations form a chain in which each
/// operation's own tag first appears in its own result.
pub(crate) fn check_chain(instance: &str, acked: &[Acked], results: &BTreeMap<String, Value>) {
    let mut steps: Vec<(&Acked, Map<String, Value>)> = acked
        .iter()
        .filter(|op| op.instance == instance)
        .map(|op| {
            let after = state(&results[&op.id]);
            let tags = after["tags"].as_object().cloned().unwrap_or_default();
            (op, tags)
        })
        .collect();
    steps.sort_by_key(|(_, tags)| tags.len());
    let mut before = Map::new();
    for (op, tags) in &steps {
        assert_eq!(
            tags.get(&op.tag),
            Some(&Value::from(op.value.as_str())),
            "{op:?} is missing from its own result {tags:?}"
        );
        assert!(
            !before.contains_key(&op.tag),
            "{op:?} was applied before it ran: an earlier result already has it: {before:?}"
        );
        assert!(
            tags.len() > before.len() && before.iter().all(|(k, v)| tags.get(k) == Some(v)),
            "{instance}: results do not form a chain: {before:?} then {tags:?}"
        );
        before = tags.clone();
    }
}

/// One more `addTags` per instance reads the final state: every acknowledged tag is there
/// with its value, and nothing beyond what was ever submitted.
pub(crate) async fn check_final_tags(server: &Server, acked: &[Acked]) {
    let mut probes = Vec::new();
    for instance in instances() {
        let id = server
            .submit("addTags", &add_tags(&instance, json!({"probe": "p"})))
            .await;
        probes.push((instance, id));
    }
    for (instance, id) in probes {
        // Submissions whose answers were lost may still be queued ahead of the probe.
        let data = server.wait_final(ROOT, &id, RECOVERY).await;
        assert_eq!(data["Status"], "SUCCESS", "{instance}: {data}");
        let after = state(&data);
        let tags = after["tags"].as_object().expect("the instance has tags");
        for op in acked.iter().filter(|op| op.instance == instance) {
            assert_eq!(
                tags.get(&op.tag),
                Some(&Value::from(op.value.as_str())),
                "{op:?} is missing from the final state {tags:?}"
            );
        }
        assert!(
            tags.len() <= OPS_PER_INSTANCE + 1,
            "{instance}: more tags than were ever submitted: {tags:?}"
        );
    }
}
