//! product.md: "several `bpops serve` nodes can share one PostgreSQL database". Each test
//! starts real nodes on ephemeral ports against a fresh database of the test server
//! (`BPOPS_TEST_POSTGRES`, by default the local one `.ci/run` starts), dropped afterwards.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bpops_store_postgres::testing::TestDatabase;
use serde_json::json;

use crate::common::{
    Acs3, ROOT, RUNNING_INSTANCE, Reply, Server, TestDir, execute_params, operation_id,
};
use crate::disk_full::{self, readyz};
use crate::durability::{self, Burst};
use crate::shutdown;

/// The base configuration of every integration test, with `{STORAGE}` to fill in.
const BASE_CONFIG: &str = include_str!("base.toml");

/// The lease of these tests: short, so a killed node's operations are taken over soon.
const LEASE: &str = "2s";

/// How long anything here may take: far above what it needs, so a slow machine never
/// fails a test, yet bounded.
const BOUND: Duration = Duration::from_secs(30);

/// Nodes sharing one fresh database.
pub(crate) struct Cluster {
    dir: TestDir,
    config: PathBuf,
    pub(crate) database: TestDatabase,
}

impl Cluster {
    /// A fresh database and a configuration for it, with `extra` tables appended.
    pub(crate) async fn new(extra: &str) -> Cluster {
        let database = TestDatabase::create().await;
        let dir = TestDir::new();
        let text = format!(
            "{}\n[operations]\nlease = \"{LEASE}\"\n{extra}",
            BASE_CONFIG.replace("{STORAGE}", &database.url())
        );
        let config = dir.write("bpops.toml", &text);
        Cluster {
            dir,
            config,
            database,
        }
    }

    /// Starts one more node.
    pub(crate) async fn node(&self) -> Server {
        self.dir.serve(&self.config).await
    }

    /// Starts one more node on its own configuration: the base one with `extra` tables (and
    /// no `[operations]` table of the cluster's).
    async fn node_with(&self, name: &str, extra: &str) -> Server {
        let text = format!(
            "{}\n{extra}",
            BASE_CONFIG.replace("{STORAGE}", &self.database.url())
        );
        self.dir.serve(&self.dir.write(name, &text)).await
    }
}

fn rename(name: &str) -> serde_json::Value {
    json!({"instanceId": RUNNING_INSTANCE, "instance_name": name})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_answers_for_operations_submitted_on_another() {
    let cluster = Cluster::new(
        "[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"50ms\"\n",
    )
    .await;
    let (a, b) = (cluster.node().await, cluster.node().await);

    let id = a.submit("rename", &rename("from-a")).await;
    let data = b.wait_final(ROOT, &id, BOUND).await;
    assert_eq!(data["Status"], "SUCCESS", "{data}");

    // Whichever node runs it, the node that waits is woken by the database: a missed
    // wake-up would answer RUNNING when sync_wait (5 s) is up.
    for n in 0..6 {
        let node = if n % 2 == 0 { &a } else { &b };
        let reply = node
            .execute(
                "ExecuteOperationSync",
                "rename",
                &rename(&format!("sync-{n}")),
            )
            .await;
        assert_eq!(reply.data()["Status"], "SUCCESS", "{}", reply.json);
    }

    // A ClientToken holds across nodes.
    let attributes = rename("tokened").to_string();
    let mut params = execute_params("rename", &attributes).to_vec();
    params.push(("ClientToken", "token-across-nodes"));
    let first = operation_id(&a.call(ROOT, "ExecuteOperationASync", &params).await);
    let second = operation_id(&b.call(ROOT, "ExecuteOperationASync", &params).await);
    assert_eq!(first, second);
}

/// A signed request is good once, whichever nodes it is sent to: the nonce is spent in the
/// shared database, not only in the memory of the node that first saw it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_replayed_to_another_node_is_refused() {
    let cluster = Cluster::new("").await;
    let (a, b) = (cluster.node().await, cluster.node().await);
    let request = Acs3::new("ListServices").sign(&a.host(), ROOT);
    a.send(&request).await.assert_ok();
    b.send(&request)
        .await
        .assert_error(400, "SignatureNonceUsed");
    a.send(&request)
        .await
        .assert_error(400, "SignatureNonceUsed");
}

