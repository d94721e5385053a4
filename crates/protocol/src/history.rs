//! The typed request and response of the bpops extension action `ListExecuteOperationEvents`:
//! one operation's history, oldest first, a page at a time. Same envelope, signing and
//! parameter rules as the other extension actions (see [`crate::extensions`]); no SDK model
//! to match, so the shape is ours.
//!
//! Choices (documented in the README): an event's `Time` is ISO 8601 UTC to the millisecond
//! (`2026-11-28T07:00:00.123Z`), since several events often share a second; an event carries
//! only the fields of its `Type`, the others are omitted; `NextToken` is omitted on the last
//! page and is opaque to clients.

use bpops_time::Timestamp;
use serde::{Deserialize, Serialize};

use crate::extensions::{
    DEFAULT_MAX_RESULTS, MAX_MAX_RESULTS, decode_position, encode_position, max_results, next_token,
};
use crate::params::Params;
use crate::signature::format_timestamp;
use crate::wire::{MAX_PARAM_CHARS, RequestError, optional, required};

/// `ListExecuteOperationEvents`: a page of one operation's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListExecuteOperationEventsRequest {
    /// `OperationId`, required; a malformed one is answered as an unknown one.
    pub operation_id: String,
    /// `ResourceGroupId`: only an operation whose application is in this group is found.
    pub resource_group_id: Option<String>,
    /// `MaxResults`, 1 to 100, 20 when absent.
    pub max_results: usize,
    /// `NextToken`: continue after this position of the history.
    pub next_token: Option<u32>,
}

impl ListExecuteOperationEventsRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without an `OperationId`; [`RequestError::Invalid`] for a
    /// `MaxResults` outside 1 to 100, a `NextToken` this server did not issue, or a value
    /// over [`MAX_PARAM_CHARS`].
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        let next_token = next_token(p, |token| decode_position("event", token))?;
        Ok(Self {
            operation_id: required(p, "OperationId", MAX_PARAM_CHARS)?,
            resource_group_id: optional(p, "ResourceGroupId", MAX_PARAM_CHARS)?,
            max_results: max_results(p, DEFAULT_MAX_RESULTS, MAX_MAX_RESULTS)?,
            next_token,
        })
    }
}

/// The opaque `NextToken` continuing after position `seq`.
pub fn encode_token(seq: u32) -> String {
    encode_position("event", u64::from(seq))
}

/// An event's `Time`: ISO 8601 UTC to the millisecond.
pub fn format_event_time(at: Timestamp) -> String {
    let seconds = format_timestamp(at);
    let whole = seconds.strip_suffix('Z').unwrap_or(&seconds);
    format!("{whole}.{:03}Z", at.as_millis().rem_euclid(1000))
}

/// `Data` of ListExecuteOperationEvents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventPage {
    /// `OperationId`.
    pub operation_id: String,
    /// `ServiceType` of the operation.
    #[serde(default)]
    pub service_type: String,
    /// `Operation`, its name in the catalog.
    #[serde(default)]
    pub operation: String,
    /// `ApplicationId`; omitted when it was submitted without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// `Events`, oldest first.
    pub events: Vec<EventItem>,
    /// `NextToken`, to pass for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// `MaxResults`, the page size used.
    pub max_results: usize,
}

/// One element of [`EventPage::events`]: the fields of its `Type`, the others omitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventItem {
    /// `Sequence`: its position in the history, from 1.
    pub sequence: u32,
    /// `Time`, ISO 8601 UTC to the millisecond.
    pub time: String,
    /// `Type`: `Submitted`, `Claimed`, `RetryScheduled`, `Released`, `CancelRequested` or
    /// `Finished`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `AccountId` of who submitted or asked to cancel (Submitted, CancelRequested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `UserName`, the RAM user who did; omitted for the account's root key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// `AccessKeyId` that signed the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// `SourceIp` of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// `RequestId` of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `TraceId`, the W3C trace the request was part of, 32 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// `ClientToken` of the submission (Submitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// `Node` that claimed it (Claimed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// `Attempt` started, failed or given up (Claimed, RetryScheduled, Released).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// `Reason` the attempt failed (RetryScheduled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `RetryTime`, when the next attempt may start (RetryScheduled), as `Time`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_time: Option<String>,
    /// `Status` it ended in (Finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `Message` it ended with (Finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::form;
    use serde_json::json;

    fn parse(pairs: &[(&str, &str)]) -> Result<ListExecuteOperationEventsRequest, RequestError> {
        ListExecuteOperationEventsRequest::from_params(&form(pairs))
    }

    #[test]
    fn events_need_an_operation_id_and_read_the_paging() {
        assert_eq!(parse(&[]), Err(RequestError::Missing("OperationId")));
        let request = parse(&[
            ("OperationId", "op_1"),
            ("ResourceGroupId", "rg"),
            ("MaxResults", "2"),
            ("NextToken", &encode_token(7)),
        ])
        .unwrap();
        assert_eq!(
            request,
            ListExecuteOperationEventsRequest {
                operation_id: "op_1".into(),
                resource_group_id: Some("rg".into()),
                max_results: 2,
                next_token: Some(7),
            }
        );
        assert_eq!(parse(&[("OperationId", "op_1")]).unwrap().max_results, 20);
    }

    #[test]
    fn events_refuse_bad_paging_and_long_values() {
        let invalid = |pairs: &[(&str, &str)]| match parse(pairs) {
            Err(RequestError::Invalid { name, .. }) => name,
            other => panic!("expected Invalid, got {other:?}"),
        };
        for max in ["0", "101", "x"] {
            assert_eq!(
                invalid(&[("OperationId", "op_1"), ("MaxResults", max)]),
                "MaxResults"
            );
        }
        let list_token = crate::extensions::PageToken {
            created_at: Timestamp::EPOCH,
            seq: 1,
        }
        .encode();
        let negative = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("event.-1")
        };
        for token in ["zz", list_token.as_str(), negative.as_str()] {
            assert_eq!(
                invalid(&[("OperationId", "op_1"), ("NextToken", token)]),
                "NextToken"
            );
        }
        let long = "x".repeat(MAX_PARAM_CHARS + 1);
        assert_eq!(invalid(&[("OperationId", &long)]), "OperationId");
    }

    #[test]
    fn an_event_shows_only_the_fields_of_its_type() {
        let item = EventItem {
            sequence: 2,
            time: format_event_time(Timestamp::from_millis(1_795_849_200_007)),
            kind: "Claimed".into(),
            node: Some("web-1:4242".into()),
            attempt: Some(1),
            ..EventItem::default()
        };
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            json!({"Sequence": 2, "Time": "2026-11-28T07:00:00.007Z", "Type": "Claimed",
                "Node": "web-1:4242", "Attempt": 1})
        );
    }
}
