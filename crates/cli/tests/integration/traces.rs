//! W3C trace context end to end: a `traceparent` on the submitting request (valid,
//! malformed or absent) becomes the operation's trace, shown by ListExecuteOperations, its
//! history and `bpops list` / `bpops get`, and reaches the declared command of each attempt
//! (`TRACEPARENT`) in a span of its own.

use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{bpops, stdout};
use crate::common::{ACCOUNT, HttpRequest, ROOT, Server, TestDir, operation_id};
use crate::declared::{declared, script};

const WAIT: Duration = Duration::from_secs(20);

/// A caller's span, as a traced client sends it.
const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Submits declared `deploy` `operation` with `traceparent` (when given) beside the signed
/// headers, and returns the new OperationId.
pub(crate) async fn submit_traced(
    server: &Server,
    operation: &str,
    traceparent: Option<&str>,
) -> String {
    let attributes = json!({"version": "v1"}).to_string();
    let params = [
        ("ServiceType", "deploy"),
        ("Operation", operation),
        ("Attributes", attributes.as_str()),
    ];
    let signed = bpops_client::sign(
        &server.host(),
        "ExecuteOperationASync",
        &params,
        ROOT.id,
        ROOT.secret,
    );
    let mut request = HttpRequest::from(signed);
    if let Some(traceparent) = traceparent {
        request
            .headers
            .push(("traceparent".into(), traceparent.into()));
    }
    operation_id(&server.send(&request).await)
}

/// The parts of a well-formed version 00 `traceparent`: trace id, parent id, flags.
pub(crate) fn parts(traceparent: &str) -> (String, String, String) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent:?}");
    assert_eq!(fields[0], "00", "{traceparent:?}");
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    assert!(
        hex(fields[1], 32) && fields[1] != "0".repeat(32),
        "{traceparent:?}"
    );
    assert!(
        hex(fields[2], 16) && fields[2] != "0".repeat(16),
        "{traceparent:?}"
    );
    assert!(hex(fields[3], 2), "{traceparent:?}");
    (fields[1].into(), fields[2].into(), fields[3].into())
}

/// A server whose declared `trace` operation answers with the `TRACEPARENT` it was given.
async fn echo_server(dir: &TestDir) -> Server {
    let program = script(
        dir,
        "trace.sh",
        r#"cat > /dev/null
printf '{"Message":"%s"}' "${TRACEPARENT:-none}""#,
    );
    dir.serve(&dir.config(&declared("trace", &program, "")))
        .await
}

/// The ListExecuteOperations item of `id`.
async fn listed(server: &Server, id: &str) -> Value {
    let reply = server.call(ROOT, "ListExecuteOperations", &[]).await;
    reply.assert_ok();
    reply.data()["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["OperationId"] == id)
        .unwrap_or_else(|| panic!("{id} is not listed: {}", reply.data()))
        .clone()
}

/// The `TRACEPARENT` the command of `id` saw.
async fn seen(server: &Server, id: &str) -> String {
    let data = server.wait_final(ROOT, id, WAIT).await;
    assert_eq!(data["Status"], "SUCCESS", "{data}");
    data["Message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_caller_s_trace_reaches_the_command_in_a_span_of_its_own() {
    let dir = TestDir::new();
    let server = echo_server(&dir).await;
    let id = submit_traced(&server, "trace", Some(CALLER)).await;
    let (trace, parent, flags) = parts(&seen(&server, &id).await);
    let (caller_trace, caller_parent, caller_flags) = parts(CALLER);
    assert_eq!((&trace, &flags), (&caller_trace, &caller_flags));
    assert_ne!(parent, caller_parent, "the attempt is a span of its own");

    let item = listed(&server, &id).await;
    assert_eq!(item["TraceId"], caller_trace.as_str());
    assert_eq!(
        item["SubmittedBy"],
        json!({"AccountId": ACCOUNT, "AccessKeyId": ROOT.id})
    );
    let history = server
        .call(ROOT, "ListExecuteOperationEvents", &[("OperationId", &id)])
        .await;
    assert_eq!(
        history.data()["Events"][0]["TraceId"],
        caller_trace.as_str()
    );

    let table = stdout(&bpops(&server, &["list"]).await);
    let row = table.lines().find(|l| l.contains(&id)).unwrap();
    assert!(
        row.contains(&format!("root ({})", ROOT.id)) && row.contains(&caller_trace),
        "{table}"
    );
    let got = stdout(&bpops(&server, &["get", &id]).await);
    assert!(
        got.contains(&format!("TraceId      {caller_trace}")) && got.contains(ROOT.id),
        "{got}"
    );
}

#[tokio::test]
async fn a_malformed_or_missing_traceparent_starts_a_new_trace() {
    let dir = TestDir::new();
    let server = echo_server(&dir).await;
    let (caller_trace, ..) = parts(CALLER);
    let malformed = [
        CALLER.to_uppercase(),
        CALLER.replacen("00-", "01-", 1),
        format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)),
        format!("{CALLER}-extra"),
        "x".repeat(4000),
    ];
    let mut traces = Vec::new();
    for header in malformed.iter().map(|h| Some(h.as_str())).chain([None]) {
        let id = submit_traced(&server, "trace", header).await;
        let (trace, ..) = parts(&seen(&server, &id).await);
        assert_ne!(trace, caller_trace, "{header:?} is not continued");
        assert_eq!(listed(&server, &id).await["TraceId"], trace.as_str());
        traces.push(trace);
    }
    traces.sort();
    traces.dedup();
    assert_eq!(
        traces.len(),
        malformed.len() + 1,
        "each starts a trace of its own"
    );
}

#[tokio::test]
async fn each_attempt_is_a_span_of_its_own_in_the_operation_s_trace() {
    let dir = TestDir::new();
    let seen = dir.path().join("spans");
    let program = script(
        &dir,
        "flaky-trace.sh",
        &format!(
            r#"job=$(cat)
echo "$TRACEPARENT" >> '{seen}'
case "$job" in *'"Attempt":1'*|*'"Attempt":2'*) exit 3;; esac
printf '{{}}'"#,
            seen = seen.display()
        ),
    );
    let retry =
        "retry = { attempts = 3, backoff = \"50ms\", max_backoff = \"100ms\", on = [\"exit\"] }";
    let server = dir
        .serve(&dir.config(&declared("flaky", &program, retry)))
        .await;
    let id = submit_traced(&server, "flaky", Some(CALLER)).await;
    let data = server.wait_final(ROOT, &id, WAIT).await;
    assert_eq!(data["Status"], "SUCCESS", "{data}");
    let spans = std::fs::read_to_string(&seen).unwrap();
    let mut parents: Vec<String> = spans
        .lines()
        .map(|line| {
            let (trace, parent, _) = parts(line);
            assert_eq!(trace, parts(CALLER).0);
            parent
        })
        .collect();
    assert_eq!(parents.len(), 3, "{spans}");
    parents.sort();
    parents.dedup();
    assert_eq!(parents.len(), 3, "a span per attempt: {spans}");
}
