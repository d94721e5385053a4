//! Each operation's history through `bpops history`: who submitted it, which node claimed
//! each attempt, who asked to cancel it and how it ended; and a history that still agrees
//! with its operation after the node running it was killed with SIGKILL.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{bpops, json as printed_json};
use crate::common::{ROOT, TestDir};
use crate::declared::{flaky_server, submit};
use crate::extensions::{SLOW_RENAME, running_rename};

const WAIT: Duration = Duration::from_secs(20);

/// The `Type` of each event `bpops history --json` printed.
fn types(printed: &Value) -> Vec<&str> {
    printed["Events"]
        .as_array()
        .unwrap_or_else(|| panic!("no Events: {printed}"))
        .iter()
        .map(|event| event["Type"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn history_shows_who_submitted_each_claim_who_cancelled_and_the_end() {
    let dir = TestDir::new();
    let config = format!("{SLOW_RENAME}\n[node]\nname = \"node-one\"\n");
    let server = dir.serve(&dir.config(&config)).await;
    let id = running_rename(&server).await;
    let cancelled = bpops(&server, &["cancel", &id]).await;
    assert_eq!(cancelled.status.code(), Some(0), "{cancelled:?}");
    server.wait_final(ROOT, &id, WAIT).await;

    let printed = bpops(&server, &["history", &id, "--json"]).await;
    assert_eq!(printed.status.code(), Some(0), "{printed:?}");
    let printed = printed_json(&printed);
    assert_eq!(printed["OperationId"], id.as_str());
    assert_eq!(
        types(&printed),
        ["Submitted", "Claimed", "CancelRequested", "Finished"]
    );
    let events = &printed["Events"];
    assert_eq!(events[0]["AccessKeyId"], ROOT.id);
    assert_eq!(events[0]["SourceIp"], "127.0.0.1");
    assert_eq!(
        (&events[1]["Node"], &events[1]["Attempt"]),
        (&json!("node-one"), &json!(1))
    );
    assert_eq!(events[2]["AccessKeyId"], ROOT.id);
    let result = server.result(ROOT, &id).await;
    assert_eq!(events[3]["Status"], result.data()["Status"]);
    assert_eq!(events[3]["Message"], result.data()["Message"]);

    let table = bpops(&server, &["history", &id]).await;
    assert_eq!(table.status.code(), Some(0), "{table:?}");
    let text = String::from_utf8_lossy(&table.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("SEQ"), "{text}");
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[1].contains("Submitted") && lines[1].contains(ROOT.id),
        "{text}"
    );
    assert!(lines[2].contains("node=node-one attempt=1"), "{text}");
    assert!(
        lines[4].contains("Finished") && lines[4].contains("FAILURE"),
        "{text}"
    );

    let unknown = bpops(&server, &["history", "op_0000000000000000000000", "--json"]).await;
    assert_eq!(unknown.status.code(), Some(3), "{unknown:?}");
    assert_eq!(printed_json(&unknown), Value::Null);
}

/// A node killed mid-attempt leaves a claim without an end; the restarted node (another
/// process, so another default name) claims it again and the end follows, as the operation
/// says.
#[tokio::test]
async fn a_history_agrees_with_its_operation_after_kill_9() {
    let dir = TestDir::new();
    let config = dir.config(
        "[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"1s\"\n",
    );
    let server = dir.serve(&config).await;
    let id = running_rename(&server).await;
    server.kill().await;

    let server = dir.serve(&config).await;
    let result = server.wait_final(ROOT, &id, WAIT).await;
    assert_eq!(result["Status"], "SUCCESS", "{result}");
    let printed = printed_json(&bpops(&server, &["history", &id, "--json"]).await);
    assert_eq!(
        types(&printed),
        ["Submitted", "Claimed", "Claimed", "Finished"]
    );
    let events = &printed["Events"];
    assert_eq!(
        (&events[1]["Attempt"], &events[2]["Attempt"]),
        (&json!(1), &json!(2))
    );
    assert_ne!(events[1]["Node"], events[2]["Node"], "{printed}");
    assert_eq!(events[3]["Status"], result["Status"]);
    assert_eq!(events[3]["Message"], result["Message"]);
}

/// Each failed attempt of a declared command is claimed, then scheduled again with its
/// failure, until the attempt that succeeds.
#[tokio::test]
async fn each_retry_is_recorded_with_its_reason_and_time() {
    let dir = TestDir::new();
    let server = flaky_server(&dir).await;
    let id = submit(&server, "flaky", &json!({"version": "v1"})).await;
    let result = server.wait_final(ROOT, &id, WAIT).await;
    assert_eq!(result["Status"], "SUCCESS", "{result}");

    let reply = server
        .call(
            ROOT,
            "ListExecuteOperationEvents",
            &[("OperationId", id.as_str())],
        )
        .await;
    reply.assert_ok();
    let history = reply.data();
    // The page says what the operation is, so a history read alone shows it.
    assert_eq!(
        (&history["ServiceType"], &history["Operation"]),
        (&json!("deploy"), &json!("flaky"))
    );
    assert!(history.get("ApplicationId").is_none(), "{history}");
    assert_eq!(
        types(history),
        [
            "Submitted",
            "Claimed",
            "RetryScheduled",
            "Claimed",
            "RetryScheduled",
            "Claimed",
            "Finished"
        ]
    );
    let events = &history["Events"];
    for (at, attempt) in [(2, 1), (4, 2)] {
        let retried = &events[at];
        assert_eq!(retried["Attempt"], attempt, "{retried}");
        let reason = retried["Reason"].as_str().unwrap();
        assert!(reason.contains("transient trouble"), "{reason}");
        let (time, next) = (retried["Time"].as_str(), retried["RetryTime"].as_str());
        assert!(next >= time, "{retried}");
        assert_eq!(events[at + 1]["Attempt"], attempt + 1);
    }
}
