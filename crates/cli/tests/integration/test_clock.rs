//! The test clock: `[testing] clock = "manual"` and AdvanceClock, against the real server.
//! An hour of retention, latency or backoff passes in one call; signatures keep real time.

use std::time::{Duration, Instant};

use bpops_time::{Clock, SystemClock};
use serde_json::{Value, json};

use crate::common::{READER, ROOT, RUNNING_INSTANCE, Server, TestDir, add_tags, arguments};
use crate::declared::{declared, script, submit};

/// Far longer than anything here takes once the clock is advanced; a cap, never waited out.
const WAIT: Duration = Duration::from_secs(20);

const TEST_CLOCK: &str = "[testing]\nclock = \"manual\"\n";

async fn advance(server: &Server, by: &str) -> Value {
    let reply = server.call(ROOT, "AdvanceClock", &[("Duration", by)]).await;
    reply.assert_ok();
    reply.data().clone()
}

async fn healthz(server: &Server) -> Value {
    let request = format!(
        "GET /healthz HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        server.host()
    );
    let reply = server.send_raw(request.as_bytes()).await;
    assert_eq!(reply.status, 200);
    reply.json
}

/// Polls until the operation's status is `status`.
async fn reaches(server: &Server, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let data = server.result(ROOT, id).await.data().clone();
        if data["Status"] == status {
            return data;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never reached {status}: {data}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until the program under test has written `path`.
async fn appears(path: &std::path::Path, otherwise: &str) {
    let deadline = Instant::now() + WAIT;
    while !path.exists() {
        assert!(Instant::now() < deadline, "{otherwise}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_result_is_gone_once_the_clock_passes_its_retention_and_signatures_still_hold() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(TEST_CLOCK)).await;
    let started = Instant::now();
    let id = server
        .submit(
            "addTags",
            &add_tags(RUNNING_INSTANCE, json!({"env": "test"})),
        )
        .await;
    assert_eq!(reaches(&server, &id, "SUCCESS").await["Status"], "SUCCESS");

    // Retention is an hour: a minute short of it, the result is still there.
    let reading = advance(&server, "59m").await;
    assert_eq!(reading["Advanced"], "59m");
    let kept = server.result(ROOT, &id).await;
    assert_eq!(kept.data()["Status"], "SUCCESS", "{}", kept.json);

    advance(&server, "2m").await;
    // Signed with the real time, an hour behind the server's: still accepted.
    let gone = server.result(ROOT, &id).await;
    gone.assert_ok();
    assert!(gone.json.get("Data").is_none(), "{}", gone.json);
    assert_eq!(
        gone.message(),
        "The operation does not exist or has expired."
    );
    assert!(
        started.elapsed() < WAIT,
        "an hour passed in {:?}",
        started.elapsed()
    );

    let health = healthz(&server).await;
    assert_eq!(health["clock"], "manual", "{health}");
    assert_eq!(health["advanced"], "1h 1m", "{health}");
    // The log says the clock is a test clock.
    server.logged("TEST CLOCK").await;
}

#[tokio::test]
async fn new_timestamps_follow_the_advanced_clock() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(TEST_CLOCK)).await;
    let reading = advance(&server, "1day").await;
    let server_now = bpops_protocol::signature::parse_timestamp(reading["Now"].as_str().unwrap())
        .expect("Now is ISO 8601");
    let ahead = server_now.duration_since(SystemClock.now());
    assert!(
        ahead > Duration::from_secs(86_400 - 60),
        "the server is a day ahead, not {ahead:?}"
    );
    let id = server
        .submit("addTags", &add_tags(RUNNING_INSTANCE, json!({"day": "2"})))
        .await;
    reaches(&server, &id, "SUCCESS").await;
    let listed = server
        .call(ROOT, "ListExecuteOperations", &[("MaxResults", "1")])
        .await;
    let item = &listed.data()["Operations"][0];
    assert_eq!(item["OperationId"], id.as_str(), "{}", listed.json);
    for field in ["CreateTime", "FinishTime"] {
        let at = bpops_protocol::signature::parse_timestamp(item[field].as_str().unwrap())
            .expect("ISO 8601");
        assert!(at >= server_now - Duration::from_secs(1), "{field}: {item}");
    }
}

#[tokio::test]
async fn an_hour_of_emulated_latency_passes_in_one_advance() {
    let dir = TestDir::new();
    let slow =
        "[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"1h\"\n";
    let server = dir.serve(&dir.config(&format!("{TEST_CLOCK}{slow}"))).await;
    let id = server
        .submit(
            "rename",
            &json!({"instanceId": RUNNING_INSTANCE, "instance_name": "later"}),
        )
        .await;
    reaches(&server, &id, "RUNNING").await;
    advance(&server, "30m").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.result(ROOT, &id).await.data()["Status"], "RUNNING");
    advance(&server, "30m").await;
    reaches(&server, &id, "SUCCESS").await;
}

#[tokio::test]
async fn a_retry_backoff_of_an_hour_passes_in_one_advance() {
    let dir = TestDir::new();
    let marker = dir.path().join("attempts");
    // Fails its first attempt, succeeds on the second; leaves a line per attempt.
    let program = script(
        &dir,
        "flaky.sh",
        &format!(
            r#"job=$(cat)
echo attempt >> '{}'
case "$job" in *'"Attempt":1'*) echo "transient" >&2; exit 3;; esac
printf '{{"Arguments":{{"job":%s}}}}' "$job""#,
            marker.display()
        ),
    );
    let retry = "retry = { attempts = 2, backoff = \"1h\", max_backoff = \"1h\", on = [\"exit\"] }";
    let config = format!("{TEST_CLOCK}{}", declared("flaky", &program, retry));
    let server = dir.serve(&dir.config(&config)).await;
    let id = submit(&server, "flaky", &json!({"version": "v1"})).await;
    appears(&marker, "the first attempt never ran").await;
    // The first attempt failed and waits out its backoff; an hour later it runs again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.result(ROOT, &id).await.data()["Status"], "RUNNING");
    advance(&server, "1h").await;
    let data = reaches(&server, &id, "SUCCESS").await;
    assert_eq!(arguments(&data)["job"]["Attempt"], 2, "{data}");
}

