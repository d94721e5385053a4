//! The client subcommands run as a user would run them: the real binary against a real
//! server, judged by exit status and output.

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Key, ROOT, RUNNING_INSTANCE, Server, TestDir, add_tags};
use crate::extensions::{SLOW_RENAME, running_rename};

/// Runs `bpops <args>` against `server` with the root key from the environment.
pub(crate) async fn bpops(server: &Server, args: &[&str]) -> Output {
    bpops_as(server, ROOT, args).await
}

/// Runs `bpops <args>` against `server` with `key` from the environment.
pub(crate) async fn bpops_as(server: &Server, key: Key<'_>, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_bpops"))
        .args(args)
        .env("BPOPS_ENDPOINT", format!("http://{}", server.host()))
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", key.id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", key.secret)
        .output()
        .await
        .expect("running bpops")
}

/// The JSON a `--json` command printed.
pub(crate) fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const SLOW_FAILING_RENAME: &str = "[[operations.emulation]]\nservice = \"ecs\"\n\
     operation = \"rename\"\nlatency = \"300ms\"\nfailure_rate = 1.0\n";

#[tokio::test]
async fn exec_with_wait_exits_0_on_success_with_the_result_as_json() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let tags = r#"{"env":"prod"}"#;
    let output = bpops(
        &server,
        &[
            "exec",
            "ecs",
            "addTags",
            "--attr",
            &format!("instanceId={RUNNING_INSTANCE}"),
            "--attr",
            &format!("tags={tags}"),
            "--application",
            "APP-WEB",
            "--wait",
            "--json",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let data = json(&output);
    assert_eq!(data["Status"], "SUCCESS");
    let arguments: Value = serde_json::from_str(data["Arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments["tagMap"]["env"][0], RUNNING_INSTANCE);
}

#[tokio::test]
async fn wait_exits_1_when_the_operation_fails() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(SLOW_FAILING_RENAME)).await;
    let submitted = bpops(
        &server,
        &[
            "exec",
            "ecs",
            "rename",
            "--attributes-json",
            &format!(r#"{{"instanceId":"{RUNNING_INSTANCE}","instance_name":"renamed"}}"#),
        ],
    )
    .await;
    assert_eq!(submitted.status.code(), Some(0), "{submitted:?}");
    let id = stdout(&submitted).trim().to_owned();
    assert!(id.starts_with("op_"), "{id}");

    let waited = bpops(&server, &["wait", &id]).await;
    assert_eq!(waited.status.code(), Some(1), "{waited:?}");
    let text = stdout(&waited);
    assert!(
        text.contains("FAILURE") && text.contains("InjectedFailure"),
        "{text}"
    );
    assert!(
        !text.contains('\x1b'),
        "no colour when stdout is not a terminal: {text:?}"
    );
}

#[tokio::test]
async fn get_and_wait_exit_3_for_an_unknown_operation() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    for command in ["get", "wait"] {
        let output = bpops(&server, &[command, "op_0000000000000000000000", "--json"]).await;
        assert_eq!(output.status.code(), Some(3), "{command}: {output:?}");
        assert_eq!(json(&output), Value::Null);
    }
}

#[tokio::test]
async fn refusals_usage_and_transport_errors_exit_2() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let refused = bpops(
        &server,
        &["exec", "ecs", "rename", "--attr", "instanceId=i-1"],
    )
    .await;
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("InvalidParameter"),
        "{refused:?}"
    );

    let usage = bpops(&server, &["exec", "ecs"]).await;
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = tokio::process::Command::new(env!("CARGO_BIN_EXE_bpops"))
        .args(["services", "--endpoint", &format!("http://{closed}")])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", ROOT.id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ROOT.secret)
        .output()
        .await
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(2), "{unreachable:?}");
}

