//! The scenarios. Each returns what it measured; none asserts anything about speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bpops_client::{Client, Execute, ListExecutions};
use serde_json::json;
use tokio::task::JoinSet;

use super::Report;
use super::server::{APPLICATION, FLIGHT_LATENCY, flight_instance, instance};
use super::stats::Percentiles;

/// Operations a server runs, one at a time, before anything is measured: as many as
/// Celery's workers get (bench/celery/bench.py), so neither side is measured cold.
const WARM_UP: usize = 20;

/// Runs [`WARM_UP`] operations one at a time, each until final.
pub async fn warm_up(client: &Client) -> anyhow::Result<()> {
    for i in 0..WARM_UP {
        let id = submit(client, i).await?;
        anyhow::ensure!(
            until_final(client, &id).await,
            "warm-up operation {id} failed"
        );
    }
    Ok(())
}

/// Submits `n` renames (spread over the seeded instances) from `concurrency` clients, and
/// asks ListExecuteOperations until no operation is left unfinished: one request answers
/// for many operations, as Celery's `join_native` reads many results in one MGET. The rate
/// counts from the first submit until all are final; operations that ended in FAILURE
/// count as errors.
pub async fn throughput(
    client: &Arc<Client>,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Report> {
    let scenario = "throughput (submit until final)";
    until_all_final(client, scenario, n, concurrency, |client, i| async move {
        submit(&client, i).await.is_ok()
    })
    .await
}

/// Submits `n` operations that each wait an emulated latency of [`FLIGHT_LATENCY`], each on
/// an instance of its own, from `concurrency` clients, and counts until all are final: how
/// many operations a node keeps in flight at once decides the time, not its CPU.
pub async fn in_flight(
    client: &Arc<Client>,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Report> {
    let scenario = format!("in flight ({n} × {FLIGHT_LATENCY} latency)");
    until_all_final(client, &scenario, n, concurrency, |client, i| async move {
        let attributes =
            json!({"instanceId": flight_instance(i), "pay_type": "PrePaid"}).to_string();
        let modify = Execute {
            service_type: "ecs",
            operation: "modifyPayType",
            attributes: &attributes,
            application_id: Some(APPLICATION),
            client_token: None,
        };
        client.execute_async(&modify).await.is_ok()
    })
    .await
}

/// Runs `submit(client, i)` for `i` in `0..n` from `concurrency` clients, then counts until
/// every operation is final; see [`throughput`].
pub(super) async fn until_all_final<F, Fut>(
    client: &Arc<Client>,
    scenario: &str,
    n: usize,
    concurrency: usize,
    submit: F,
) -> anyhow::Result<Report>
where
    F: Fn(Arc<Client>, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let failed_before = count_listed(client, "FAILURE").await?;
    let started = Instant::now();
    let client_ = Arc::clone(client);
    let (latencies, mut errors) = for_each(n, concurrency, move |i| {
        let (client, submit) = (Arc::clone(&client_), submit.clone());
        async move { submit(client, i).await }
    })
    .await;
    until_none_unfinished(client).await?;
    let elapsed = started.elapsed();
    errors += count_listed(client, "FAILURE").await? - failed_before;
    Ok(report(
        scenario,
        n - errors.min(n),
        elapsed,
        latencies,
        errors,
    ))
}

/// One operation at a time: submit then read until final, and ExecuteOperationSync.
pub async fn latency(client: &Arc<Client>, n: usize) -> anyhow::Result<Vec<Report>> {
    let polled = one_at_a_time(
        "latency (ASync + Get until final)",
        n,
        async |i| match submit(client, i).await {
            Ok(id) => until_final(client, &id).await,
            Err(_) => false,
        },
    )
    .await;
    let synced = one_at_a_time("latency (ExecuteOperationSync)", n, async |i| {
        let attributes = rename_attributes(i);
        matches!(
            client.execute_sync(&rename(&attributes)).await,
            Ok(result) if result.status == "SUCCESS"
        )
    })
    .await;
    Ok(vec![polled, synced])
}

/// Runs `one(0)` to `one(n - 1)` one after another, timing each; `one` tells whether its
/// operation reached SUCCESS.
async fn one_at_a_time(scenario: &str, n: usize, one: impl AsyncFn(usize) -> bool) -> Report {
    let (mut latencies, mut errors) = (Vec::with_capacity(n), 0);
    let started = Instant::now();
    for i in 0..n {
        let asked = Instant::now();
        if one(i).await {
            latencies.push(asked.elapsed());
        } else {
            errors += 1;
        }
    }
    report(
        scenario,
        latencies.len(),
        started.elapsed(),
        latencies,
        errors,
    )
}

/// Signed reads of existing operations from `concurrency` clients for `duration`.
pub async fn read(
    client: &Arc<Client>,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<Report> {
    let mut ids = Vec::new();
    for i in 0..1000 {
        ids.push(submit(client, i).await?);
    }
    let ids = Arc::new(ids);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for worker in 0..concurrency {
        let (client, ids) = (Arc::clone(client), Arc::clone(&ids));
        tasks.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0);
            let mut picker = Picker::new(worker);
            while Instant::now() < deadline {
                let id = &ids[picker.next(ids.len())];
                let asked = Instant::now();
                // The typed read costs the load generator less than a JSON value would: an
                // answer decodes in 0.7 µs, against 1.1 µs into serde_json::Value (release).
                match client.get_result(id, None).await {
                    Ok(Some(_)) => latencies.push(asked.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    let (latencies, errors) = gather(tasks).await;
    Ok(report(
        "read (GetExecuteOperationResult)",
        latencies.len(),
        started.elapsed(),
        latencies,
        errors,
    ))
}

/// Picks indexes in `0..len` pseudo-randomly and uniformly (a 64-bit LCG, top bits), one
/// sequence per client: cheap enough not to weigh on the load generator.
pub(super) struct Picker(u64);

impl Picker {
    pub(super) fn new(client: usize) -> Picker {
        Picker((client as u64).wrapping_mul(7919))
    }

    pub(super) fn next(&mut self, len: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % len as u64) as usize
    }
}

/// Submits the `i`th rename and returns its OperationId.
pub(super) async fn submit(client: &Client, i: usize) -> anyhow::Result<String> {
    let attributes = rename_attributes(i);
    Ok(client.execute_async(&rename(&attributes)).await?)
}

/// Runs `one(0)` to `one(n - 1)` from `concurrency` tasks, timing each; `one` tells whether
/// it succeeded. Returns the latencies of the successes and the count of the rest.
pub(super) async fn for_each<F, Fut>(n: usize, concurrency: usize, one: F) -> (Vec<Duration>, usize)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let (one, next) = (one.clone(), Arc::clone(&next));
        tasks.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return (latencies, errors);
                }
                let asked = Instant::now();
                if one(i).await {
                    latencies.push(asked.elapsed());
                } else {
                    errors += 1;
                }
            }
        });
    }
    gather(tasks).await
}

