//! ListExecuteOperationEvents: an operation's history, a page at a time or whole.

use bpops_protocol::extensions::MAX_MAX_RESULTS;
use bpops_protocol::history::{EventItem, EventPage};

use crate::{Client, Result, required};

/// The page size of a whole history: the largest, for the fewest round trips.
const MAX_PAGE: u32 = MAX_MAX_RESULTS as u32;

impl Client {
    /// ListExecuteOperationEvents: one page of operation `id`'s history, oldest first, of up
    /// to `max_results` events (the server's default when `None`), after `next_token`.
    pub async fn operation_events(
        &self,
        id: &str,
        max_results: Option<u32>,
        next_token: Option<&str>,
    ) -> Result<EventPage> {
        let max_results = max_results.map(|n| n.to_string());
        let params: Vec<(&str, &str)> = [
            ("OperationId", Some(id)),
            ("MaxResults", max_results.as_deref()),
            ("NextToken", next_token),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect();
        required(self.call("ListExecuteOperationEvents", &params).await?)
    }

    /// Operation `id`'s whole history, oldest first, following `NextToken` to the last page.
    pub async fn operation_history(&self, id: &str) -> Result<Vec<EventItem>> {
        let mut events = Vec::new();
        let mut next_token = None;
        loop {
            let page = self
                .operation_events(id, Some(MAX_PAGE), next_token.as_deref())
                .await?;
            events.extend(page.events);
            match page.next_token {
                Some(token) => next_token = Some(token),
                None => return Ok(events),
            }
        }
    }
}
