//! The audit trail end to end: `bpops audit` as a user runs it, the trail of a request that
//! was never signed, the metrics of the writer, and a graceful stop that writes the last
//! records before the process exits.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{bpops, json};
use crate::common::{READER, ROOT, Server, TestDir};
use crate::shutdown::stop_cleanly;
use crate::waiting::scrape;

/// How long a record may take to be written: far above the writer's flush interval.
const BOUND: Duration = Duration::from_secs(10);

/// LookupEvents with `params` as the root key, asked again until an event has `request_id`;
/// returns that event.
async fn event_of(server: &Server, request_id: &str, params: &[(&str, &str)]) -> Value {
    let deadline = Instant::now() + BOUND;
    loop {
        let reply = server.call(ROOT, "LookupEvents", params).await;
        let events = reply.data()["Events"].as_array().unwrap().clone();
        if let Some(event) = events.into_iter().find(|e| e["RequestId"] == request_id) {
            return event;
        }
        assert!(
            Instant::now() < deadline,
            "{request_id} is not in the trail"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn bpops_audit_prints_the_trail_as_a_table_and_as_json() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let denied = server.call(READER, "ListServices", &[]).await;
    denied.assert_error(403, "NoPermission");
    let request_id = denied.request_id().to_owned();
    event_of(&server, &request_id, &[]).await;

    let output = bpops(
        &server,
        &[
            "audit",
            "--code",
            "NoPermission",
            "--user",
            "reader",
            "--json",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let page = json(&output);
    let events = page["Events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{page}");
    let event = &events[0];
    assert_eq!(event["RequestId"], request_id.as_str());
    assert_eq!(event["EventName"], "ListServices");
    assert_eq!(event["ResultCode"], "NoPermission");
    assert_eq!(event["UserIdentity"]["AccessKeyId"], READER.id);

    let output = bpops(
        &server,
        &["audit", "--since", "1h", "--action", "ListServices"],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.starts_with("TIME"), "{table}");
    let row = table
        .lines()
        .find(|line| line.contains(&request_id))
        .unwrap_or_else(|| panic!("no row for {request_id}: {table}"));
    assert!(
        row.contains("NoPermission") && row.contains("reader"),
        "{row}"
    );

    let output = bpops(&server, &["audit", "--since", "yesterday"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = bpops(&server, &["audit", "--max-results", "51"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("MaxResults"),
        "{output:?}"
    );
}

#[tokio::test]
async fn an_unsigned_request_shows_as_an_unverified_claim_of_the_key_it_names() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let body = format!(
        "Action=ListServices&Version=2021-09-31&AccessKeyId={}&Signature=forged",
        ROOT.id
    );
    let request = format!(
        "POST / HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        server.host(),
        body.len()
    );
    let reply = server.send_raw(request.as_bytes()).await;
    assert_eq!(reply.status, 400, "{:?}", reply.json);
    let event = event_of(
        &server,
        reply.request_id(),
        &[
            ("LookupAttribute.1.Key", "EventAccessKeyId"),
            ("LookupAttribute.1.Value", ROOT.id),
        ],
    )
    .await;
    assert_eq!(event["UserIdentity"]["Verified"], false, "{event}");
    assert_eq!(event["UserIdentity"]["Type"], "unverified", "{event}");
    assert_eq!(event["EventName"], "ListServices", "{event}");
    assert_eq!(event["ResultCode"], reply.code(), "{event}");
    assert_eq!(event["RequestParameters"]["Signature"], "******", "{event}");
}

#[tokio::test]
async fn metrics_count_the_records_written_and_show_none_dropped() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let reply = server.call(ROOT, "ListServices", &[]).await;
    event_of(&server, reply.request_id(), &[]).await;
    let page = scrape(&server).await;
    let written = crate::waiting::sample(&page, "bpops_audit_records_total");
    assert!(written >= 1.0, "{page}");
    for reason in ["queue_full", "write_failed"] {
        let series = format!("bpops_audit_dropped_total{{reason=\"{reason}\"}} 0");
        assert!(page.contains(&series), "no {series} in {page}");
    }
}

#[tokio::test]
async fn sigterm_writes_the_last_records_before_exiting() {
    let dir = TestDir::new();
    let config = dir.config("");
    let server = dir.serve(&config).await;
    // Answered, then the server is stopped at once: its record is at most queued.
    let last = server.call(ROOT, "ListServices", &[]).await;
    last.assert_ok();
    stop_cleanly(server, "TERM").await;

    let server = dir.serve(&config).await;
    let reply = server
        .call(
            ROOT,
            "LookupEvents",
            &[
                ("LookupAttribute.1.Key", "EventName"),
                ("LookupAttribute.1.Value", "ListServices"),
            ],
        )
        .await;
    let events = reply.data()["Events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["RequestId"] == last.request_id()),
        "the last call before SIGTERM is missing: {events:?}"
    );
}

#[tokio::test]
async fn with_auditing_off_nothing_is_recorded_and_the_trail_still_reads() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("[audit]\nenabled = false\n")).await;
    server.call(ROOT, "ListServices", &[]).await.assert_ok();
    let reply = server.call(ROOT, "LookupEvents", &[]).await;
    assert_eq!(reply.data()["Events"], serde_json::json!([]));
    let page = scrape(&server).await;
    assert_eq!(
        crate::waiting::sample(&page, "bpops_audit_records_total"),
        0.0
    );
}
