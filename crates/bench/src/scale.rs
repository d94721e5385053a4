//! The scale scenario (issue 6): reads against a near-empty store, against one holding N
//! retained operations, and while the sweeper deletes N expired ones, measured the same way
//! so that the three p99s compare.
//!
//! Reads are open loop: C clients share a fixed offered rate, every request has a scheduled
//! send time, and its latency counts from then. A server stall then shows in the latency of
//! every request it delayed; closed-loop clients at saturation would wait politely and hide
//! it (and the three phases would run at different rates). Ids are picked uniformly among
//! all retained operations, so at a million most reads miss the engine's cache of final
//! operations and reach the store, which is what the scenario measures.
//!
//! The store is filled with [`Store::load`] while the server is stopped, then the server is
//! started again on it: a million operations through the API would take minutes and measure
//! the write path instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bpops_client::Client;
use bpops_store::{AccountId, Operation, OperationId, ResourceKey, Store};
use bpops_time::{Clock, SystemClock, Timestamp};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::scenarios::{Picker, gather, rename_attributes, report, submit, until_final};
use super::server::{ACCOUNT, BenchServer, instance};
use super::{OpenStore, Report};

/// Operations submitted through the API for the near-empty store.
const NEAR_EMPTY: usize = 1_000;
/// Operations per [`Store::load`] call (one transaction each): large enough that commits
/// cost nothing, small enough to keep the bench's memory flat.
const LOAD_BATCH: usize = 50_000;
/// The server's retention is the default hour: retained operations finished a minute ago,
/// expired ones two hours ago.
const RETAINED_AGE: Duration = Duration::from_secs(60);
const EXPIRED_AGE: Duration = Duration::from_secs(2 * 3600);
/// The loaded operations' submissions are spread over this span before they finished.
const SPREAD: Duration = Duration::from_secs(60);
/// A sweep still running after this long is reported as a failure.
const SWEEP_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What the scale scenario is told.
pub struct Settings {
    /// N: retained operations, and again expired ones.
    pub operations: usize,
    /// Reads offered per second, in every phase.
    pub rate: f64,
    /// Clients sharing the rate.
    pub concurrency: usize,
    /// How long each phase reads.
    pub read_for: Duration,
}

/// The scale figures of one report line.
#[derive(Debug, serde::Serialize)]
pub struct ScaleFigures {
    /// `near-empty`, `retained` or `sweeping`.
    pub phase: &'static str,
    /// Operations bulk-loaded before this phase (N, or none for the near-empty store).
    pub loaded: usize,
    /// Retained operations the reads picked from.
    pub retained: usize,
    /// Expired operations in the store when the server started (swept during the reads).
    pub expired: usize,
    /// The fixed rate reads were offered at, per second.
    pub offered_per_second: f64,
    /// How long reads were measured, in seconds: `--read-for`, or less when the sweep
    /// ended first (only reads during the sweep count).
    pub window_s: f64,
    /// How long bulk-loading the phase's N operations took, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_s: Option<f64>,
    /// This line's read p99 divided by the near-empty store's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_vs_near_empty: Option<f64>,
    /// From the server's start until the sweeper had deleted every expired operation, in
    /// seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep_s: Option<f64>,
    /// Expired operations deleted per second by the sweeper.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swept_per_second: Option<f64>,
}

/// Runs the three phases on `server`, which it stops and restarts; the server is running
/// again when it returns, holding the N retained operations.
pub async fn scale(
    server: &mut BenchServer,
    open_store: OpenStore,
    settings: &Settings,
) -> anyhow::Result<Vec<Report>> {
    // Only what this scenario puts in the store counts: earlier scenarios' operations go,
    // through the sweep intent with a cutoff in the future.
    while_stopped(server, open_store, async |store| {
        while store.sweep(Timestamp::MAX, LOAD_BATCH).await? > 0 {}
        Ok(())
    })
    .await?;
    server.restart().await?;
    let (near_empty, ids) = near_empty(server, settings).await?;
    let baseline = near_empty.latency_ms.p99;
    let (retained, template, ids) = retained(server, open_store, settings, ids, baseline).await?;
    let sweeping = sweeping(server, open_store, settings, &template, &ids, baseline).await?;
    Ok(vec![near_empty, retained, sweeping])
}

