//! The deliverer: POSTs the outbox's due deliveries to their webhooks, on every node.
//!
//! It claims due deliveries from the store (each under a lease, so one node has it at a
//! time; only the oldest pending one of a notification and operation is ever due, so they
//! arrive in order), POSTs each signed like an HTTP operation's call, and settles it:
//! delivered on a 2xx, otherwise retried after an exponential backoff with jitter, until the
//! next attempt would fall past the webhook's `max_age`, when it expires (kept, visible,
//! counted and logged). A node killed mid-attempt leaves its lease to end; the delivery is
//! then attempted again, so a receiver may see one twice and deduplicates by
//! `Idempotency-Key`.
//!
//! It wakes on the store's events (a submit, a finish, a cancel, on any node), when this
//! node commits another change that may write deliveries (a claim, a retry scheduled, a
//! release, an application's change), and looks again at once after a batch; otherwise it
//! polls at `fallback_poll`, which also finds what became due by time (a retry, an ended
//! lease) and what other nodes wrote without an event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bpops_store::{AttemptRecord, Attempted, Delivery, Settlement, StoreEvent};
use bpops_time::Timestamp;
use secrecy::ExposeSecret;
use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::settings::{MAX_BACKOFF, Webhook};
use crate::{Engine, emulated};

/// The most deliveries one claim takes (and so POSTs at once).
const BATCH: usize = 32;

/// How far a claim's lease outlasts the longest attempt: a node that is alive always
/// settles before anyone else may take the delivery.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

pub(crate) async fn run(
    engine: Arc<Engine>,
    mut events: broadcast::Receiver<StoreEvent>,
    shutdown: CancellationToken,
) {
    let lease = engine
        .settings
        .notifications
        .iter()
        .map(|hook| hook.timeout)
        .max()
        .unwrap_or_default()
        + LEASE_MARGIN;
    loop {
        // N.B. on shutdown a batch in flight is dropped, its attempts with it, so a slow
        // receiver never holds the node past its grace: each is attempted again after its
        // lease (at once on SQLite, which frees a dead process's leases at open).
        let claimed = tokio::select! {
            () = shutdown.cancelled() => return,
            claimed = deliver_due(&engine, lease) => claimed,
        };
        if claimed > 0 {
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = events.recv() => {}
            () = engine.outbox_written.notified() => {}
            () = tokio::time::sleep(engine.settings.fallback_poll) => {}
        }
    }
}

/// Claims one batch and delivers it; returns how many were claimed.
async fn deliver_due(engine: &Arc<Engine>, lease: Duration) -> usize {
    let now = engine.clock.now();
    let due = match engine.store.claim_deliveries(now, lease, BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "claiming webhook deliveries failed; retrying");
            return 0;
        }
    };
    let claimed = due.len();
    let mut attempts = JoinSet::new();
    for delivery in due {
        let engine = Arc::clone(engine);
        attempts.spawn(async move { attempt(&engine, delivery).await });
    }
    while attempts.join_next().await.is_some() {}
    claimed
}

/// One attempt of `delivery`, settled in the store.
async fn attempt(engine: &Engine, delivery: Delivery) {
    let hook = engine
        .settings
        .notifications
        .iter()
        .find(|hook| hook.name == delivery.notification);
    let started_at = engine.clock.now();
    let (record, settlement) = match hook {
        None => (
            Some(record(
                &delivery,
                started_at,
                Duration::ZERO,
                None,
                format!(
                    "notification {:?} is no longer configured",
                    delivery.notification
                ),
            )),
            Settlement::Expired,
        ),
        Some(hook) if started_at.duration_since(delivery.created_at) > hook.max_age => (
            Some(record(
                &delivery,
                started_at,
                Duration::ZERO,
                None,
                format!("not delivered within max_age {:?}", hook.max_age),
            )),
            Settlement::Expired,
        ),
        Some(hook) => post(engine, hook, &delivery, started_at).await,
    };
    let outcome = match settlement {
        Settlement::Delivered => "delivered",
        Settlement::RetryAt(_) => "failed",
        Settlement::Expired => "expired",
    };
    engine.metrics.delivery(&delivery.notification, outcome);
    let error = record.as_ref().and_then(|r| r.error.clone());
    match settlement {
        Settlement::Delivered => tracing::debug!(
            notification = %delivery.notification,
            delivery = delivery.id,
            operation_id = delivery.operation_id.as_deref().unwrap_or_default(),
            application = delivery.application.as_deref().unwrap_or_default(),
            "webhook delivered"
        ),
        Settlement::RetryAt(at) => tracing::warn!(
            notification = %delivery.notification,
            delivery = delivery.id,
            operation_id = delivery.operation_id.as_deref().unwrap_or_default(),
            application = delivery.application.as_deref().unwrap_or_default(),
            attempt = delivery.attempts,
            error = error.as_deref().unwrap_or_default(),
            retry_in_ms = at.duration_since(started_at).as_millis() as u64,
            "webhook delivery failed; retrying"
        ),
        Settlement::Expired => tracing::error!(
            notification = %delivery.notification,
            delivery = delivery.id,
            operation_id = delivery.operation_id.as_deref().unwrap_or_default(),
            application = delivery.application.as_deref().unwrap_or_default(),
            event = %delivery.event,
            attempts = delivery.attempts,
            error = error.as_deref().unwrap_or_default(),
            "webhook delivery expired undelivered"
        ),
    }
    let attempted = Attempted {
        id: delivery.id,
        record,
        attempt: delivery.attempts,
        settlement,
        now: engine.clock.now(),
    };
    match engine.store.settle_delivery(&attempted).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(
            delivery = delivery.id,
            "a webhook delivery's lease ended before its attempt was settled: it will be \
             attempted again"
        ),
        Err(e) => tracing::warn!(
            delivery = delivery.id,
            error = %e,
            "settling a webhook delivery failed: it will be attempted again after its lease"
        ),
    }
}

