//! The records the store reads and writes.

use std::fmt;

use bpops_time::Timestamp;
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::{
    AccountId, ApplicationOutcome, Event, OperationId, Pool, Requester, Result, StoreError,
    Subject, TraceParent,
};

/// Where an operation is in its life. A status only moves forward; a final one never changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Accepted and stored, not started.
    Init,
    /// Claimed by a worker.
    Running,
    /// Finished successfully (final).
    Success,
    /// Finished with an error (final).
    Failure,
}

impl Status {
    /// The wire spelling (`INIT`, `RUNNING`, `SUCCESS`, `FAILURE`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Init => "INIT",
            Status::Running => "RUNNING",
            Status::Success => "SUCCESS",
            Status::Failure => "FAILURE",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "INIT" => Some(Status::Init),
            "RUNNING" => Some(Status::Running),
            "SUCCESS" => Some(Status::Success),
            "FAILURE" => Some(Status::Failure),
            _ => None,
        }
    }

    /// Whether the status is `SUCCESS` or `FAILURE`.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Success | Status::Failure)
    }
}

/// One resource of the emulated inventory, named within its account.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceKey {
    /// The owning account.
    pub account: AccountId,
    /// The service type, e.g. `ecs`.
    pub service: String,
    /// The resource id, e.g. `i-web1`.
    pub id: String,
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.account, self.service, self.id)
    }
}

/// A resource of the emulated inventory with its current state.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// Which resource.
    pub key: ResourceKey,
    /// The application it belongs to.
    pub application: String,
    /// Its state, e.g. `{"status": "Running", ...}`.
    pub properties: Map<String, Value>,
}

/// An operation to store, as accepted by the engine.
#[derive(Clone, Debug)]
pub struct NewOperation {
    /// Its new id.
    pub id: OperationId,
    /// The account that submitted it.
    pub account: AccountId,
    /// Service type, e.g. `ecs`.
    pub service: String,
    /// Operation name, e.g. `addTags`.
    pub operation: String,
    /// The `ApplicationId` of the request, if any.
    pub application: Option<String>,
    /// The resource it acts on; operations on one resource run one at a time, in order.
    pub resource: Option<ResourceKey>,
    /// What its attempts wait on: the concurrency limit they count against.
    pub pool: Pool,
    /// The validated attributes, as JSON text.
    pub attributes: String,
    /// The request's `ClientToken`, if any.
    pub client_token: Option<String>,
    /// A digest of the request's parameters, compared when a client token is reused.
    pub fingerprint: String,
    /// Submission time.
    pub created_at: Timestamp,
    /// Who submitted it, kept with the operation and in its history's first event; `None`
    /// when not submitted through the API.
    pub submitted_by: Option<Requester>,
}

impl NewOperation {
    /// The first events of its history as a submit stores it: [`Event::Submitted`], then
    /// [`Event::Finished`] when it was decided as it was stored.
    pub fn first_events(&self, finish: Option<&Finish>) -> Vec<(Timestamp, Event)> {
        let submitted = Event::Submitted {
            by: self.submitted_by.clone(),
            client_token: self.client_token.clone(),
        };
        let mut events = vec![(self.created_at, submitted)];
        if let Some(f) = finish {
            events.push((f.finished_at, f.event()));
        }
        events
    }

    /// What a notification sees of it once stored (with `finish` when decided at once).
    pub fn subject(&self, finish: Option<&Finish>) -> Subject {
        Subject {
            id: self.id.to_string(),
            account: self.account.clone(),
            service: self.service.clone(),
            operation: self.operation.clone(),
            application: self.application.clone(),
            status: finish.map_or(Status::Init, |f| f.status),
            submitted_by: self.submitted_by.clone(),
        }
    }

    /// The operation as a submit stores it: `INIT`, or final with `finish` when it was
    /// decided as it was stored ([`crate::Store::submit_decided`]).
    pub fn stored(self, finish: Option<&Finish>) -> Operation {
        let (status, message, arguments, attempt, finished_at) = match finish {
            Some(f) => (
                f.status,
                f.message.clone(),
                f.arguments.clone(),
                1,
                Some(f.finished_at),
            ),
            None => (Status::Init, String::new(), "{}".to_owned(), 0, None),
        };
        Operation {
            id: self.id,
            account: self.account,
            service: self.service,
            operation: self.operation,
            application: self.application,
            resource: self.resource,
            pool: self.pool,
            attributes: self.attributes,
            status,
            message,
            arguments,
            attempt,
            created_at: self.created_at,
            finished_at,
            cancel_requested: false,
            submitted_by: self.submitted_by,
        }
    }
}

