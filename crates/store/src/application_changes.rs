//! The records of the intents that change an application after its creation:
//! [`crate::Store::change_resource_group`] and [`crate::Store::reconfigure_application`].
//!
//! Both are one transaction each, with their check: a move only from the group the caller
//! was authorized against, a reconfiguration only from a status that allows it.

use bpops_time::Timestamp;
use serde_json::{Map, Value};

use crate::{AccountId, ApplicationEvent, ApplicationStatus};

/// A move of an application to another resource group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupChange {
    /// The owning account.
    pub account: AccountId,
    /// The application.
    pub id: String,
    /// The group it must still be in (`None`: in no group): the one the request was
    /// authorized against.
    pub from: Option<String>,
    /// The group to move it to.
    pub to: String,
    /// When it moves.
    pub at: Timestamp,
}

/// What [`crate::Store::change_resource_group`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupChanged {
    /// It is in the new group.
    Moved,
    /// The account has no such application (or it was deleted); nothing changed.
    NotFound,
    /// It is no longer in [`GroupChange::from`] (another move came first); nothing changed.
    Elsewhere,
}

/// New values for some of an application's variables.
#[derive(Clone, Debug, PartialEq)]
pub struct Reconfiguration {
    /// The owning account.
    pub account: AccountId,
    /// The application.
    pub id: String,
    /// The new values, by variable name, already checked against its template; the
    /// variables it leaves out keep their values.
    pub variables: Map<String, Value>,
    /// When it changed.
    pub updated_at: Timestamp,
}

impl Reconfiguration {
    /// What notifications are told of it: the names of the variables changed, sorted (not
    /// their values, which may be the tenant's secrets).
    pub fn event(&self) -> ApplicationEvent {
        ApplicationEvent::ApplicationReconfigured {
            variables: self.variables.keys().cloned().collect(),
        }
    }
}

/// What [`crate::Store::reconfigure_application`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reconfigured {
    /// Its variables changed and it is `Modified`, to be validated again.
    Reconfigured,
    /// The account has no such application (or it was deleted); nothing changed.
    NotFound,
    /// Its status does not allow it ([`ApplicationStatus::reconfigurable`]); nothing changed.
    Refused(ApplicationStatus),
}
