//! Live updates of the console's pages, by push: `GET /console/events` with the parameters of
//! a `ListExecuteOperations` call (the operations page) or of a `ListExecuteOperationEvents`
//! call (`Action=ListExecuteOperationEvents`, an operation's page) answers a stream of
//! server-sent events, each one the `Data` of that read whenever it changed.
//!
//! The stream is authorized and audited once, when it opens: it is that call, made with the
//! session's principal through the route table. After that the server reads it again, on its
//! own and unaudited, when the store reports a change (a submit, a finish, a cancel, on any
//! node sharing it) and every second while it shows an unfinished operation (a claim, INIT →
//! RUNNING, has no change event); at most two reads a second per stream, and only changed
//! data is sent. Each read goes through the route table
//! again, so a permission taken away ends the stream; so does the end of the session (its
//! expiry at once, a sign-out within [`SESSION_CHECK`]).
//!
//! N.B. an `EventSource` cannot send the CSRF header. The stream changes nothing, its cookie
//! is `SameSite=Strict`, and another site can read no answer of this origin; browsers also say
//! where a request comes from (`Sec-Fetch-Site`), and one from elsewhere is refused.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bpops_iam::Principal;
use bpops_protocol::params::Params;
use bpops_protocol::{Action, ErrorCode};
use bpops_store::{StoreEvent, TraceParent};
use bpops_time::Timestamp;
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::session;
use crate::audit::{Entry, Target};
use crate::context::Ctx;
use crate::request::ActionRequest;
use crate::{ApiError, App, pipeline, routes};

/// The most streams one session may hold open (a few tabs), on one node.
const PER_SESSION: usize = 4;

/// The most streams open on one node.
const PER_NODE: usize = 1024;

/// How soon the listing is read again while it shows an unfinished operation.
const UNFINISHED: Duration = Duration::from_secs(1);

/// How soon it is read again otherwise, with no change reported.
const IDLE: Duration = Duration::from_secs(15);

/// The shortest time between two reads of one stream, however many changes are reported.
const GAP: Duration = Duration::from_millis(500);

/// How often the session is read from the store again, to notice a sign-out.
const SESSION_CHECK: Duration = Duration::from_secs(15);

/// The streams open on this node, and the signal that ends them all when the server stops
/// (a graceful stop waits for answers to finish, and a stream never would).
#[derive(Default)]
pub(crate) struct Streams {
    open: Mutex<Open>,
    closing: CancellationToken,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_session: HashMap<String, usize>,
}

impl Streams {
    /// Ends every stream, and refuses new ones.
    pub(crate) fn close(&self) {
        self.closing.cancel();
    }

    fn take(&self, session: &str) -> Result<(), ApiError> {
        let mut open = self.open.lock().expect("never poisoned");
        let mine = open.by_session.get(session).copied().unwrap_or(0);
        let refusal = if mine >= PER_SESSION {
            format!("This console session has {PER_SESSION} live updates open; close a tab.")
        } else if open.total >= PER_NODE {
            "This server has too many live updates open; retry later.".to_owned()
        } else {
            open.total += 1;
            open.by_session.insert(session.to_owned(), mine + 1);
            return Ok(());
        };
        Err(ApiError::new(ErrorCode::Throttling, refusal))
    }

    fn give_back(&self, session: &str) {
        let mut open = self.open.lock().expect("never poisoned");
        open.total -= 1;
        if let Some(mine) = open.by_session.get_mut(session) {
            *mine -= 1;
            if *mine == 0 {
                open.by_session.remove(session);
            }
        }
    }
}

/// One open stream's place in [`Streams`], given back when the stream is dropped (the
/// browser went away, or the stream ended).
struct Slot {
    app: Arc<App>,
    session: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.app.console_streams.give_back(&self.session);
    }
}