/// A spent nonce outlives restarts of the node that spent it, graceful or `kill -9`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_replayed_after_a_node_restarts_is_refused() {
    let cluster = Cluster::new("").await;
    durability::replayed_after_restarts_is_refused(&cluster.dir, &cluster.config).await;
}

/// product.md "Operations and executors" across nodes: three nodes, one killed with SIGKILL
/// during a burst; the two others finish its operations once its leases expire, and every
/// emulated effect applies exactly once (see `durability` for how that is checked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_of_a_killed_node_are_finished_by_the_others_exactly_once() {
    let cluster = Cluster::new(&durability::config()).await;
    let victim = cluster.node().await;
    let (b, c) = (cluster.node().await, cluster.node().await);

    let acked = durability::submit_and_kill(victim, &[&b, &c]).await;
    let killed = Instant::now();
    let results = durability::wait_all_final(&b, &acked, BOUND).await;
    eprintln!(
        "{} acknowledged operations final {:?} after the kill",
        acked.len(),
        killed.elapsed()
    );
    durability::check_exactly_once(&c, &acked, &results).await;
}

/// Issue 11 item 9: a node stopped by SIGTERM releases the leases of the operations it could
/// not finish within its grace, so another node resumes them at once, not a minute later
/// when the lease would have ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_a_stopped_node_released_are_resumed_at_once_by_another() {
    let cluster = Cluster::new("").await;
    let lease = "[operations]\nlease = \"60s\"\n";
    let stopping = cluster
        .node_with(
            "stopping.toml",
            &shutdown::config("1s", "60s").replace("[operations]\n", lease),
        )
        .await;
    let id = stopping.submit("rename", &rename("resumed")).await;
    shutdown::wait_running(&stopping, &id).await;
    // Started once the operation is claimed, with no latency: it would finish at once.
    let other = cluster
        .node_with(
            "other.toml",
            &shutdown::config("1s", "0s").replace("[operations]\n", lease),
        )
        .await;

    let (took, _) = shutdown::stop_cleanly(stopping, "TERM").await;
    assert!(took < Duration::from_secs(2), "exited after {took:?}");
    let exited = Instant::now();
    let data = other.wait_final(ROOT, &id, Duration::from_secs(10)).await;
    assert_eq!(data["Status"], "SUCCESS", "{data}");
    eprintln!(
        "resumed by the other node {:?} after the exit",
        exited.elapsed()
    );

    // Its history, read on the node that finished it, tells the same story.
    let reply = other
        .call(
            ROOT,
            "ListExecuteOperationEvents",
            &[("OperationId", id.as_str())],
        )
        .await;
    reply.assert_ok();
    let events = reply.data()["Events"].as_array().unwrap().clone();
    let summary: Vec<(String, serde_json::Value)> = events
        .iter()
        .map(|e| (e["Type"].as_str().unwrap().to_owned(), e["Attempt"].clone()))
        .collect();
    let expected = [
        ("Submitted", json!(null)),
        ("Claimed", json!(1)),
        ("Released", json!(1)),
        ("Claimed", json!(2)),
        ("Finished", json!(null)),
    ]
    .map(|(kind, attempt)| (kind.to_owned(), attempt));
    assert_eq!(summary, expected, "{events:?}");
    assert_ne!(events[1]["Node"], events[3]["Node"], "{events:?}");
    assert_eq!(events[4]["Status"], data["Status"]);
}

/// Issue 11, item 6: connections to the database cut again and again during a burst are
/// never an operation's verdict. Runs that meet a dead connection ask the store again, so
/// every acknowledged operation ends `SUCCESS`, exactly once; a submit that meets one is
/// refused with `ServiceUnavailable`, never a server error (see `Burst::end`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_during_a_burst_fail_no_acknowledged_operation() {
    let cluster = Cluster::new(&durability::config()).await;
    let node = cluster.node().await;

    let burst = Burst::start(&[&node]);
    burst.half_acknowledged().await;
    for _ in 0..CUTS {
        cluster.database.cut_connections().await;
        // Spread over the burst, so cuts meet reads, submits and finishes in flight.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let acked = burst.end(&node.stderr_so_far()).await;

    let results = durability::wait_all_final(&node, &acked, BOUND).await;
    durability::check_exactly_once(&node, &acked, &results).await;
}

