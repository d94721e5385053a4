//! The server `bpops bench` starts when it is not given an endpoint: this binary's own
//! `serve`, on a fresh SQLite file (or the given storage), with instances to act on.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use bpops_client::Credentials;

use super::queued::{QUEUED_LATENCY, Receiver};

/// Instances seeded for the benchmark, so operations spread over many resources.
pub const INSTANCES: usize = 1024;
/// Their application.
pub const APPLICATION: &str = "APP-BENCH";
/// Instances of the in-flight scenario, one per operation, so that none waits its turn.
pub const FLIGHT_INSTANCES: usize = 10_000;
/// The emulated latency of the in-flight scenario's operation (`ecs modifyPayType`).
pub const FLIGHT_LATENCY: &str = "1s";

/// The declared operation of the queued-path scenario: an http executor calling the
/// bench's [`Receiver`].
pub const HTTP_SERVICE: &str = "bench";
/// Its operation.
pub const HTTP_OPERATION: &str = "call";

/// The account of the bench's key and operations.
pub const ACCOUNT: &str = "1000000000000001";
const KEY_ID: &str = "LTAIbenchRoot0000000001";
const SECRET: &str = "bench-secret";

/// A `bpops serve` child process, which can be stopped and started again on the same
/// storage (the scale scenario loads the store in between).
pub struct BenchServer {
    /// `None` while stopped.
    child: Option<Child>,
    address: String,
    storage: String,
    config: PathBuf,
    /// The configuration as written at the start.
    text: String,
    /// The endpoint of the declared http operation.
    _receiver: Receiver,
    /// Holds the configuration and the SQLite file across restarts.
    _dir: tempfile::TempDir,
}

impl BenchServer {
    /// Starts the server and waits until it listens.
    pub async fn start(storage_url: Option<&str>) -> anyhow::Result<BenchServer> {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let storage = match storage_url {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}", dir.path().join("bench.db").display()),
        };
        let config = dir.path().join("bench.toml");
        let declared = super::memory::declared_operations(dir.path())
            .context("writing the memory scenario's program")?;
        let receiver = Receiver::start()
            .await
            .context("starting the http operation's endpoint")?;
        let text = configuration(&storage, receiver.url()) + &declared;
        std::fs::write(&config, &text).context("writing the bench configuration")?;
        let (child, address) = spawn(&config).await?;
        Ok(BenchServer {
            child: Some(child),
            address,
            storage,
            config,
            text,
            _receiver: receiver,
            _dir: dir,
        })
    }

    /// How to reach and sign for it (the port changes with each start).
    pub fn credentials(&self) -> Credentials {
        Credentials {
            endpoint: format!("http://{}", self.address),
            access_key_id: KEY_ID.to_owned(),
            access_key_secret: SECRET.to_owned(),
        }
    }

    /// Its storage URL: open it only while the server is stopped (an SQLite file has one
    /// owner at a time).
    pub fn storage(&self) -> &str {
        &self.storage
    }

    /// The server's peak resident set size since it last started (`VmHWM`), in MB.
    pub fn peak_rss_mb(&self) -> f64 {
        let status = self
            .child
            .as_ref()
            .and_then(Child::id)
            .and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// Stops the server, keeping its storage for [`BenchServer::restart`]. Killing it loses
    /// nothing: every answered write was committed.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same storage, running no emulated operation when
    /// `hold` (`[operations.concurrency] emulated = 0`: submits are stored and wait), or with
    /// the normal limits.
    pub async fn restart_holding_emulated(&mut self, hold: bool) -> anyhow::Result<()> {
        let mut text = self.text.clone();
        if hold {
            text.push_str("\n[operations.concurrency]\nemulated = 0\n");
        }
        std::fs::write(&self.config, text).context("writing the bench configuration")?;
        self.restart().await
    }

    /// Starts a stopped server again on the same storage and waits until it listens.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        let (child, address) = spawn(&self.config).await?;
        self.child = Some(child);
        self.address = address;
        Ok(())
    }
}

/// Starts `bpops serve` on `config` and waits for the line that says where it listens.
async fn spawn(config: &Path) -> anyhow::Result<(Child, String)> {
    let mut child = Command::new(std::env::current_exe().context("locating bpops")?)
        .arg("serve")
        .arg("--config")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting bpops serve")?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let Some(line) = lines.next_line().await? else {
            anyhow::bail!("bpops serve exited before listening");
        };
        if let Some(address) = line.strip_prefix("listening on ") {
            return Ok((child, address.to_owned()));
        }
    }
}

fn configuration(storage: &str, receiver: &str) -> String {
    let mut text = format!(
        "[storage]\nurl = \"{storage}\"\n\n[[accounts]]\nid = \"{ACCOUNT}\"\n\n\
         [[applications]]\naccount = \"{ACCOUNT}\"\nid = \"{APPLICATION}\"\n\n\
         [[access_keys]]\nid = \"{KEY_ID}\"\nsecret = \"{SECRET}\"\naccount = \"{ACCOUNT}\"\n\n\
         [[operations.emulation]]\nservice = \"ecs\"\noperation = \"modifyPayType\"\n\
         latency = \"{FLIGHT_LATENCY}\"\n\n\
         [[operations.emulation]]\nservice = \"ecs\"\noperation = \"modifyInstanceType\"\n\
         latency = \"{QUEUED_LATENCY}\"\n\n\
         [[operations.declared]]\nservice = \"{HTTP_SERVICE}\"\noperation = \"{HTTP_OPERATION}\"\n\
         display_name = \"Call the bench's endpoint\"\n\
         executor = {{ kind = \"http\", url = \"{receiver}\", secret = \"bench-hook\" }}\n"
    );
    let ids = (0..INSTANCES)
        .map(instance)
        .chain((0..FLIGHT_INSTANCES).map(flight_instance));
    for id in ids {
        text.push_str(&format!(
            "\n[[resources]]\napplication = \"{APPLICATION}\"\nservice = \"ecs\"\nid = \"{id}\"\n\
             properties = {{ instance_name = \"bench\", instance_type = \"ecs.g7.large\", \
             status = \"Running\", region_id = \"cn-hangzhou\" }}\n"
        ));
    }
    text
}

/// The id of the `n`th seeded instance (wrapping).
pub fn instance(n: usize) -> String {
    format!("i-bench-{:04}", n % INSTANCES)
}

/// The id of the `n`th instance of the in-flight scenario (wrapping).
pub fn flight_instance(n: usize) -> String {
    format!("i-flight-{:05}", n % FLIGHT_INSTANCES)
}
