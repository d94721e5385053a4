//! `bpops bench`: a load generator that signs its requests like the SDK and measures bpops
//! end to end: throughput until every operation is final, operations that pass through a
//! worker (queued path) and a queued backlog drained from a restart (burn-down), operations
//! that wait a second each (in flight at once), sequential latency, signed reads,
//! and reads at scale (a million retained operations, and while a million expired ones are
//! swept), and the memory a server holds under the largest operations it accepts
//! (`memory`). It drives a server at `--endpoint`, or starts its own (`bpops serve` on a fresh
//! SQLite file, or on `--storage-url`) and then also reports that server's RSS.
//!
//! The `bpops` binary wires it in as `bpops bench` ([`run`]): bench starts that binary's own
//! `serve`, talks to it through `bpops_client` like any client, and opens its store through
//! [`OpenStore`], the binary's code, so it names no storage backend itself.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod memory;
mod queued;
mod scale;
mod scenarios;
mod server;
mod stats;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bpops_client::{Client, Credentials};
use bpops_store::Store;
use clap::{Args, ValueEnum};

/// Opens the store at a storage URL, as `bpops serve` does: the scale scenario loads its
/// server's store while the server is stopped.
pub type OpenStore = for<'a> fn(&'a str) -> Opening<'a>;

/// The store being opened by an [`OpenStore`].
pub type Opening<'a> = Pin<Box<dyn Future<Output = anyhow::Result<Arc<dyn Store>>> + 'a>>;

/// Flags of `bpops bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Scenarios to run, comma-separated [default: throughput, latency, read, and scale
    /// unless --endpoint is given].
    #[arg(long, value_enum, value_delimiter = ',')]
    scenario: Vec<Scenario>,
    /// A running server to measure; by default bench starts its own.
    #[arg(long, env = "BPOPS_ENDPOINT")]
    endpoint: Option<String>,
    /// AccessKeyId for `--endpoint`.
    #[arg(long, env = "ALIBABA_CLOUD_ACCESS_KEY_ID", requires = "endpoint")]
    access_key_id: Option<String>,
    /// AccessKeySecret for `--endpoint`.
    #[arg(
        long,
        env = "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        hide_env_values = true,
        requires = "endpoint"
    )]
    access_key_secret: Option<String>,
    /// Storage of the server bench starts (for example postgres://postgres@127.0.0.1/bench);
    /// default: a fresh SQLite file.
    #[arg(long, conflicts_with = "endpoint")]
    storage_url: Option<String>,
    /// Operations submitted by the throughput, burn-down and queued-path scenarios.
    #[arg(long, default_value_t = 20_000)]
    operations: usize,
    /// Operations of the in-flight scenario, each waiting a second (at most one per seeded
    /// instance of that scenario).
    #[arg(long, default_value_t = server::FLIGHT_INSTANCES)]
    in_flight: usize,
    /// Concurrent clients of the throughput and read scenarios.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Sequential operations of the latency scenario.
    #[arg(long, default_value_t = 2_000)]
    sequential: usize,
    /// How long the read scenario runs.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    read_for: Duration,
    /// Retained operations of the scale scenario, and again expired ones.
    #[arg(long, default_value_t = 1_000_000)]
    scale_operations: usize,
    /// Reads per second the scale scenario offers in each phase (open loop, shared by
    /// --concurrency clients).
    #[arg(long, default_value_t = 5_000.0)]
    scale_rate: f64,
    /// How long each phase of the scale scenario reads: long enough that one stall of a
    /// shared host does not make its p99.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    scale_read_for: Duration,
    /// `ecs` submits of the memory scenario.
    #[arg(long, default_value_t = 6_000)]
    memory_submits: usize,
    /// Submits of each declared operation of the memory scenario.
    #[arg(long, default_value_t = 1_000)]
    memory_declared: usize,
    /// Reads of each operation of the memory scenario.
    #[arg(long, default_value_t = 5)]
    memory_reads: usize,
    /// A few seconds in all: small counts, for CI.
    #[arg(long)]
    short: bool,
    /// Print the results as JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// A measured scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Submit operations from many clients and count until every one is final.
    Throughput,
    /// Operations with an emulated latency of 1 ms, queued while the server runs none, then
    /// drained: the time from the server's restart until every one is final.
    BurnDown,
    /// Operations that pass through a worker, from many clients, until every one is final:
    /// an emulated latency of 1 ms, and a declared http operation against a local endpoint.
    QueuedPath,
    /// Operations that each wait an emulated second, each on its own resource, submitted
    /// from many clients: the time until every one is final.
    InFlight,
    /// One operation at a time, submit to SUCCESS: polling, and ExecuteOperationSync.
    Latency,
    /// Signed GetExecuteOperationResult on existing ids from many clients.
    Read,
    /// Reads at a fixed rate: near-empty store, N retained operations, and while N expired
    /// ones are swept (needs the server bench starts).
    Scale,
    /// The largest operations bpops accepts, many times, each read several times: the
    /// server's peak RSS (needs the server bench starts; not run by default).
    Memory,
}

