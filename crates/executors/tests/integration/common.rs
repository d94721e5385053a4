//! Helpers shared by the executor tests.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bpops_catalog::CommandSpec;
use bpops_executors::{Failure, Job, Success, run_command};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// A job for `deploy/rollout` with a version attribute.
pub fn job(operation_id: &str) -> Job {
    Job {
        operation_id: operation_id.to_string(),
        service: "deploy".to_string(),
        operation: "rollout".to_string(),
        attributes: json!({"version": "v12"}).as_object().unwrap().clone(),
        application: Some("APP-WEB".to_string()),
        attempt: 1,
        traceparent: Some(TRACEPARENT.to_string()),
    }
}

/// The span [`job`] runs in.
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Writes an executable `#!/bin/sh` script named `name` into `dir`.
pub fn script(dir: &Path, name: &str, body: &str) -> CommandSpec {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    CommandSpec {
        program: path,
        args: Vec::new(),
    }
}

/// Runs a command, retrying while the kernel says "Text file busy": a script written by one
/// test can briefly be held open for writing by a process another test is forking at that
/// moment (a known hazard of writing and executing files in one multi-threaded process).
pub async fn run(
    spec: &CommandSpec,
    job: &Job,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Success, Failure> {
    for _ in 0..50 {
        match run_command(spec, job, timeout, cancel).await {
            Err(failure) if failure.message.contains("Text file busy") => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
    panic!("{} stayed busy", spec.program.display());
}

/// Reads a pid a script wrote to `file`, waiting for the file to appear.
pub async fn read_pid(file: &Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether `pid` is gone or a zombie (dead, waiting for a parent that may never reap it, as
/// a reparented process in a container can be).
pub fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name, which is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// Asserts `pid` dies within a few seconds.
pub async fn assert_dies(pid: i32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !is_dead(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) is still alive"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A fresh temporary directory and its path.
pub fn tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    (dir, path)
}
