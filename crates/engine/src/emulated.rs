//! Emulated operations: decided by the state of the resource they act on, either by a worker
//! or, when they have no latency, in the transaction that stores them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use bpops_catalog::{self as catalog, Catalog, Executor};
use bpops_store::{Decide, Effect, Finish, Resource, ResourceKey, Status};
use bpops_time::{Clock, Timestamp};
use serde_json::{Map, Value};

use crate::Emulation;

/// A failure finished at `finished_at`, with nothing applied.
pub(crate) fn failure(message: String, finished_at: Timestamp) -> Finish {
    Finish {
        status: Status::Failure,
        message,
        arguments: "{}".to_owned(),
        finished_at,
        effect: None,
    }
}

/// The failure `emulation` injects into this run, if it draws one, finished now.
pub(crate) fn injected_failure(
    emulation: &Emulation,
    clock: &dyn Clock,
    service: &str,
    operation: &str,
) -> Option<Finish> {
    (emulation.failure_rate > 0.0 && draw() < emulation.failure_rate).then(|| {
        failure(
            format!("InjectedFailure: {service}:{operation} failed by configuration."),
            clock.now(),
        )
    })
}

/// Runs an emulated operation against `resource`, the current state of `key`, and finishes
/// it now.
pub(crate) fn finish(
    entry: &catalog::Entry,
    attributes: &Map<String, Value>,
    application: Option<&str>,
    key: Option<&ResourceKey>,
    resource: Option<Resource>,
    clock: &dyn Clock,
) -> Finish {
    let resource = resource.map(|r| catalog::Resource {
        service: r.key.service,
        id: r.key.id,
        application: r.application,
        properties: r.properties,
    });
    let decision = catalog::run_emulated(&catalog::Run {
        entry,
        attributes,
        application,
        resource: resource.as_ref(),
    });
    let effect = match (decision.effect, key) {
        (Some(catalog::Effect::Update(properties)), Some(key)) => Some(Effect::Update {
            key: key.clone(),
            properties,
        }),
        (Some(catalog::Effect::Delete), Some(key)) => Some(Effect::Delete { key: key.clone() }),
        _ => None,
    };
    Finish {
        status: if decision.succeeded {
            Status::Success
        } else {
            Status::Failure
        },
        message: decision.message,
        arguments: decision.arguments,
        finished_at: clock.now(),
        effect,
    }
}

/// What an operation about to be stored needs to be decided by the store as it stores it.
pub(crate) struct AtSubmit {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) emulation: Emulation,
    pub(crate) service: String,
    pub(crate) operation: String,
    pub(crate) attributes: Map<String, Value>,
    pub(crate) application: Option<String>,
    pub(crate) key: Option<ResourceKey>,
}

impl AtSubmit {
    /// Whether an operation of `executor` under `emulation` can be decided at submission:
    /// an emulated one with no latency depends on nothing but its resource's state.
    pub(crate) fn applies(executor: &Executor, emulation: &Emulation) -> bool {
        matches!(executor, Executor::Emulated) && emulation.latency.is_zero()
    }

    /// The decision, for [`bpops_store::Store::submit_decided`].
    pub(crate) fn into_decide(self) -> Decide {
        Box::new(move |resource| {
            // N.B. this runs inside the store's write path (on SQLite, its one writer
            // thread): a panic must become this operation's failure, not the store's end.
            catch_unwind(AssertUnwindSafe(|| self.finish(resource))).unwrap_or_else(|_| {
                failure(
                    "InternalError: the emulated operation failed.".to_owned(),
                    self.clock.now(),
                )
            })
        })
    }

    fn finish(&self, resource: Option<Resource>) -> Finish {
        let clock = self.clock.as_ref();
        if let Some(failed) =
            injected_failure(&self.emulation, clock, &self.service, &self.operation)
        {
            return failed;
        }
        match self.catalog.entry(&self.service, &self.operation) {
            Ok(entry) => finish(
                entry,
                &self.attributes,
                self.application.as_deref(),
                self.key.as_ref(),
                resource,
                clock,
            ),
            Err(e) => failure(format!("InvalidOperation.NotFound: {e}"), clock.now()),
        }
    }
}

/// A uniform draw in [0, 1), for failure injection and retry jitter.
pub(crate) fn draw() -> f64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}
