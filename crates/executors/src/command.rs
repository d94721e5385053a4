//! The `command` executor: one attempt runs a program, without a shell, in a process group of
//! its own, and reads its answer from stdout; plus [`resolve_program`], which the
//! configuration loader uses to find the program while `PATH` is still there to look at.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bpops_catalog::CommandSpec;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::FailureKind;
use crate::job::{Failure, Job, OUTPUT_LIMIT, STDERR_TAIL, Success, parse_answer, tail_text};

/// Runs one attempt of a command operation: the job as JSON on stdin, the answer from
/// stdout. See the crate documentation for the environment and the process-group rules.
pub async fn run_command(
    spec: &CommandSpec,
    job: &Job,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Success, Failure> {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .env("BPOPS_OPERATION_ID", &job.operation_id)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // A safety net for the leader if this future is dropped mid-run; the group guard
        // below takes care of the rest of the group.
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|error| {
        Failure::new(
            FailureKind::Exit,
            "CommandNotStarted",
            format!("{}: {error}", spec.program.display()),
        )
    })?;
    let group = ProcessGroup::of(&child);
    let input = job.to_json();

    let ended = {
        let interaction = interact(&mut child, &group, input);
        tokio::select! {
            result = interaction => Ended::Finished(result),
            () = tokio::time::sleep(timeout) => Ended::TimedOut,
            () = cancel.cancelled() => Ended::Cancelled,
        }
    };
    let outcome = match ended {
        Ended::Finished(result) => result,
        Ended::TimedOut => {
            group.kill();
            Err(Failure::timeout("the program did not finish", timeout))
        }
        Ended::Cancelled => {
            group.kill();
            Err(Failure::cancelled("its program ran"))
        }
    };
    // Reap the leader so no zombie is left; it is dead or dying by now.
    let _ = child.wait().await;
    group.disarm();
    outcome
}

/// How the race between the program, the clock and the cancel token ended.
enum Ended {
    Finished(Result<Success, Failure>),
    TimedOut,
    Cancelled,
}

/// Feeds stdin, drains stdout and stderr, and waits for the program, all at once so that a
/// program blocked on a full pipe cannot deadlock against us.
async fn interact(
    child: &mut Child,
    group: &ProcessGroup,
    input: Vec<u8>,
) -> Result<Success, Failure> {
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A program that exits without reading its input closes the pipe: not an error.
            let _ = stdin.write_all(&input).await;
            // Dropping stdin closes it, so the program sees end of input.
        }
    };
    let exit = async {
        let status = child.wait().await;
        // N.B. the leader has exited; kill what it left behind in its group, which also
        // closes any copy of stdout or stderr a leftover process still holds, so the reads
        // below finish. The leader is reaped already, but its group id cannot be reused while
        // any member lives, and once none does the kill finds no one.
        group.kill();
        status
    };
    let ((), status, (stdout, overflow), (stderr, _)) = tokio::join!(
        feed,
        exit,
        read_bounded(stdout, OUTPUT_LIMIT),
        read_tail(stderr, STDERR_TAIL),
    );
    let status = status.map_err(|error| {
        Failure::new(
            FailureKind::Exit,
            "CommandFailed",
            format!("waiting for the program failed: {error}"),
        )
    })?;
    if !status.success() {
        return Err(exit_failure(status, &stderr));
    }
    if overflow {
        return Err(Failure::bad_output(format!(
            "stdout exceeds {OUTPUT_LIMIT} bytes"
        )));
    }
    parse_answer(&stdout, "stdout")
}

fn exit_failure(status: ExitStatus, stderr: &[u8]) -> Failure {
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended abnormally".to_string(),
    };
    let tail = tail_text(stderr, STDERR_TAIL);
    if tail.is_empty() {
        Failure::new(FailureKind::Exit, "CommandFailed", how)
    } else {
        Failure::new(FailureKind::Exit, "CommandFailed", format!("{how}: {tail}"))
    }
}

/// Reads everything, keeping the first `limit` bytes; the rest is drained and dropped so the
/// writer never blocks. Returns the kept bytes and whether anything was dropped.
async fn read_bounded(pipe: Option<impl AsyncRead + Unpin>, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut overflow = false;
    let Some(mut pipe) = pipe else {
        return (kept, overflow);
    };
    let mut buffer = [0u8; 8192];
    while let Ok(n @ 1..) = pipe.read(&mut buffer).await {
        let room = limit - kept.len();
        if n > room {
            overflow = true;
        }
        kept.extend_from_slice(&buffer[..n.min(room)]);
    }
    (kept, overflow)
}