/// Phase 1: operations submitted through the API, read. Returns their ids too.
async fn near_empty(
    server: &BenchServer,
    settings: &Settings,
) -> anyhow::Result<(Report, Vec<String>)> {
    let client = Arc::new(Client::new(server.credentials())?);
    let ids = Arc::new(submit_all(&client, NEAR_EMPTY, settings.concurrency).await?);
    let reads = read_at_rate(&client, &ids, settings, None).await;
    let line = reads.report(
        &format!(
            "scale: read, near-empty ({} operations)",
            thousands(NEAR_EMPTY)
        ),
        server,
        Phase {
            name: "near-empty",
            loaded: 0,
            retained: ids.len(),
            expired: 0,
            load_s: None,
            ended: None,
            sweep_s: None,
        },
        None,
    );
    Ok((line, Arc::unwrap_or_clone(ids)))
}

/// Phase 2: N retained operations loaded next to `ids`, all read. Returns the first of
/// `ids` as stored (the template of every loaded operation) and all the retained ids.
async fn retained(
    server: &mut BenchServer,
    open_store: OpenStore,
    settings: &Settings,
    mut ids: Vec<String>,
    baseline_p99: f64,
) -> anyhow::Result<(Report, Operation, Arc<Vec<String>>)> {
    let n = settings.operations;
    let first: OperationId = ids[0].parse()?;
    let (template, loaded, load_s) = while_stopped(server, open_store, async |store| {
        let template = store
            .get(&AccountId::new(ACCOUNT), &first)
            .await?
            .context("the first operation of the near-empty store is gone")?;
        let loading = Instant::now();
        let loaded = load(store, &template, n, SystemClock.now() - RETAINED_AGE).await?;
        Ok((template, loaded, loading.elapsed().as_secs_f64()))
    })
    .await?;
    ids.extend(loaded);
    let ids = Arc::new(ids);
    server.restart().await?;
    let client = Arc::new(Client::new(server.credentials())?);
    let reads = read_at_rate(&client, &ids, settings, None).await;
    let line = reads.report(
        &format!("scale: read, {} retained", thousands(n)),
        server,
        Phase {
            name: "retained",
            loaded: n,
            retained: ids.len(),
            expired: 0,
            load_s: Some(load_s),
            ended: None,
            sweep_s: None,
        },
        Some(baseline_p99),
    );
    Ok((line, template, ids))
}

/// Phase 3: N expired operations loaded too; the retained ones are read while the sweeper
/// deletes the expired ones, from the server's start.
async fn sweeping(
    server: &mut BenchServer,
    open_store: OpenStore,
    settings: &Settings,
    template: &Operation,
    ids: &Arc<Vec<String>>,
    baseline_p99: f64,
) -> anyhow::Result<Report> {
    let n = settings.operations;
    let load_s = while_stopped(server, open_store, async |store| {
        let loading = Instant::now();
        load(store, template, n, SystemClock.now() - EXPIRED_AGE).await?;
        Ok(loading.elapsed().as_secs_f64())
    })
    .await?;
    // N.B. the sweeper starts with the server, before it listens.
    let sweep_started = Instant::now();
    server.restart().await?;
    let client = Arc::new(Client::new(server.credentials())?);
    let swept = CancellationToken::new();
    let watcher = tokio::spawn(watch_sweep(Arc::clone(&client), n, swept.clone()));
    let reads = read_at_rate(&client, ids, settings, Some(&swept)).await;
    let sweep_ended = watcher.await.context("the sweep watcher panicked")??;
    Ok(reads.report(
        &format!(
            "scale: read, {} retained, sweeping {} expired",
            thousands(n),
            thousands(n)
        ),
        server,
        Phase {
            name: "sweeping",
            loaded: n,
            retained: ids.len(),
            expired: n,
            load_s: Some(load_s),
            ended: Some(sweep_ended),
            sweep_s: Some((sweep_ended - sweep_started).as_secs_f64()),
        },
        Some(baseline_p99),
    ))
}