/// Reads `id` until it is final; `false` when it ended in FAILURE or could not be read.
pub(super) async fn until_final(client: &Client, id: &str) -> bool {
    final_status(client, id).await.as_deref() == Some("SUCCESS")
}

/// Reads `id` until it is final and returns its status; `None` when it could not be read.
pub(super) async fn final_status(client: &Client, id: &str) -> Option<String> {
    loop {
        let Ok(Some(result)) = client.get_result(id, Some(10)).await else {
            return None;
        };
        match result.status.as_str() {
            "INIT" | "RUNNING" => tokio::task::yield_now().await,
            _ => return Some(result.status),
        }
    }
}

/// Asks ListExecuteOperations until no operation of the account is unfinished.
pub(super) async fn until_none_unfinished(client: &Client) -> anyhow::Result<()> {
    // N.B. in this order: a status only moves forward, so once no INIT is left none can
    // appear, and no RUNNING after that means every operation is final.
    while any_listed(client, "INIT").await? || any_listed(client, "RUNNING").await? {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Whether the account has any operation in `status`.
async fn any_listed(client: &Client, status: &str) -> anyhow::Result<bool> {
    let page = client
        .list_executions(&ListExecutions {
            status: Some(status),
            max_results: Some(1),
            ..ListExecutions::default()
        })
        .await?;
    Ok(!page.operations.is_empty())
}

/// How many operations of the account are in `status`, page by page.
pub(super) async fn count_listed(client: &Client, status: &str) -> anyhow::Result<usize> {
    let (mut count, mut token) = (0, None::<String>);
    loop {
        let page = client
            .list_executions(&ListExecutions {
                status: Some(status),
                max_results: Some(100),
                next_token: token.as_deref(),
                ..ListExecutions::default()
            })
            .await?;
        count += page.operations.len();
        match page.next_token {
            Some(next) => token = Some(next),
            None => return Ok(count),
        }
    }
}

/// The attributes of the `i`th rename: one of the seeded instances, a new name.
pub(super) fn rename_attributes(i: usize) -> String {
    json!({"instanceId": instance(i), "instance_name": format!("bench-{i}")}).to_string()
}

/// A rename of the seeded application with `attributes`.
fn rename(attributes: &str) -> Execute<'_> {
    Execute {
        service_type: "ecs",
        operation: "rename",
        attributes,
        application_id: Some(APPLICATION),
        client_token: None,
    }
}

pub(super) async fn gather(mut tasks: JoinSet<(Vec<Duration>, usize)>) -> (Vec<Duration>, usize) {
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (l, e) = done.expect("a bench task panicked");
        latencies.extend(l);
        errors += e;
    }
    (latencies, errors)
}

pub(super) fn report(
    scenario: &str,
    count: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    errors: usize,
) -> Report {
    Report {
        scenario: scenario.to_owned(),
        count,
        per_second: count as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        latency_ms: Percentiles::of(latencies),
        errors,
        server_rss_mb: None,
        scale: None,
    }
}
