//! `LookupEvents`: a page of the caller's account's audit trail, newest first. One store
//! read; the account is always the caller's, so no filter can reach another's records.

use bpops_protocol::audit::{EventItem, EventPage, LookupEventsRequest, LookupKey, UserIdentity};
use bpops_protocol::signature::format_timestamp;
use bpops_store::{AuditQuery, AuditRecord};
use serde_json::{Map, Value};

use crate::ApiError;
use crate::context::{Ctx, Reply, next_token, page_start};

pub(crate) async fn lookup_events(
    ctx: &Ctx<'_>,
    request: LookupEventsRequest,
) -> Result<Reply, ApiError> {
    let attribute = |key| request.attribute(key).map(str::to_owned);
    let query = AuditQuery {
        account: ctx.account(),
        from: request.start_time,
        before: request.end_time,
        action: attribute(LookupKey::EventName),
        user: attribute(LookupKey::User),
        access_key_id: attribute(LookupKey::EventAccessKeyId),
        resource: attribute(LookupKey::ResourceName),
        code: attribute(LookupKey::ResultCode),
        after: page_start(request.next_token),
        limit: request.max_results,
    };
    let page = ctx.app.store.lookup_audit(&query).await?;
    Reply::data(&EventPage {
        events: page.records.into_iter().map(item).collect(),
        next_token: next_token(page.next),
        max_results: request.max_results,
    })
}

fn item(record: AuditRecord) -> EventItem {
    let kind = match (&record.user, record.verified) {
        (Some(user), true) if user == "root" => "root-account",
        (Some(_), true) => "ram-user",
        _ => "unverified",
    };
    // Written by this server as a JSON object; anything else would be a corrupt row, shown
    // empty rather than failing the whole page.
    let parameters = match serde_json::from_str(&record.parameters) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let millis = record.time.as_millis().rem_euclid(1000);
    let seconds = format_timestamp(record.time);
    EventItem {
        event_time: format!("{}.{millis:03}Z", seconds.trim_end_matches('Z')),
        event_name: record.action,
        request_id: record.request_id,
        source_ip_address: record.source_ip,
        user_identity: UserIdentity {
            kind: kind.to_owned(),
            account_id: record.account.map(|a| a.to_string()).unwrap_or_default(),
            user_name: record.user,
            access_key_id: record.access_key_id,
            verified: record.verified,
        },
        result_code: record.code,
        http_status: record.http_status,
        application_id: record.application,
        operation_id: record.operation_id,
        resource_name: record.resource,
        request_parameters: parameters,
    }
}
