//! The notification outbox: which history events each configured webhook wants
//! ([`Notifications`], a pure matcher), the delivery rows a backend writes for them in the
//! transaction of the change (so a crash never loses one), and how deliveries are claimed,
//! settled and read back.
//!
//! Besides operations' history events, the changes to an application that are not
//! operations ([`ApplicationEvent`]: created, deleted, moved to another resource group,
//! reconfigured) write deliveries in their transactions too; its lifecycle steps are
//! operations, so their events and results are operations' events.
//!
//! A delivery's payload is built when its row is written, so delivering it never needs the
//! operation, which may be swept meanwhile. Deliveries of one notification about one
//! operation, or one application's changes (their *subject*), go out in the order they were
//! written: a row is due only when no earlier row of the same pair is still pending.

use bpops_time::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{AccountId, Event, Requester, Status};

/// How many attempts a delivery keeps the outcome of (the latest ones); its count of
/// attempts goes on.
pub const KEPT_ATTEMPTS: usize = 20;

/// Which events a notification wants; an empty list means every value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Event kinds ([`Event::kind`]).
    pub events: Vec<String>,
    /// The operation's status after the event.
    pub statuses: Vec<Status>,
    /// Services (`ecs`, `bpstudio`, ...).
    pub services: Vec<String>,
    /// Operation names.
    pub operations: Vec<String>,
    /// Accounts.
    pub accounts: Vec<AccountId>,
    /// Application ids: an operation outside any application matches only an empty list.
    pub applications: Vec<String>,
}

/// One configured notification as the store sees it: its name and its filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Its unique name, kept in each of its delivery rows.
    pub name: String,
    /// The events it wants.
    pub filter: EventFilter,
}

/// The operation an event is about, as its row holds it after the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The operation's id.
    pub id: String,
    /// Its account.
    pub account: AccountId,
    /// Its service.
    pub service: String,
    /// Its operation name.
    pub operation: String,
    /// Its application, if any.
    pub application: Option<String>,
    /// Its status as stored (for events that do not say their own).
    pub status: Status,
    /// Who submitted it, with the trace of the request.
    pub submitted_by: Option<Requester>,
}

/// A change to an application that is not an operation, as a notification sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApplicationEvent {
    /// It was created (`CreateApplication`).
    ApplicationCreated {
        /// Its template.
        template_id: String,
        /// Its resource group, if any.
        resource_group: Option<String>,
    },
    /// It was deleted (`DeleteApplication`).
    ApplicationDeleted,
    /// It moved to another resource group (`ChangeResourceGroup`).
    ResourceGroupChanged {
        /// The group it left (`None`: none).
        from: Option<String>,
        /// The group it is in now.
        to: String,
    },
    /// Some of its variables got new values (`ReConfigApplication`); it is `Modified` again.
    ApplicationReconfigured {
        /// The names of the variables changed (their values may be secrets of the tenant's).
        variables: Vec<String>,
    },
}

impl ApplicationEvent {
    /// Every kind, as [`ApplicationEvent::kind`] spells it.
    pub const KINDS: [&'static str; 4] = [
        "application_created",
        "application_deleted",
        "resource_group_changed",
        "application_reconfigured",
    ];

    /// Its kind, as a notification's `events` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            ApplicationEvent::ApplicationCreated { .. } => "application_created",
            ApplicationEvent::ApplicationDeleted => "application_deleted",
            ApplicationEvent::ResourceGroupChanged { .. } => "resource_group_changed",
            ApplicationEvent::ApplicationReconfigured { .. } => "application_reconfigured",
        }
    }
}

/// The configured notifications, given to a store once, before it writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notifications(Vec<Notification>);

impl Notifications {
    /// The matcher of `notifications`.
    pub fn new(notifications: Vec<Notification>) -> Notifications {
        Notifications(notifications)
    }

