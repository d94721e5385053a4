//! Typed requests and responses of the two bpops extension actions, `ListExecuteOperations`
//! and `CancelExecuteOperation`: same envelope, signing and parameter rules as the BPStudio
//! actions (see [`crate::wire`]), and no SDK model to match, so the shapes are ours.
//!
//! Choices (documented in the README): times are ISO 8601 UTC to the second
//! (`2026-11-28T07:00:00Z`); an item's `FinishTime` and `ApplicationId` are omitted while it
//! has none; `NextToken` is omitted on the last page; the token is opaque to clients (it is
//! base64url of the last item's position, never an offset, so pages stay stable while
//! operations are submitted).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bpops_time::Timestamp;
use serde::{Deserialize, Serialize};

use crate::params::Params;
use crate::signature::parse_timestamp;
use crate::wire::{MAX_PARAM_CHARS, RequestError, optional, required};

/// `MaxResults` when the request has none.
pub const DEFAULT_MAX_RESULTS: usize = 20;

/// The largest `MaxResults` accepted.
pub const MAX_MAX_RESULTS: usize = 100;

/// The statuses `Status` may name.
const STATUSES: [&str; 4] = ["INIT", "RUNNING", "SUCCESS", "FAILURE"];

/// A position in a listing: the `(created_at, seq)` of the last item of a page (the time as
/// Unix ms in the token's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken {
    /// The item's creation time.
    pub created_at: Timestamp,
    /// The item's sequence number.
    pub seq: i64,
}

impl PageToken {
    /// The opaque `NextToken` text.
    pub fn encode(self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.created_at.as_millis(), self.seq))
    }

    /// Reads a `NextToken`; `None` when it is not one this server issued.
    pub fn decode(token: &str) -> Option<PageToken> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (created_at, seq) = text.split_once('.')?;
        Some(PageToken {
            created_at: Timestamp::from_millis(created_at.parse().ok()?),
            seq: seq.parse().ok()?,
        })
    }
}

/// `ListExecuteOperations`: a page of the caller's operations, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListExecuteOperationsRequest {
    /// `Status`: `INIT`, `RUNNING`, `SUCCESS` or `FAILURE`.
    pub status: Option<String>,
    /// `ServiceType`.
    pub service_type: Option<String>,
    /// `Operation`.
    pub operation: Option<String>,
    /// `ApplicationId`.
    pub application_id: Option<String>,
    /// `ResourceGroupId`: only operations whose application is in this group.
    pub resource_group_id: Option<String>,
    /// `CreateTimeStart`, inclusive.
    pub create_time_start: Option<Timestamp>,
    /// `CreateTimeEnd`, exclusive.
    pub create_time_end: Option<Timestamp>,
    /// `MaxResults`, 1 to [`MAX_MAX_RESULTS`], [`DEFAULT_MAX_RESULTS`] when absent.
    pub max_results: usize,
    /// `NextToken`, from the previous page.
    pub next_token: Option<PageToken>,
}

