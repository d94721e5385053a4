//! Identity and access for bpops: who signed a request ([`Directory`], [`Principal`]) and
//! whether that principal may do what it asks ([`authorize`]).
//!
//! Pure: the directory is built once from the configuration and never touches storage, and
//! authorization is a function of the principal and the request. Root keys have full access
//! to their own account and nothing else. RAM users authenticate, but until the RAM policy
//! language lands they hold no grants, so every request of theirs is an implicit deny.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod directory;

pub use directory::{AccessKey, Application, Directory, DirectoryBuilder, Secret};

/// The identity behind a verified AccessKey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The account itself: full access to its own resources.
    Root {
        /// Its account.
        account: String,
    },
    /// A RAM user of an account, whose rights come only from attached policies.
    User {
        /// Its account.
        account: String,
        /// The user's name.
        name: String,
    },
}

impl Principal {
    /// The account the principal acts in.
    pub fn account(&self) -> &str {
        match self {
            Principal::Root { account } | Principal::User { account, .. } => account,
        }
    }

    /// `AuthPrincipalType` of an access-denied answer.
    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Root { .. } => "Account",
            Principal::User { .. } => "SubUser",
        }
    }

    /// `AuthPrincipalDisplayName` of an access-denied answer.
    pub fn display_name(&self) -> &str {
        match self {
            Principal::Root { account } => account,
            Principal::User { name, .. } => name,
        }
    }
}

/// The ARN of an application, the resource of the two Execute actions; `None` gives `*`.
pub fn application_arn(account: &str, application: Option<&str>) -> String {
    format!(
        "acs:bpstudio::{account}:application/{}",
        application.unwrap_or("*")
    )
}

/// The ARN checked by the actions that act on no particular application.
pub fn virtual_arn(account: &str) -> String {
    format!("acs:bpstudio::{account}:bpstudiovirtual/*")
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

/// The outcome of [`authorize`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The request may go on.
    Allow,
    /// The request is refused.
    Deny(DenyKind),
}

/// Decides whether `principal` may perform `action` (for example
/// `bpstudio:GetExecuteOperationResult`) on `resource` (an ARN).
///
/// A root key may do anything in its own account, whatever the action; a RAM user's rights
/// will come from the policies matching `action`, and until those are evaluated it has none.
pub fn authorize(principal: &Principal, _action: &str, resource: &str) -> Decision {
    match principal {
        Principal::Root { account } if arn_account(resource) == Some(account.as_str()) => {
            Decision::Allow
        }
        Principal::Root { .. } | Principal::User { .. } => Decision::Deny(DenyKind::Implicit),
    }
}

/// The account field of `acs:service:region:account:resource`.
fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(5, ':');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("acs"), Some(_), Some(_), Some(account), Some(_)) => Some(account),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(account: &str) -> Principal {
        Principal::Root {
            account: account.into(),
        }
    }

    #[test]
    fn root_may_act_on_its_own_account() {
        let arn = application_arn("1001", Some("APP"));
        assert_eq!(
            authorize(&root("1001"), "bpstudio:ExecuteOperationASync", &arn),
            Decision::Allow
        );
        let arn = virtual_arn("1001");
        assert_eq!(
            authorize(&root("1001"), "bpstudio:ListServices", &arn),
            Decision::Allow
        );
    }

    #[test]
    fn root_is_denied_in_another_account() {
        let arn = virtual_arn("1002");
        assert_eq!(
            authorize(&root("1001"), "bpstudio:ListServices", &arn),
            Decision::Deny(DenyKind::Implicit)
        );
    }

    #[test]
    fn ram_users_hold_no_grant_yet() {
        let user = Principal::User {
            account: "1001".into(),
            name: "reader".into(),
        };
        let arn = virtual_arn("1001");
        assert_eq!(
            authorize(&user, "bpstudio:GetExecuteOperationResult", &arn),
            Decision::Deny(DenyKind::Implicit)
        );
        assert_eq!(user.kind(), "SubUser");
        assert_eq!(user.display_name(), "reader");
    }

    #[test]
    fn arns_have_the_documented_shape() {
        assert_eq!(
            application_arn("1001", None),
            "acs:bpstudio::1001:application/*"
        );
        assert_eq!(virtual_arn("1001"), "acs:bpstudio::1001:bpstudiovirtual/*");
        assert_eq!(
            arn_account("acs:bpstudio::1001:application/x:y"),
            Some("1001")
        );
        assert_eq!(arn_account("*"), None);
    }
}
