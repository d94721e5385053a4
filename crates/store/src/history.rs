//! Each operation's history: the events of its life, in order (submitted, claimed, retry
//! scheduled, released, cancel requested, finished), each written by the store in the same
//! transaction as the change it records, so a history never disagrees with its operation.
//!
//! A backend keeps an event as its position in the operation's history, its time, its kind
//! (for a person reading the database) and [`Event::encode`]'s JSON, which alone is read
//! back. Events are deleted with their operation by [`crate::Store::sweep`].

use bpops_time::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{AccountId, OperationId, Status, TraceParent};

/// The most events an operation keeps before it ends: attempts are bounded by the retry
/// policy, but a node killed again and again mid-attempt makes a claim each time. Past this,
/// claims, releases and retries are no longer recorded; the `finished` event always is, so a
/// history holds at most `MAX_EVENTS + 1` events.
pub const MAX_EVENTS: u32 = 100;

/// Who made a request that changed an operation, as its API request showed them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    /// The RAM user who signed, `None` for the account's root key.
    pub user: Option<String>,
    /// The AccessKeyId that signed.
    pub access_key_id: String,
    /// The TCP peer's address.
    pub source_ip: String,
    /// The RequestId of the request.
    pub request_id: String,
    /// The request's span in its trace (`None` in histories written before traces were
    /// kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceParent>,
}

impl Requester {
    /// The JSON text a backend keeps in the operation's row.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a requester always serializes")
    }

    /// Reads what [`Requester::encode`] wrote; the error says what is wrong with it.
    pub fn decode(text: &str) -> std::result::Result<Requester, String> {
        serde_json::from_str(text).map_err(|e| format!("unreadable submitter: {e}"))
    }
}

/// One event of an operation's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The operation was stored (`INIT`, or final at once when decided at submission).
    Submitted {
        /// Who submitted it; `None` when not submitted through the API.
        by: Option<Requester>,
        /// The request's `ClientToken`.
        client_token: Option<String>,
    },
    /// A worker took it to run an attempt.
    Claimed {
        /// The node that claimed it (`[node] name`).
        node: String,
        /// The attempt it started, from 1.
        attempt: u32,
    },
    /// An attempt failed in a way its retry policy retries: the next one starts at `retry_at`,
    /// on whichever node claims it then.
    RetryScheduled {
        /// The attempt that failed.
        attempt: u32,
        /// Why it failed.
        reason: String,
        /// When the next attempt may start.
        #[serde(with = "millis")]
        retry_at: Timestamp,
    },
    /// A node that stopped gave up the running attempt, so another may claim it at once.
    Released {
        /// The attempt given up.
        attempt: u32,
    },
    /// A cancellation was asked for (the first time only: asking again changes nothing).
    CancelRequested {
        /// Who asked.
        by: Requester,
    },
    /// The operation reached its final status.
    Finished {
        /// `SUCCESS` or `FAILURE`.
        #[serde(with = "status")]
        status: Status,
        /// Its result message.
        message: String,
    },
}

impl Event {
    /// Every kind, as [`Event::kind`] spells it.
    pub const KINDS: [&'static str; 6] = [
        "submitted",
        "claimed",
        "retry_scheduled",
        "released",
        "cancel_requested",
        "finished",
    ];