/// Answers `GET /console/events`: a stream, or the refusal of the call it follows.
pub(super) async fn handle(
    app: Arc<App>,
    peer: SocketAddr,
    headers: &HeaderMap,
    query: &str,
) -> Response {
    let request_id = pipeline::request_id();
    let arrived = app.engine.clock().now();
    let started = std::time::Instant::now();
    let mut entry = Entry::default();
    let outcome = open(&app, peer.ip(), headers, query, &mut entry).await;
    let code = outcome.as_ref().err().map_or("200", |e| e.code.as_str());
    let action = Action::ListExecuteOperations.as_str();
    app.metrics.request(Some(action), code, started.elapsed());
    pipeline::audit(
        &app,
        entry,
        arrived,
        &request_id,
        peer.ip(),
        outcome.as_ref().err(),
    );
    match outcome {
        Ok(watch) => {
            let events = futures_util::stream::unfold(watch, |mut watch| async move {
                let event = watch.next().await?;
                Some((Ok::<_, Infallible>(event), watch))
            });
            Sse::new(events)
                .keep_alive(KeepAlive::default())
                .into_response()
        }
        Err(e) => session::refusal(&request_id, e),
    }
}

/// Authorizes the stream and makes its first read, as a call of the session's key.
async fn open(
    app: &Arc<App>,
    peer: IpAddr,
    headers: &HeaderMap,
    query: &str,
    entry: &mut Entry,
) -> Result<Watch, ApiError> {
    let params = Params::parse(query, None, b"").map_err(|e| ApiError::invalid("request", e))?;
    entry.parameters(&params, None);
    let action = match params.get("Action") {
        None | Some("ListExecuteOperations") => Action::ListExecuteOperations,
        Some("ListExecuteOperationEvents") => Action::ListExecuteOperationEvents,
        Some(_) => {
            return Err(ApiError::invalid(
                "Action",
                "live updates follow ListExecuteOperations or ListExecuteOperationEvents",
            ));
        }
    };
    entry.named(action.as_str());
    if headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() != b"same-origin")
    {
        return Err(ApiError::invalid(
            "Sec-Fetch-Site",
            "open live updates from the console's own pages",
        ));
    }
    let (token, session) = session::live_session(app, headers).await?;
    entry.claimed(None, &session.access_key_id);
    let principal = session::session_key(app, &session, entry)?
        .principal
        .clone();
    if app.console_streams.closing.is_cancelled() {
        return Err(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The server is stopping.",
        ));
    }
    let token_hash = session::digest(token);
    app.console_streams.take(&token_hash)?;
    let slot = Slot {
        app: Arc::clone(app),
        session: token_hash,
    };
    let mut watch = Watch {
        action,
        principal,
        access_key_id: session.access_key_id,
        peer,
        params,
        ends_at: session.expires_at,
        changes: app.store.subscribe(),
        first: None,
        shown: None,
        unfinished: false,
        read_at: Instant::now(),
        checked_at: Instant::now(),
        ended: false,
        slot,
    };
    // N.B. after subscribing: a change committed meanwhile is either read now or reported.
    let first = watch.read(&entry.target).await?;
    watch.shown = Some(first.clone());
    watch.first = Some(first);
    Ok(watch)
}

/// An open stream: what it reads, as whom, and what it last sent.
struct Watch {
    action: Action,
    principal: Principal,
    access_key_id: String,
    peer: IpAddr,
    /// The parameters of the call it follows.
    params: Params,
    /// When the session expires.
    ends_at: Timestamp,
    changes: broadcast::Receiver<StoreEvent>,
    /// The listing read when the stream opened, until it is sent.
    first: Option<String>,
    /// The listing sent last.
    shown: Option<String>,
    /// Whether that data shows an unfinished operation.
    unfinished: bool,
    read_at: Instant,
    /// When the session was last read from the store.
    checked_at: Instant,
    ended: bool,
    slot: Slot,
}

impl Watch {
    fn app(&self) -> &App {
        &self.slot.app
    }

    /// The next event: the listing, once it changed; a `refused` event that ends the stream
    /// (the session ended, the permission was taken away); `None` when the server stops.
    async fn next(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        if let Some(first) = self.first.take() {
            return Some(listing(first));
        }
        loop {
            let interval = if self.unfinished { UNFINISHED } else { IDLE };
            let closing = self.slot.app.console_streams.closing.clone();
            tokio::select! {
                () = closing.cancelled() => return None,
                () = tokio::time::sleep_until(self.read_at + interval) => {}
                // Any change, or news that some were missed: the listing is read again.
                _ = self.changes.recv() => {}
            }
            tokio::time::sleep_until(self.read_at + GAP).await;
            let read = match self.still_signed_in().await {
                Ok(()) => self.read(&Target::default()).await,
                Err(e) => Err(e),
            };
            match read {
                Ok(data) if self.shown.as_ref() != Some(&data) => {
                    self.shown = Some(data.clone());
                    return Some(listing(data));
                }
                Ok(_) => {}
                Err(e) => {
                    self.ended = true;
                    let refusal = serde_json::json!({
                        "Code": e.code.as_str(),
                        "Message": e.message,
                    });
                    return Some(Event::default().event("refused").data(refusal.to_string()));
                }
            }
        }
    }