    /// Whether there is none: then a store writes no delivery and reads nothing for them.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The deliveries `event`, at `at`, about `subject` makes: one per notification that
    /// wants it, with its payload.
    pub fn deliveries(&self, subject: &Subject, at: Timestamp, event: &Event) -> Vec<NewDelivery> {
        let status = event.status_after().unwrap_or(subject.status);
        let wanted = |f: &EventFilter| {
            fits(&f.events, event.kind())
                && (f.statuses.is_empty() || f.statuses.contains(&status))
                && fits(&f.services, &subject.service)
                && fits(&f.operations, &subject.operation)
                && (f.accounts.is_empty() || f.accounts.contains(&subject.account))
                && (f.applications.is_empty()
                    || subject
                        .application
                        .as_ref()
                        .is_some_and(|a| f.applications.contains(a)))
        };
        self.0
            .iter()
            .filter(|n| wanted(&n.filter))
            .map(|n| NewDelivery {
                notification: n.name.clone(),
                account: subject.account.clone(),
                subject: subject.id.clone(),
                operation_id: Some(subject.id.clone()),
                application: subject.application.clone(),
                event: event.kind(),
                payload: Payload {
                    notification: &n.name,
                    at: at.as_millis(),
                    operation_id: &subject.id,
                    account: subject.account.as_str(),
                    service: &subject.service,
                    operation: &subject.operation,
                    application: subject.application.as_deref(),
                    status: status.as_str(),
                    event,
                }
                .encode(),
                // Each delivery is a span of its own in the submitter's trace.
                traceparent: subject
                    .submitted_by
                    .as_ref()
                    .and_then(|by| by.trace.as_ref())
                    .map(|trace| trace.child().to_string()),
                created_at: at,
            })
            .collect()
    }
}

impl Notifications {
    /// The deliveries `event`, at `at`, of application `application` of `account` makes: one
    /// per notification that wants it. A filter on statuses, services or operations is about
    /// operations, so a notification with one wants no application event.
    pub fn application_deliveries(
        &self,
        account: &AccountId,
        application: &str,
        at: Timestamp,
        event: &ApplicationEvent,
    ) -> Vec<NewDelivery> {
        let wanted = |f: &EventFilter| {
            fits(&f.events, event.kind())
                && f.statuses.is_empty()
                && f.services.is_empty()
                && f.operations.is_empty()
                && (f.accounts.is_empty() || f.accounts.contains(account))
                && fits(&f.applications, application)
        };
        self.0
            .iter()
            .filter(|n| wanted(&n.filter))
            .map(|n| NewDelivery {
                notification: n.name.clone(),
                account: account.clone(),
                subject: format!("application/{account}/{application}"),
                operation_id: None,
                application: Some(application.to_owned()),
                event: event.kind(),
                payload: serde_json::to_string(&ApplicationPayload {
                    notification: &n.name,
                    at: at.as_millis(),
                    account: account.as_str(),
                    application,
                    event,
                })
                .expect("a payload always serializes"),
                traceparent: None,
                created_at: at,
            })
            .collect()
    }
}

/// The JSON body a receiver gets for an application's change.
#[derive(Serialize)]
struct ApplicationPayload<'a> {
    notification: &'a str,
    /// Unix milliseconds.
    at: i64,
    account: &'a str,
    application: &'a str,
    event: &'a ApplicationEvent,
}

fn fits(list: &[String], value: &str) -> bool {
    list.is_empty() || list.iter().any(|v| v == value)
}

/// The JSON body a receiver gets.
#[derive(Serialize)]
struct Payload<'a> {
    notification: &'a str,
    /// Unix milliseconds, as history events keep times.
    at: i64,
    operation_id: &'a str,
    account: &'a str,
    service: &'a str,
    operation: &'a str,
    application: Option<&'a str>,
    status: &'a str,
    event: &'a Event,
}

impl Payload<'_> {
    fn encode(&self) -> String {
        serde_json::to_string(self).expect("a payload always serializes")
    }
}

