//! The HTTP face of bpops: the BPStudio-compatible RPC endpoint.
//!
//! Every request goes through one pipeline (see [`pipeline`]) in a fixed order: bounded
//! read → parameters → authenticate (signature, clock, nonce) → authorize → dispatch →
//! envelope. Handlers receive an authenticated principal and typed parameters and make one
//! engine call; they never look at signatures or policies.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod handlers;
mod nonces;
pub mod pipeline;
mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use bpops_engine::Engine;
use bpops_iam::Directory;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::ApiError;

use crate::nonces::Nonces;

/// Request-path settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The longest ExecuteOperationSync waits before answering with the current status.
    pub sync_wait: Duration,
    /// How far a request's timestamp may be from the server's clock.
    pub clock_skew: Duration,
    /// The largest request body read; longer ones get `RequestEntityTooLarge`.
    pub max_body: usize,
    /// The most signature nonces remembered at once; past it requests get `Throttling`
    /// until old nonces age out, so memory stays bounded under a flood.
    pub max_nonces: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sync_wait: Duration::from_secs(5),
            clock_skew: Duration::from_secs(15 * 60),
            max_body: 1024 * 1024,
            max_nonces: 1_000_000,
        }
    }
}

/// Everything a request needs, shared by all connections.
pub struct App {
    engine: Arc<Engine>,
    directory: Arc<Directory>,
    settings: Settings,
    nonces: Nonces,
}

impl App {
    /// The application over an engine and a directory.
    pub fn new(engine: Arc<Engine>, directory: Arc<Directory>, settings: Settings) -> Arc<App> {
        let nonces = Nonces::new(settings.max_nonces);
        Arc::new(App {
            engine,
            directory,
            settings,
            nonces,
        })
    }
}

/// Serves the API on `listener` until `shutdown` is cancelled, then lets in-flight requests
/// finish.
pub async fn serve_on(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = Router::new().fallback(pipeline::handle).with_state(app);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await
}
