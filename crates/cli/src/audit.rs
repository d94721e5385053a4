//! `bpops audit`: the account's audit trail (LookupEvents), newest first, filtered; a table
//! by default, `--json` for scripts.

use bpops_client::LookupEvents;
use bpops_protocol::audit::{EventItem, EventPage};
use bpops_protocol::signature::{format_timestamp, parse_timestamp};
use bpops_time::{Clock, SystemClock};
use clap::Args;

use crate::commands::{ClientArgs, Exit, Paged, as_value, connect, print_more, read_pages};
use crate::output;

/// Flags of `audit`.
#[derive(Args)]
pub struct AuditArgs {
    /// Only requests at or after this time: YYYY-MM-DDThh:mm:ssZ, or a span ago (e.g. 1h).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Only requests before this time: YYYY-MM-DDThh:mm:ssZ, or a span ago (e.g. 10m).
    #[arg(long, value_name = "WHEN")]
    until: Option<String>,
    /// Only requests naming this action, e.g. ExecuteOperationASync.
    #[arg(long, value_name = "A")]
    action: Option<String>,
    /// Only requests signed by this user (root for the account's own key).
    #[arg(long, value_name = "U")]
    user: Option<String>,
    /// Only requests signed with, or claiming, this AccessKeyId.
    #[arg(long, value_name = "ID")]
    key: Option<String>,
    /// Only requests reaching this resource ARN, application or operation id.
    #[arg(long, value_name = "R")]
    resource: Option<String>,
    /// Only requests answered with this code: Success, or an error code such as NoPermission.
    #[arg(long, value_name = "C")]
    code: Option<String>,
    /// Page size, 1 to 50 (the server's default is 20).
    #[arg(long, value_name = "N")]
    max_results: Option<u32>,
    /// Continue from a previous page's NextToken.
    #[arg(long, value_name = "T")]
    next_token: Option<String>,
    /// Follow NextToken to the last page and print everything.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Prints the trail.
pub async fn run(args: AuditArgs) -> anyhow::Result<Exit> {
    let client = connect(&args.client)?;
    let since = args.since.as_deref().map(instant).transpose()?;
    let until = args.until.as_deref().map(instant).transpose()?;
    let max_results = args.max_results.map(|n| n.to_string());
    let (client, args, window) = (&client, &args, (&since, &until));
    let mut page = read_pages(args.next_token.clone(), args.all, |token| async move {
        let request = LookupEvents {
            start_time: window.0.as_deref(),
            end_time: window.1.as_deref(),
            event_name: args.action.as_deref(),
            user: args.user.as_deref(),
            access_key_id: args.key.as_deref(),
            resource: args.resource.as_deref(),
            result_code: args.code.as_deref(),
            max_results: args.max_results,
            next_token: token.as_deref(),
        };
        Ok(client.lookup_events(&request).await?)
    })
    .await?;
    if args.client.json {
        output::json(&as_value(&page));
        return Ok(Exit::Done);
    }
    let rows: Vec<Vec<String>> = std::mem::take(&mut page.events)
        .into_iter()
        .map(|e| {
            let who = match (&e.user_identity.user_name, e.user_identity.verified) {
                (Some(user), true) => user.clone(),
                _ => "(unverified)".to_owned(),
            };
            let target = e
                .operation_id
                .or(e.application_id)
                .or(e.resource_name)
                .unwrap_or_else(|| "-".to_owned());
            vec![
                e.event_time,
                e.event_name,
                e.result_code,
                who,
                e.user_identity
                    .access_key_id
                    .unwrap_or_else(|| "-".to_owned()),
                e.source_ip_address,
                target,
                e.request_id,
            ]
        })
        .collect();
    output::table(
        &[
            "TIME",
            "ACTION",
            "RESULT",
            "USER",
            "ACCESS KEY",
            "SOURCE",
            "TARGET",
            "REQUEST ID",
        ],
        &rows,
    );
    if let Some(token) = &page.next_token {
        // The times as sent, so the next page covers the same span.
        let flags: Vec<(&str, &str)> = [
            ("--since", &since),
            ("--until", &until),
            ("--action", &args.action),
            ("--user", &args.user),
            ("--key", &args.key),
            ("--resource", &args.resource),
            ("--code", &args.code),
            ("--max-results", &max_results),
        ]
        .into_iter()
        .filter_map(|(flag, value)| Some((flag, value.as_deref()?)))
        .collect();
        print_more("bpops audit", &flags, token);
    }
    Ok(Exit::Done)
}

/// `--since` and `--until`: a time as the server reads it, or a span before now.
fn instant(text: &str) -> anyhow::Result<String> {
    if parse_timestamp(text).is_some() {
        return Ok(text.to_owned());
    }
    match humantime::parse_duration(text) {
        Ok(ago) => Ok(format_timestamp(SystemClock.now() - ago)),
        Err(_) => anyhow::bail!(
            "{text:?} is neither a time such as 2026-11-28T07:00:00Z nor a span such as 1h"
        ),
    }
}

impl Paged for EventPage {
    type Item = EventItem;
    fn items(&mut self) -> &mut Vec<EventItem> {
        &mut self.events
    }
    fn next_token(&self) -> Option<&str> {
        self.next_token.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_pass_as_given_and_spans_count_back_from_now() {
        assert_eq!(
            instant("2026-11-28T07:00:00Z").unwrap(),
            "2026-11-28T07:00:00Z"
        );
        let hour_ago = parse_timestamp(&instant("1h").unwrap()).unwrap();
        let now = SystemClock.now();
        let span = now.duration_since(hour_ago).as_secs();
        assert!((3599..=3601).contains(&span), "{span}");
        assert!(instant("yesterday").is_err());
    }
}
