//! ListNotificationDeliveries: the webhook deliveries of the caller's account, a page at a
//! time.

use bpops_protocol::deliveries::DeliveryPage;

use crate::{Client, Result, required};

/// The parameters of ListNotificationDeliveries; `None` leaves a filter out.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListDeliveries<'a> {
    /// Only this operation's.
    pub operation_id: Option<&'a str>,
    /// Only those about this application's operations.
    pub application_id: Option<&'a str>,
    /// Only this webhook's.
    pub notification_name: Option<&'a str>,
    /// Only those `pending`, `delivered` or `expired`.
    pub status: Option<&'a str>,
    /// `MaxResults`, the page size.
    pub max_results: Option<u32>,
    /// `NextToken` of the previous page.
    pub next_token: Option<&'a str>,
}

impl Client {
    /// ListNotificationDeliveries: one page of the account's webhook deliveries, oldest
    /// first.
    pub async fn notification_deliveries(
        &self,
        request: &ListDeliveries<'_>,
    ) -> Result<DeliveryPage> {
        let max_results = request.max_results.map(|n| n.to_string());
        let params: Vec<(&str, &str)> = [
            ("OperationId", request.operation_id),
            ("ApplicationId", request.application_id),
            ("NotificationName", request.notification_name),
            ("Status", request.status),
            ("MaxResults", max_results.as_deref()),
            ("NextToken", request.next_token),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
        required(self.call("ListNotificationDeliveries", &params).await?)
    }
}
