//! Declared operations end to end: `[[operations.declared]]` bound to a real script or a
//! real HTTP receiver on loopback, run by the real server.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::{ROOT, Server, TestDir, arguments, operation_id};
use crate::traces::parts;

const WAIT: Duration = Duration::from_secs(20);

/// Writes an executable `#!/bin/sh` script into the test directory.
pub(crate) fn script(dir: &TestDir, name: &str, body: &str) -> String {
    let path = dir.write(name, &format!("#!/bin/sh\n{body}\n"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// A declared `deploy` operation named `operation` running `program`.
pub(crate) fn declared(operation: &str, program: &str, extra: &str) -> String {
    format!(
        "[[operations.declared]]\nservice = \"deploy\"\noperation = \"{operation}\"\n\
         display_name = \"Deploy\"\ntimeout = \"5s\"\n\
         attributes = {{ type = \"object\", properties = {{ version = {{ type = \"string\", pattern = \"^v[0-9]+$\" }} }}, required = [\"version\"] }}\n\
         executor = {{ kind = \"command\", argv = [\"{program}\"] }}\n{extra}\n"
    )
}

pub(crate) async fn submit(server: &Server, operation: &str, attributes: &Value) -> String {
    let attributes = attributes.to_string();
    let params = [
        ("ServiceType", "deploy"),
        ("Operation", operation),
        ("Attributes", attributes.as_str()),
    ];
    operation_id(&server.call(ROOT, "ExecuteOperationASync", &params).await)
}

#[tokio::test]
async fn a_command_gets_the_job_on_stdin_and_its_output_becomes_the_result() {
    let dir = TestDir::new();
    // Echo back what the program saw: the operation id from stdin and the environment.
    let program = script(
        &dir,
        "echo-job.sh",
        r#"job=$(cat)
printf '{"Message":"rolled out","Arguments":{"env":"%s","home":"%s","job":%s}}' "$BPOPS_OPERATION_ID" "${HOME:-unset}" "$job""#,
    );
    let server = dir
        .serve(&dir.config(&declared("rollout", &program, "")))
        .await;
    let id = submit(&server, "rollout", &json!({"version": "v12"})).await;
    let data = server.wait_final(ROOT, &id, WAIT).await;
    assert_eq!(data["Status"], "SUCCESS", "{data}");
    assert_eq!(data["Message"], "rolled out");
    let seen = arguments(&data);
    assert_eq!(
        seen["env"],
        id.as_str(),
        "BPOPS_OPERATION_ID is the operation id"
    );
    assert_eq!(seen["home"], "unset", "the environment is clean");
    assert_eq!(seen["job"]["OperationId"], id.as_str());
    assert_eq!(seen["job"]["Attributes"], json!({"version": "v12"}));
    assert_eq!(seen["job"]["Attempt"], 1);
}

/// A server with the declared operation `flaky`, whose program fails its first two attempts
/// ("transient trouble", exit 3) and succeeds on the third, which its retry policy allows.
pub(crate) async fn flaky_server(dir: &TestDir) -> Server {
    let program = script(
        dir,
        "flaky.sh",
        r#"job=$(cat)
case "$job" in *'"Attempt":1'*|*'"Attempt":2'*) echo "transient trouble" >&2; exit 3;; esac
printf '{"Arguments":{"job":%s}}' "$job""#,
    );
    let retry =
        "retry = { attempts = 3, backoff = \"50ms\", max_backoff = \"100ms\", on = [\"exit\"] }";
    dir.serve(&dir.config(&declared("flaky", &program, retry)))
        .await
}

#[tokio::test]
async fn a_failing_command_is_retried_by_its_policy_then_succeeds() {
    let dir = TestDir::new();
    let server = flaky_server(&dir).await;
    let id = submit(&server, "flaky", &json!({"version": "v1"})).await;
    let data = server.wait_final(ROOT, &id, WAIT).await;
    assert_eq!(data["Status"], "SUCCESS", "{data}");
    assert_eq!(arguments(&data)["job"]["Attempt"], 3);
}

#[tokio::test]
async fn a_command_that_exits_non_zero_fails_with_the_tail_of_stderr() {
    let dir = TestDir::new();
    let program = script(&dir, "broken.sh", "echo 'disk is full' >&2\nexit 2");
    let server = dir
        .serve(&dir.config(&declared("broken", &program, "")))
        .await;
    let id = submit(&server, "broken", &json!({"version": "v1"})).await;
    let data = server.wait_final(ROOT, &id, WAIT).await;
    assert_eq!(data["Status"], "FAILURE", "{data}");
    let message = data["Message"].as_str().unwrap();
    assert!(
        message.starts_with("CommandFailed: ") && message.contains("disk is full"),
        "{message}"
    );
}

#[tokio::test]
async fn a_command_past_its_timeout_is_killed_and_fails() {
    let dir = TestDir::new();
    let program = script(&dir, "slow.sh", "sleep 30");
    let extra = "";
    let config =
        declared("slow", &program, extra).replace("timeout = \"5s\"", "timeout = \"300ms\"");
    let server = dir.serve(&dir.config(&config)).await;
    let id = submit(&server, "slow", &json!({"version": "v1"})).await;
    let data = server.wait_final(ROOT, &id, WAIT).await;
    assert_eq!(data["Status"], "FAILURE", "{data}");
    assert!(
        data["Message"]
            .as_str()
            .unwrap()
            .starts_with("ExecutorTimeout"),
        "{data}"
    );
}

#[tokio::test]
async fn attributes_breaking_the_declared_schema_are_refused_naming_the_field() {
    let dir = TestDir::new();
    let program = script(&dir, "never.sh", "exit 0");
    let server = dir
        .serve(&dir.config(&declared("rollout", &program, "")))
        .await;
    let attributes = json!({"version": "12"}).to_string();
    let params = [
        ("ServiceType", "deploy"),
        ("Operation", "rollout"),
        ("Attributes", attributes.as_str()),
    ];
    let reply = server.call(ROOT, "ExecuteOperationASync", &params).await;
    reply.assert_error(400, "InvalidParameter");
    assert!(reply.message().contains("version"), "{}", reply.message());
}

#[tokio::test]
async fn an_http_executor_posts_the_signed_job_and_its_answer_becomes_the_result() {
    let receiver = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/rollout", receiver.local_addr().unwrap());
    // A receiver that answers with what it was sent: the idempotency key and whether the
    // signature header is there.
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = receiver.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = stream.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                }
                let head = String::from_utf8_lossy(&request).to_lowercase();
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
                        .unwrap_or_default()
                };
                let body = json!({
                    "Message": "accepted",
                    "Arguments": {"key": header("idempotency-key"), "signed": header("x-bpops-signature").starts_with("sha256="), "traceparent": header("traceparent")},
                })
                .to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    let dir = TestDir::new();
    let config = format!(
        "[[operations.declared]]\nservice = \"deploy\"\noperation = \"hook\"\ndisplay_name = \"Hook\"\n\
         executor = {{ kind = \"http\", url = \"{url}\", secret = \"hook-secret\" }}\n"
    );
    let server = dir.serve(&dir.config(&config)).await;
    let id = submit(&server, "hook", &json!({})).await;
    let data = server.wait_final(ROOT, &id, WAIT).await;
    assert_eq!(data["Status"], "SUCCESS", "{data}");
    assert_eq!(data["Message"], "accepted");
    let seen = arguments(&data);
    assert_eq!(
        (&seen["key"], &seen["signed"]),
        (&json!(id.to_lowercase()), &json!(true))
    );
    // The call is a span of the operation's trace, which the submit started.
    let (trace, ..) = parts(seen["traceparent"].as_str().unwrap());
    let listed = server.call(ROOT, "ListExecuteOperations", &[]).await;
    assert_eq!(listed.data()["Operations"][0]["TraceId"], trace.as_str());
}
