//! Waiting without polling (GetExecuteOperationResult's `WaitSeconds`), and the unsigned
//! probes operators use.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use crate::common::{ROOT, RUNNING_INSTANCE, TestDir};

fn slow_rename(latency: &str) -> String {
    format!(
        "[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"{latency}\"\n"
    )
}

fn rename() -> serde_json::Value {
    json!({"instanceId": RUNNING_INSTANCE, "instance_name": "waited-for"})
}

#[tokio::test]
async fn a_wait_answers_as_soon_as_the_operation_finishes() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(&slow_rename("300ms"))).await;
    let id = server.submit("rename", &rename()).await;
    let asked = Instant::now();
    // One request, held by the server until the operation is final: no polling.
    let reply = server
        .call(
            ROOT,
            "GetExecuteOperationResult",
            &[("OperationId", &id), ("WaitSeconds", "30")],
        )
        .await;
    let waited = asked.elapsed();
    reply.assert_ok();
    assert_eq!(reply.data()["Status"], "SUCCESS", "{}", reply.json);
    eprintln!("WaitSeconds answered {waited:?} after asking, for an operation of 300 ms");
}

#[tokio::test]
async fn a_wait_that_times_out_answers_with_the_current_status() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(&slow_rename("10s"))).await;
    let id = server.submit("rename", &rename()).await;
    let reply = server
        .call(
            ROOT,
            "GetExecuteOperationResult",
            &[("OperationId", &id), ("WaitSeconds", "1")],
        )
        .await;
    reply.assert_ok();
    let status = reply.data()["Status"].as_str().unwrap().to_owned();
    assert!(status == "INIT" || status == "RUNNING", "{}", reply.json);
}

#[tokio::test]
async fn wait_seconds_past_sixty_or_not_a_number_is_invalid() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let id = server.submit("rename", &rename()).await;
    for bad in ["61", "-1", "soon"] {
        let reply = server
            .call(
                ROOT,
                "GetExecuteOperationResult",
                &[("OperationId", &id), ("WaitSeconds", bad)],
            )
            .await;
        reply.assert_error(400, "InvalidParameter");
        assert!(
            reply.message().contains("WaitSeconds"),
            "{}",
            reply.message()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_waiters_are_all_answered_when_it_finishes() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(&slow_rename("1s"))).await;
    let id = server.submit("rename", &rename()).await;
    let mut waiters = JoinSet::new();
    for _ in 0..300 {
        let sender = server.sender();
        let request = crate::common::Acs3::new("GetExecuteOperationResult")
            .params(&[("OperationId", &id), ("WaitSeconds", "30")])
            .sign(&server.host(), ROOT);
        waiters.spawn(async move { sender.try_send(&request).await });
    }
    while let Some(reply) = waiters.join_next().await {
        let reply = reply.unwrap().expect("every waiter gets an answer");
        assert_eq!(reply.data()["Status"], "SUCCESS", "{}", reply.json);
    }
}

#[tokio::test]
async fn health_and_readiness_answer_unsigned_and_reveal_nothing() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
            server.host()
        );
        let reply = server.send_raw(request.as_bytes()).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.json, json!({ "status": status }), "{path}");
    }
}

/// The value of the sample `name{labels}` in a Prometheus text page, 0 when absent.
pub(crate) fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// How much `series` grew from the page `before` to the page `after`.
pub(crate) fn increase(before: &str, after: &str, series: &str) -> f64 {
    sample(after, series) - sample(before, series)
}

pub(crate) async fn scrape(server: &crate::common::Server) -> String {
    let request = format!(
        "GET /metrics HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        server.host()
    );
    let (status, body) = server.send_raw_text(request.as_bytes()).await;
    assert_eq!(status, 200);
    body
}

#[tokio::test]
async fn metrics_count_requests_and_operations_and_reveal_no_tenant_data() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let before = scrape(&server).await;
    let id = server.submit("rename", &rename()).await;
    let data = server.wait_final(ROOT, &id, Duration::from_secs(10)).await;
    assert_eq!(data["Status"], "SUCCESS");
    let after = scrape(&server).await;

    let submitted = "bpops_requests_total{action=\"ExecuteOperationASync\",code=\"200\"}";
    assert_eq!(increase(&before, &after, submitted), 1.0, "{after}");
    let finished =
        "bpops_operations_finished_total{service=\"ecs\",operation=\"rename\",status=\"SUCCESS\"}";
    assert_eq!(increase(&before, &after, finished), 1.0, "{after}");
    assert!(
        sample(
            &after,
            "bpops_operation_execution_seconds_count{service=\"ecs\",operation=\"rename\"}"
        ) >= 1.0,
        "{after}"
    );
    assert!(
        after.contains("bpops_operations_unfinished{status=\"INIT\"} 0"),
        "{after}"
    );
    assert!(
        sample(
            &after,
            "bpops_request_seconds_count{action=\"GetExecuteOperationResult\"}"
        ) >= 1.0,
        "{after}"
    );
    for secret in [
        id.as_str(),
        crate::common::ACCOUNT,
        crate::common::APP,
        ROOT.id,
    ] {
        assert!(!after.contains(secret), "the metrics page shows {secret}");
    }
}

/// Issue 11, item 8: an operation whose stored row cannot be read (corrupted in the file
/// while the server was down) is set aside and counted, and the operations before and after
/// it on the same instance still run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_operation_is_set_aside_and_counted_and_the_others_run() {
    let dir = TestDir::new();
    let config = dir.config(
        "[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"300ms\"\n",
    );
    let server = dir.serve(&config).await;
    let running = server.submit("rename", &rename()).await;
    let corrupt = server.submit("rename", &rename()).await;
    server.kill().await;
    rusqlite::Connection::open(dir.path().join("bpops.db"))
        .unwrap()
        .execute(
            "UPDATE operations SET id = 'not an id' WHERE id = ?1",
            [&corrupt],
        )
        .unwrap();

    let server = dir.serve(&config).await;
    let after = server.submit("rename", &rename()).await;
    for id in [&running, &after] {
        let data = server.wait_final(ROOT, id, Duration::from_secs(10)).await;
        assert_eq!(data["Status"], "SUCCESS", "{id}: {data}");
    }
    let page = scrape(&server).await;
    assert_eq!(
        sample(&page, "bpops_operations_unreadable_total"),
        1.0,
        "{page}"
    );
}