/// A delivery row to write, in the transaction of the event it announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// The notification's name.
    pub notification: String,
    /// The account of the operation or application (who may read the delivery).
    pub account: AccountId,
    /// What it is about: an operation's id, or `application/<account>/<id>`. Deliveries of
    /// one notification about one subject go out in order.
    pub subject: String,
    /// The operation it is about (`None` for an application's change).
    pub operation_id: Option<String>,
    /// The application, if any.
    pub application: Option<String>,
    /// The event's kind.
    pub event: &'static str,
    /// The JSON body.
    pub payload: String,
    /// The `traceparent` header to send, when the operation has a trace.
    pub traceparent: Option<String>,
    /// When the event happened; its age is counted from here.
    pub created_at: Timestamp,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not delivered yet: waiting for its turn, its next attempt, or running one.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Given up: older than its notification's maximum age, or its notification is no
    /// longer configured.
    Expired,
}

impl DeliveryState {
    /// `pending`, `delivered` or `expired`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Expired => "expired",
        }
    }

    /// Reads [`DeliveryState::as_str`]'s spelling.
    pub fn parse(text: &str) -> Option<DeliveryState> {
        match text {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "expired" => Some(DeliveryState::Expired),
            _ => None,
        }
    }
}

/// What one attempt of a delivery came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// The attempt, from 1.
    pub attempt: u32,
    /// When it started (Unix milliseconds).
    pub at: i64,
    /// How long it took, in milliseconds.
    pub millis: u64,
    /// The HTTP status answered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// What went wrong, if it did (`timed out after 1s`, `connection refused`, a 5xx body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A delivery as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Its id, increasing in the order rows were written; sent as `Idempotency-Key`.
    pub id: u64,
    /// The notification's name.
    pub notification: String,
    /// The account of the operation or application.
    pub account: AccountId,
    /// The operation it is about (`None` for an application's change).
    pub operation_id: Option<String>,
    /// The application, if any.
    pub application: Option<String>,
    /// The event's kind.
    pub event: String,
    /// The JSON body.
    pub payload: String,
    /// The `traceparent` header to send.
    pub traceparent: Option<String>,
    /// When the event happened.
    pub created_at: Timestamp,
    /// Where it stands.
    pub state: DeliveryState,
    /// How many attempts were started (the current one included, once claimed).
    pub attempts: u32,
    /// When its next attempt may start (while pending).
    pub next_at: Timestamp,
    /// When it was delivered or expired.
    pub done_at: Option<Timestamp>,
    /// The latest attempts' outcomes, oldest first (at most [`KEPT_ATTEMPTS`]).
    pub log: Vec<AttemptRecord>,
}

/// How an attempt settles its delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Delivered: it is done.
    Delivered,
    /// Not delivered: try again from this time on.
    RetryAt(Timestamp),
    /// Given up.
    Expired,
}

/// The end of one claimed attempt, for [`crate::Store::settle_delivery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempted {
    /// The delivery.
    pub id: u64,
    /// What the attempt came to, appended to the delivery's log; `None` when no request was
    /// made (it expired before).
    pub record: Option<AttemptRecord>,
    /// The attempt this settles: only the current one may.
    pub attempt: u32,
    /// What becomes of the delivery.
    pub settlement: Settlement,
    /// Now.
    pub now: Timestamp,
}

/// Which deliveries [`crate::Store::deliveries`] returns, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliveryQuery {
    /// Only this account's.
    pub account: Option<AccountId>,
    /// Only those about this operation.
    pub operation_id: Option<String>,
    /// Only those about this application or one of its operations.
    pub application: Option<String>,
    /// Only this notification's.
    pub notification: Option<String>,
    /// Only those in this state.
    pub state: Option<DeliveryState>,
    /// Only ids above this one (0: from the first).
    pub after: u64,
    /// The most to return.
    pub limit: usize,
}

impl DeliveryQuery {
    /// How many rows a backend fetches: one more than asked.
    pub fn rows_to_fetch(&self) -> i64 {
        self.limit as i64 + 1
    }
}

/// One page of deliveries, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryPage {
    /// The deliveries, by id.
    pub deliveries: Vec<Delivery>,
    /// The id to continue after; `None` on the last page.
    pub next: Option<u64>,
}

