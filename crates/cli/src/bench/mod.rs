//! `bpops bench`: a load generator that signs its requests like the SDK and measures bpops
//! end to end: throughput until every operation is final, sequential latency, and signed
//! reads. It drives a server at `--endpoint`, or starts its own (`bpops serve` on a fresh
//! SQLite file, or on `--storage-url`) and then also reports that server's RSS.

mod scenarios;
mod server;
mod stats;

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::client::{Client, Credentials};
use crate::commands::Outcome;
use crate::output;

/// Flags of `bpops bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Scenarios to run, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Scenario::Throughput, Scenario::Latency, Scenario::Read])]
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
    /// Operations submitted by the throughput scenario.
    #[arg(long, default_value_t = 20_000)]
    operations: usize,
    /// Concurrent clients of the throughput and read scenarios.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Sequential operations of the latency scenario.
    #[arg(long, default_value_t = 2_000)]
    sequential: usize,
    /// How long the read scenario runs.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    read_for: Duration,
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
    /// One operation at a time, submit to SUCCESS: polling, and ExecuteOperationSync.
    Latency,
    /// Signed GetExecuteOperationResult on existing ids from many clients.
    Read,
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
    /// The server's peak resident memory so far, in MB, when bench started it.
    pub server_rss_mb: Option<f64>,
}

/// Runs the benchmark.
pub fn run(mut args: BenchArgs) -> anyhow::Result<Outcome> {
    if args.short {
        args.operations = args.operations.min(500);
        args.concurrency = args.concurrency.min(8);
        args.sequential = args.sequential.min(50);
        args.read_for = args.read_for.min(Duration::from_secs(1));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (server, credentials) = match &args.endpoint {
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
        let client = Arc::new(Client::new(credentials)?);
        let mut reports = Vec::new();
        for scenario in &args.scenario {
            let mut found = match scenario {
                Scenario::Throughput => {
                    vec![scenarios::throughput(&client, args.operations, args.concurrency).await?]
                }
                Scenario::Latency => scenarios::latency(&client, args.sequential).await?,
                Scenario::Read => {
                    vec![scenarios::read(&client, args.concurrency, args.read_for).await?]
                }
            };
            for report in &mut found {
                report.server_rss_mb = server.as_ref().map(server::BenchServer::peak_rss_mb);
                print(report, args.json, reports.is_empty());
            }
            reports.extend(found);
        }
        if let Some(server) = server {
            server.stop().await;
        }
        anyhow::ensure!(
            reports.iter().all(|r| r.count > 0),
            "a scenario completed nothing"
        );
        Ok(Outcome::Done)
    })
}

fn print(report: &Report, as_json: bool, first: bool) {
    if as_json {
        output::json(&serde_json::to_value(report).expect("a report serializes"));
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
