//! The `command` executor: one attempt runs a program, without a shell, in a process group of
//! its own, and reads its answer from stdout; plus [`resolve_program`], which the
//! configuration loader uses to find the program while `PATH` is still there to look at.
//! Finding and killing every process of an attempt is in [`tree`](crate::tree).

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use bpops_catalog::CommandSpec;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::FailureKind;
use crate::job::{Failure, Job, OUTPUT_LIMIT, STDERR_TAIL, Success, parse_answer, tail_text};
use crate::tree::{self, Attempt};

/// Runs one attempt of a command operation: the job as JSON on stdin, the answer from
/// stdout. See the crate documentation for the environment and the process rules.
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
        .envs(job.traceparent.iter().map(|t| ("TRACEPARENT", t)))
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // A safety net for the program if this future is dropped mid-run; the attempt's
        // guard below takes care of the rest of its processes.
        .kill_on_drop(true);
    let (mut child, attempt) = tree::spawn(&mut command, &job.operation_id).map_err(|error| {
        Failure::new(
            FailureKind::Exit,
            "CommandNotStarted",
            format!("{}: {error}", spec.program.display()),
        )
    })?;
    let input = job.to_json();

    let ended = {
        let interaction = interact(&mut child, &attempt, input);
        tokio::select! {
            result = interaction => Ended::Finished(result),
            () = tokio::time::sleep(timeout) => Ended::TimedOut,
            () = cancel.cancelled() => Ended::Cancelled,
        }
    };
    let outcome = match ended {
        Ended::Finished(result) => result,
        Ended::TimedOut => Err(Failure::timeout("the program did not finish", timeout)),
        Ended::Cancelled => Err(Failure::cancelled("its program ran")),
    };
    // Done already when the program exited by itself.
    attempt.end().await;
    // Reap the program so no zombie is left; it is dead or dying by now.
    let _ = child.wait().await;
    attempt.reaped();
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
    attempt: &Attempt,
    input: Vec<u8>,
) -> Result<Success, Failure> {
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let exited = CancellationToken::new();
    let exited = &exited;
    // N.B. `move`: the input is freed once written, not when the program ends.
    let feed = async move {
        if let Some(mut stdin) = stdin {
            // A program that exits without reading its input closes the pipe: not an error.
            // N.B. a process it left may hold the pipe open without reading: stop at its exit.
            tokio::select! {
                _ = stdin.write_all(&input) => {}
                () = exited.cancelled() => {}
            }
            // Dropping stdin closes it, so the program sees end of input.
        }
    };
    let exit = async {
        let status = child.wait().await;
        attempt.reaped();
        // N.B. the program has exited: kill what it left behind, in its group or out of it,
        // then read only what its pipes hold already, since a process that escaped the kill
        // could keep them open forever.
        attempt.end().await;
        exited.cancel();
        status
    };
    let mut stdout_head = Head::new(OUTPUT_LIMIT);
    let mut stderr_tail = Tail::new(STDERR_TAIL);
    let ((), status, (), ()) = tokio::join!(
        feed,
        exit,
        read_until_exit(stdout, exited, |bytes| stdout_head.keep(bytes)),
        read_until_exit(stderr, exited, |bytes| stderr_tail.keep(bytes)),
    );
    let stderr = stderr_tail.into_bytes();
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
    if stdout_head.overflow {
        return Err(Failure::bad_output(format!(
            "stdout exceeds {OUTPUT_LIMIT} bytes"
        )));
    }
    parse_answer(&stdout_head.bytes, "stdout")
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

/// Reads `pipe` to its end, or until `exited` and then only what it holds at that moment,
/// handing every chunk to `keep`.
async fn read_until_exit<P>(
    pipe: Option<P>,
    exited: &CancellationToken,
    mut keep: impl FnMut(&[u8]),
) where
    P: AsyncRead + AsFd + Unpin,
{
    let Some(mut pipe) = pipe else {
        return;
    };
    let mut buffer = [0u8; 8192];
    loop {
        tokio::select! {
            biased;
            read = pipe.read(&mut buffer) => match read {
                Ok(n @ 1..) => keep(&buffer[..n]),
                _ => return,
            },
            () = exited.cancelled() => break,
        }
    }
    tree::read_now(&pipe, keep);
}

/// The first `limit` bytes of a stream, and whether more came (dropped, so the writer never
/// blocks).
struct Head {
    bytes: Vec<u8>,
    limit: usize,
    overflow: bool,
}

impl Head {
    fn new(limit: usize) -> Head {
        Head {
            bytes: Vec::new(),
            limit,
            overflow: false,
        }
    }

    fn keep(&mut self, chunk: &[u8]) {
        let room = self.limit - self.bytes.len();
        if chunk.len() > room {
            self.overflow = true;
        }
        let kept = &chunk[..chunk.len().min(room)];
        // Doubling as usual, but never past the limit: many attempts read at once.
        let needed = self.bytes.len() + kept.len();
        if needed > self.bytes.capacity() {
            let capacity = (2 * self.bytes.capacity()).max(needed).min(self.limit);
            self.bytes.reserve_exact(capacity - self.bytes.len());
        }
        self.bytes.extend_from_slice(kept);
    }
}

/// The last `limit` bytes of a stream.
struct Tail {
    bytes: Vec<u8>,
    limit: usize,
}

impl Tail {
    fn new(limit: usize) -> Tail {
        Tail {
            bytes: Vec::new(),
            limit,
        }
    }

    fn keep(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        // Trim only once the buffer holds twice the limit, so trimming costs O(1) per byte.
        if self.bytes.len() > 2 * self.limit {
            self.bytes.drain(..self.bytes.len() - self.limit);
        }
    }

    fn into_bytes(mut self) -> Vec<u8> {
        let excess = self.bytes.len().saturating_sub(self.limit);
        self.bytes.drain(..excess);
        self.bytes
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

    #[test]
    fn head_keeps_the_start_and_reports_overflow() {
        let mut head = Head::new(4);
        head.keep(b"abc");
        assert_eq!((head.bytes.as_slice(), head.overflow), (&b"abc"[..], false));
        head.keep(b"def");
        assert_eq!((head.bytes.as_slice(), head.overflow), (&b"abcd"[..], true));
        assert_eq!(head.bytes.capacity(), 4);
    }

    #[test]
    fn tail_keeps_the_end() {
        let mut tail = Tail::new(10);
        for byte in 0..100u8 {
            tail.keep(&[byte]);
        }
        assert_eq!(tail.into_bytes(), (90..100u8).collect::<Vec<u8>>());
    }
}