impl DeliveryPage {
    /// The page of `query` from the rows fetched for it: one more than `query.limit` says
    /// there is a next page.
    pub fn from_rows(query: &DeliveryQuery, mut deliveries: Vec<Delivery>) -> DeliveryPage {
        let next = if deliveries.len() > query.limit {
            deliveries.truncate(query.limit);
            deliveries.last().map(|d| d.id)
        } else {
            None
        };
        DeliveryPage { deliveries, next }
    }
}

/// `log` with `record` appended, dropping the oldest past [`KEPT_ATTEMPTS`], as stored JSON.
pub fn append_attempt(log: &str, record: &AttemptRecord) -> String {
    let mut records: Vec<AttemptRecord> = serde_json::from_str(log).unwrap_or_default();
    records.push(record.clone());
    let excess = records.len().saturating_sub(KEPT_ATTEMPTS);
    records.drain(..excess);
    serde_json::to_string(&records).expect("attempt records always serialize")
}

/// Reads a stored attempt log; the error says what is wrong with it.
pub fn decode_attempts(log: &str) -> std::result::Result<Vec<AttemptRecord>, String> {
    serde_json::from_str(log).map_err(|e| format!("unreadable delivery attempts: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TraceParent;

    fn subject() -> Subject {
        Subject {
            id: "op-1".into(),
            account: AccountId::new("1"),
            service: "ecs".into(),
            operation: "StartInstance".into(),
            application: None,
            status: Status::Running,
            submitted_by: Some(Requester {
                user: None,
                access_key_id: "LTAIkey".into(),
                source_ip: "127.0.0.1".into(),
                request_id: "R-1".into(),
                trace: Some(TraceParent::new_trace(true)),
            }),
        }
    }

    fn notification(name: &str, filter: EventFilter) -> Notification {
        Notification {
            name: name.into(),
            filter,
        }
    }

    #[test]
    fn each_notification_that_wants_an_event_gets_one_delivery() {
        let finished = Event::Finished {
            status: Status::Failure,
            message: "no".into(),
        };
        let hooks = Notifications::new(vec![
            notification("all", EventFilter::default()),
            notification(
                "failures",
                EventFilter {
                    statuses: vec![Status::Failure],
                    ..EventFilter::default()
                },
            ),
            notification(
                "claims",
                EventFilter {
                    events: vec!["claimed".into()],
                    ..EventFilter::default()
                },
            ),
            notification(
                "slb",
                EventFilter {
                    services: vec!["slb".into()],
                    ..EventFilter::default()
                },
            ),
            notification(
                "app",
                EventFilter {
                    applications: vec!["web".into()],
                    ..EventFilter::default()
                },
            ),
        ]);
        let subject = subject();
        let made = hooks.deliveries(&subject, Timestamp::from_millis(7), &finished);
        let names: Vec<_> = made.iter().map(|d| d.notification.as_str()).collect();
        assert_eq!(names, ["all", "failures"]);
        let payload: serde_json::Value = serde_json::from_str(&made[1].payload).unwrap();
        assert_eq!(payload["status"], "FAILURE");
        assert_eq!(payload["event"]["kind"], "finished");
        assert_eq!(payload["at"], 7);
        let trace = subject.submitted_by.unwrap().trace.unwrap();
        let sent = made[0].traceparent.as_deref().unwrap();
        assert!(
            sent.contains(&trace.trace_id()),
            "{sent} in the submitter's trace"
        );
    }

    #[test]
    fn the_attempt_log_keeps_the_latest() {
        let mut log = "[]".to_owned();
        for attempt in 1..=(KEPT_ATTEMPTS as u32 + 3) {
            let record = AttemptRecord {
                attempt,
                at: 0,
                millis: 1,
                http_status: Some(500),
                error: None,
            };
            log = append_attempt(&log, &record);
        }
        let kept = decode_attempts(&log).unwrap();
        assert_eq!(kept.len(), KEPT_ATTEMPTS);
        assert_eq!(kept[0].attempt, 4);
    }
}