/// Issue 11, item 7, on PostgreSQL: while every write fails as on a full disk (SQLSTATE
/// 53100, raised here by triggers on every table), writes are refused with
/// `ServiceUnavailable` saying the storage is full and `/readyz` is not ready, but reads are
/// served; once writes work again, so does the node, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_disk_refuses_writes_keeps_reads_and_recovers_by_itself() {
    let cluster = Cluster::new("").await;
    let node = cluster.node().await;
    let before = node.submit("rename", &rename("before")).await;
    node.wait_final(ROOT, &before, BOUND).await;

    let tables = [
        "operations",
        "resources",
        "signature_nonces",
        "schema_migrations",
    ];
    let mut full = String::from(
        "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
             RAISE EXCEPTION 'could not extend file: No space left on device'
                 USING ERRCODE = 'disk_full';
         END $$;",
    );
    for table in tables {
        full.push_str(&format!(
            "CREATE TRIGGER disk_full BEFORE INSERT OR UPDATE OR DELETE ON {table}
             FOR EACH STATEMENT EXECUTE FUNCTION disk_full();"
        ));
    }
    cluster.database.execute(&full).await;

    disk_full::check_full(&node, &before).await;

    cluster
        .database
        .execute("DROP FUNCTION disk_full() CASCADE")
        .await;
    assert_eq!(readyz(&node).await, (200, json!({"status": "ready"})));
    let after = node.submit("rename", &rename("after")).await;
    assert_eq!(
        node.wait_final(ROOT, &after, BOUND).await["Status"],
        "SUCCESS"
    );
}

/// How many times the connections are cut during the burst.
const CUTS: usize = 10;

/// The database going away makes requests fail with ServiceUnavailable; when it comes back
/// the node serves again by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_is_unavailable_while_the_database_is_away_and_recovers_by_itself() {
    let cluster = Cluster::new("").await;
    let node = cluster.node().await;
    let before = node.submit("rename", &rename("before")).await;
    node.wait_final(ROOT, &before, BOUND).await;

    cluster.database.set_reachable(false).await;
    let refused = retry_until(|| node.result(ROOT, &before), |r| r.status != 200).await;
    refused.assert_error(503, "ServiceUnavailable");

    cluster.database.set_reachable(true).await;
    let after = rename("after");
    let reply = retry_until(
        || node.execute("ExecuteOperationSync", "rename", &after),
        |r| r.status == 200,
    )
    .await;
    assert_eq!(reply.data()["Status"], "SUCCESS", "{}", reply.json);
    assert_eq!(
        node.result(ROOT, &before).await.data()["Status"],
        "SUCCESS",
        "nothing was lost"
    );
}

/// Sends requests until one answer satisfies `done`, within [`BOUND`].
async fn retry_until<F, Fut>(mut request: F, done: impl Fn(&Reply) -> bool) -> Reply
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    let deadline = Instant::now() + BOUND;
    loop {
        let reply = request().await;
        if done(&reply) {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "still not the expected answer after {BOUND:?}: {}",
            reply.json
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_created_on_one_node_is_seen_and_checked_on_another_at_once() {
    let cluster = Cluster::new("").await;
    let (a, b) = (cluster.node().await, cluster.node().await);

    let created = a
        .call(
            ROOT,
            "CreateApplication",
            &[("Name", "shared"), ("TemplateId", "ecs-instance")],
        )
        .await;
    let id = created
        .data()
        .as_str()
        .expect("an ApplicationId")
        .to_owned();

    let listed = b
        .call(ROOT, "ListApplication", &[("Keyword", "shared")])
        .await;
    assert_eq!(listed.data()[0]["ApplicationId"], id.as_str());
    assert_eq!(listed.json["TotalCount"], 1);
    // The name is taken on every node.
    b.call(
        ROOT,
        "CreateApplication",
        &[("Name", "shared"), ("TemplateId", "ecs-instance")],
    )
    .await
    .assert_error(409, "InvalidApplicationName.Duplicate");

    b.call(ROOT, "DeleteApplication", &[("ApplicationId", &id)])
        .await
        .assert_ok();
    a.call(ROOT, "GetApplication", &[("ApplicationId", &id)])
        .await
        .assert_error(404, "InvalidApplicationId.NotFound");
}