/// What [`crate::Store::submit`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Submitted {
    /// The operation was stored, in status `INIT`.
    Created,
    /// The operation was decided as it was stored ([`crate::Store::submit_decided`]): it is
    /// final already, with this result, and its effect is applied.
    Decided(Finish),
    /// The client token was already used; nothing was stored.
    Existing {
        /// The operation the token belongs to.
        id: OperationId,
        /// Whether that operation was submitted with the same parameters.
        same_parameters: bool,
    },
}

/// What [`crate::Store::claim`] took: the operations to run, and the rows it could not
/// read, which it set aside.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claimed {
    /// Claimed operations, `RUNNING` with a new attempt, in submission order.
    pub operations: Vec<Operation>,
    /// Rows that could not be decoded, ended `FAILURE` with [`UNREADABLE`] so they never
    /// block a claim again.
    pub unreadable: Vec<Unreadable>,
}

/// The `Message` of an operation whose stored row could not be read.
pub const UNREADABLE: &str = "InternalError: the stored operation is unreadable.";

/// A stored operation that could not be decoded, and was set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// Its id, as stored (it may be what is unreadable).
    pub id: String,
    /// What could not be decoded.
    pub reason: String,
}

/// A stored operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    /// Its id.
    pub id: OperationId,
    /// The owning account.
    pub account: AccountId,
    /// Service type.
    pub service: String,
    /// Operation name.
    pub operation: String,
    /// The request's `ApplicationId`, if any.
    pub application: Option<String>,
    /// The resource it acts on, if any.
    pub resource: Option<ResourceKey>,
    /// What its attempts wait on.
    pub pool: Pool,
    /// Attributes as JSON text.
    pub attributes: String,
    /// Current status.
    pub status: Status,
    /// Result message (empty until final).
    pub message: String,
    /// Result arguments as JSON text (`{}` until final).
    pub arguments: String,
    /// How many times it was claimed; fences worker writes.
    pub attempt: u32,
    /// Submission time.
    pub created_at: Timestamp,
    /// When it reached a final status.
    pub finished_at: Option<Timestamp>,
    /// Whether a cancellation was requested while it was running: its worker, or the next
    /// claim of it, ends it `FAILURE` with `OperationCancelled`.
    pub cancel_requested: bool,
    /// Who submitted it, with the trace of their request; `None` when not submitted through
    /// the API.
    pub submitted_by: Option<Requester>,
}

impl Operation {
    /// The span of the request that submitted it, which its attempts continue.
    pub fn trace(&self) -> Option<&TraceParent> {
        self.submitted_by.as_ref()?.trace.as_ref()
    }

    /// Refuses an operation that [`crate::Store::load`] cannot store: one that is not final
    /// (a final status and a finish time), since a loaded operation is never claimed.
    pub fn check_loadable(&self) -> Result<()> {
        if self.status.is_final() && self.finished_at.is_some() {
            return Ok(());
        }
        Err(StoreError::Other(format!(
            "cannot load operation {}: only final operations (SUCCESS or FAILURE, with a \
             finish time) can be loaded, and it is {}{}",
            self.id,
            self.status.as_str(),
            if self.finished_at.is_none() {
                " without a finish time"
            } else {
                ""
            },
        )))
    }
}

/// Which operations of an account [`crate::Store::list`] returns: every field narrows the
/// result; `None` does not filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Whose operations.
    pub account: AccountId,
    /// Only this status.
    pub status: Option<Status>,
    /// Only this service type.
    pub service: Option<String>,
    /// Only this operation name.
    pub operation: Option<String>,
    /// Only operations of one of these applications (an empty list matches nothing).
    pub applications: Option<Vec<String>>,
    /// Only operations created at or after this instant.
    pub created_from: Option<Timestamp>,
    /// Only operations created before this instant.
    pub created_before: Option<Timestamp>,
    /// Leave out operations that finished before this instant: they have expired.
    pub expired_before: Timestamp,
    /// Continue after this item of an earlier page.
    pub after: Option<ListCursor>,
    /// The most operations to return.
    pub limit: usize,
}

impl ListQuery {
    /// How many rows a backend fetches: one more than asked, which says whether there is a
    /// next page (see [`ListPage::from_rows`]).
    pub fn rows_to_fetch(&self) -> i64 {
        self.limit as i64 + 1
    }
}

/// A position in a listing, newest first: the `(created_at, seq)` of the last item of a page.
/// Keyset pagination: an operation submitted meanwhile never shifts later pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListCursor {
    /// The item's submission time.
    pub created_at: Timestamp,
    /// The item's submission sequence number, unique in the store.
    pub seq: i64,
}

/// One page of [`crate::Store::list`].
#[derive(Clone, Debug, PartialEq)]
pub struct ListPage {
    /// The operations, newest first (by submission time, then submission order).
    pub operations: Vec<Operation>,
    /// Where the next page starts; `None` when this is the last one.
    pub next: Option<ListCursor>,
}

