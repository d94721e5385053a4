//! Web console sessions: a signed-in browser's token, kept as its SHA-256 digest (a stolen
//! copy of the database signs nobody in), with the AccessKey it acts as and when it ends.
//! Kept in the store so that every node sharing it knows every session.

use bpops_time::Timestamp;

/// A session to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// The hex SHA-256 of the token the browser holds; the token itself is never stored.
    pub token_hash: String,
    /// The AccessKeyId the session acts as.
    pub access_key_id: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// The first instant it is no longer valid ([`session_expired`]).
    pub expires_at: Timestamp,
}

/// A stored session that has not ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The AccessKeyId the session acts as.
    pub access_key_id: String,
    /// The first instant it is no longer valid.
    pub expires_at: Timestamp,
}

/// Whether a session that ends at `expires_at` is over at `now`. (The backends' SQL says the
/// same: `expires_at <= now`.)
pub fn session_expired(expires_at: Timestamp, now: Timestamp) -> bool {
    expires_at <= now
}
