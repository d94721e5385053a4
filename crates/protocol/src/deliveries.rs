//! The typed request and response of the bpops extension action `ListNotificationDeliveries`:
//! the webhook deliveries of the caller's operations, oldest first, a page at a time, each
//! with its latest attempts. Same envelope, signing and parameter rules as the other
//! extension actions (see [`crate::extensions`]); no SDK model to match, so the shape is ours.
//!
//! Times are as in `ListExecuteOperationEvents` (ISO 8601 UTC to the millisecond); a field
//! that does not apply is omitted; `NextToken` is omitted on the last page and is opaque.

use serde::{Deserialize, Serialize};

use crate::extensions::{
    DEFAULT_MAX_RESULTS, MAX_MAX_RESULTS, decode_position, encode_position, max_results, next_token,
};
use crate::params::Params;
use crate::wire::{MAX_PARAM_CHARS, RequestError, optional};

/// The states a delivery is in, as `Status` spells them.
pub const STATUSES: [&str; 3] = ["pending", "delivered", "expired"];

/// `ListNotificationDeliveries`: a page of deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListNotificationDeliveriesRequest {
    /// `OperationId`: only this operation's (authorized as GetExecuteOperationResult).
    pub operation_id: Option<String>,
    /// `ResourceGroupId`, with `OperationId` only: the operation is found only in this group.
    pub resource_group_id: Option<String>,
    /// `ApplicationId`: only deliveries about this application, its changes and operations.
    pub application_id: Option<String>,
    /// `NotificationName`: only this webhook's.
    pub notification_name: Option<String>,
    /// `Status`: `pending`, `delivered` or `expired`.
    pub status: Option<String>,
    /// `MaxResults`, 1 to 100, 20 when absent.
    pub max_results: usize,
    /// `NextToken`: continue after this delivery id.
    pub next_token: Option<u64>,
}

impl ListNotificationDeliveriesRequest {
    /// Reads the request from its parameters.
    ///
    /// # Errors
    ///
    /// [`RequestError::Invalid`] for a `Status` not in [`STATUSES`], a `ResourceGroupId`
    /// without `OperationId`, a `MaxResults` outside 1 to 100, a `NextToken` this server did
    /// not issue, or a value over [`MAX_PARAM_CHARS`].
    pub fn from_params(p: &Params) -> Result<Self, RequestError> {
        let next_token = next_token(p, |token| decode_position("delivery", token))?;
        let status = optional(p, "Status", MAX_PARAM_CHARS)?;
        if let Some(status) = &status
            && !STATUSES.contains(&status.as_str())
        {
            return Err(RequestError::Invalid {
                name: "Status",
                reason: format!("must be one of {}", STATUSES.join(", ")),
            });
        }
        let operation_id = optional(p, "OperationId", MAX_PARAM_CHARS)?;
        let resource_group_id = optional(p, "ResourceGroupId", MAX_PARAM_CHARS)?;
        if resource_group_id.is_some() && operation_id.is_none() {
            return Err(RequestError::Invalid {
                name: "ResourceGroupId",
                reason: "is only accepted with OperationId".to_owned(),
            });
        }
        Ok(Self {
            operation_id,
            resource_group_id,
            application_id: optional(p, "ApplicationId", MAX_PARAM_CHARS)?,
            notification_name: optional(p, "NotificationName", MAX_PARAM_CHARS)?,
            status,
            max_results: max_results(p, DEFAULT_MAX_RESULTS, MAX_MAX_RESULTS)?,
            next_token,
        })
    }
}

/// The opaque `NextToken` continuing after delivery `id`.
pub fn encode_token(id: u64) -> String {
    encode_position("delivery", id)
}

/// `Data` of ListNotificationDeliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryPage {
    /// `Deliveries`, oldest first.
    pub deliveries: Vec<DeliveryItem>,
    /// `NextToken`, to pass for the next page; omitted on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// `MaxResults`, the page size used.
    pub max_results: usize,
}

/// One element of [`DeliveryPage::deliveries`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryItem {
    /// `DeliveryId`, also the `Idempotency-Key` its receiver got.
    pub delivery_id: String,
    /// `NotificationName`: the webhook.
    pub notification_name: String,
    /// `OperationId` the event is about; omitted for an application's change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// `ApplicationId` of the operation, or the application changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// `Event`: the history event's kind (`submitted`, `claimed`, ..., `finished`), or the
    /// application change's (`application_created`, ..., `application_reconfigured`).
    pub event: String,
    /// `Status`: `pending`, `delivered` or `expired`.
    pub status: String,
    /// `CreateTime`: when the event happened.
    pub create_time: String,
    /// `Attempts` started.
    pub attempts: u32,
    /// `NextAttemptTime`, while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_time: Option<String>,
    /// `FinishTime`: when it was delivered or expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_time: Option<String>,
    /// `AttemptLog`: the latest attempts' outcomes, oldest first.
    pub attempt_log: Vec<AttemptItem>,
}

/// One element of [`DeliveryItem::attempt_log`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttemptItem {
    /// `Attempt`, from 1.
    pub attempt: u32,
    /// `Time` it started.
    pub time: String,
    /// `DurationMs` it took.
    pub duration_ms: u64,
    /// `HttpStatus` answered, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// `Error`: what went wrong, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::form;

    fn parse(pairs: &[(&str, &str)]) -> Result<ListNotificationDeliveriesRequest, RequestError> {
        ListNotificationDeliveriesRequest::from_params(&form(pairs))
    }

    #[test]
    fn a_request_reads_its_filters_and_its_page() {
        let request = parse(&[
            ("OperationId", "op-1"),
            ("Status", "expired"),
            ("NotificationName", "ops"),
            ("MaxResults", "5"),
            ("NextToken", &encode_token(41)),
        ])
        .unwrap();
        assert_eq!(request.operation_id.as_deref(), Some("op-1"));
        assert_eq!(request.status.as_deref(), Some("expired"));
        assert_eq!(request.notification_name.as_deref(), Some("ops"));
        assert_eq!((request.max_results, request.next_token), (5, Some(41)));
        assert_eq!(parse(&[]).unwrap().max_results, DEFAULT_MAX_RESULTS);
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        for (pairs, name) in [
            (vec![("Status", "failed")], "Status"),
            (vec![("ResourceGroupId", "rg-1")], "ResourceGroupId"),
            (vec![("NextToken", "bm9wZQ")], "NextToken"),
            (vec![("MaxResults", "101")], "MaxResults"),
        ] {
            match parse(&pairs) {
                Err(RequestError::Invalid { name: refused, .. }) => assert_eq!(refused, name),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }
}
