//! The scenarios of operations that pass through a worker, as a job queue's tasks do:
//! `queued-path` (operations with an emulated latency of [`QUEUED_LATENCY`], and a declared
//! `http` operation against a local endpoint, [`Receiver`]) and `burn-down` (the job queues'
//! own headline shape: N operations queued while nothing runs them, then the time to drain
//! them from a restart of the server).

use std::sync::Arc;
use std::time::Instant;

use axum::http::header;
use bpops_client::{Client, Execute};
use serde_json::json;

use super::Report;
use super::scenarios::{self, report};
use super::server::{APPLICATION, BenchServer, HTTP_OPERATION, HTTP_SERVICE, instance};

/// The emulated latency of the queued operation (`ecs modifyInstanceType`, a status change
/// to the status the instance has, so it always succeeds without changing anything).
pub const QUEUED_LATENCY: &str = "1ms";

/// What the receiver answers every call: a small result, as a job queue's task returns.
const ANSWER: &str = r#"{"Arguments":{"ok":true}}"#;

/// A local HTTP endpoint answering bpops's http executor (README, "Declared operations"):
/// every POST gets [`ANSWER`]. It runs on the load generator's runtime until dropped.
pub struct Receiver {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Listens on a free loopback port.
    pub async fn start() -> anyhow::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/call", listener.local_addr()?);
        let app = axum::Router::new().route(
            "/call",
            axum::routing::post(|| async {
                ([(header::CONTENT_TYPE, "application/json")], ANSWER)
            }),
        );
        let task = tokio::spawn(async move {
            // Ends only with the runtime, or when dropped.
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver { url, task })
    }

    /// The URL its declared operation POSTs to.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Two lines: `n` emulated operations of [`QUEUED_LATENCY`], then `n` of the declared http
/// operation, each submitted from `concurrency` clients and counted until all are final.
pub async fn queued_path(
    client: &Arc<Client>,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Report>> {
    let emulated = scenarios::until_all_final(
        client,
        &format!("queued path (emulated {QUEUED_LATENCY} latency)"),
        n,
        concurrency,
        |client, i| async move { submit_queued(&client, i).await.is_ok() },
    )
    .await?;
    let http = scenarios::until_all_final(
        client,
        "queued path (declared http operation)",
        n,
        concurrency,
        |client, _| async move {
            let call = Execute {
                service_type: HTTP_SERVICE,
                operation: HTTP_OPERATION,
                attributes: "{}",
                application_id: None,
                client_token: None,
            };
            client.execute_async(&call).await.is_ok()
        },
    )
    .await?;
    Ok(vec![emulated, http])
}

/// `n` operations of [`QUEUED_LATENCY`] submitted while the server runs none of them
/// (`[operations.concurrency] emulated = 0`); then the server is stopped and started with
/// its normal limits, and the time runs from that start until every operation is final, as
/// a job queue's burn-down runs from its workers' start. Returns the line and the restarted
/// server's client.
pub async fn burn_down(
    server: &mut BenchServer,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<(Report, Arc<Client>)> {
    server.restart_holding_emulated(true).await?;
    let client = Arc::new(Client::new(server.credentials())?);
    let failed_before = scenarios::count_listed(&client, "FAILURE").await?;
    let client_ = Arc::clone(&client);
    let (_, mut errors) = scenarios::for_each(n, concurrency, move |i| {
        let client = Arc::clone(&client_);
        async move { submit_queued(&client, i).await.is_ok() }
    })
    .await;
    // The backlog is what is measured: none of it may have started while held.
    let waiting = scenarios::count_listed(&client, "INIT").await?;
    anyhow::ensure!(
        waiting == n - errors,
        "burn-down: {waiting} of {} submitted operations wait while the server runs none",
        n - errors
    );
    let started = Instant::now();
    server.restart_holding_emulated(false).await?;
    let client = Arc::new(Client::new(server.credentials())?);
    scenarios::until_none_unfinished(&client).await?;
    let elapsed = started.elapsed();
    errors += scenarios::count_listed(&client, "FAILURE").await? - failed_before;
    let line = report(
        &format!("burn-down ({n} queued, then the server starts)"),
        n - errors.min(n),
        elapsed,
        Vec::new(),
        errors,
    );
    Ok((line, client))
}

/// Submits the `i`th queued operation, on one of the seeded instances.
async fn submit_queued(client: &Client, i: usize) -> anyhow::Result<String> {
    let attributes = json!({
        "instanceId": instance(i),
        "change_type": "modify_status",
        "status": "Running",
    })
    .to_string();
    let operation = Execute {
        service_type: "ecs",
        operation: "modifyInstanceType",
        attributes: &attributes,
        application_id: Some(APPLICATION),
        client_token: None,
    };
    Ok(client.execute_async(&operation).await?)
}
