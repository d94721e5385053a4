//! What every handler works with: the request's context ([`Ctx`]) in, a [`Reply`] out.

use std::net::IpAddr;

use bpops_iam::Principal;
use bpops_protocol::Action;
use bpops_protocol::extensions::PageToken;
use bpops_store::{AccountId, ApplicationQuery, ListCursor, Requester, TraceParent};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::audit::Target;
use crate::{ApiError, App};

/// An authenticated request's context.
pub(crate) struct Ctx<'a> {
    pub app: &'a App,
    pub principal: &'a Principal,
    pub action: Action,
    /// The TCP peer, `acs:SourceIp`.
    pub peer: IpAddr,
    /// The AccessKeyId that signed the request.
    pub access_key_id: &'a str,
    /// The request's RequestId.
    pub request_id: &'a str,
    /// The request's span: in the caller's trace when it sent a valid `traceparent`.
    pub trace: TraceParent,
    /// What the request reaches, for its audit record.
    pub target: &'a Target,
}

impl Ctx<'_> {
    /// The caller's account.
    pub(crate) fn account(&self) -> AccountId {
        AccountId::new(self.principal.account())
    }

    /// Who makes the request, as an operation's history records it.
    pub(crate) fn requester(&self) -> Requester {
        Requester {
            user: match self.principal {
                Principal::User { name, .. } => Some(name.clone()),
                Principal::Root { .. } => None,
            },
            access_key_id: self.access_key_id.to_owned(),
            source_ip: self.peer.to_string(),
            request_id: self.request_id.to_owned(),
            trace: Some(self.trace),
        }
    }

    /// Whether the caller's authorization can depend on resource groups: only a principal
    /// with grants. A root key is allowed everything in its account and a user without
    /// policies nothing, whatever the group, so the group of what they reach need not be read
    /// (which keeps a store read off the hot GetExecuteOperationResult path of root keys).
    pub(crate) fn decided_by_groups(&self) -> bool {
        !self.app.directory.grants(self.principal).is_empty()
    }

    /// The resource group of `application` in the caller's account (`None`: in no group, or
    /// no such application), as the store holds it now.
    pub(crate) async fn group_of(
        &self,
        application: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        let Some(id) = application else {
            return Ok(None);
        };
        let application = self.app.engine.application(&self.account(), id).await?;
        Ok(application.and_then(|a| a.resource_group))
    }

    /// The ids of the caller's applications in resource group `group`.
    pub(crate) async fn applications_in_group(&self, group: &str) -> Result<Vec<String>, ApiError> {
        let query = ApplicationQuery {
            resource_group: Some(group.to_owned()),
            page: None,
            ..ApplicationQuery::all(self.account())
        };
        let page = self.app.engine.list_applications(&query).await?;
        Ok(page.applications.into_iter().map(|a| a.id).collect())
    }
}

/// A successful answer: the envelope's `Message` and `Data` (omitted when `None`), already
/// serialized, so the envelope is written straight to bytes with no JSON tree in between;
/// and for a listing by page number, its `TotalCount` and `NextToken`.
pub(crate) struct Reply {
    pub message: String,
    pub data: Option<Box<RawValue>>,
    pub total_count: Option<u64>,
    pub next_token: Option<u32>,
}

impl Reply {
    /// `Message` "success" with `data`.
    pub(crate) fn data(data: &impl Serialize) -> Result<Reply, ApiError> {
        let data = serde_json::value::to_raw_value(data).map_err(ApiError::internal)?;
        Ok(Reply {
            message: "success".to_owned(),
            data: Some(data),
            total_count: None,
            next_token: None,
        })
    }

    /// `Data` of one page of a listing by page number, with `TotalCount` and `NextToken`.
    pub(crate) fn page(
        data: &impl Serialize,
        total_count: u64,
        next_token: Option<u32>,
    ) -> Result<Reply, ApiError> {
        Ok(Reply {
            total_count: Some(total_count),
            next_token,
            ..Reply::data(data)?
        })
    }

    /// No `Data`, only a `Message`.
    pub(crate) fn message(message: impl Into<String>) -> Reply {
        Reply {
            message: message.into(),
            data: None,
            total_count: None,
            next_token: None,
        }
    }
}

/// Where a listing's page starts, from the request's `NextToken`.
pub(crate) fn page_start(token: Option<PageToken>) -> Option<ListCursor> {
    token.map(|t| ListCursor {
        created_at: t.created_at,
        seq: t.seq,
    })
}

/// The `NextToken` of the page after one that ended at `next`.
pub(crate) fn next_token(next: Option<ListCursor>) -> Option<String> {
    next.map(|c| {
        PageToken {
            created_at: c.created_at,
            seq: c.seq,
        }
        .encode()
    })
}