impl ListPage {
    /// The page of `query` from the rows a backend fetched for it
    /// ([`ListQuery::rows_to_fetch`]), in order, each with its submission sequence number.
    pub fn from_rows(query: &ListQuery, mut rows: Vec<(Operation, i64)>) -> ListPage {
        let next = if rows.len() > query.limit {
            rows.truncate(query.limit);
            rows.last().map(|(op, seq)| ListCursor {
                created_at: op.created_at,
                seq: *seq,
            })
        } else {
            None
        };
        ListPage {
            operations: rows.into_iter().map(|(op, _)| op).collect(),
            next,
        }
    }
}

/// What [`crate::Store::cancel`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum Cancelled {
    /// The account has no such operation.
    NotFound,
    /// It was `INIT`: it is now `FAILURE` with the given message.
    Ended(Operation),
    /// It is `RUNNING`: it is marked, and its worker (or the next claim) ends it.
    Requested(Operation),
    /// It was already final; nothing changed.
    AlreadyFinal(Operation),
}

impl Cancelled {
    /// The event a store publishes once this cancellation is committed, if it changed
    /// anything.
    pub fn event(&self) -> Option<StoreEvent> {
        match self {
            Cancelled::Ended(op) => Some(StoreEvent::Finished(op.id.clone())),
            Cancelled::Requested(op) => Some(StoreEvent::CancelRequested(op.id.clone())),
            Cancelled::NotFound | Cancelled::AlreadyFinal(_) => None,
        }
    }
}

/// What [`crate::Store::renew_lease`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// The lease is extended; go on.
    Held,
    /// The lease is extended, and a cancellation was requested: stop the attempt and finish
    /// it as cancelled.
    CancelRequested,
    /// The attempt is no longer current (superseded or final): stop and write nothing.
    Lost,
}

/// A change to the inventory, committed with the operation's final status.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Replace the resource's properties.
    Update {
        /// Which resource.
        key: ResourceKey,
        /// Its whole new state.
        properties: Map<String, Value>,
    },
    /// Add the resource unless the inventory holds it already (a deploy's, which an earlier
    /// attempt may have added).
    Create {
        /// The resource, with its application and first state.
        resource: Resource,
    },
    /// Delete the resource for good.
    Delete {
        /// Which resource.
        key: ResourceKey,
    },
    /// Leave an application as a lifecycle step ends it.
    Application(ApplicationOutcome),
}

impl Effect {
    /// The account whose inventory or application it changes.
    pub fn account(&self) -> &AccountId {
        match self {
            Effect::Create { resource } => &resource.key.account,
            Effect::Update { key, .. } | Effect::Delete { key } => &key.account,
            Effect::Application(outcome) => &outcome.account,
        }
    }
}

/// One resource a running deploy or release creates or deletes, written before the attempt
/// ends, with how far its application's deployment now is: see [`crate::Store::progress`].
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// The change to the inventory.
    pub effect: Effect,
    /// The application (in the effect's account).
    pub application: String,
    /// Its new `DeployPercent`, 0 to 100.
    pub deploy_percent: f64,
}

/// The end of a running attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Finish {
    /// `Success` or `Failure`.
    pub status: Status,
    /// Result message.
    pub message: String,
    /// Result arguments as JSON text.
    pub arguments: String,
    /// When it finished.
    pub finished_at: Timestamp,
    /// The inventory change to commit with it.
    pub effect: Option<Effect>,
}

impl Finish {
    /// The history event that records it.
    pub fn event(&self) -> Event {
        Event::Finished {
            status: self.status,
            message: self.message.clone(),
        }
    }
}

/// The root key created on a first start without a configuration file.
#[derive(Clone, Debug)]
pub struct BootstrapKey {
    /// The account it belongs to.
    pub account: AccountId,
    /// AccessKeyId.
    pub access_key_id: String,
    /// AccessKeySecret. Its `Debug` never shows the value.
    pub secret: SecretString,
}

/// A change committed to the store, published to every process that shares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreEvent {
    /// An operation was submitted, or released by a node that stopped: there may be work to
    /// claim.
    Submitted,
    /// The operation reached a final status: its waiters can read the result, and the next
    /// operation on its resource may have become runnable.
    Finished(OperationId),
    /// A cancellation of the running operation was requested: the node running it stops it.
    CancelRequested(OperationId),
    /// Events may have been lost (the store reconnected to the database): re-check
    /// everything that waits on one.
    Missed,
}

/// The unfinished operations, by status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Operations in `INIT`.
    pub init: u64,
    /// Operations in `RUNNING` (executing, or waiting between attempts).
    pub running: u64,
}