    /// The kind as stored beside the event: `submitted`, `claimed`, `retry_scheduled`,
    /// `released`, `cancel_requested` or `finished`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Submitted { .. } => "submitted",
            Event::Claimed { .. } => "claimed",
            Event::RetryScheduled { .. } => "retry_scheduled",
            Event::Released { .. } => "released",
            Event::CancelRequested { .. } => "cancel_requested",
            Event::Finished { .. } => "finished",
        }
    }

    /// The operation's status right after this event, when the event says it; `None` for a
    /// cancellation request, which leaves the status as it was.
    pub fn status_after(&self) -> Option<Status> {
        match self {
            Event::Submitted { .. } => Some(Status::Init),
            Event::Claimed { .. } | Event::RetryScheduled { .. } | Event::Released { .. } => {
                Some(Status::Running)
            }
            Event::CancelRequested { .. } => None,
            Event::Finished { status, .. } => Some(*status),
        }
    }

    /// The JSON text a backend stores.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("an event always serializes")
    }

    /// Reads what [`Event::encode`] wrote; the error says what is wrong with it.
    pub fn decode(text: &str) -> std::result::Result<Event, String> {
        serde_json::from_str(text).map_err(|e| format!("unreadable history event: {e}"))
    }

    /// The limit a backend appends it under: it is written only when the history holds
    /// fewer events than this, [`MAX_EVENTS`] for every event but `finished`.
    pub fn limit(&self) -> i64 {
        match self {
            Event::Finished { .. } => i64::MAX,
            _ => i64::from(MAX_EVENTS),
        }
    }
}

/// An event as stored, with its place in the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEvent {
    /// Its position in the operation's history, from 1, without gaps.
    pub seq: u32,
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub event: Event,
}

/// Which events [`crate::Store::history`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The operation's account: another account's operation has no history.
    pub account: AccountId,
    /// The operation.
    pub id: OperationId,
    /// Only events after this position (0: from the first).
    pub after: u32,
    /// The most events to return.
    pub limit: usize,
}

/// One page of an operation's history, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryPage {
    /// The events, by position.
    pub events: Vec<HistoryEvent>,
    /// The position to continue after; `None` when this is the last page.
    pub next: Option<u32>,
}

impl HistoryPage {
    /// The page of `query` from the rows a backend fetched for it, in order: one more than
    /// `query.limit` says there is a next page.
    pub fn from_rows(query: &HistoryQuery, mut events: Vec<HistoryEvent>) -> HistoryPage {
        let next = if events.len() > query.limit {
            events.truncate(query.limit);
            events.last().map(|e| e.seq)
        } else {
            None
        };
        HistoryPage { events, next }
    }
}

impl HistoryQuery {
    /// How many rows a backend fetches: one more than asked.
    pub fn rows_to_fetch(&self) -> i64 {
        self.limit as i64 + 1
    }
}

mod millis {
    use bpops_time::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(at.as_millis())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        i64::deserialize(d).map(Timestamp::from_millis)
    }
}

mod status {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::Status;

    pub(super) fn serialize<S: Serializer>(status: &Status, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(status.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        let text = String::deserialize(d)?;
        Status::parse(&text).ok_or_else(|| D::Error::custom(format!("unknown status {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_round_trips_through_its_stored_text() {
        let by = Requester {
            user: Some("alice".into()),
            access_key_id: "LTAIalice".into(),
            source_ip: "127.0.0.1".into(),
            request_id: "R-1".into(),
            trace: Some(TraceParent::new_trace(false)),
        };
        let events = [
            Event::Submitted {
                by: Some(by.clone()),
                client_token: Some("tok".into()),
            },
            Event::Claimed {
                node: "n1".into(),
                attempt: 1,
            },
            Event::RetryScheduled {
                attempt: 1,
                reason: "exit 3".into(),
                retry_at: Timestamp::from_millis(5),
            },
            Event::Released { attempt: 2 },
            Event::CancelRequested { by },
            Event::Finished {
                status: Status::Failure,
                message: "no".into(),
            },
        ];
        for event in events {
            let text = event.encode();
            assert!(
                text.contains(&format!("\"kind\":\"{}\"", event.kind())),
                "{text}"
            );
            assert_eq!(Event::decode(&text), Ok(event));
        }
        assert!(Event::decode("{\"kind\":\"finished\",\"status\":\"DONE\"}").is_err());
    }

    #[test]
    fn only_the_final_event_escapes_the_cap() {
        let finished = Event::Finished {
            status: Status::Success,
            message: String::new(),
        };
        assert_eq!(finished.limit(), i64::MAX);
        assert_eq!(
            Event::Released { attempt: 1 }.limit(),
            i64::from(MAX_EVENTS)
        );
    }
}
