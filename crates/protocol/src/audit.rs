//! `LookupEvents`, the bpops extension that reads the audit trail: its typed request and its
//! `Data`. The parameters follow ActionTrail's `LookupEvents` where they fit
//! (<https://www.alibabacloud.com/help/en/actiontrail/developer-reference/api-actiontrail-2020-07-06-lookupevents>):
//! `StartTime`, `EndTime`, `LookupAttribute.N.Key` / `LookupAttribute.N.Value`, `MaxResults`
//! and `NextToken`.
//!
//! Choices (documented in the README): times are `YYYY-MM-DDThh:mm:ssZ`, `StartTime`
//! inclusive and `EndTime` exclusive, as `ListExecuteOperations`' `CreateTime*`; the
//! attribute keys are ActionTrail's `EventName`, `User`, `EventAccessKeyId` and `ResourceName`
//! plus bpops' `ResultCode`, each at most once, all of them applying together (ActionTrail
//! takes one); an item's `EventTime` has milliseconds, since many requests share a second.

use bpops_time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::extensions::{PageToken, max_results, next_token, time};
use crate::params::Params;
use crate::wire::{MAX_PARAM_CHARS, RequestError};

/// `MaxResults` when the request has none (ActionTrail's default).
pub const DEFAULT_MAX_RESULTS: usize = 20;

/// The largest `MaxResults` accepted (ActionTrail's).
pub const MAX_MAX_RESULTS: usize = 50;

/// The most `LookupAttribute.N` entries: one per key.
pub const MAX_LOOKUP_ATTRIBUTES: usize = 5;

/// A `LookupAttribute.N.Key`: what a lookup may be narrowed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LookupKey {
    /// `EventName`: the action.
    EventName,
    /// `User`: `root`, or a RAM user's name.
    User,
    /// `EventAccessKeyId`: the AccessKeyId the request was signed with (or claimed to be).
    EventAccessKeyId,
    /// `ResourceName`: the resource ARN, the application id or the operation id.
    ResourceName,
    /// `ResultCode`: `Success`, or an error code.
    ResultCode,
}

impl LookupKey {
    /// Every key.
    pub const ALL: [LookupKey; 5] = [
        LookupKey::EventName,
        LookupKey::User,
        LookupKey::EventAccessKeyId,
        LookupKey::ResourceName,
        LookupKey::ResultCode,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LookupKey::EventName => "EventName",
            LookupKey::User => "User",
            LookupKey::EventAccessKeyId => "EventAccessKeyId",
            LookupKey::ResourceName => "ResourceName",
            LookupKey::ResultCode => "ResultCode",
        }
    }

    fn parse(s: &str) -> Option<LookupKey> {
        LookupKey::ALL.into_iter().find(|key| key.as_str() == s)
    }
}

/// `LookupEvents`: a page of the caller's account's audit records, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupEventsRequest {
    /// `StartTime`, inclusive.
    pub start_time: Option<Timestamp>,
    /// `EndTime`, exclusive.
    pub end_time: Option<Timestamp>,
    /// `LookupAttribute.N`: each key at most once.
    pub attributes: Vec<(LookupKey, String)>,
    /// `MaxResults`, 1 to [`MAX_MAX_RESULTS`], [`DEFAULT_MAX_RESULTS`] when absent.
    pub max_results: usize,
    /// `NextToken`, from the previous page.
    pub next_token: Option<PageToken>,
}

