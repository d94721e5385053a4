//! The `command` executor against real `#!/bin/sh` scripts.

use std::time::{Duration, Instant};

use bpops_catalog::CommandSpec;
use bpops_executors::{FailureKind, OUTPUT_LIMIT, RESULT_LIMIT, STDERR_TAIL, run_command};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::common::{TRACEPARENT, assert_dies, is_dead, job, read_pid, run, script, tempdir};

const LONG: Duration = Duration::from_secs(20);

#[tokio::test]
async fn stdout_json_gives_arguments_and_message() {
    let (_guard, dir) = tempdir();
    let spec = script(
        &dir,
        "ok.sh",
        r#"/bin/cat >/dev/null
echo '{"Arguments": {"url": "https://app.example/v12"}, "Message": "rolled out"}'"#,
    );
    let success = run(&spec, &job("op_ok"), LONG, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(success.message, "rolled out");
    let arguments: Value = serde_json::from_str(&success.arguments).unwrap();
    assert_eq!(arguments, json!({"url": "https://app.example/v12"}));
}

#[tokio::test]
async fn program_gets_the_job_on_stdin_and_only_the_operation_id_and_trace_in_its_environment() {
    let (_guard, dir) = tempdir();
    let environ = dir.join("environ");
    let spec = script(
        &dir,
        "echo.sh",
        &format!(
            r#"/bin/cat /proc/$$/environ > '{environ}'
input=$(/bin/cat)
printf '{{"Arguments": %s, "Message": "%s"}}' "$input" "$BPOPS_OPERATION_ID""#,
            environ = environ.display()
        ),
    );
    let sent = job("op_EchoMe0000000000000000");
    let success = run(&spec, &sent, LONG, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(success.message, "op_EchoMe0000000000000000");
    let received: Value = serde_json::from_str(&success.arguments).unwrap();
    assert_eq!(
        received,
        serde_json::from_slice::<Value>(&sent.to_json()).unwrap()
    );
    assert_eq!(received["OperationId"], "op_EchoMe0000000000000000");
    assert_eq!(received["ApplicationId"], "APP-WEB");
    assert_eq!(received["Attempt"], 1);
    // The environment the program was started with, exactly: no HOME, no PATH, nothing of
    // bpops's own.
    let environ = std::fs::read(&environ).unwrap();
    let variables: Vec<&[u8]> = environ
        .split(|byte| *byte == 0)
        .filter(|entry| !entry.is_empty())
        .collect();
    let traceparent = format!("TRACEPARENT={TRACEPARENT}");
    assert_eq!(
        variables,
        vec![
            &b"BPOPS_OPERATION_ID=op_EchoMe0000000000000000"[..],
            traceparent.as_bytes()
        ]
    );
    assert!(
        !String::from_utf8_lossy(&sent.to_json()).contains("traceparent"),
        "the trace is passed beside the job, not in it"
    );
}

#[tokio::test]
async fn arguments_are_passed_without_a_shell() {
    let (_guard, dir) = tempdir();
    let mut spec = script(
        &dir,
        "args.sh",
        r#"printf '{"Arguments": {"first": "%s", "count": %d}}' "$1" "$#""#,
    );
    spec.args = vec!["a b; echo $HOME".to_string(), "*".to_string()];
    let success = run(&spec, &job("op_args"), LONG, &CancellationToken::new())
        .await
        .unwrap();
    let arguments: Value = serde_json::from_str(&success.arguments).unwrap();
    assert_eq!(arguments, json!({"first": "a b; echo $HOME", "count": 2}));
}

#[tokio::test]
async fn non_zero_exit_fails_with_the_stderr_tail() {
    let (_guard, dir) = tempdir();
    let spec = script(
        &dir,
        "fail.sh",
        "echo 'starting' >&2\necho 'rollout failed: disk full' >&2\nexit 3",
    );
    let failure = run(&spec, &job("op_fail"), LONG, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Exit);
    assert_eq!(
        failure.message,
        "CommandFailed: exit status 3: starting\nrollout failed: disk full"
    );
}

#[tokio::test]
async fn long_stderr_is_cut_to_its_last_bytes() {
    let (_guard, dir) = tempdir();
    let spec = script(
        &dir,
        "noisy.sh",
        "i=0\nwhile [ $i -lt 500 ]; do echo \"line $i of noise\" >&2; i=$((i+1)); done\nexit 1",
    );
    let failure = run(&spec, &job("op_noisy"), LONG, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Exit);
    assert!(failure.message.ends_with("line 499 of noise"), "{failure}");
    assert!(!failure.message.contains("line 0 of noise"), "{failure}");
    assert!(failure.message.len() <= "CommandFailed: exit status 1: ".len() + STDERR_TAIL);
}

#[tokio::test]
async fn success_status_with_bad_stdout_is_bad_output() {
    let (_guard, dir) = tempdir();
    for (name, body, expected) in [
        ("text.sh", "echo 'all good'", "stdout is not JSON"),
        ("array.sh", "echo '[1, 2]'", "stdout must be a JSON object"),
        ("empty.sh", "true", "stdout is not JSON"),
        (
            "huge.sh",
            "/usr/bin/head -c 2000000 /dev/zero",
            &format!("stdout exceeds {OUTPUT_LIMIT} bytes"),
        ),
    ] {
        let spec = script(&dir, name, body);
        let failure = run(&spec, &job("op_bad"), LONG, &CancellationToken::new())
            .await
            .unwrap_err();
        assert_eq!(failure.kind, FailureKind::BadOutput, "{name}");
        assert!(
            failure.message.starts_with("ExecutorBadOutput: "),
            "{name}: {failure}"
        );
        assert!(failure.message.contains(expected), "{name}: {failure}");
    }
}

#[tokio::test]
async fn arguments_and_message_over_the_cap_are_bad_output() {
    let (_guard, dir) = tempdir();
    // Prints {"<key>": "aaa…"} with a string of $1 characters: $1 + 2 bytes of JSON text.
    let answer = |name: &str, key: &str, characters: usize| {
        script(
            &dir,
            name,
            &format!(
                "printf '{{\"{key}\": \"'\n/usr/bin/head -c {characters} /dev/zero | \
                 /usr/bin/tr '\\0' a\nprintf '\"}}'"
            ),
        )
    };
    let at_cap = answer("at-cap.sh", "Arguments", RESULT_LIMIT - 2);
    let success = run(&at_cap, &job("op_at_cap"), LONG, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(success.arguments.len(), RESULT_LIMIT);
    for (name, key, characters, bytes) in [
        (
            "arguments-over.sh",
            "Arguments",
            RESULT_LIMIT - 1,
            RESULT_LIMIT + 1,
        ),
        (
            "message-over.sh",
            "Message",
            RESULT_LIMIT + 1,
            RESULT_LIMIT + 1,
        ),
    ] {
        let spec = answer(name, key, characters);
        let failure = run(&spec, &job("op_over_cap"), LONG, &CancellationToken::new())
            .await
            .unwrap_err();
        assert_eq!(failure.kind, FailureKind::BadOutput, "{name}");
        assert_eq!(
            failure.message,
            format!(
                "ExecutorBadOutput: \"{key}\" in stdout is {bytes} bytes, over the limit of \
                 {RESULT_LIMIT}"
            ),
            "{name}"
        );
    }
}

/// A script that starts a background sleeper, records both pids, and then sleeps itself.
fn sleeper(dir: &std::path::Path) -> CommandSpec {
    script(
        dir,
        "sleeper.sh",
        &format!(
            "/bin/sleep 30 &\necho $! > '{child}'\necho $$ > '{leader}'\n/bin/sleep 30",
            child = dir.join("child.pid").display(),
            leader = dir.join("leader.pid").display(),
        ),
    )
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let (_guard, dir) = tempdir();
    let spec = sleeper(&dir);
    let started = Instant::now();
    let failure = run(
        &spec,
        &job("op_slow"),
        Duration::from_millis(500),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Timeout);
    assert_eq!(
        failure.message,
        "ExecutorTimeout: the program did not finish within 500ms"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    let child = read_pid(&dir.join("child.pid")).await;
    let leader = read_pid(&dir.join("leader.pid")).await;
    assert_dies(child, "the background sleeper").await;
    assert!(is_dead(leader), "the script itself is still alive");
}

#[tokio::test]
async fn cancel_kills_the_whole_process_group() {
    let (_guard, dir) = tempdir();
    let spec = sleeper(&dir);
    let cancel = CancellationToken::new();
    let job = job("op_cancel");
    let attempt = run(&spec, &job, LONG, &cancel);
    let canceller = async {
        // Cancel only once the script has started its background child.
        let child = read_pid(&dir.join("child.pid")).await;
        cancel.cancel();
        child
    };
    let started = Instant::now();
    let (result, child) = tokio::join!(attempt, canceller);
    let failure = result.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Cancelled);
    assert!(
        failure.message.starts_with("OperationCancelled: "),
        "{failure}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_dies(child, "the background sleeper").await;
    assert!(is_dead(read_pid(&dir.join("leader.pid")).await));
}

#[tokio::test]
async fn processes_left_behind_by_a_finished_program_are_killed() {
    let (_guard, dir) = tempdir();
    // The leftover keeps stdout open: without the group kill, reading the answer would
    // wait for it for 30 s.
    let spec = script(
        &dir,
        "leftover.sh",
        &format!(
            "/bin/sleep 30 &\necho $! > '{child}'\necho '{{\"Arguments\": {{}}}}'",
            child = dir.join("child.pid").display()
        ),
    );
    let started = Instant::now();
    let success = run(&spec, &job("op_left"), LONG, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(success.arguments, "{}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_dies(
        read_pid(&dir.join("child.pid")).await,
        "the leftover sleeper",
    )
    .await;
}

/// A script that starts a process in a session of its own (out of reach of the group kill),
/// which starts a child of its own; both hold stdout open. The script records the three pids
/// and sleeps once both are up.
fn escaper(dir: &std::path::Path) -> CommandSpec {
    script(
        dir,
        "escaper.sh",
        &format!(
            "/usr/bin/setsid /bin/sh -c '/bin/sleep 100 & echo $! > {grandchild}; \
             echo $$ > {escaped}; exec /bin/sleep 100' &\n\
             echo $$ > '{leader}'\n\
             until [ -s '{grandchild}' ] && [ -s '{escaped}' ]; do /bin/sleep 0.01; done\n\
             /bin/sleep 100",
            grandchild = dir.join("grandchild.pid").display(),
            escaped = dir.join("escaped.pid").display(),
            leader = dir.join("leader.pid").display(),
        ),
    )
}

/// Asserts that the leader, the escaped process and its child are all dead.
async fn assert_escaper_dies(dir: &std::path::Path) {
    for (file, what) in [
        ("escaped.pid", "the process in its own session"),
        ("grandchild.pid", "its child"),
        ("leader.pid", "the script"),
    ] {
        assert_dies(read_pid(&dir.join(file)).await, what).await;
    }
}

#[tokio::test]
async fn timeout_kills_descendants_that_left_the_group() {
    let (_guard, dir) = tempdir();
    let spec = escaper(&dir);
    let started = Instant::now();
    let failure = run(
        &spec,
        &job("op_escaper_timeout"),
        Duration::from_secs(1),
        &CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Timeout, "{failure}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_escaper_dies(&dir).await;
}

#[tokio::test]
async fn cancel_kills_descendants_that_left_the_group() {
    let (_guard, dir) = tempdir();
    let spec = escaper(&dir);
    let cancel = CancellationToken::new();
    let job = job("op_escaper_cancel");
    let attempt = run(&spec, &job, LONG, &cancel);
    let canceller = async {
        // Cancel only once both escaped processes are up.
        read_pid(&dir.join("grandchild.pid")).await;
        read_pid(&dir.join("escaped.pid")).await;
        cancel.cancel();
    };
    let started = Instant::now();
    let (result, ()) = tokio::join!(attempt, canceller);
    let failure = result.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Cancelled, "{failure}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_escaper_dies(&dir).await;
}

#[tokio::test]
async fn a_program_that_exits_is_not_held_by_processes_that_left_the_group() {
    let (_guard, dir) = tempdir();
    // Two processes hold stdout open after the script exits: one in a session of its own,
    // and one also orphaned (its parent, a subshell, exits) with a cleared environment.
    let spec = script(
        &dir,
        "lingering.sh",
        &format!(
            "/usr/bin/setsid /bin/sleep 100 &\necho $! > '{lingering}'\n\
             (/usr/bin/env -i /usr/bin/setsid /bin/sleep 100 & echo $! > '{orphan}')\n\
             echo '{{\"Arguments\": {{\"done\": true}}}}'",
            lingering = dir.join("lingering.pid").display(),
            orphan = dir.join("orphan.pid").display(),
        ),
    );
    let started = Instant::now();
    let success = run(&spec, &job("op_lingering"), LONG, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(success.arguments, r#"{"done":true}"#);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    for file in ["lingering.pid", "orphan.pid"] {
        assert_dies(read_pid(&dir.join(file)).await, file).await;
    }
}

#[tokio::test]
async fn a_program_that_cannot_start_is_an_exit_failure() {
    let spec = CommandSpec {
        program: "/nonexistent/bpops-test-program".into(),
        args: Vec::new(),
    };
    let failure = run_command(&spec, &job("op_missing"), LONG, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Exit);
    assert!(
        failure
            .message
            .starts_with("CommandNotStarted: /nonexistent/bpops-test-program"),
        "{failure}"
    );
}

#[tokio::test]
async fn a_program_killed_by_a_signal_says_so() {
    let (_guard, dir) = tempdir();
    let spec = script(&dir, "suicide.sh", "kill -9 $$");
    let failure = run(&spec, &job("op_signal"), LONG, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(failure.kind, FailureKind::Exit);
    assert_eq!(failure.message, "CommandFailed: killed by signal 9");
}
