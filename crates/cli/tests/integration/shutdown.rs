//! Issue 11 item 9, graceful shutdown: on SIGTERM (or Ctrl-C) every waiter is answered at once
//! with the current status, running operations get `[operations] shutdown_grace` to finish,
//! the leases of the rest are released, and the process exits within the grace and a second.
//! (Across nodes on PostgreSQL, see `nodes`.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Acs3, ROOT, RUNNING_INSTANCE, Server, TestDir, execute_params};
use crate::declared;

/// The grace of the tests whose operations outlive it.
const SHORT_GRACE: Duration = Duration::from_secs(1);

/// How long anything here may take: far above what it needs, yet bounded.
const BOUND: Duration = Duration::from_secs(15);

/// `[operations]` with `shutdown_grace` and a slow `ecs` `rename` of `latency`.
pub(crate) fn config(grace: &str, latency: &str) -> String {
    format!(
        "[operations]\nsync_wait = \"9s\"\nshutdown_grace = \"{grace}\"\n\n\
         [[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"{latency}\"\n"
    )
}

pub(crate) fn rename(name: &str) -> Value {
    json!({"instanceId": RUNNING_INSTANCE, "instance_name": name})
}

/// Polls until `id` is `RUNNING` (claimed by a node); panics after [`BOUND`].
pub(crate) async fn wait_running(server: &Server, id: &str) {
    let deadline = Instant::now() + BOUND;
    loop {
        let data = server.result(ROOT, id).await.data().clone();
        match data["Status"].as_str() {
            Some("RUNNING") => return,
            Some("INIT") if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => panic!("operation {id} did not start running: {data}"),
        }
    }
}

/// Serves `config` in `dir` and submits a rename to `name`; returns once it runs.
async fn serve_running(dir: &TestDir, config: &str, name: &str) -> (Server, String) {
    let server = dir.serve(&dir.config(config)).await;
    let id = server.submit("rename", &rename(name)).await;
    wait_running(&server, &id).await;
    (server, id)
}

/// Stops `server` with `signal` and checks that it exited cleanly; returns how long after the
/// signal, and its logs.
pub(crate) async fn stop_cleanly(server: Server, signal: &str) -> (Duration, String) {
    let (status, took, output) = server.stop(signal).await;
    assert!(status.success(), "{status}\n{}", output.stderr);
    (took, output.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_every_waiter_at_once_and_exits_within_the_grace() {
    let dir = TestDir::new();
    let (server, running) = serve_running(&dir, &config("1s", "60s"), "long").await;

    // One GetExecuteOperationResult waiting on the running operation, and one
    // ExecuteOperationSync whose operation queues behind it on the same instance.
    let send = |request: Acs3| {
        let (sender, request) = (server.sender(), request.sign(&server.host(), ROOT));
        tokio::spawn(async move { (sender.try_send(&request).await, Instant::now()) })
    };
    let waiting = send(
        Acs3::new("GetExecuteOperationResult")
            .params(&[("OperationId", &running), ("WaitSeconds", "20")]),
    );
    let attributes = rename("queued").to_string();
    let syncing =
        send(Acs3::new("ExecuteOperationSync").params(&execute_params("rename", &attributes)));
    // Nothing outside the server marks a wait as begun: give both requests time to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let signalled = Instant::now();
    let (took, logs) = stop_cleanly(server, "TERM").await;
    let (waited, answered) = waiting.await.unwrap();
    let waited = waited.expect("the waiter is answered");
    assert_eq!(waited.data()["Status"], "RUNNING", "{}", waited.json);
    assert!(
        answered - signalled < Duration::from_secs(1),
        "the waiter was answered {:?} after SIGTERM",
        answered - signalled
    );
    let (synced, answered) = syncing.await.unwrap();
    let synced = synced.expect("ExecuteOperationSync is answered");
    assert_eq!(synced.data()["Status"], "INIT", "{}", synced.json);
    assert!(answered - signalled < Duration::from_secs(1));

    assert!(
        took < SHORT_GRACE + Duration::from_secs(1),
        "exited {took:?} after SIGTERM\n{logs}"
    );
    assert!(logs.contains("lease released"), "{logs}");
    eprintln!(
        "waiters answered {:?} after SIGTERM; exited after {took:?} with a grace of {SHORT_GRACE:?}",
        answered - signalled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_cut_off_by_the_grace_is_resumed_at_once_by_a_restart() {
    let dir = TestDir::new();
    let (server, id) = serve_running(&dir, &config("1s", "60s"), "resumed").await;
    let (took, _) = stop_cleanly(server, "INT").await;
    assert!(
        took < SHORT_GRACE + Duration::from_secs(1),
        "exited after {took:?}"
    );

    // Restarted without the latency, the node runs it again at once.
    let server = dir.serve(&dir.config(&config("1s", "0s"))).await;
    let data = server.wait_final(ROOT, &id, Duration::from_secs(5)).await;
    assert_eq!(data["Status"], "SUCCESS", "{data}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_that_finishes_within_the_grace_ends_success_before_the_exit() {
    let dir = TestDir::new();
    let (server, id) = serve_running(&dir, &config("10s", "1s"), "finished").await;
    let (took, logs) = stop_cleanly(server, "TERM").await;
    assert!(took < Duration::from_secs(10), "exited after {took:?}");
    assert!(!logs.contains("lease released"), "{logs}");

    // Had it been cut off, the restart would run it again for a minute.
    let server = dir.serve(&dir.config(&config("10s", "60s"))).await;
    let data = server.result(ROOT, &id).await.data().clone();
    assert_eq!(data["Status"], "SUCCESS", "{data}");
    assert_eq!(
        crate::common::state(&data)["instance_name"],
        "finished",
        "{data}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_program_cut_off_by_the_grace_is_killed_before_its_lease_is_released() {
    let dir = TestDir::new();
    let started = dir.path().join("started");
    let program = declared::script(
        &dir,
        "long.sh",
        &format!("echo $$ > {}\nexec sleep 30", started.display()),
    );
    let config = format!(
        "[operations]\nshutdown_grace = \"1s\"\n\n{}",
        declared::declared("rollout", &program, "")
    );
    let server = dir.serve(&dir.config(&config)).await;
    declared::submit(&server, "rollout", &json!({"version": "v1"})).await;
    let deadline = Instant::now() + BOUND;
    let pid = loop {
        match std::fs::read_to_string(&started) {
            Ok(pid) if pid.ends_with('\n') => break pid.trim().to_owned(),
            _ => {
                assert!(Instant::now() < deadline, "the program never started");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let (took, logs) = stop_cleanly(server, "TERM").await;
    assert!(
        took < SHORT_GRACE + Duration::from_secs(1),
        "exited after {took:?}"
    );
    assert!(logs.contains("lease released"), "{logs}");
    // Gone, or a zombie waiting for whoever inherited it to reap it: not running.
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.contains(") Z "),
        "the program still runs: {state}"
    );
}
