//! `bpops deliveries`: the account's webhook deliveries (ListNotificationDeliveries), oldest
//! first, filtered, each with its last attempt; a table by default, `--json` for scripts
//! (with every kept attempt).

use bpops_client::ListDeliveries;
use bpops_protocol::deliveries::{DeliveryItem, DeliveryPage};
use clap::Args;

use crate::commands::{ClientArgs, Exit, Paged, as_value, connect, print_more, read_pages};
use crate::output;

/// Flags of `deliveries`.
#[derive(Args)]
pub struct DeliveriesArgs {
    /// Only this operation's deliveries.
    #[arg(long, value_name = "ID")]
    operation: Option<String>,
    /// Only deliveries about this application's operations.
    #[arg(long, value_name = "ID")]
    application: Option<String>,
    /// Only this webhook's (its `[[notifications]] name`).
    #[arg(long, value_name = "NAME")]
    notification: Option<String>,
    /// Only those pending, delivered or expired.
    #[arg(long, value_name = "S")]
    status: Option<String>,
    /// Page size, 1 to 100 (the server's default is 20).
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

impl Paged for DeliveryPage {
    type Item = DeliveryItem;
    fn items(&mut self) -> &mut Vec<DeliveryItem> {
        &mut self.deliveries
    }
    fn next_token(&self) -> Option<&str> {
        self.next_token.as_deref()
    }
}

/// Prints the deliveries.
pub async fn run(args: DeliveriesArgs) -> anyhow::Result<Exit> {
    let client = connect(&args.client)?;
    let (client, args) = (&client, &args);
    let mut page = read_pages(args.next_token.clone(), args.all, |token| async move {
        let request = ListDeliveries {
            operation_id: args.operation.as_deref(),
            application_id: args.application.as_deref(),
            notification_name: args.notification.as_deref(),
            status: args.status.as_deref(),
            max_results: args.max_results,
            next_token: token.as_deref(),
        };
        Ok(client.notification_deliveries(&request).await?)
    })
    .await?;
    if args.client.json {
        output::json(&as_value(&page));
        return Ok(Exit::Done);
    }
    let rows: Vec<Vec<String>> = std::mem::take(&mut page.deliveries)
        .into_iter()
        .map(|d| {
            let last = d.attempt_log.last().map_or_else(
                || "-".to_owned(),
                |a| match (&a.error, a.http_status) {
                    (Some(error), _) => error.clone(),
                    (None, Some(status)) => format!("status {status}"),
                    (None, None) => "-".to_owned(),
                },
            );
            vec![
                d.delivery_id,
                d.create_time,
                d.notification_name,
                d.operation_id
                    .or(d.application_id)
                    .unwrap_or_else(|| "-".to_owned()),
                d.event,
                d.status,
                d.attempts.to_string(),
                d.next_attempt_time.unwrap_or_else(|| "-".to_owned()),
                last,
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "TIME",
            "NOTIFICATION",
            "SUBJECT",
            "EVENT",
            "STATUS",
            "ATTEMPTS",
            "NEXT ATTEMPT",
            "LAST ATTEMPT",
        ],
        &rows,
    );
    if let Some(token) = &page.next_token {
        let flags: Vec<(&str, &str)> = [
            ("--operation", &args.operation),
            ("--application", &args.application),
            ("--notification", &args.notification),
            ("--status", &args.status),
        ]
        .into_iter()
        .filter_map(|(flag, value)| Some((flag, value.as_deref()?)))
        .collect();
        print_more("bpops deliveries", &flags, token);
    }
    Ok(Exit::Done)
}
