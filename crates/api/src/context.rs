//! What every handler works with: the request's context ([`Ctx`]) in, a [`Reply`] out.

use std::net::IpAddr;

use bpops_iam::Principal;
use bpops_protocol::Action;
use bpops_store::AccountId;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::{ApiError, App};

/// An authenticated request's context.
pub(crate) struct Ctx<'a> {
    pub app: &'a App,
    pub principal: &'a Principal,
    pub action: Action,
    /// The TCP peer, `acs:SourceIp`.
    pub peer: IpAddr,
}

impl Ctx<'_> {
    /// The caller's account.
    pub(crate) fn account(&self) -> AccountId {
        AccountId::new(self.principal.account())
    }

    /// The resource group of `application` in the caller's account (`None`: in no group, or
    /// no such application).
    pub(crate) fn group_of(&self, application: Option<&str>) -> Option<String> {
        let account = self.principal.account();
        application
            .and_then(|id| self.app.directory.group_of(account, id))
            .map(str::to_owned)
    }
}

/// A successful answer: the envelope's `Message` and `Data` (omitted when `None`), already
/// serialized, so the envelope is written straight to bytes with no JSON tree in between.
pub(crate) struct Reply {
    pub message: String,
    pub data: Option<Box<RawValue>>,
}

impl Reply {
    /// `Message` "success" with `data`.
    pub(crate) fn data(data: &impl Serialize) -> Result<Reply, ApiError> {
        let data = serde_json::value::to_raw_value(data).map_err(ApiError::internal)?;
        Ok(Reply {
            message: "success".to_owned(),
            data: Some(data),
        })
    }

    /// No `Data`, only a `Message`.
    pub(crate) fn message(message: impl Into<String>) -> Reply {
        Reply {
            message: message.into(),
            data: None,
        }
    }
}