impl LookupEventsRequest {
    /// The value of the attribute `key`, when the request narrows by it.
    pub fn attribute(&self, key: LookupKey) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Invalid`] for a time not in `YYYY-MM-DDThh:mm:ssZ`, an `EndTime` not
    /// after `StartTime`, a `MaxResults` outside 1 to 50, a `NextToken` this server did not
    /// issue, a `LookupAttribute` with an unknown or repeated key, no value, or an `N`
    /// outside 1 to 5, or a value over [`MAX_PARAM_CHARS`].
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        let start_time = time(p, "StartTime")?;
        let end_time = time(p, "EndTime")?;
        if let (Some(start), Some(end)) = (start_time, end_time)
            && end <= start
        {
            return Err(RequestError::Invalid {
                name: "EndTime",
                reason: "must be later than StartTime".to_owned(),
            });
        }
        let max_results = max_results(p, DEFAULT_MAX_RESULTS, MAX_MAX_RESULTS)?;
        let next_token = next_token(p, PageToken::decode)?;
        Ok(Self {
            start_time,
            end_time,
            attributes: attributes(p)?,
            max_results,
            next_token,
        })
    }
}

/// `LookupAttribute.N.Key` and `.Value`, N from 1 to [`MAX_LOOKUP_ATTRIBUTES`], in N order.
fn attributes(p: &Params) -> Result<Vec<(LookupKey, String)>, RequestError> {
    let invalid = |reason: String| RequestError::Invalid {
        name: "LookupAttribute",
        reason,
    };
    // Every parameter of the family must be one this reads: a misspelt one is refused rather
    // than ignored, which would widen the lookup silently.
    for (name, _) in p.iter() {
        let Some(rest) = name.strip_prefix("LookupAttribute.") else {
            continue;
        };
        let known = rest.split_once('.').is_some_and(|(n, field)| {
            matches!(field, "Key" | "Value")
                && n.parse::<usize>()
                    .is_ok_and(|n| (1..=MAX_LOOKUP_ATTRIBUTES).contains(&n))
                && !n.starts_with('0')
        });
        if !known {
            return Err(invalid(format!(
                "\"{name}\" is not LookupAttribute.N.Key or LookupAttribute.N.Value with N from \
                 1 to {MAX_LOOKUP_ATTRIBUTES}"
            )));
        }
    }
    let mut attributes: Vec<(LookupKey, String)> = Vec::new();
    for n in 1..=MAX_LOOKUP_ATTRIBUTES {
        let key = p.get(&format!("LookupAttribute.{n}.Key"));
        let value = p.get(&format!("LookupAttribute.{n}.Value"));
        let (key, value) = match (key, value) {
            (None, None) => continue,
            (Some(key), Some(value)) if !key.is_empty() && !value.is_empty() => (key, value),
            _ => {
                return Err(invalid(format!(
                    "LookupAttribute.{n} needs both a Key and a non-empty Value"
                )));
            }
        };
        let key = LookupKey::parse(key).ok_or_else(|| {
            let keys: Vec<&str> = LookupKey::ALL.iter().map(|k| k.as_str()).collect();
            invalid(format!(
                "LookupAttribute.{n}.Key must be one of {}",
                keys.join(", ")
            ))
        })?;
        if attributes.iter().any(|(k, _)| *k == key) {
            return Err(invalid(format!("the key {} is given twice", key.as_str())));
        }
        if value.chars().count() > MAX_PARAM_CHARS {
            return Err(invalid(format!(
                "LookupAttribute.{n}.Value must be at most {MAX_PARAM_CHARS} characters"
            )));
        }
        attributes.push((key, value.to_owned()));
    }
    Ok(attributes)
}

/// `Data` of LookupEvents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventPage {
    /// `Events`, newest first.
    pub events: Vec<EventItem>,
    /// `NextToken`, to pass for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// `MaxResults`, the page size used.
    pub max_results: usize,
}

/// One element of [`EventPage::events`]: one API request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventItem {
    /// `EventTime`, ISO 8601 UTC with milliseconds.
    pub event_time: String,
    /// `EventName`: the action, as the request named it.
    pub event_name: String,
    /// `RequestId` of the answer.
    pub request_id: String,
    /// `SourceIpAddress`.
    pub source_ip_address: String,
    /// `UserIdentity`: who signed it, or claimed to.
    pub user_identity: UserIdentity,
    /// `ResultCode`: `Success`, or the error code answered.
    pub result_code: String,
    /// `HttpStatus` of the answer.
    pub http_status: u16,
    /// `ApplicationId`; omitted when the request reached none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// `OperationId`: the operation named, or created; omitted when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// `ResourceName`: the ARN the request was authorized against; omitted when it was
    /// refused before that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// `RequestParameters`, secrets removed and long values cut.
    pub request_parameters: Map<String, Value>,
}

/// [`EventItem::user_identity`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserIdentity {
    /// `Type`: `root-account`, `ram-user`, or `unverified` when the signature did not verify.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `AccountId`.
    pub account_id: String,
    /// `UserName`: `root` or the RAM user's name; omitted when unverified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// `AccessKeyId`: the key it was signed with, or claimed to be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// `Verified`: whether the signature verified.
    pub verified: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::form;

    fn invalid(pairs: &[(&str, &str)]) -> &'static str {
        match LookupEventsRequest::from_params(&form(pairs)) {
            Err(RequestError::Invalid { name, .. }) => name,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn lookup_defaults_to_20_newest_without_filters() {
        let request = LookupEventsRequest::from_params(&form(&[])).unwrap();
        assert_eq!(request.max_results, DEFAULT_MAX_RESULTS);
        assert!(request.attributes.is_empty());
        assert_eq!((request.start_time, request.end_time), (None, None));
    }

    #[test]
    fn lookup_reads_times_attributes_and_paging() {
        let token = PageToken {
            created_at: Timestamp::from_millis(1_700_000_000_123),
            seq: 7,
        };
        let encoded = token.encode();
        let request = LookupEventsRequest::from_params(&form(&[
            ("StartTime", "2026-11-28T07:00:00Z"),
            ("EndTime", "2026-11-28T08:00:00Z"),
            ("LookupAttribute.1.Key", "EventName"),
            ("LookupAttribute.1.Value", "ExecuteOperationASync"),
            ("LookupAttribute.2.Key", "User"),
            ("LookupAttribute.2.Value", "alice"),
            ("LookupAttribute.5.Key", "ResultCode"),
            ("LookupAttribute.5.Value", "NoPermission"),
            ("MaxResults", "50"),
            ("NextToken", &encoded),
        ]))
        .unwrap();
        assert_eq!(
            request.start_time,
            Some(Timestamp::from_millis(1_795_849_200_000))
        );
        assert_eq!(
            request.end_time,
            Some(Timestamp::from_millis(1_795_852_800_000))
        );
        assert_eq!(
            request.attribute(LookupKey::EventName),
            Some("ExecuteOperationASync")
        );
        assert_eq!(request.attribute(LookupKey::User), Some("alice"));
        assert_eq!(
            request.attribute(LookupKey::ResultCode),
            Some("NoPermission")
        );
        assert_eq!(request.attribute(LookupKey::ResourceName), None);
        assert_eq!(request.max_results, 50);
        assert_eq!(request.next_token, Some(token));
    }

    #[test]
    fn lookup_refuses_malformed_filters() {
        for max in ["0", "51", "-1", "x"] {
            assert_eq!(invalid(&[("MaxResults", max)]), "MaxResults", "{max}");
        }
        assert_eq!(invalid(&[("StartTime", "yesterday")]), "StartTime");
        assert_eq!(
            invalid(&[
                ("StartTime", "2026-11-28T08:00:00Z"),
                ("EndTime", "2026-11-28T08:00:00Z")
            ]),
            "EndTime"
        );
        assert_eq!(invalid(&[("NextToken", "not-a-token")]), "NextToken");
        let long = "x".repeat(MAX_PARAM_CHARS + 1);
        for pairs in [
            vec![("LookupAttribute.1.Key", "Password")],
            vec![("LookupAttribute.1.Key", "User")],
            vec![("LookupAttribute.1.Value", "alice")],
            vec![
                ("LookupAttribute.1.Key", "User"),
                ("LookupAttribute.1.Value", ""),
            ],
            vec![
                ("LookupAttribute.1.Key", "Password"),
                ("LookupAttribute.1.Value", "x"),
            ],
            vec![
                ("LookupAttribute.1.Key", "User"),
                ("LookupAttribute.1.Value", "a"),
                ("LookupAttribute.2.Key", "User"),
                ("LookupAttribute.2.Value", "b"),
            ],
            vec![
                ("LookupAttribute.6.Key", "User"),
                ("LookupAttribute.6.Value", "a"),
            ],
            vec![
                ("LookupAttribute.01.Key", "User"),
                ("LookupAttribute.01.Value", "a"),
            ],
            vec![("LookupAttribute.1.Kye", "User")],
            vec![
                ("LookupAttribute.1.Key", "User"),
                ("LookupAttribute.1.Value", long.as_str()),
            ],
        ] {
            assert_eq!(invalid(&pairs), "LookupAttribute", "{pairs:?}");
        }
    }
}
