//! Policy evaluation: a pure function of the request context and the grants attached to the
//! principal, returning the decision and why ([`evaluate`]), and [`authorize`], which adds the
//! root rule.
//!
//! The order is RAM's: an explicit Deny in any applicable statement wins; otherwise an Allow
//! in any applicable statement allows; otherwise the request is implicitly denied.

use std::net::IpAddr;
use std::sync::Arc;

use bpops_time::Timestamp;

use crate::policy::{Effect, Policy};
use crate::{Principal, arn_account};

/// What a request asks, as policies see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestContext<'a> {
    /// The RAM action, e.g. `bpstudio:GetExecuteOperationResult`.
    pub action: &'a str,
    /// The resource ARN the action is checked against.
    pub resource: &'a str,
    /// `acs:SourceIp`: the TCP peer (never a header the client could set).
    pub source_ip: Option<IpAddr>,
    /// `acs:CurrentTime`.
    pub current_time: Timestamp,
    /// `acs:SecureTransport`.
    pub secure_transport: bool,
    /// `bpstudio:ServiceType`, for the Execute actions.
    pub service_type: Option<&'a str>,
    /// `bpstudio:Operation`, for the Execute actions.
    pub operation: Option<&'a str>,
    /// The `ResourceGroupId` the request names.
    pub requested_group: Option<&'a str>,
    /// The resource group the target is in: the group of the application the target
    /// belongs to (see `bpops-api`'s routes for each action).
    pub target_group: Option<&'a str>,
}

/// Where a policy attachment applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every request of the user in its account.
    Account,
    /// Requests whose target is in this resource group. Its Allow statements count only
    /// when the request also names the group in `ResourceGroupId`; its Deny statements
    /// count whether the request names it or not, so leaving the group out never escapes
    /// them.
    ResourceGroup(String),
}

impl Scope {
    fn covers(&self, ctx: &RequestContext<'_>, effect: Effect) -> bool {
        match self {
            Scope::Account => true,
            Scope::ResourceGroup(group) => {
                let targeted = ctx.target_group == Some(group.as_str());
                match effect {
                    Effect::Deny => targeted,
                    Effect::Allow => targeted && ctx.requested_group == Some(group.as_str()),
                }
            }
        }
    }

    fn policy_type(&self) -> PolicyType {
        match self {
            Scope::Account => PolicyType::AccountLevel,
            Scope::ResourceGroup(_) => PolicyType::ResourceGroupLevel,
        }
    }
}

/// A policy attached to a user, with the scope of the attachment.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    /// The policy.
    pub policy: Arc<Policy>,
    /// Where it applies.
    pub scope: Scope,
}

/// `PolicyType` of an access-denied answer: the kind of policy that decided, named as RAM
/// names identity policies by the level they are attached at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyType {
    /// Attached to the user for the whole account.
    AccountLevel,
    /// Attached to the user within one resource group.
    ResourceGroupLevel,
}

impl PolicyType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::AccountLevel => "AccountLevelIdentityBasedPolicy",
            PolicyType::ResourceGroupLevel => "ResourceGroupLevelIdentityBasedPolicy",
        }
    }
}

/// The policy whose statement decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecidedBy {
    /// The policy's name.
    pub policy: String,
    /// Its type.
    pub policy_type: PolicyType,
}

/// Why a request was denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyKind {
    /// No statement allowed it.
    Implicit,
    /// A statement denied it.
    Explicit,
}

impl DenyKind {
    /// `NoPermissionType` of an access-denied answer.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyKind::Implicit => "ImplicitDeny",
            DenyKind::Explicit => "ExplicitDeny",
        }
    }
}

/// The decision, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evaluation {
    /// Allowed by a statement of `by`, or (`None`) because the principal is the account's
    /// root.
    Allow {
        /// The policy that allowed it.
        by: Option<DecidedBy>,
    },
    /// Denied: explicitly by a Deny statement of `by`, or implicitly (`by` is `None`).
    Deny {
        /// Explicit or implicit.
        kind: DenyKind,
        /// The policy that denied it, for an explicit deny.
        by: Option<DecidedBy>,
    },
}

impl Evaluation {
    /// Whether the request may go on.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Evaluation::Allow { .. })
    }

    const IMPLICIT_DENY: Evaluation = Evaluation::Deny {
        kind: DenyKind::Implicit,
        by: None,
    };
}

/// Evaluates the `grants` of a RAM user against `ctx`.
pub fn evaluate(ctx: &RequestContext<'_>, grants: &[Grant]) -> Evaluation {
    let mut allowed_by = None;
    for grant in grants {
        for statement in grant.policy.statements() {
            if !grant.scope.covers(ctx, statement.effect) || !statement.applies(ctx) {
                continue;
            }
            let by = || DecidedBy {
                policy: grant.policy.name().to_owned(),
                policy_type: grant.scope.policy_type(),
            };
            match statement.effect {
                Effect::Deny => {
                    return Evaluation::Deny {
                        kind: DenyKind::Explicit,
                        by: Some(by()),
                    };
                }
                Effect::Allow => {
                    allowed_by.get_or_insert_with(by);
                }
            }
        }
    }
    match allowed_by {
        Some(by) => Evaluation::Allow { by: Some(by) },
        None => Evaluation::IMPLICIT_DENY,
    }
}

/// Decides a request of `principal`: a root key may do anything in its own account and
/// nothing elsewhere, whatever the action (no policy can narrow root, as in RAM); a RAM user
/// gets what its `grants` say, and never anything in another account, whatever a policy's
/// `Resource` says.
pub fn authorize(principal: &Principal, grants: &[Grant], ctx: &RequestContext<'_>) -> Evaluation {
    match principal {
        Principal::Root { account } if arn_account(ctx.resource) == Some(account.as_str()) => {
            Evaluation::Allow { by: None }
        }
        Principal::User { account, .. } if arn_account(ctx.resource) == Some(account.as_str()) => {
            evaluate(ctx, grants)
        }
        Principal::Root { .. } | Principal::User { .. } => Evaluation::IMPLICIT_DENY,
    }
}