    /// The session still holds: not expired, its key still there and enabled, and (read from
    /// the store every [`SESSION_CHECK`]) not signed out.
    async fn still_signed_in(&mut self) -> Result<(), ApiError> {
        let app = self.app();
        let now = app.engine.clock().real_now();
        let ended = || {
            ApiError::new(
                ErrorCode::InvalidSession,
                "The console session has ended; sign in again.",
            )
        };
        if now >= self.ends_at {
            return Err(ended());
        }
        let key = app.directory.key(&self.access_key_id).ok_or_else(ended)?;
        if !key.active {
            return Err(ended());
        }
        if self.checked_at.elapsed() >= SESSION_CHECK {
            if app.store.session(&self.slot.session, now).await?.is_none() {
                return Err(ended());
            }
            self.checked_at = Instant::now();
        }
        Ok(())
    }

    /// The `Data` of the call, read through the route table as the session's key.
    async fn read(&mut self, target: &Target) -> Result<String, ApiError> {
        let action = self.action;
        let ctx = Ctx {
            app: self.app(),
            principal: &self.principal,
            action,
            peer: self.peer,
            access_key_id: &self.access_key_id,
            request_id: "",
            trace: TraceParent::new_trace(false),
            target,
        };
        let request = ActionRequest::parse(action, &self.params)?;
        let reply = routes::route(&ctx, request).await?;
        let data = reply
            .data
            .map_or_else(|| "{}".to_owned(), |d| d.get().to_owned());
        self.read_at = Instant::now();
        self.unfinished = shows_unfinished(&data);
        Ok(data)
    }
}

/// The event that carries the data read.
fn listing(data: String) -> Event {
    Event::default().event("data").data(data)
}

/// Whether `data` (a listing of operations, or an operation's history) shows an operation
/// that may change without a change event.
fn shows_unfinished(data: &str) -> bool {
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "Operations", default)]
        operations: Vec<Row>,
        #[serde(rename = "Events", default)]
        events: Vec<HistoryEvent>,
    }
    #[derive(Deserialize)]
    struct Row {
        #[serde(rename = "Status")]
        status: String,
    }
    #[derive(Deserialize)]
    struct HistoryEvent {
        #[serde(rename = "Type")]
        kind: String,
    }
    serde_json::from_str::<Data>(data).is_ok_and(|data| {
        let listed = data
            .operations
            .iter()
            .any(|op| op.status == "INIT" || op.status == "RUNNING");
        let history = !data.events.is_empty() && !data.events.iter().any(|e| e.kind == "Finished");
        listed || history
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_holds_a_few_streams_and_gets_them_back() {
        let streams = Streams::default();
        for _ in 0..PER_SESSION {
            streams.take("a").unwrap();
        }
        let refused = streams.take("a").unwrap_err();
        assert_eq!(refused.code, ErrorCode::Throttling);
        streams.take("b").unwrap();
        streams.give_back("a");
        streams.take("a").unwrap();
        for _ in 0..PER_SESSION {
            streams.give_back("a");
        }
        streams.give_back("b");
        let open = streams.open.lock().unwrap();
        assert_eq!((open.total, open.by_session.len()), (0, 0));
    }

    #[test]
    fn only_unfinished_operations_ask_for_frequent_reads() {
        assert!(shows_unfinished(
            r#"{"Operations":[{"Status":"SUCCESS"},{"Status":"RUNNING"}]}"#
        ));
        assert!(!shows_unfinished(
            r#"{"Operations":[{"Status":"SUCCESS"},{"Status":"FAILURE"}]}"#
        ));
        assert!(!shows_unfinished(r#"{"Operations":[]}"#));
        assert!(shows_unfinished(
            r#"{"Events":[{"Type":"Submitted"},{"Type":"Claimed"}]}"#
        ));
        assert!(!shows_unfinished(
            r#"{"Events":[{"Type":"Submitted"},{"Type":"Finished"}]}"#
        ));
    }
}
