//! The bpops extension action ListExecuteOperationEvents: one page of an operation's history,
//! for the operation the route read and authorized as GetExecuteOperationResult does. Another
//! account's operation, an expired one and one outside the named group are all unknown.

use bpops_protocol::history::{
    EventItem, EventPage, ListExecuteOperationEventsRequest, encode_token, format_event_time,
};
use bpops_store::{Event, HistoryEvent, HistoryQuery, Operation, Requester};

use crate::ApiError;
use crate::context::{Ctx, Reply};
use crate::operations::unknown_operation;

pub(crate) async fn list(
    ctx: &Ctx<'_>,
    request: &ListExecuteOperationEventsRequest,
    op: Option<Operation>,
) -> Result<Reply, ApiError> {
    let Some(op) = op else {
        return Err(unknown_operation(&request.operation_id));
    };
    let query = HistoryQuery {
        account: op.account.clone(),
        id: op.id.clone(),
        after: request.next_token.unwrap_or(0),
        limit: request.max_results,
    };
    let page = ctx.app.engine.history(&query).await?;
    Reply::data(&EventPage {
        operation_id: op.id.to_string(),
        service_type: op.service,
        operation: op.operation,
        application_id: op.application,
        events: page
            .events
            .into_iter()
            .map(|event| item(op.account.as_str(), event))
            .collect(),
        next_token: page.next.map(encode_token),
        max_results: request.max_results,
    })
}

/// The wire form of one event: the fields of its type.
fn item(account: &str, stored: HistoryEvent) -> EventItem {
    let item = EventItem {
        sequence: stored.seq,
        time: format_event_time(stored.at),
        ..EventItem::default()
    };
    match stored.event {
        Event::Submitted { by, client_token } => EventItem {
            kind: "Submitted".into(),
            client_token,
            ..requested_by(account, by, item)
        },
        Event::Claimed { node, attempt } => EventItem {
            kind: "Claimed".into(),
            node: Some(node),
            attempt: Some(attempt),
            ..item
        },
        Event::RetryScheduled {
            attempt,
            reason,
            retry_at,
        } => EventItem {
            kind: "RetryScheduled".into(),
            attempt: Some(attempt),
            reason: Some(reason),
            retry_time: Some(format_event_time(retry_at)),
            ..item
        },
        Event::Released { attempt } => EventItem {
            kind: "Released".into(),
            attempt: Some(attempt),
            ..item
        },
        Event::CancelRequested { by } => EventItem {
            kind: "CancelRequested".into(),
            ..requested_by(account, Some(by), item)
        },
        Event::Finished { status, message } => EventItem {
            kind: "Finished".into(),
            status: Some(status.as_str().to_owned()),
            message: Some(message),
            ..item
        },
    }
}

/// `item` with who made the request, when a request did.
fn requested_by(account: &str, by: Option<Requester>, item: EventItem) -> EventItem {
    match by {
        Some(by) => EventItem {
            account_id: Some(account.to_owned()),
            user_name: by.user,
            access_key_id: Some(by.access_key_id),
            source_ip: Some(by.source_ip),
            request_id: Some(by.request_id),
            trace_id: by.trace.map(|trace| trace.trace_id()),
            ..item
        },
        None => item,
    }
}
