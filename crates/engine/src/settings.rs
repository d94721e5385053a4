//! What the engine is told by the configuration.

use std::collections::HashMap;
use std::time::Duration;

use bpops_catalog::lifecycle::Prices;
use bpops_store::EventFilter;
use bpops_store::{Budget, Pool};
use bpops_telemetry::Spans;
use secrecy::SecretString;

/// Emulated latency and failure injection for one operation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Emulation {
    /// How long a run takes before it decides.
    pub latency: Duration,
    /// The share of runs, from 0 to 1, that fail with `InjectedFailure`.
    pub failure_rate: f64,
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a finished operation stays readable.
    pub retention: Duration,
    /// How long an audit record is kept; the sweeper deletes older ones.
    pub audit_retention: Duration,
    /// How long a claim holds before another worker may take the operation over; renewed
    /// while the operation runs.
    pub lease: Duration,
    /// How many attempts of each pool run at once on this node.
    pub concurrency: Budget,
    /// How often workers look for work when no event woke them.
    pub fallback_poll: Duration,
    /// How many expired operations one sweep transaction deletes at most: small, so a
    /// batch holds the store's writer for a few milliseconds only.
    pub sweep_batch: usize,
    /// Per `(service, operation)` emulation.
    pub emulation: HashMap<(String, String), Emulation>,
    /// Whether emulated operations without latency are decided in the transaction that
    /// stores them, when nothing holds their resource: one commit instead of three, and
    /// final before their id is returned. Off, they queue for the workers like any other.
    pub decide_at_submit: bool,
    /// On shutdown, how long running operations may go on to finish; the leases of those
    /// still running then are released, so another node (or this one, restarted) resumes them
    /// at once.
    pub shutdown_grace: Duration,
    /// The price table `ValuateApplication` reads.
    pub prices: Prices,
    /// This node's name, as its claims record it in operation histories (`[node] name`).
    pub node: String,
    /// Where the spans of operations' queue waits and attempts go; nowhere by default.
    pub spans: Spans,
    /// The webhooks events are delivered to (`[[notifications]]`).
    pub notifications: Vec<Webhook>,
}

/// A webhook: where the events its filter wants are POSTed, signed, at least once.
#[derive(Clone, Debug)]
pub struct Webhook {
    /// Its unique name, kept in each delivery.
    pub name: String,
    /// The `http://` URL deliveries are POSTed to.
    pub url: String,
    /// The key deliveries are signed with. Its `Debug` never shows the value.
    pub secret: SecretString,
    /// The events it wants.
    pub filter: EventFilter,
    /// How long a delivery is retried, from its event, before it expires.
    pub max_age: Duration,
    /// How long one attempt waits for an answer.
    pub timeout: Duration,
    /// The wait before the second attempt; each later one waits twice the one before (with
    /// jitter), up to [`MAX_BACKOFF`].
    pub backoff: Duration,
}

impl Webhook {
    /// `max_age` when the configuration says none: a day, for a receiver down overnight.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
    /// `timeout` when the configuration says none.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// `backoff` when the configuration says none.
    pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
}

/// The longest wait between two attempts of a delivery.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

impl Default for Settings {
    fn default() -> Self {
        Settings {
            retention: Duration::from_secs(3600),
            audit_retention: Duration::from_secs(7 * 24 * 3600),
            lease: Duration::from_secs(30),
            concurrency: default_concurrency(),
            fallback_poll: Duration::from_secs(1),
            sweep_batch: 100,
            emulation: HashMap::new(),
            decide_at_submit: true,
            shutdown_grace: Duration::from_secs(10),
            prices: Prices::default(),
            node: "bpops".to_owned(),
            spans: Spans::disabled(),
            notifications: Vec::new(),
        }
    }
}

/// How many attempts of each pool a node runs at once unless configured: a waiting timer
/// costs a task and a few hundred bytes, a socket a file descriptor, a process a fork and
/// its memory, a lifecycle step a stream of store writes.
pub fn default_concurrency() -> Budget {
    let mut limits = Budget::default();
    limits[Pool::Emulated] = 10_000;
    limits[Pool::Http] = 512;
    limits[Pool::Command] = 32;
    limits[Pool::Step] = 256;
    limits
}

impl Settings {
    /// The emulation of one operation; none by default.
    pub fn emulation(&self, service: &str, operation: &str) -> Emulation {
        self.emulation
            .get(&(service.to_owned(), operation.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// How often the sweeper runs: often enough that expired rows never pile up for long.
    pub fn sweep_interval(&self) -> Duration {
        (self.retention / 4).clamp(Duration::from_millis(100), Duration::from_secs(60))
    }
}
