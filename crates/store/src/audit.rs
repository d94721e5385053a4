//! The records of the audit trail: one per API request, allowed or denied, signed or not,
//! what [`crate::Store::record_audit`] appends and [`crate::Store::lookup_audit`] reads.
//!
//! The trail is append-only: the store has no intent that changes a record, and the only one
//! that deletes is the retention sweep ([`crate::Store::sweep_audit`]). What a record may
//! hold (its bounds, what is redacted) is decided above the store, by the request path; the
//! store keeps what it is given.

use bpops_time::Timestamp;

use crate::{AccountId, ListCursor};

/// The code recorded for a request that succeeded; a refused one records its error `Code`.
pub const SUCCESS: &str = "Success";

/// What the trail keeps of one API request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// When the request arrived.
    pub time: Timestamp,
    /// The `RequestId` it was answered with.
    pub request_id: String,
    /// The account of the AccessKey it was signed with, when that key exists (whether or not
    /// the signature verified); `None` for an unsigned request or an unknown key, which no
    /// account's `LookupEvents` shows.
    pub account: Option<AccountId>,
    /// Who signed it: `root` for the account's own key, else the RAM user's name; `None` when
    /// the signature did not verify.
    pub user: Option<String>,
    /// The AccessKeyId it claims to be signed with.
    pub access_key_id: Option<String>,
    /// Whether its signature verified; `false` means `access_key_id` is only a claim.
    pub verified: bool,
    /// The TCP peer's address.
    pub source_ip: String,
    /// The action it names, as sent (it may name none, or one that does not exist).
    pub action: String,
    /// [`SUCCESS`], or the error `Code` it was answered with.
    pub code: String,
    /// The HTTP status of the answer.
    pub http_status: u16,
    /// The application it names or reaches.
    pub application: Option<String>,
    /// The operation it names, or the one it created.
    pub operation_id: Option<String>,
    /// The resource its RAM check was made against (an ARN).
    pub resource: Option<String>,
    /// Its parameters, secrets removed and values bounded, as a JSON object.
    pub parameters: String,
}

/// What [`crate::Store::lookup_audit`] reads: one account's records, filtered, a page at a
/// time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// Whose records.
    pub account: AccountId,
    /// Only records at or after this time.
    pub from: Option<Timestamp>,
    /// Only records before this time.
    pub before: Option<Timestamp>,
    /// Only requests naming this action.
    pub action: Option<String>,
    /// Only requests signed by this user (`root` for the account's key).
    pub user: Option<String>,
    /// Only requests claiming this AccessKeyId.
    pub access_key_id: Option<String>,
    /// Only requests whose resource, application or operation id is this.
    pub resource: Option<String>,
    /// Only requests answered with this code ([`SUCCESS`] for successes).
    pub code: Option<String>,
    /// Where the page starts: after this record.
    pub after: Option<ListCursor>,
    /// The most records in the page.
    pub limit: usize,
}

impl AuditQuery {
    /// Every record of `account`, `limit` to a page.
    pub fn all(account: AccountId, limit: usize) -> AuditQuery {
        AuditQuery {
            account,
            from: None,
            before: None,
            action: None,
            user: None,
            access_key_id: None,
            resource: None,
            code: None,
            after: None,
            limit,
        }
    }

    /// The rows a backend fetches: one more than the page, to know whether another follows.
    pub fn rows_to_fetch(&self) -> i64 {
        self.limit as i64 + 1
    }
}

/// One page of [`crate::Store::lookup_audit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditPage {
    /// The records, newest first (by time, then by the order they were stored).
    pub records: Vec<AuditRecord>,
    /// Where the next page starts; `None` when this is the last one.
    pub next: Option<ListCursor>,
}

impl AuditPage {
    /// The page of `query` from the rows (record and its sequence number) a backend fetched
    /// for it, [`AuditQuery::rows_to_fetch`] at most.
    pub fn from_rows(query: &AuditQuery, mut rows: Vec<(AuditRecord, i64)>) -> AuditPage {
        let next = if rows.len() > query.limit {
            rows.truncate(query.limit);
            rows.last().map(|(record, seq)| ListCursor {
                created_at: record.time,
                seq: *seq,
            })
        } else {
            None
        };
        AuditPage {
            records: rows.into_iter().map(|(record, _)| record).collect(),
            next,
        }
    }
}
