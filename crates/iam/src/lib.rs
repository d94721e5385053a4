//! Identity and access for bpops: who signed a request ([`Directory`], [`Principal`]), the RAM
//! policy language ([`Policy`]), and whether a principal may do what it asks ([`authorize`]).
//!
//! Pure: the directory is built once from the configuration and never touches storage, and
//! authorization is a function of the principal, its grants and the request context,
//! returning the decision and why ([`Evaluation`]). Root keys have full access to their own
//! account and nothing else; RAM users have exactly what their attached policies allow, each
//! attachment account-wide or scoped to one resource group ([`Scope`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod condition;
mod directory;
mod evaluate;
mod glob;
mod policy;
mod time;

pub use directory::{AccessKey, Directory, DirectoryBuilder};
pub use evaluate::{
    DecidedBy, DenyKind, Evaluation, Grant, PolicyType, RequestContext, Scope, authorize, evaluate,
};
pub use policy::{Policy, PolicyError, Problem};
/// An AccessKeySecret, and how the signature check reads it.
pub use secrecy::{ExposeSecret, SecretString};

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

/// The ARN of an application, the resource of the Execute actions and of the application
/// family; `None` gives `*`.
pub fn application_arn(account: &str, application: Option<&str>) -> String {
    format!(
        "acs:bpstudio::{account}:application/{}",
        application.unwrap_or("*")
    )
}

/// The ARN of a template, the resource of `ListTemplate` and `GetTemplate`; `None` gives `*`.
pub fn template_arn(account: &str, template: Option<&str>) -> String {
    format!(
        "acs:bpstudio::{account}:template/{}",
        template.unwrap_or("*")
    )
}

/// The ARN of an account's audit trail, the resource of `LookupEvents`.
pub fn audit_arn(account: &str) -> String {
    format!("acs:bpstudio::{account}:audit/*")
}

/// The ARN checked by the actions that act on no particular application.
pub fn virtual_arn(account: &str) -> String {
    format!("acs:bpstudio::{account}:bpstudiovirtual/*")
}

/// The resource `AdvanceClock` is authorized against: the server's test clock, which every
/// account of the server shares.
pub fn test_clock_arn(account: &str) -> String {
    format!("acs:bpstudio::{account}:testclock/*")
}

/// The account field of `acs:service:region:account:resource`.
pub(crate) fn arn_account(arn: &str) -> Option<&str> {
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

    #[test]
    fn principals_describe_themselves_for_access_denied_answers() {
        let user = Principal::User {
            account: "1001".into(),
            name: "reader".into(),
        };
        assert_eq!((user.kind(), user.display_name()), ("SubUser", "reader"));
        let root = Principal::Root {
            account: "1001".into(),
        };
        assert_eq!((root.kind(), root.display_name()), ("Account", "1001"));
    }
}