/// POSTs `delivery` to `hook` and says what becomes of it.
async fn post(
    engine: &Engine,
    hook: &Webhook,
    delivery: &Delivery,
    started_at: Timestamp,
) -> (Option<AttemptRecord>, Settlement) {
    let timer = Instant::now();
    let answer = bpops_executors::post_webhook(
        &hook.url,
        hook.secret.expose_secret(),
        &delivery.id.to_string(),
        delivery.traceparent.as_deref(),
        delivery.payload.clone().into_bytes(),
        hook.timeout,
    )
    .await;
    let took = timer.elapsed();
    engine
        .metrics
        .delivery_attempt(&hook.name, took.as_secs_f64());
    let (status, error) = match answer {
        Ok(answer) if (200..300).contains(&answer.status) => (Some(answer.status), None),
        Ok(answer) => {
            // N.B. the receiver's words go to this node's log only: the attempt's record is
            // shown to the account the operation belongs to, and a receiver's error page
            // is the operator's, not the tenant's, to read.
            if !answer.body.is_empty() {
                tracing::info!(
                    notification = %hook.name,
                    delivery = delivery.id,
                    status = answer.status,
                    body = %answer.body,
                    "a webhook receiver refused a delivery"
                );
            }
            (
                Some(answer.status),
                Some(format!("status {}", answer.status)),
            )
        }
        Err(error) => (None, Some(error)),
    };
    let Some(error) = error else {
        let record = AttemptRecord {
            attempt: delivery.attempts,
            at: started_at.as_millis(),
            millis: took.as_millis() as u64,
            http_status: status,
            error: None,
        };
        return (Some(record), Settlement::Delivered);
    };
    let retry_at = engine.clock.now() + backoff(hook.backoff, delivery.attempts);
    let settlement = if retry_at.duration_since(delivery.created_at) > hook.max_age {
        Settlement::Expired
    } else {
        Settlement::RetryAt(retry_at)
    };
    (
        Some(record(delivery, started_at, took, status, error)),
        settlement,
    )
}

fn record(
    delivery: &Delivery,
    at: Timestamp,
    took: Duration,
    http_status: Option<u16>,
    error: String,
) -> AttemptRecord {
    AttemptRecord {
        attempt: delivery.attempts,
        at: at.as_millis(),
        millis: took.as_millis() as u64,
        http_status,
        error: Some(error),
    }
}

/// The wait after failed attempt `attempt` (from 1): `first`, doubled for each attempt
/// after the first, at most [`MAX_BACKOFF`], less up to a fifth at random so that the
/// deliveries of one outage do not all come back at once.
fn backoff(first: Duration, attempt: u32) -> Duration {
    let doubled = first.saturating_mul(1 << attempt.saturating_sub(1).min(20));
    let wait = doubled.min(MAX_BACKOFF.max(first));
    wait.mul_f64(1.0 - 0.2 * emulated::draw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_at_most_a_fifth_off() {
        let first = Duration::from_secs(1);
        for (attempt, full) in [(1, 1), (2, 2), (3, 4), (11, 600), (40, 600)] {
            let wait = backoff(first, attempt);
            let full = Duration::from_secs(full);
            assert!(
                wait <= full && wait >= full.mul_f64(0.8),
                "{attempt}: {wait:?}"
            );
        }
    }
}
