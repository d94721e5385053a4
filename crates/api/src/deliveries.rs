//! The bpops extension action ListNotificationDeliveries: the webhook deliveries of the
//! caller's account, oldest first, with their latest attempts. With an `OperationId` the
//! operation is read and authorized as GetExecuteOperationResult does (another account's,
//! an expired one and one outside the named group are unknown); without, the listing is
//! authorized as ListExecuteOperations is.

use bpops_protocol::deliveries::{
    AttemptItem, DeliveryItem, DeliveryPage, ListNotificationDeliveriesRequest, encode_token,
};
use bpops_protocol::history::format_event_time;
use bpops_store::{Delivery, DeliveryQuery, DeliveryState, Operation};
use bpops_time::Timestamp;

use crate::ApiError;
use crate::context::{Ctx, Reply};
use crate::operations::unknown_operation;

/// Answers the request; `op` is the operation it names, as the route read it (`None`
/// when it names one that was not found).
pub(crate) async fn list(
    ctx: &Ctx<'_>,
    request: &ListNotificationDeliveriesRequest,
    op: Option<Operation>,
) -> Result<Reply, ApiError> {
    let operation_id = match (&request.operation_id, op) {
        (Some(_), Some(op)) => Some(op.id.to_string()),
        (Some(id), None) => return Err(unknown_operation(id)),
        (None, _) => None,
    };
    let query = DeliveryQuery {
        account: Some(ctx.account()),
        operation_id,
        application: request.application_id.clone(),
        notification: request.notification_name.clone(),
        state: request.status.as_deref().and_then(DeliveryState::parse),
        after: request.next_token.unwrap_or(0),
        limit: request.max_results,
    };
    let page = ctx.app.engine.deliveries(&query).await?;
    Reply::data(&DeliveryPage {
        deliveries: page.deliveries.into_iter().map(item).collect(),
        next_token: page.next.map(encode_token),
        max_results: request.max_results,
    })
}

/// The wire form of one delivery.
fn item(d: Delivery) -> DeliveryItem {
    let pending = d.state == DeliveryState::Pending;
    DeliveryItem {
        delivery_id: d.id.to_string(),
        notification_name: d.notification,
        operation_id: d.operation_id,
        application_id: d.application,
        event: d.event,
        status: d.state.as_str().to_owned(),
        create_time: format_event_time(d.created_at),
        attempts: d.attempts,
        next_attempt_time: pending.then(|| format_event_time(d.next_at)),
        finish_time: d.done_at.map(format_event_time),
        attempt_log: d
            .log
            .into_iter()
            .map(|r| AttemptItem {
                attempt: r.attempt,
                time: format_event_time(Timestamp::from_millis(r.at)),
                duration_ms: r.millis,
                http_status: r.http_status,
                error: r.error,
            })
            .collect(),
    }
}
