//! Every process of a command attempt, and ending them all: the program, its process group,
//! and the descendants that left the group (`setsid`) or lost their parent.
//!
//! Before the first program starts, bpops makes itself a child subreaper
//! (`PR_SET_CHILD_SUBREAPER`): a descendant whose parent dies is re-parented to bpops rather
//! than to init, so every process an attempt started stays a descendant of bpops, findable
//! through the parent links in `/proc`, and bpops reaps it. Nothing outside bpops's own
//! descendants is ever signalled, so a reused pid cannot make it kill a stranger.
//!
//! When an attempt ends (its program exited, timed out or was cancelled), its processes are
//! stopped (`SIGSTOP`: a stopped process cannot fork while we look), looked for again until
//! no new one appears and all are stopped, then killed (`SIGKILL`). Its processes are the
//! members of its process group, the program while it is not reaped, the **orphans** (children
//! re-parented to bpops) that no running attempt claims, and all their descendants. A running
//! attempt claims an orphan in its process group or carrying its `BPOPS_OPERATION_ID` in its
//! environment (inherited unless a process clears it); an unclaimed orphan belongs to an
//! attempt that ended, and goes with the next one that ends.
//!
//! Reaping must not steal an exit status tokio waits for. Tokio waits for each program by its
//! pid (never `waitpid(-1)`); bpops reaps only orphans, by pid: never a program tokio has not
//! reaped yet (each is registered from its spawn, under the registry's lock, until tokio has
//! reaped it), nor a child in bpops's own process group (one something else started).

use std::collections::{HashMap, HashSet};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, Once};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::{Pid, getpgrp};
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};

/// How long an ending attempt waits for the processes it killed to be reaped; one stuck in
/// the kernel is reaped by a later attempt's end instead.
const REAP_WAIT: Duration = Duration::from_secs(2);

/// How many times the processes are looked for while stopping them, at most; each look is
/// one read of `/proc`.
const STOP_ROUNDS: usize = 50;

