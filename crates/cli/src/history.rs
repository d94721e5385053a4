//! `bpops history OP_ID`: an operation's whole history (ListExecuteOperationEvents), oldest
//! first, one line per event, or as JSON with `--json`.

use bpops_client::Client;
use bpops_protocol::history::EventItem;
use serde_json::json;

use crate::commands::{Exit, IdArgs, as_value, connect, unknown};
use crate::output;

pub(crate) async fn history(args: IdArgs) -> anyhow::Result<Exit> {
    let client = connect(&args.client)?;
    let events = match client.operation_history(&args.operation_id).await {
        Ok(events) => events,
        Err(e) if e.is_code("InvalidOperationId.NotFound") => {
            return unknown(&args.operation_id, args.client.json);
        }
        Err(e) => return Err(e.into()),
    };
    if args.client.json {
        output::json(&json!({
            "OperationId": args.operation_id,
            "Events": as_value(&events),
        }));
    } else {
        let rows: Vec<Vec<String>> = events
            .iter()
            .map(|e| {
                vec![
                    e.sequence.to_string(),
                    e.time.clone(),
                    e.kind.clone(),
                    detail(e),
                ]
            })
            .collect();
        output::table(&["SEQ", "TIME", "EVENT", "DETAIL"], &rows);
    }
    Ok(Exit::Done)
}

/// Prints who submitted operation `id` and in which trace, from its history's first event,
/// as `bpops get` shows them; nothing when the key may not read the history.
pub(crate) async fn print_submission(client: &Client, id: &str) {
    let Ok(page) = client.operation_events(id, Some(1), None).await else {
        return;
    };
    if let Some(submitted) = page.events.first().filter(|e| e.kind == "Submitted") {
        output::fields(&[
            ("SubmittedBy", who(submitted)),
            ("TraceId", submitted.trace_id.clone().unwrap_or("-".into())),
        ]);
    }
}

/// What an event says beyond its type, in a few words.
fn detail(e: &EventItem) -> String {
    let text = |field: &Option<String>| field.clone().unwrap_or_default();
    let attempt = e.attempt.unwrap_or_default();
    match e.kind.as_str() {
        "Submitted" | "CancelRequested" => {
            let mut words = format!("by {}", who(e));
            if let Some(token) = &e.client_token {
                words.push_str(&format!(" token={token}"));
            }
            if let Some(trace) = &e.trace_id {
                words.push_str(&format!(" trace={trace}"));
            }
            words
        }
        "Claimed" => format!("node={} attempt={attempt}", text(&e.node)),
        "RetryScheduled" => format!(
            "attempt={attempt} failed: {}; next at {}",
            text(&e.reason),
            text(&e.retry_time)
        ),
        "Released" => format!("attempt={attempt}"),
        "Finished" => format!("{} {}", output::status(&text(&e.status)), text(&e.message)),
        _ => String::new(),
    }
}

/// Who made the request an event records: user (or the account's root key), key, address
/// and RequestId.
fn who(e: &EventItem) -> String {
    let Some(key) = &e.access_key_id else {
        return "bpops itself".to_owned();
    };
    let principal = match (&e.user_name, &e.account_id) {
        (Some(user), _) => format!("user {user}"),
        (None, Some(account)) => format!("account {account}"),
        (None, None) => "the account".to_owned(),
    };
    format!(
        "{principal} key={key} ip={} request={}",
        e.source_ip.as_deref().unwrap_or("?"),
        e.request_id.as_deref().unwrap_or("?")
    )
}