#[tokio::test]
async fn catalog_commands_print_tables_or_json() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let services = bpops(&server, &["services", "--json"]).await;
    assert_eq!(json(&services), serde_json::json!(["ecs", "slb"]));

    let table = stdout(&bpops(&server, &["operations", "ecs"]).await);
    let mut lines = table.lines();
    assert!(
        lines.next().unwrap().starts_with("SERVICE  OPERATION"),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("ecs      addTags")),
        "{table}"
    );

    let params = bpops(&server, &["params", "ecs", "rename", "--json"]).await;
    let schema = &json(&params)["Attributes"];
    assert_eq!(schema["type"], "object");
    assert!(
        schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "instance_name")
    );
}

#[tokio::test]
async fn wait_gives_up_at_its_timeout_with_exit_4_and_a_human_duration() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(SLOW_RENAME)).await;
    let id = running_rename(&server).await;

    let timed = |timeout: &'static str| {
        let (server, id) = (&server, &id);
        async move {
            let started = Instant::now();
            let output = bpops(server, &["wait", id, "--timeout", timeout]).await;
            (started.elapsed(), output)
        }
    };
    let ((one, one_out), (three, three_out)) = tokio::join!(timed("1s"), timed("3s"));
    for (elapsed, output, limit, text) in [
        (one, one_out, Duration::from_secs(1), "timed out after 1s"),
        (
            three,
            three_out,
            Duration::from_secs(3),
            "timed out after 3s",
        ),
    ] {
        assert_eq!(output.status.code(), Some(4), "{output:?}");
        // The server is asked for the time left, never the whole 10 s.
        assert!(
            (limit..limit + Duration::from_millis(700)).contains(&elapsed),
            "--timeout {limit:?} waited {elapsed:?}"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(text) && stderr.contains("RUNNING"),
            "{stderr}"
        );
    }
}

#[tokio::test]
async fn the_list_hint_is_the_next_page_with_the_same_filters_and_size() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(SLOW_RENAME)).await;
    running_rename(&server).await;
    let mut queued = Vec::new();
    for n in 0..3 {
        let tags = serde_json::json!({"n": n.to_string()});
        queued.push(
            server
                .submit("addTags", &add_tags(RUNNING_INSTANCE, tags))
                .await,
        );
    }

    let first = bpops(
        &server,
        &["list", "--operation", "addTags", "--max-results", "1"],
    )
    .await;
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    assert!(stdout(&first).contains(&queued[2]), "{}", stdout(&first));
    let stderr = String::from_utf8_lossy(&first.stderr).into_owned();
    let hint = stderr
        .lines()
        .find_map(|line| line.strip_prefix("more: "))
        .unwrap_or_else(|| panic!("no hint: {stderr}"));
    let command = hint.trim_end_matches(" (or --all)");
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[..2], ["bpops", "list"], "{hint}");

    // The suggested command, run as printed, is the second page: one addTags.
    let mut args = words[1..].to_vec();
    args.push("--json");
    let next = json(&bpops(&server, &args).await);
    let listed: Vec<&str> = next["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| op["OperationId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [queued[1].as_str()], "{hint}");
}

#[tokio::test]
async fn malformed_attributes_json_names_the_error_and_where() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let output = bpops(
        &server,
        &["exec", "ecs", "addTags", "--attributes-json", "{not json"],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--attributes-json") && stderr.contains("line 1 column 2"),
        "{stderr}"
    );
}

#[tokio::test]
async fn missing_credentials_name_both_environment_variables() {
    for (set, value) in [
        (None, ""),
        (Some("ALIBABA_CLOUD_ACCESS_KEY_ID"), ROOT.id),
        (Some("ALIBABA_CLOUD_ACCESS_KEY_SECRET"), ROOT.secret),
    ] {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_bpops"));
        command
            .arg("services")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET");
        if let Some(name) = set {
            command.env(name, value);
        }
        let output = command.output().await.unwrap();
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("ALIBABA_CLOUD_ACCESS_KEY_ID")
                && stderr.contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
            "with only {set:?} set: {stderr}"
        );
    }
}