/// The programs and attempts of this process.
#[derive(Default)]
struct Registry {
    /// Programs started and not yet reaped by tokio: never reaped here.
    programs: HashSet<i32>,
    /// Running attempts: process group id to operation id.
    running: HashMap<i32, String>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves the sets as consistent as before it.
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The processes of one attempt: its program's process group (whose id is the program's
/// pid) and its operation id. Ending it kills them all; dropping it unended does the same.
pub(crate) struct Attempt {
    group: i32,
    ended: AtomicBool,
}

/// Starts `command` (which must put the program in a process group of its own) as an attempt
/// of `operation_id`.
pub(crate) fn spawn(
    command: &mut Command,
    operation_id: &str,
) -> std::io::Result<(Child, Attempt)> {
    static SUBREAPER: Once = Once::new();
    // Without it (it cannot fail on Linux), orphans go to init: the group and the program's
    // live descendants are still killed.
    SUBREAPER.call_once(|| {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    });
    let mut registry = registry();
    let child = command.spawn()?;
    let group = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .expect("a child just spawned has a pid");
    registry.programs.insert(group);
    registry.running.insert(group, operation_id.to_owned());
    let attempt = Attempt {
        group,
        ended: AtomicBool::new(false),
    };
    Ok((child, attempt))
}

impl Attempt {
    /// Kills every process of the attempt and waits (a bounded time) until the killed are
    /// reaped.
    pub(crate) async fn end(&self) {
        // Created before the kill, so no SIGCHLD of a killed process is missed.
        let mut children = signal(SignalKind::child()).ok();
        let Some(killed) = self.kill().filter(|killed| !killed.is_empty()) else {
            return;
        };
        let deadline = tokio::time::Instant::now() + REAP_WAIT;
        loop {
            let left = {
                let registry = registry();
                reap_orphans(&Snapshot::read(), &registry);
                // Left: not reaped yet, here or by a parent; the program is tokio's to reap.
                let after = Snapshot::read();
                killed
                    .iter()
                    .any(|pid| after.is_mine(*pid) && !registry.programs.contains(pid))
            };
            if !left {
                return;
            }
            let Some(children) = children.as_mut() else {
                return;
            };
            if tokio::time::timeout_at(deadline, children.recv())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// Tokio has reaped the program: its pid is free for the system to reuse.
    pub(crate) fn reaped(&self) {
        registry().programs.remove(&self.group);
    }

    /// Stops and kills every process of the attempt, once; returns the pids killed.
    fn kill(&self) -> Option<Vec<i32>> {
        if self.ended.swap(true, Ordering::AcqRel) {
            return None;
        }
        let mut registry = registry();
        registry.running.remove(&self.group);
        let mut stopped = HashSet::new();
        for _ in 0..STOP_ROUNDS {
            let snapshot = Snapshot::read();
            let members = snapshot.descendants(self.roots(&snapshot, &registry));
            let settled = members.iter().all(|pid| snapshot.is_stopped(*pid));
            let new: Vec<i32> = members
                .into_iter()
                .filter(|pid| !stopped.contains(pid))
                .collect();
            if new.is_empty() && settled {
                break;
            }
            for pid in new {
                let _ = kill(Pid::from_raw(pid), Signal::SIGSTOP);
                stopped.insert(pid);
            }
        }
        for pid in &stopped {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        Some(stopped.into_iter().collect())
    }

    /// Where the attempt's processes start: its group's members, the program until it is
    /// reaped, and the unclaimed orphans; all of them descendants of bpops.
    fn roots(&self, snapshot: &Snapshot, registry: &Registry) -> Vec<i32> {
        let own_group = getpgrp().as_raw();
        snapshot
            .procs
            .values()
            .filter(|p| snapshot.is_mine(p.pid))
            .filter(|p| {
                p.pgid == self.group
                    || (p.pid == self.group && registry.programs.contains(&p.pid))
                    || (p.is_orphan(own_group, registry) && !claimed(p, registry))
            })
            .map(|p| p.pid)
            .collect()
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        // A future dropped mid-run (engine shutdown) must not leave processes running.
        let _ = self.kill();
        let registry = registry();
        reap_orphans(&Snapshot::read(), &registry);
        drop(registry);
        self.reaped();
    }
}

/// Whether a running attempt claims orphan `p`: it is in the attempt's group, or carries its
/// operation id in its environment.
fn claimed(p: &Proc, registry: &Registry) -> bool {
    if registry.running.contains_key(&p.pgid) {
        return true;
    }
    let Ok(environment) = std::fs::read(format!("/proc/{}/environ", p.pid)) else {
        return false;
    };
    environment
        .split(|byte| *byte == 0)
        .filter_map(|entry| entry.strip_prefix(b"BPOPS_OPERATION_ID="))
        .any(|id| {
            registry
                .running
                .values()
                .any(|running| running.as_bytes() == id)
        })
}

/// Reaps the orphans that are zombies, each by its pid.
fn reap_orphans(snapshot: &Snapshot, registry: &Registry) {
    let own_group = getpgrp().as_raw();
    for p in snapshot.procs.values() {
        if p.state == b'Z' && p.is_orphan(own_group, registry) {
            let _ = waitpid(Pid::from_raw(p.pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// One process as `/proc/<pid>/stat` shows it.
struct Proc {
    pid: i32,
    ppid: i32,
    pgid: i32,
    state: u8,
}

impl Proc {
    /// A child of bpops that is neither a program tokio waits for nor in bpops's own group.
    fn is_orphan(&self, own_group: i32, registry: &Registry) -> bool {
        self.ppid == std::process::id() as i32
            && self.pgid != own_group
            && !registry.programs.contains(&self.pid)
    }
}

/// Every process of the system at one moment, with the parent links.
struct Snapshot {
    procs: HashMap<i32, Proc>,
    children: HashMap<i32, Vec<i32>>,
}

impl Snapshot {
    fn read() -> Snapshot {
        let mut procs = HashMap::new();
        let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse().ok())
            else {
                continue;
            };
            // A process that ended since the directory was listed is simply absent.
            let Some(p) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| parse_stat(pid, &stat))
            else {
                continue;
            };
            children.entry(p.ppid).or_default().push(pid);
            procs.insert(pid, p);
        }
        Snapshot { procs, children }
    }

    /// Whether `pid` is a descendant of bpops.
    fn is_mine(&self, pid: i32) -> bool {
        let me = std::process::id() as i32;
        let mut current = pid;
        // Bounded by the number of processes, in case a snapshot caught a cycle mid-change.
        for _ in 0..=self.procs.len() {
            match self.procs.get(&current) {
                Some(p) if p.ppid == me => return true,
                Some(p) if p.ppid > 1 => current = p.ppid,
                _ => return false,
            }
        }
        false
    }

    /// Whether `pid` cannot run any more: stopped, a zombie, or gone.
    fn is_stopped(&self, pid: i32) -> bool {
        self.procs
            .get(&pid)
            .is_none_or(|p| matches!(p.state, b'T' | b't' | b'Z' | b'X'))
    }

    /// `roots` and all their descendants.
    fn descendants(&self, roots: Vec<i32>) -> Vec<i32> {
        let mut seen: HashSet<i32> = roots.iter().copied().collect();
        let mut queue = roots;
        let mut all = Vec::new();
        while let Some(pid) = queue.pop() {
            all.push(pid);
            for child in self.children.get(&pid).into_iter().flatten() {
                if seen.insert(*child) {
                    queue.push(*child);
                }
            }
        }
        all
    }
}

/// Reads `pid (comm) state ppid pgrp …`; the command name may hold spaces and parentheses,
/// so the fields start after the last `)`.
fn parse_stat(pid: i32, stat: &str) -> Option<Proc> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgid = fields.next()?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        pgid,
        state,
    })
}

/// Reads what `pipe` holds right now, without waiting: for after the program exited, when a
/// process it left could hold the pipe open forever. The copy of the descriptor shares the
/// pipe's non-blocking mode (tokio set it), so a read finds the pipe empty instead of waiting.
pub(crate) fn read_now(pipe: &impl AsFd, mut keep: impl FnMut(&[u8])) {
    let Ok(copy) = pipe.as_fd().try_clone_to_owned() else {
        return;
    };
    let mut file = std::fs::File::from(copy);
    let mut buffer = [0u8; 8192];
    while let Ok(n @ 1..) = std::io::Read::read(&mut file, &mut buffer) {
        keep(&buffer[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_follow_the_last_parenthesis() {
        let p = parse_stat(42, "42 (a (b) c) S 7 42 42 0 -1").unwrap();
        assert_eq!((p.pid, p.state, p.ppid, p.pgid), (42, b'S', 7, 42));
        assert!(parse_stat(1, "garbage").is_none());
    }
}
