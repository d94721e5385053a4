//! Issue 11, item 7: a full disk is an outage the server says it has, not a bug. The real
//! server runs on SQLite in a small tmpfs (mounting one needs root; the test says it skipped
//! otherwise), which a file then fills to the last byte.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{ROOT, RUNNING_INSTANCE, Server, TestDir};

/// The base configuration of every integration test, with `{STORAGE}` to fill in.
const BASE_CONFIG: &str = include_str!("base.toml");

/// How long anything here may take: far above what it needs, yet bounded.
const BOUND: Duration = Duration::from_secs(20);

/// Writes fail while the disk is full: 503 `ServiceUnavailable` saying so, and `/readyz`
/// not ready; reads are still served; an operation running meanwhile waits for the store
/// instead of failing; once space is freed everything works again without a restart, and
/// nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_as_unavailable_keeps_reads_and_recovers_by_itself() {
    let dir = TestDir::new();
    let data = dir.path().join("data");
    let _tmpfs = match Tmpfs::mount(&data, "8m") {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            eprintln!("SKIPPED: mounting a tmpfs is not permitted here ({why}); run as root");
            return;
        }
    };
    let storage = format!("sqlite://{}", data.join("bpops.db").display());
    let config = dir.write(
        "bpops.toml",
        &format!(
            "{}\n[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"300ms\"\n",
            BASE_CONFIG.replace("{STORAGE}", &storage)
        ),
    );
    // N.B. declared after the mount, so it is killed before the unmount.
    let server = dir.serve(&config).await;

    let before = server.submit("rename", &rename("before")).await;
    assert_eq!(
        server.wait_final(ROOT, &before, BOUND).await["Status"],
        "SUCCESS"
    );
    let running = server.submit("rename", &rename("running")).await;
    let filler = fill(&data);

    check_full(&server, &before).await;
    // The running operation's result cannot be recorded: it must wait, not fail.
    server
        .logged("recording the result failed; trying again")
        .await;

    std::fs::remove_file(&filler).expect("removing the filler");
    assert_eq!(readyz(&server).await, (200, json!({"status": "ready"})));
    let after = server.submit("rename", &rename("after")).await;
    for id in [&before, &running, &after] {
        let data = server.wait_final(ROOT, id, BOUND).await;
        assert_eq!(data["Status"], "SUCCESS", "{id}: {data}");
    }
}

/// While the storage is full: a submit is refused as unavailable, saying why; `/readyz` is
/// not ready; `before`, a finished operation, is still read.
pub(crate) async fn check_full(server: &Server, before: &str) {
    let refused = server
        .execute("ExecuteOperationASync", "rename", &rename("refused"))
        .await;
    refused.assert_error(503, "ServiceUnavailable");
    let message = refused.json["Message"].as_str().unwrap_or_default();
    assert!(message.contains("storage is full"), "{message}");
    assert_eq!(
        readyz(server).await,
        (503, json!({"status": "the storage is full"}))
    );
    let read = server.result(ROOT, before).await;
    assert_eq!(read.status, 200, "{}", read.json);
    assert_eq!(read.data()["Status"], "SUCCESS");
}

fn rename(name: &str) -> Value {
    json!({"instanceId": RUNNING_INSTANCE, "instance_name": name})
}

/// `GET /readyz`: its status and body.
pub(crate) async fn readyz(server: &Server) -> (u16, Value) {
    let request = format!(
        "GET /readyz HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        server.host()
    );
    let reply = server.send_raw(request.as_bytes()).await;
    (reply.status, reply.json)
}

/// Writes a file in `dir` until its file system has no byte left; returns its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("creating the filler");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    path
}

/// A tmpfs mounted for one test, unmounted when dropped (whatever the test's outcome).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_owned());
        }
        Ok(Tmpfs {
            path: path.to_owned(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // N.B. lazy: a killed server may not have closed its files yet.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