/// What one scenario measured.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// Scenario and variant, e.g. `latency (sync)`.
    pub scenario: String,
    /// Operations or requests completed.
    pub count: usize,
    /// Operations or requests per second.
    pub per_second: f64,
    /// Latency percentiles in milliseconds.
    pub latency_ms: stats::Percentiles,
    /// Failed requests.
    pub errors: usize,
    /// The server's peak resident memory so far (for a scale line: since that phase's
    /// restart), in MB, when bench started it.
    pub server_rss_mb: Option<f64>,
    /// The scale scenario's own figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<scale::ScaleFigures>,
}

/// Runs the benchmark; an error when a scenario could not run or completed nothing.
pub fn run(mut args: BenchArgs, open_store: OpenStore) -> anyhow::Result<()> {
    if args.short {
        args.operations = args.operations.min(500);
        args.in_flight = args.in_flight.min(500);
        args.concurrency = args.concurrency.min(8);
        args.sequential = args.sequential.min(50);
        args.read_for = args.read_for.min(Duration::from_secs(1));
        args.scale_operations = args.scale_operations.min(10_000);
        args.scale_rate = args.scale_rate.min(1_000.0);
        args.scale_read_for = args.scale_read_for.min(Duration::from_secs(1));
        args.memory_submits = args.memory_submits.min(500);
        args.memory_declared = args.memory_declared.min(50);
    }
    if args.scenario.is_empty() {
        args.scenario = vec![Scenario::Throughput, Scenario::Latency, Scenario::Read];
        if args.endpoint.is_none() {
            args.scenario.insert(1, Scenario::BurnDown);
            args.scenario.insert(2, Scenario::QueuedPath);
            args.scenario.insert(3, Scenario::InFlight);
            // Last: it leaves a million operations in the store.
            args.scenario.push(Scenario::Scale);
        }
    }
    anyhow::ensure!(
        args.endpoint.is_none() || !args.scenario.contains(&Scenario::Scale),
        "the scale scenario loads the store directly while the server is stopped, so it \
         needs the server bench starts: leave out --endpoint, or the scale scenario"
    );
    for (scenario, name) in [
        (Scenario::InFlight, "in-flight"),
        (Scenario::BurnDown, "burn-down"),
        (Scenario::QueuedPath, "queued-path"),
    ] {
        anyhow::ensure!(
            args.endpoint.is_none() || !args.scenario.contains(&scenario),
            "the {name} scenario acts on instances, emulated latencies and a declared \
             operation of the server bench starts: leave out --endpoint, or that scenario"
        );
    }
    anyhow::ensure!(
        args.endpoint.is_none() || !args.scenario.contains(&Scenario::Memory),
        "the memory scenario measures the server bench starts (its RSS and its declared \
         operations): leave out --endpoint, or the memory scenario"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (mut server, credentials) = match &args.endpoint {
            Some(endpoint) => {
                let credentials = Credentials {
                    endpoint: endpoint.clone(),
                    access_key_id: args.access_key_id.clone().unwrap_or_default(),
                    access_key_secret: args.access_key_secret.clone().unwrap_or_default(),
                };
                (None, credentials)
            }
            None => {
                let server = server::BenchServer::start(args.storage_url.as_deref()).await?;
                let credentials = server.credentials();
                (Some(server), credentials)
            }
        };
        let mut client = Arc::new(Client::new(credentials)?);
        scenarios::warm_up(&client).await?;
        let mut reports = Vec::new();
        for scenario in &args.scenario {
            let mut found = match scenario {
                Scenario::Throughput => {
                    vec![scenarios::throughput(&client, args.operations, args.concurrency).await?]
                }
                Scenario::BurnDown => {
                    let server = server.as_mut().expect("refused above with --endpoint");
                    let (found, restarted) =
                        queued::burn_down(server, args.operations, args.concurrency).await?;
                    // The server restarted on another port.
                    client = restarted;
                    vec![found]
                }
                Scenario::QueuedPath => {
                    queued::queued_path(&client, args.operations, args.concurrency).await?
                }
                Scenario::InFlight => {
                    anyhow::ensure!(
                        args.in_flight <= server::FLIGHT_INSTANCES,
                        "--in-flight: at most {} (one per seeded instance)",
                        server::FLIGHT_INSTANCES
                    );
                    vec![scenarios::in_flight(&client, args.in_flight, args.concurrency).await?]
                }
                Scenario::Latency => scenarios::latency(&client, args.sequential).await?,
                Scenario::Read => {
                    vec![scenarios::read(&client, args.concurrency, args.read_for).await?]
                }
                Scenario::Scale => {
                    let server = server.as_mut().expect("refused above with --endpoint");
                    let settings = scale::Settings {
                        operations: args.scale_operations,
                        rate: args.scale_rate,
                        concurrency: args.concurrency,
                        read_for: args.scale_read_for,
                    };
                    let found = scale::scale(server, open_store, &settings).await?;
                    // The server restarted on another port.
                    client = Arc::new(Client::new(server.credentials())?);
                    found
                }
                Scenario::Memory => {
                    let server = server.as_ref().expect("refused above with --endpoint");
                    let settings = memory::Settings {
                        submits: args.memory_submits,
                        declared: args.memory_declared,
                        reads: args.memory_reads,
                        concurrency: args.concurrency,
                    };
                    memory::memory(&client, &settings, || server.peak_rss_mb()).await?
                }
            };
            for (i, report) in found.iter_mut().enumerate() {
                if report.server_rss_mb.is_none() {
                    report.server_rss_mb = server.as_ref().map(server::BenchServer::peak_rss_mb);
                }
                print(report, args.json, reports.is_empty() && i == 0);
            }
            reports.extend(found);
        }
        if let Some(mut server) = server {
            server.stop().await;
        }
        if !args.json {
            for report in &reports {
                print_scale(report);
            }
        }
        anyhow::ensure!(
            reports.iter().all(|r| r.count > 0),
            "a scenario completed nothing"
        );
        Ok(())
    })
}

