//! The HTTP face of bpops: the BPStudio-compatible RPC endpoint.
//!
//! Every request goes through one pipeline (see `pipeline`) in a fixed order: bounded
//! read → parameters → authenticate (signature, clock, nonce) → typed request → authorize →
//! dispatch → envelope. The request is parsed once, into one value per action (`request`),
//! which the route table (`routes`) authorizes against what it reaches and hands to its
//! handler; handlers make one engine call and never look at signatures or policies.
//!
//! The request path is hardened by limits no request can switch off ([`Settings`]): the head's
//! size, header count and read time (hyper), the body's size and read time (and how much of a
//! refused body is discarded so that its sender reads the answer), parameters' count
//! and size (`bpops-protocol`), an overall deadline, a connection cap, and a per-key nonce
//! table of bounded size.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod application_changes;
mod applications;
mod audit;
mod catalog;
mod console;
mod context;
mod deliveries;
mod error;
mod history;
mod metrics;
mod operations;
mod pipeline;
mod probes;
mod request;
mod routes;
mod test_clock;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bpops_engine::Engine;
use bpops_iam::Directory;
use bpops_store::Store;
use bpops_store::nonces::Nonces;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use audit::AuditSettings;
pub use error::ApiError;

use crate::audit::Trail;
use crate::console::SignInThrottle;
use crate::metrics::Metrics;

/// Request-path settings. Every limit here is the server's: no request can raise or lift one.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The longest ExecuteOperationSync waits before answering with the current status. The
    /// default, 2 s, answers inside every official SDK's default timeout (the Node.js cores
    /// stop reading after 3 s); a longer wait is the operator's explicit choice.
    pub sync_wait: Duration,
    /// How far a request's timestamp may be from the server's clock.
    pub clock_skew: Duration,
    /// The largest request body read; longer ones get `RequestEntityTooLarge`.
    pub max_body: usize,
    /// After refusing a body as too large, how many more bytes of it are read and thrown
    /// away, so that a client still sending it can read the answer; then the connection is
    /// closed.
    pub linger_bytes: usize,
    /// The longest that discarding goes on, whatever the bytes.
    pub linger_time: Duration,
    /// The most signature nonces remembered for one AccessKey at once; past it that key's
    /// requests get `Throttling` until its old nonces age out. Per key, so that one key
    /// flooding unique nonces never throttles another, and memory stays bounded by this times
    /// the number of keys (nonces are kept as fixed-size hashes).
    pub max_nonces_per_key: usize,
    /// The most header fields a request may have (hyper answers 431 past it).
    pub max_headers: usize,
    /// The largest request head (request line and headers), in bytes (431 past it).
    pub max_header_bytes: usize,
    /// How long a connection may take to send a complete request head; also how long an idle
    /// keep-alive connection is kept. Past it the connection is closed.
    pub header_read_timeout: Duration,
    /// How long a request may take to send its body (`RequestTimeout` past it).
    pub body_read_timeout: Duration,
    /// How long a request may take from its head to its answer, body read included; past it
    /// the answer is `ServiceUnavailable`. Longer than `body_read_timeout` plus the longest
    /// legitimate wait (`sync_wait`, or GetExecuteOperationResult's `WaitSeconds` ≤ 60 s), so
    /// no legitimate wait reaches it.
    pub request_timeout: Duration,
    /// The most connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// How the audit trail of the requests is kept.
    pub audit: AuditSettings,
    /// How long a web console session lasts from its sign-in.
    pub console_session: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sync_wait: Duration::from_secs(2),
            clock_skew: Duration::from_secs(15 * 60),
            max_body: 1024 * 1024,
            linger_bytes: 16 * 1024 * 1024,
            linger_time: Duration::from_secs(5),
            max_nonces_per_key: 1_000_000,
            max_headers: 64,
            max_header_bytes: 32 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(90),
            max_connections: 1024,
            audit: AuditSettings::default(),
            console_session: Duration::from_secs(8 * 60 * 60),
        }
    }
}

/// Everything a request needs, shared by all connections.
pub struct App {
    engine: Arc<Engine>,
    /// The store the engine keeps operations in, for what the request path reads or writes
    /// itself: spent signature nonces, readiness and the queue depth.
    store: Arc<dyn Store>,
    directory: Arc<Directory>,
    settings: Settings,
    nonces: Nonces,
    metrics: Metrics,
    /// Where each request's audit record goes.
    trail: Trail,
    /// Failed console sign-ins, by source address.
    sign_ins: SignInThrottle,
    /// The console's live-update streams open on this node.
    console_streams: console::Streams,
}

impl App {
    /// The application over an engine, the store that engine keeps operations in, and a
    /// directory. Starts the audit trail's writer (see [`AuditSettings`]), so it must be
    /// called on a Tokio runtime.
    pub fn new(
        engine: Arc<Engine>,
        store: Arc<dyn Store>,
        directory: Arc<Directory>,
        settings: Settings,
    ) -> Arc<App> {
        let nonces = Nonces::new(settings.max_nonces_per_key);
        let (metrics, trail_metrics) = Metrics::new(engine.metrics(), engine.spans());
        let trail = Trail::start(Arc::clone(&store), &settings.audit, trail_metrics);
        Arc::new(App {
            engine,
            store,
            directory,
            settings,
            nonces,
            metrics,
            trail,
            sign_ins: SignInThrottle::default(),
            console_streams: console::Streams::default(),
        })
    }
}

/// Serves the API on `listener` until `shutdown` is cancelled, then closes the listener and
/// lets in-flight requests finish (idle keep-alive connections close at once, and the
/// engine answers waits at once when it stops), and writes the audit records still queued.
///
/// One HTTP/1.1 connection per task, with hyper's own limits on the request head (count and
/// size of headers, time to send them); the pipeline enforces the rest. Connections beyond
/// [`Settings::max_connections`] wait to be accepted, so a flood of idle sockets costs at most
/// `header_read_timeout` each and never exhausts file descriptors.
pub async fn serve_on(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let connections = Arc::new(Semaphore::new(app.settings.max_connections));
    let tasks = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = Arc::clone(&connections).acquire_owned() => {
                permit.expect("the connection semaphore is never closed")
            }
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept: wait a
                    // little rather than spin, then go on serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let app = Arc::clone(&app);
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            serve_connection(stream, peer, app, shutdown).await;
            drop(permit);
        });
    }
    // Connections still in the backlog are refused rather than left waiting, and the
    // console's streams, which would never finish, end.
    drop(listener);
    app.console_streams.close();
    tasks.close();
    tasks.wait().await;
    // N.B. after the last request is answered, so its record is among those written.
    app.trail.close().await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Arc<App>,
    shutdown: CancellationToken,
) {
    let settings = &app.settings;
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_headers(settings.max_headers)
        .max_header_size(settings.max_header_bytes);
    let service = {
        let app = Arc::clone(&app);
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let app = Arc::clone(&app);
            async move {
                let request = request.map(Body::new);
                if console::owns(request.uri().path()) {
                    return Ok::<_, Infallible>(console::handle(app, peer, request).await);
                }
                let probe = probes::answer(&app, request.method(), request.uri().path()).await;
                let response = match probe {
                    Some(response) => response,
                    None => pipeline::handle(app, peer, request, pipeline::Caller::Signed).await,
                };
                Ok::<_, Infallible>(response)
            }
        })
    };
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        // Timeouts, over-long heads and clients that hang up: theirs, not ours.
        tracing::debug!(peer = %peer, error = %e, "connection ended");
    }
}