impl ListExecuteOperationsRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Invalid`] for an unknown `Status`, a time not in
    /// `YYYY-MM-DDThh:mm:ssZ`, a `MaxResults` outside 1 to 100, a `NextToken` this server did
    /// not issue, or a value over [`MAX_PARAM_CHARS`].
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        let status = optional(p, "Status", MAX_PARAM_CHARS)?;
        if let Some(status) = &status
            && !STATUSES.contains(&status.as_str())
        {
            return Err(RequestError::Invalid {
                name: "Status",
                reason: format!("must be one of {}", STATUSES.join(", ")),
            });
        }
        let max_results = max_results(p, DEFAULT_MAX_RESULTS, MAX_MAX_RESULTS)?;
        let next_token = next_token(p, PageToken::decode)?;
        Ok(Self {
            status,
            service_type: optional(p, "ServiceType", MAX_PARAM_CHARS)?,
            operation: optional(p, "Operation", MAX_PARAM_CHARS)?,
            application_id: optional(p, "ApplicationId", MAX_PARAM_CHARS)?,
            resource_group_id: optional(p, "ResourceGroupId", MAX_PARAM_CHARS)?,
            create_time_start: time(p, "CreateTimeStart")?,
            create_time_end: time(p, "CreateTimeEnd")?,
            max_results,
            next_token,
        })
    }
}

/// `MaxResults`: from 1 to `max`, `default` when absent.
pub(crate) fn max_results(p: &Params, default: usize, max: usize) -> Result<usize, RequestError> {
    match optional(p, "MaxResults", MAX_PARAM_CHARS)? {
        None => Ok(default),
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| RequestError::Invalid {
                name: "MaxResults",
                reason: format!("must be a whole number from 1 to {max}"),
            }),
    }
}

/// `NextToken`, read with `decode`: one this server issued, or none.
pub(crate) fn next_token<T>(
    p: &Params,
    decode: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, RequestError> {
    match optional(p, "NextToken", MAX_PARAM_CHARS)? {
        None => Ok(None),
        Some(text) => decode(&text).map(Some).ok_or(RequestError::Invalid {
            name: "NextToken",
            reason: "is not a token from a previous page".to_owned(),
        }),
    }
}

/// A page token that continues a listing named `label` after position `n`.
pub(crate) fn encode_position(label: &str, n: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{label}.{n}"))
}

/// Reads what [`encode_position`] wrote for `label`.
pub(crate) fn decode_position<T: std::str::FromStr>(label: &str, token: &str) -> Option<T> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    text.strip_prefix(label)?.strip_prefix('.')?.parse().ok()
}

/// A time parameter, `YYYY-MM-DDThh:mm:ssZ`.
pub(crate) fn time(p: &Params, name: &'static str) -> Result<Option<Timestamp>, RequestError> {
    match optional(p, name, MAX_PARAM_CHARS)? {
        None => Ok(None),
        Some(text) => parse_timestamp(&text)
            .map(Some)
            .ok_or(RequestError::Invalid {
                name,
                reason: "expected UTC time as YYYY-MM-DDThh:mm:ssZ".to_owned(),
            }),
    }
}

/// `Data` of ListExecuteOperations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationPage {
    /// `Operations`, newest first.
    pub operations: Vec<OperationItem>,
    /// `NextToken`, to pass for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// `MaxResults`, the page size used.
    pub max_results: usize,
}

/// One element of [`OperationPage::operations`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperationItem {
    /// `OperationId`.
    pub operation_id: String,
    /// `ServiceType`.
    pub service_type: String,
    /// `Operation`.
    pub operation: String,
    /// `ApplicationId`; omitted when the operation was submitted without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// `Status`.
    pub status: String,
    /// `CreateTime`, ISO 8601 UTC.
    pub create_time: String,
    /// `FinishTime`, ISO 8601 UTC; omitted while the operation is unfinished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
    /// `SubmittedBy`, who submitted it; omitted when it was not submitted through the API
    /// (or before submitters were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<Submitter>,
    /// `TraceId`, the W3C trace of the request that submitted it, 32 hex digits; omitted
    /// with `SubmittedBy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
}

/// [`OperationItem::submitted_by`]: the principal that signed the submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Submitter {
    /// `AccountId`.
    pub account_id: String,
    /// `UserName`, the RAM user; omitted for the account's root key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// `AccessKeyId` that signed.
    pub access_key_id: String,
}

/// `CancelExecuteOperation`: cancel one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelExecuteOperationRequest {
    /// `OperationId`, required; a malformed one is answered as an unknown one.
    pub operation_id: String,
    /// `ResourceGroupId`: only an operation whose application is in this group is found.
    pub resource_group_id: Option<String>,
}

