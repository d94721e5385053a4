//! LookupEvents: the caller's account's audit trail, a page at a time.

use bpops_protocol::audit::{EventPage, LookupKey};

use crate::{Client, Result, required};

/// The parameters of LookupEvents; `None` leaves a filter out.
#[derive(Clone, Copy, Debug, Default)]
pub struct LookupEvents<'a> {
    /// `StartTime`, `YYYY-MM-DDThh:mm:ssZ`, inclusive.
    pub start_time: Option<&'a str>,
    /// `EndTime`, `YYYY-MM-DDThh:mm:ssZ`, exclusive.
    pub end_time: Option<&'a str>,
    /// Only requests naming this action.
    pub event_name: Option<&'a str>,
    /// Only requests signed by this user (`root` for the account's key).
    pub user: Option<&'a str>,
    /// Only requests signed with (or claiming) this AccessKeyId.
    pub access_key_id: Option<&'a str>,
    /// Only requests reaching this resource ARN, application or operation.
    pub resource: Option<&'a str>,
    /// Only requests answered with this code (`Success` for successes).
    pub result_code: Option<&'a str>,
    /// `MaxResults`, the page size.
    pub max_results: Option<u32>,
    /// `NextToken` of the previous page.
    pub next_token: Option<&'a str>,
}

impl Client {
    /// LookupEvents: one page of the account's audit trail, newest first.
    pub async fn lookup_events(&self, request: &LookupEvents<'_>) -> Result<EventPage> {
        let max_results = request.max_results.map(|n| n.to_string());
        let mut params: Vec<(String, &str)> = [
            ("StartTime", request.start_time),
            ("EndTime", request.end_time),
            ("MaxResults", max_results.as_deref()),
            ("NextToken", request.next_token),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect();
        let attributes = [
            (LookupKey::EventName, request.event_name),
            (LookupKey::User, request.user),
            (LookupKey::EventAccessKeyId, request.access_key_id),
            (LookupKey::ResourceName, request.resource),
            (LookupKey::ResultCode, request.result_code),
        ];
        let given = attributes
            .into_iter()
            .filter_map(|(key, value)| Some((key, value?)));
        for (n, (key, value)) in given.enumerate() {
            params.push((format!("LookupAttribute.{}.Key", n + 1), key.as_str()));
            params.push((format!("LookupAttribute.{}.Value", n + 1), value));
        }
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        required(self.call("LookupEvents", &params).await?)
    }
}