/// Stops the server and runs `f` on its store, closed again before this returns (an SQLite
/// file has one owner at a time); the caller starts the server again.
async fn while_stopped<T>(
    server: &mut BenchServer,
    open_store: OpenStore,
    f: impl AsyncFnOnce(&dyn Store) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    server.stop().await;
    let store = open_store(server.storage()).await?;
    f(&*store).await
}

/// Submits `n` renames from `concurrency` clients and waits until each is final.
async fn submit_all(
    client: &Arc<Client>,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let mut tasks = JoinSet::new();
    for first in 0..concurrency.min(n) {
        let client = Arc::clone(client);
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for i in (first..n).step_by(concurrency) {
                let id = submit(&client, i).await?;
                anyhow::ensure!(until_final(&client, &id).await, "{id} did not succeed");
                ids.push(id);
            }
            Ok(ids)
        });
    }
    let mut ids = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        ids.extend(done.context("a bench task panicked")??);
    }
    Ok(ids)
}

/// Loads `n` copies of `template` (a rename as the API stored it) with fresh ids, spread
/// over the seeded instances, their submissions spread over a minute and the last one
/// finished at `finished_by`. Returns their ids.
async fn load(
    store: &dyn Store,
    template: &Operation,
    n: usize,
    finished_by: Timestamp,
) -> anyhow::Result<Vec<String>> {
    let runs_for = template.finished_at.map_or(Duration::ZERO, |finished| {
        finished.duration_since(template.created_at)
    });
    let first_created = finished_by - runs_for - SPREAD;
    let count = u32::try_from(n).context("too many operations to spread")?;
    let mut ids = Vec::with_capacity(n);
    for start in (0..n).step_by(LOAD_BATCH) {
        let batch: Vec<Operation> = (start..n.min(start + LOAD_BATCH))
            .map(|i| {
                // N.B. `i < n`, which fits a `u32`.
                let step = u32::try_from(i).unwrap_or(count);
                let created_at = first_created + SPREAD * step / count;
                Operation {
                    id: OperationId::random(),
                    resource: template.resource.as_ref().map(|key| ResourceKey {
                        id: instance(i),
                        ..key.clone()
                    }),
                    attributes: rename_attributes(i),
                    created_at,
                    finished_at: Some(created_at + runs_for),
                    ..template.clone()
                }
            })
            .collect();
        store.load(&batch).await?;
        ids.extend(batch.into_iter().map(|op| op.id.to_string()));
    }
    Ok(ids)
}