impl CancelExecuteOperationRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Missing`] without an `OperationId`, [`RequestError::Invalid`] when a
    /// value is over [`MAX_PARAM_CHARS`].
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        Ok(Self {
            operation_id: required(p, "OperationId", MAX_PARAM_CHARS)?,
            resource_group_id: optional(p, "ResourceGroupId", MAX_PARAM_CHARS)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::form;
    use serde_json::json;

    fn invalid(pairs: &[(&str, &str)]) -> &'static str {
        match ListExecuteOperationsRequest::from_params(&form(pairs)) {
            Err(RequestError::Invalid { name, .. }) => name,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn list_defaults_to_20_newest_without_filters() {
        let request = ListExecuteOperationsRequest::from_params(&form(&[])).unwrap();
        assert_eq!(request.max_results, DEFAULT_MAX_RESULTS);
        assert_eq!(request.status, None);
        assert_eq!(request.next_token, None);
    }

    #[test]
    fn list_reads_every_filter() {
        let token = PageToken {
            created_at: Timestamp::from_millis(1_700_000_000_123),
            seq: 42,
        };
        let encoded = token.encode();
        let request = ListExecuteOperationsRequest::from_params(&form(&[
            ("Status", "RUNNING"),
            ("ServiceType", "ecs"),
            ("Operation", "rename"),
            ("ApplicationId", "APP-WEB"),
            ("ResourceGroupId", "rg-prod"),
            ("CreateTimeStart", "2026-11-28T07:00:00Z"),
            ("CreateTimeEnd", "2026-11-28T08:00:00Z"),
            ("MaxResults", "100"),
            ("NextToken", &encoded),
        ]))
        .unwrap();
        assert_eq!(request.status.as_deref(), Some("RUNNING"));
        assert_eq!(request.service_type.as_deref(), Some("ecs"));
        assert_eq!(request.operation.as_deref(), Some("rename"));
        assert_eq!(request.application_id.as_deref(), Some("APP-WEB"));
        assert_eq!(request.resource_group_id.as_deref(), Some("rg-prod"));
        let (start, end) = (1_795_849_200_000, 1_795_852_800_000);
        assert_eq!(
            request.create_time_start,
            Some(Timestamp::from_millis(start))
        );
        assert_eq!(request.create_time_end, Some(Timestamp::from_millis(end)));
        assert_eq!(request.max_results, 100);
        assert_eq!(request.next_token, Some(token));
    }

    #[test]
    fn list_refuses_out_of_range_and_malformed_values() {
        for max in ["0", "101", "-1", "x", "1.5"] {
            assert_eq!(invalid(&[("MaxResults", max)]), "MaxResults", "{max}");
        }
        assert_eq!(invalid(&[("Status", "running")]), "Status");
        assert_eq!(
            invalid(&[("CreateTimeStart", "2026-11-28 07:00")]),
            "CreateTimeStart"
        );
        assert_eq!(invalid(&[("CreateTimeEnd", "yesterday")]), "CreateTimeEnd");
        assert_eq!(invalid(&[("NextToken", "not-a-token")]), "NextToken");
        assert_eq!(
            ListExecuteOperationsRequest::from_params(&form(&[("MaxResults", "1")]))
                .unwrap()
                .max_results,
            1
        );
    }

    #[test]
    fn page_tokens_round_trip_and_only_ours_decode() {
        let token = PageToken {
            created_at: Timestamp::from_millis(-5),
            seq: i64::MAX,
        };
        assert_eq!(PageToken::decode(&token.encode()), Some(token));
        assert_eq!(PageToken::decode("MTIz"), None, "no separator");
        assert_eq!(PageToken::decode("!!"), None);
    }

    #[test]
    fn items_omit_what_they_do_not_have() {
        let item = OperationItem {
            operation_id: "op_1".into(),
            service_type: "ecs".into(),
            operation: "rename".into(),
            application_id: None,
            status: "RUNNING".into(),
            create_time: "2026-11-28T07:00:00Z".into(),
            finish_time: None,
            submitted_by: None,
            trace_id: None,
        };
        let submitted = OperationItem {
            submitted_by: Some(Submitter {
                account_id: "1".into(),
                user_name: None,
                access_key_id: "LTAIroot".into(),
            }),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            ..item.clone()
        };
        assert_eq!(
            serde_json::to_value(&submitted).unwrap()["SubmittedBy"],
            json!({"AccountId": "1", "AccessKeyId": "LTAIroot"})
        );
        let page = OperationPage {
            operations: vec![item],
            next_token: None,
            max_results: 20,
        };
        assert_eq!(
            serde_json::to_value(&page).unwrap(),
            json!({"Operations": [{"OperationId": "op_1", "ServiceType": "ecs",
                "Operation": "rename", "Status": "RUNNING",
                "CreateTime": "2026-11-28T07:00:00Z"}], "MaxResults": 20})
        );
    }

    #[test]
    fn cancel_needs_an_operation_id() {
        assert_eq!(
            CancelExecuteOperationRequest::from_params(&form(&[])),
            Err(RequestError::Missing("OperationId"))
        );
        let request = CancelExecuteOperationRequest::from_params(&form(&[
            ("OperationId", "op_1"),
            ("ResourceGroupId", "rg"),
        ]))
        .unwrap();
        assert_eq!(request.operation_id, "op_1");
        assert_eq!(request.resource_group_id.as_deref(), Some("rg"));
    }
}