#[tokio::test]
async fn a_running_operation_keeps_its_lease_across_an_advance_and_runs_once() {
    let dir = TestDir::new();
    let runs = dir.path().join("runs");
    let release = dir.path().join("release");
    // Runs until the test lets it finish, counting its runs.
    let program = script(
        &dir,
        "long.sh",
        &format!(
            r#"job=$(cat)
echo run >> '{runs}'
while [ ! -e '{release}' ]; do sleep 0.05; done
printf '{{"Arguments":{{"job":%s}}}}' "$job""#,
            runs = runs.display(),
            release = release.display()
        ),
    );
    let config = format!("{TEST_CLOCK}{}", declared("long", &program, ""))
        .replace("timeout = \"5s\"", "timeout = \"20s\"");
    let server = dir.serve(&dir.config(&config)).await;
    let id = submit(&server, "long", &json!({"version": "v1"})).await;
    reaches(&server, &id, "RUNNING").await;
    appears(&runs, "the program never started").await;
    // Ten leases' worth: had the lease not been renewed first, the operation would be taken
    // for abandoned and started a second time.
    advance(&server, "5m").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&release, "").unwrap();
    let data = reaches(&server, &id, "SUCCESS").await;
    assert_eq!(arguments(&data)["job"]["Attempt"], 1, "{data}");
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "run\n", "ran once");
}

#[tokio::test]
async fn advance_clock_is_refused_without_the_test_clock_and_to_whoever_may_not() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    server
        .call(ROOT, "AdvanceClock", &[("Duration", "1h")])
        .await
        .assert_error(403, "TestClock.Disabled");
    assert_eq!(healthz(&server).await, json!({"status": "ok"}));
    drop(server);

    let dir = TestDir::new();
    let server = dir.serve(&dir.config(TEST_CLOCK)).await;
    // A RAM user without a policy allowing bpstudio:AdvanceClock.
    server
        .call(READER, "AdvanceClock", &[("Duration", "1h")])
        .await
        .assert_error(403, "NoPermission");
    for bad in ["0s", "-5m", "3651days", "an hour"] {
        server
            .call(ROOT, "AdvanceClock", &[("Duration", bad)])
            .await
            .assert_error(400, "InvalidParameter");
    }
    server
        .call(ROOT, "AdvanceClock", &[])
        .await
        .assert_error(400, "MissingParameter");
    // Nothing refused moved the clock.
    assert_eq!(healthz(&server).await["advanced"], "0s");
}
