//! The listening connection: turns other nodes' `NOTIFY`s into [`StoreEvent`]s.
//!
//! One connection outside the pool `LISTEN`s on the schema's channel. When it breaks, it
//! reconnects every [`RECONNECT_EVERY`] until the database answers again, then publishes
//! [`StoreEvent::Missed`]: notifications sent meanwhile are lost, so everyone re-checks.

use std::future::poll_fn;
use std::time::Duration;

use bpops_store::{OperationId, Result, StoreError, StoreEvent};
use tokio::sync::{broadcast, oneshot};
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use crate::from_pg;

const RECONNECT_EVERY: Duration = Duration::from_millis(500);

/// The `application_name` of listening connections.
pub(crate) const LISTENER_NAME: &str = "bpops-listener";

/// Starts listening; returns once the first `LISTEN` succeeded (or failed, which fails the
/// open). The connection stops when `stop` is cancelled.
pub(crate) async fn start(
    config: tokio_postgres::Config,
    channel: String,
    events: broadcast::Sender<StoreEvent>,
    stop: CancellationToken,
) -> Result<()> {
    let mut config = config;
    // Names it in pg_stat_activity, apart from the pool's connections.
    config.application_name(LISTENER_NAME);
    let (ready, listening) = oneshot::channel();
    tokio::spawn(run(config, channel, events, stop, ready));
    listening
        .await
        .map_err(|_| StoreError::Other("the listening task ended".into()))?
}

async fn run(
    config: tokio_postgres::Config,
    channel: String,
    events: broadcast::Sender<StoreEvent>,
    stop: CancellationToken,
    ready: oneshot::Sender<Result<()>>,
) {
    let mut ready = Some(ready);
    loop {
        let lost = tokio::select! {
            () = stop.cancelled() => return,
            lost = listen(&config, &channel, &events, &mut ready) => lost,
        };
        if let Some(ready) = ready.take() {
            let _ = ready.send(Err(lost));
            return;
        }
        tracing::warn!(error = %lost, "lost the listening connection; reconnecting");
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RECONNECT_EVERY) => {}
        }
    }
}

/// One listening session; returns why it ended.
async fn listen(
    config: &tokio_postgres::Config,
    channel: &str,
    events: &broadcast::Sender<StoreEvent>,
    ready: &mut Option<oneshot::Sender<Result<()>>>,
) -> StoreError {
    let (client, mut connection) = match config.connect(NoTls).await {
        Ok(pair) => pair,
        Err(e) => return from_pg(e),
    };
    let statement = format!("LISTEN \"{}\"", channel.replace('"', "\"\""));
    let subscribe = client.batch_execute(&statement);
    tokio::pin!(subscribe);
    let mut subscribed = false;
    loop {
        // N.B. the connection must be polled for the LISTEN itself to complete.
        tokio::select! {
            outcome = &mut subscribe, if !subscribed => match outcome {
                Ok(()) => {
                    subscribed = true;
                    match ready.take() {
                        Some(ready) => { let _ = ready.send(Ok(())); }
                        None => { let _ = events.send(StoreEvent::Missed); }
                    }
                }
                Err(e) => return from_pg(e),
            },
            message = poll_fn(|cx| connection.poll_message(cx)) => match message {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if let Some(event) = parse(n.payload()) {
                        let _ = events.send(event);
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return from_pg(e),
                None => return StoreError::Unavailable("the listening connection closed".into()),
            },
        }
    }
}

/// Payloads written by `queries`: `submitted`, `finished <operation id>` and
/// `cancel <operation id>`.
fn parse(payload: &str) -> Option<StoreEvent> {
    match payload.split_once(' ') {
        None if payload == "submitted" => Some(StoreEvent::Submitted),
        Some(("finished", id)) => id.parse::<OperationId>().ok().map(StoreEvent::Finished),
        Some(("cancel", id)) => id
            .parse::<OperationId>()
            .ok()
            .map(StoreEvent::CancelRequested),
        _ => {
            tracing::warn!(payload, "ignoring an unknown notification");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_into_events() {
        let id = OperationId::random();
        assert_eq!(parse("submitted"), Some(StoreEvent::Submitted));
        assert_eq!(
            parse(&format!("finished {id}")),
            Some(StoreEvent::Finished(id.clone()))
        );
        assert_eq!(
            parse(&format!("cancel {id}")),
            Some(StoreEvent::CancelRequested(id))
        );
        assert_eq!(parse("finished nonsense"), None);
        assert_eq!(parse("other"), None);
    }
}