/// Reads everything, keeping only the last `limit` bytes.
async fn read_tail(pipe: Option<impl AsyncRead + Unpin>, limit: usize) -> (Vec<u8>, ()) {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return (kept, ());
    };
    let mut buffer = [0u8; 8192];
    while let Ok(n @ 1..) = pipe.read(&mut buffer).await {
        kept.extend_from_slice(&buffer[..n]);
        // Trim only once the buffer holds twice the limit, so trimming costs O(1) per byte.
        if kept.len() > 2 * limit {
            kept.drain(..kept.len() - limit);
        }
    }
    let excess = kept.len().saturating_sub(limit);
    kept.drain(..excess);
    (kept, ())
}

/// The program's process group (its id is the leader's pid, from `process_group(0)`). Killed
/// on demand and, as a last resort, when dropped while still armed: a future dropped mid-run
/// (engine shutdown) must not leave the group running.
struct ProcessGroup {
    id: Option<Pid>,
    armed: AtomicBool,
}

impl ProcessGroup {
    fn of(child: &Child) -> ProcessGroup {
        let id = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw);
        ProcessGroup {
            id,
            armed: AtomicBool::new(true),
        }
    }

    /// Sends SIGKILL to every process of the group. A group that is already gone (ESRCH) is
    /// the expected case after a clean exit, so errors are ignored.
    fn kill(&self) {
        if let Some(id) = self.id
            && self.armed.load(Ordering::Acquire)
        {
            let _ = killpg(id, Signal::SIGKILL);
        }
    }

    /// After the final kill and reap, the id may be reused by another process group: stop
    /// sending signals to it.
    fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Finds `program` for a command executor, reading `PATH` from bpops's own environment: an
/// absolute path must be an executable file; a bare name is looked up in `PATH`'s absolute
/// directories. The error says why, for the configuration error.
pub fn resolve_program(program: &str) -> Result<PathBuf, String> {
    resolve_program_in(program, std::env::var_os("PATH").as_deref())
}

/// [`resolve_program`] with `PATH` given explicitly (`None`: not set).
pub fn resolve_program_in(program: &str, path: Option<&OsStr>) -> Result<PathBuf, String> {
    let candidate = Path::new(program);
    if candidate.is_absolute() {
        return match executable(candidate) {
            Ok(()) => Ok(candidate.to_path_buf()),
            Err(why) => Err(why.to_string()),
        };
    }
    if program.contains('/') {
        return Err("is neither an absolute path nor a program name".to_string());
    }
    let Some(path) = path else {
        return Err("is not an absolute path, and PATH is not set".to_string());
    };
    // Relative PATH entries (`.`) would depend on bpops's working directory: skipped.
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|full| executable(full).is_ok())
        .ok_or_else(|| "was not found on PATH".to_string())
}

fn executable(path: &Path) -> Result<(), &'static str> {
    let metadata = std::fs::metadata(path).map_err(|_| "does not exist")?;
    if !metadata.is_file() {
        return Err("is not a file");
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err("is not executable");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_programs_must_be_executable_files() {
        assert_eq!(
            resolve_program_in("/bin/sh", None),
            Ok(PathBuf::from("/bin/sh"))
        );
        assert_eq!(
            resolve_program_in("/no/such/program", None),
            Err("does not exist".to_string())
        );
        assert_eq!(
            resolve_program_in("/", None),
            Err("is not a file".to_string())
        );
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "data").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            resolve_program_in(plain.to_str().unwrap(), None),
            Err("is not executable".to_string())
        );
    }

    #[test]
    fn names_are_looked_up_in_absolute_path_entries_only() {
        let path = OsStr::new(".:/nonexistent:/bin:/usr/bin");
        let found = resolve_program_in("sh", Some(path)).unwrap();
        assert!(found.is_absolute() && found.ends_with("sh"), "{found:?}");
        assert_eq!(
            resolve_program_in("no-such-program-here", Some(path)),
            Err("was not found on PATH".to_string())
        );
        assert!(resolve_program_in("sh", None).is_err());
        assert!(resolve_program_in("bin/sh", Some(path)).is_err());
    }

    #[tokio::test]
    async fn bounded_read_keeps_the_start_and_reports_overflow() {
        let (kept, overflow) = read_bounded(Some(&b"abcdef"[..]), 4).await;
        assert_eq!((kept.as_slice(), overflow), (&b"abcd"[..], true));
        let (kept, overflow) = read_bounded(Some(&b"abc"[..]), 4).await;
        assert_eq!((kept.as_slice(), overflow), (&b"abc"[..], false));
    }

    #[tokio::test]
    async fn tail_read_keeps_the_end() {
        let long: Vec<u8> = (0..100u8).collect();
        let (kept, ()) = read_tail(Some(long.as_slice()), 10).await;
        assert_eq!(kept, (90..100u8).collect::<Vec<u8>>());
    }
}