fn print(report: &Report, as_json: bool, first: bool) {
    if as_json {
        println!(
            "{}",
            serde_json::to_value(report).expect("a report serializes")
        );
        return;
    }
    if first {
        println!(
            "| scenario | count | per second | p50 ms | p90 ms | p99 ms | max ms | errors | server RSS MB |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    }
    let l = &report.latency_ms;
    let rss = report
        .server_rss_mb
        .map_or_else(|| "-".to_owned(), |mb| format!("{mb:.0}"));
    println!(
        "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {rss} |",
        report.scenario, report.count, report.per_second, l.p50, l.p90, l.p99, l.max, report.errors
    );
}

/// The scale figures that do not fit the table, one line per scale report.
fn print_scale(report: &Report) {
    let Some(scale) = &report.scale else {
        return;
    };
    let mut line = format!(
        "{}: {:.0} reads/s offered for {:.1} s",
        report.scenario, scale.offered_per_second, scale.window_s
    );
    if let Some(load_s) = scale.load_s {
        line.push_str(&format!("; loaded in {load_s:.1} s"));
    }
    if let Some(ratio) = scale.p99_vs_near_empty {
        line.push_str(&format!("; p99 {ratio:.2}× near-empty"));
    }
    if let (Some(sweep_s), Some(rate)) = (scale.sweep_s, scale.swept_per_second) {
        line.push_str(&format!(
            "; swept {} in {sweep_s:.1} s ({rate:.0}/s)",
            scale.expired
        ));
    }
    println!("{line}");
}