/// Polls the server's count of swept operations until it reaches `n`, then cancels `swept`
/// and returns when that was seen.
async fn watch_sweep(
    client: Arc<Client>,
    n: usize,
    swept: CancellationToken,
) -> anyhow::Result<Instant> {
    let give_up = Instant::now() + SWEEP_TIMEOUT;
    loop {
        let metrics = client.get_text("/metrics").await?;
        if swept_count(&metrics)? >= n {
            swept.cancel();
            return Ok(Instant::now());
        }
        anyhow::ensure!(
            Instant::now() < give_up,
            "the sweeper had not deleted {n} operations after {SWEEP_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `bpops_operations_swept` counter of a `/metrics` answer.
fn swept_count(metrics: &str) -> anyhow::Result<usize> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("bpops_operations_swept_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|value| value as usize)
        .context("/metrics has no bpops_operations_swept_total")
}

/// What one phase measured.
struct Reads {
    latencies: Vec<Duration>,
    errors: usize,
    started: Instant,
    deadline: Instant,
    rate: f64,
    /// How often each client reads: every client's first measured read is due within one.
    interval: Duration,
}

/// What a phase adds to its line.
struct Phase {
    name: &'static str,
    loaded: usize,
    retained: usize,
    expired: usize,
    load_s: Option<f64>,
    /// When the sweep ended, if reads stopped with it.
    ended: Option<Instant>,
    sweep_s: Option<f64>,
}

/// Reads ids picked uniformly from `ids`, offered at `settings.rate` per second shared by
/// `settings.concurrency` clients, for `settings.read_for` (after an unmeasured warm-up of
/// a fifth of that) or until `stop`. Each client sends its first measured read even after
/// `stop` (a sweep may end within the warm-up), so a phase always has a line.
async fn read_at_rate(
    client: &Arc<Client>,
    ids: &Arc<Vec<String>>,
    settings: &Settings,
    stop: Option<&CancellationToken>,
) -> Reads {
    let stop = stop.cloned().unwrap_or_default();
    let warming = Instant::now();
    // The first fifth of the window again warms up caches, unmeasured: every phase starts
    // on a freshly started server, which a long-running one would not be.
    let started = warming + settings.read_for / 5;
    let deadline = started + settings.read_for;
    let clients = settings.concurrency.max(1);
    let interval = Duration::from_secs_f64(clients as f64 / settings.rate);
    let mut tasks = JoinSet::new();
    for worker in 0..clients {
        let (client, ids, stop) = (Arc::clone(client), Arc::clone(ids), stop.clone());
        // Staggered over one interval, so the offered load is even from the start.
        let mut due = warming + interval.mul_f64(worker as f64 / clients as f64);
        tasks.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0);
            let mut picker = Picker::new(worker);
            let mut measured = false;
            while due < deadline && !(measured && stop.is_cancelled()) {
                tokio::select! {
                    () = tokio::time::sleep_until(due.into()) => {}
                    () = stop.cancelled(), if measured => break,
                }
                measured = due >= started;
                let id = &ids[picker.next(ids.len())];
                match client.get_result(id, None).await {
                    // From the scheduled time: a late send is part of the latency.
                    Ok(Some(_)) => {
                        if measured {
                            latencies.push(due.elapsed());
                        }
                    }
                    _ => errors += 1,
                }
                due += interval;
            }
            (latencies, errors)
        });
    }
    let (latencies, errors) = gather(tasks).await;
    Reads {
        latencies,
        errors,
        started,
        deadline,
        rate: settings.rate,
        interval,
    }
}

impl Reads {
    fn report(
        self,
        scenario: &str,
        server: &BenchServer,
        phase: Phase,
        baseline_p99: Option<f64>,
    ) -> Report {
        let ended = phase
            .ended
            .map_or(self.deadline, |at| at.min(self.deadline));
        // At least one interval: a sweep that ended within the warm-up still waited for
        // each client's one measured read.
        let window = ended
            .saturating_duration_since(self.started)
            .max(self.interval);
        let mut line = report(
            scenario,
            self.latencies.len(),
            window,
            self.latencies,
            self.errors,
        );
        // N.B. now, before the next restart: the peak of this phase's server process.
        line.server_rss_mb = Some(server.peak_rss_mb());
        let p99 = line.latency_ms.p99;
        line.scale = Some(ScaleFigures {
            phase: phase.name,
            loaded: phase.loaded,
            retained: phase.retained,
            expired: phase.expired,
            offered_per_second: self.rate,
            window_s: window.as_secs_f64(),
            load_s: phase.load_s,
            p99_vs_near_empty: baseline_p99.filter(|b| *b > 0.0).map(|b| p99 / b),
            sweep_s: phase.sweep_s,
            swept_per_second: phase
                .sweep_s
                .map(|s| phase.expired as f64 / s.max(f64::EPSILON)),
        });
        line
    }
}

/// `1000000` → `1,000,000`, as the scenario names show counts.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_shown_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn the_swept_count_is_read_from_the_metrics_text() {
        let metrics = "# HELP bpops_operations_swept Expired operations deleted.\n\
                       # TYPE bpops_operations_swept counter\n\
                       bpops_operations_swept_total 12000\n# EOF\n";
        assert_eq!(swept_count(metrics).unwrap(), 12_000);
        assert!(swept_count("# EOF\n").is_err());
    }
}
