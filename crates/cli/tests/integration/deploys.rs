//! Issue 13: "a deploy interrupted by kill -9, or by the death of its node on PostgreSQL,
//! resumes and never creates a resource twice". A web tier (two instances and a load
//! balancer) deploys slowly; the node running it is killed with SIGKILL once the first
//! resource exists, and the deploy is finished by the same database's next node: on SQLite
//! the restarted server, on PostgreSQL another node once the lease runs out.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{ROOT, Server, TestDir};
use crate::nodes::Cluster;

/// Each resource of a deploy takes this long to create, so the node is killed while the
/// second one is on its way.
const SLOW_DEPLOY: &str = "[[operations.emulation]]\nservice = \"bpstudio\"\n\
     operation = \"deployApplication\"\nlatency = \"2s\"\n";

/// The nodes of the built-in `web-tier` template.
const WEB_TIER_NODES: usize = 3;

/// How long anything here may take: far above what it needs, yet bounded.
const BOUND: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_midway_resumes_after_a_restart_and_creates_each_resource_once() {
    let dir = TestDir::new();
    let config = dir.config(SLOW_DEPLOY);
    let victim = dir.serve(&config).await;
    let (app, before) = deploy_midway(&victim).await;
    victim.kill().await;

    let restarted = dir.serve(&config).await;
    let deployed = deployed_once(&restarted, &app, &before).await;
    let db = rusqlite::Connection::open(dir.path().join("bpops.db")).unwrap();
    let mut rows: Vec<String> = db
        .prepare("SELECT id FROM resources WHERE application = ?1")
        .unwrap()
        .query_map([&app], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.sort();
    assert_eq!(rows, deployed, "the inventory holds each resource once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_whose_node_is_killed_is_finished_by_another_creating_each_resource_once() {
    let cluster = Cluster::new(SLOW_DEPLOY).await;
    let victim = cluster.node().await;
    let (app, before) = deploy_midway(&victim).await;
    // Started only now, so the deploy is the victim's to run.
    let survivor = cluster.node().await;
    let so_far = resource_ids(&application(&survivor, &app).await);
    assert!(so_far.len() < WEB_TIER_NODES, "still midway: {so_far:?}");
    victim.kill().await;

    let deployed = deployed_once(&survivor, &app, &before).await;
    let mut rows = cluster
        .database
        .column(&format!(
            "SELECT id FROM resources WHERE application = '{app}'"
        ))
        .await;
    rows.sort();
    assert_eq!(rows, deployed, "the inventory holds each resource once");
}

/// Creates a web tier on `node`, validates and valuates it, starts its deploy, and returns
/// once the first resource exists: the application's id and the resources' ids so far.
async fn deploy_midway(node: &Server) -> (String, Vec<String>) {
    let created = node
        .call(
            ROOT,
            "CreateApplication",
            &[
                ("Name", "web"),
                ("TemplateId", "web-tier"),
                ("AreaId", "cn-hangzhou"),
            ],
        )
        .await;
    let app = created
        .data()
        .as_str()
        .expect("an ApplicationId")
        .to_owned();
    for (step, ended) in [
        ("ValidateApplication", "Verified_Success"),
        ("ValuateApplication", "Valuating_Success"),
    ] {
        node.call(ROOT, step, &[("ApplicationId", &app)])
            .await
            .assert_ok();
        wait_status(node, &app, ended).await;
    }
    node.call(ROOT, "DeployApplication", &[("ApplicationId", &app)])
        .await
        .assert_ok();
    let deadline = Instant::now() + BOUND;
    loop {
        let data = application(node, &app).await;
        let ids = resource_ids(&data);
        if !ids.is_empty() {
            assert!(ids.len() < WEB_TIER_NODES, "not midway: {ids:?}");
            return (app, ids);
        }
        assert!(
            Instant::now() < deadline,
            "nothing deployed after {BOUND:?}: {data}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits on `node` for the deploy of `app` to end and checks it created each node's resource
/// once: `Deployed_Success` at 100 %, one resource per node of the template, each id once,
/// those created before the kill kept, and one deploy operation, which succeeded. Returns the
/// ids, sorted.
async fn deployed_once(node: &Server, app: &str, before: &[String]) -> Vec<String> {
    let data = wait_status(node, app, "Deployed_Success").await;
    assert_eq!(data["DeployPercent"], 100.0, "{data}");
    let ids = resource_ids(&data);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        (ids.len(), unique.len()),
        (WEB_TIER_NODES, WEB_TIER_NODES),
        "{ids:?}"
    );
    assert_eq!(ids.iter().filter(|id| id.starts_with("i-")).count(), 2);
    assert_eq!(ids.iter().filter(|id| id.starts_with("lb-")).count(), 1);
    assert!(
        before.iter().all(|id| ids.contains(id)),
        "{before:?} kept in {ids:?}"
    );
    let listed = node
        .call(
            ROOT,
            "ListExecuteOperations",
            &[("ApplicationId", app), ("Operation", "deployApplication")],
        )
        .await;
    let deploys = listed.data()["Operations"].as_array().unwrap().clone();
    assert_eq!(deploys.len(), 1, "one deploy, resumed: {deploys:?}");
    assert_eq!(deploys[0]["Status"], "SUCCESS", "{deploys:?}");
    ids
}

/// GetApplication's `Data` for `app`.
async fn application(node: &Server, app: &str) -> Value {
    node.call(ROOT, "GetApplication", &[("ApplicationId", app)])
        .await
        .data()
        .clone()
}

/// Polls `app` on `node` until its status is `wanted`, and returns it then.
async fn wait_status(node: &Server, app: &str, wanted: &str) -> Value {
    let deadline = Instant::now() + BOUND;
    loop {
        let data = application(node, app).await;
        if data["Status"] == wanted {
            return data;
        }
        assert!(
            Instant::now() < deadline,
            "{app} is not {wanted} after {BOUND:?}: {data}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ids of an application's `ResourceList`, sorted.
fn resource_ids(application: &Value) -> Vec<String> {
    let mut ids: Vec<String> = application["ResourceList"]
        .as_array()
        .expect("a ResourceList")
        .iter()
        .map(|r| r["ResourceId"].as_str().expect("a ResourceId").to_owned())
        .collect();
    ids.sort();
    ids
}
