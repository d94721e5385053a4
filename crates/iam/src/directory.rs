//! The directory: accounts, resource groups, applications, users, access keys and the
//! policies attached to users, as declared in the configuration. Built once, validated by the
//! caller, read-only afterwards.

use std::collections::{HashMap, HashSet};

use secrecy::SecretString;

use crate::{Grant, Principal};

/// An AccessKey pair and whom it belongs to.
#[derive(Clone, Debug)]
pub struct AccessKey {
    /// AccessKeyId.
    pub id: String,
    /// AccessKeySecret. Its `Debug` never shows the value, so it cannot reach a log.
    pub secret: SecretString,
    /// The identity it signs for.
    pub principal: Principal,
    /// An inactive key is refused with `InvalidAccessKeyId.Inactive`.
    pub active: bool,
}

/// An application of an account; resources and operations belong to applications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    /// The resource group it belongs to, if any.
    pub resource_group: Option<String>,
}

/// Who exists, read by the request path.
#[derive(Debug, Default)]
pub struct Directory {
    keys: HashMap<String, AccessKey>,
    applications: HashMap<(String, String), Application>,
    resource_groups: HashSet<(String, String)>,
    grants: HashMap<(String, String), Vec<Grant>>,
}

impl Directory {
    /// Starts an empty directory.
    pub fn builder() -> DirectoryBuilder {
        DirectoryBuilder::default()
    }

    /// The key with this AccessKeyId.
    pub fn key(&self, id: &str) -> Option<&AccessKey> {
        self.keys.get(id)
    }

    /// An application of an account.
    pub fn application(&self, account: &str, id: &str) -> Option<&Application> {
        self.applications.get(&(account.to_owned(), id.to_owned()))
    }

    /// The policies attached to `principal`: none for a root key, which needs none.
    pub fn grants(&self, principal: &Principal) -> &[Grant] {
        match principal {
            Principal::Root { .. } => &[],
            Principal::User { account, name } => self
                .grants
                .get(&(account.clone(), name.clone()))
                .map_or(&[], Vec::as_slice),
        }
    }

    /// The ids of the account's applications in resource group `group`, sorted.
    pub fn applications_in_group(&self, account: &str, group: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .applications
            .iter()
            .filter(|((a, _), app)| a == account && app.resource_group.as_deref() == Some(group))
            .map(|((_, id), _)| id.clone())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The account's resource groups, sorted.
    pub fn resource_groups(&self, account: &str) -> Vec<&str> {
        let mut groups: Vec<&str> = self
            .resource_groups
            .iter()
            .filter(|(a, _)| a == account)
            .map(|(_, group)| group.as_str())
            .collect();
        groups.sort_unstable();
        groups
    }

    /// The resource group of an application of the account: `None` for one in no group, or
    /// none at all.
    pub fn group_of(&self, account: &str, application: &str) -> Option<&str> {
        self.application(account, application)?
            .resource_group
            .as_deref()
    }

    /// Whether the account has this resource group.
    pub fn has_resource_group(&self, account: &str, id: &str) -> bool {
        self.resource_groups
            .contains(&(account.to_owned(), id.to_owned()))
    }
}

/// Assembles a [`Directory`]; references are checked by whoever reads the configuration.
#[derive(Debug, Default)]
pub struct DirectoryBuilder {
    directory: Directory,
}

impl DirectoryBuilder {
    /// Adds an access key.
    pub fn key(mut self, key: AccessKey) -> Self {
        self.directory.keys.insert(key.id.clone(), key);
        self
    }

    /// Adds a resource group of an account.
    pub fn resource_group(mut self, account: &str, id: &str) -> Self {
        self.directory
            .resource_groups
            .insert((account.to_owned(), id.to_owned()));
        self
    }

    /// Adds an application of an account.
    pub fn application(mut self, account: &str, id: &str, application: Application) -> Self {
        self.directory
            .applications
            .insert((account.to_owned(), id.to_owned()), application);
        self
    }

    /// Attaches a policy to user `user` of `account`.
    pub fn grant(mut self, account: &str, user: &str, grant: Grant) -> Self {
        self.directory
            .grants
            .entry((account.to_owned(), user.to_owned()))
            .or_default()
            .push(grant);
        self
    }

    /// The finished directory.
    pub fn build(self) -> Directory {
        self.directory
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let key = AccessKey {
            id: "LTAI1".into(),
            secret: SecretString::from("very-secret"),
            principal: Principal::Root {
                account: "1".into(),
            },
            active: true,
        };
        let shown = format!("{key:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("LTAI1"));
    }

    #[test]
    fn applications_are_scoped_to_their_account() {
        let directory = Directory::builder()
            .resource_group("1", "rg")
            .application(
                "1",
                "APP",
                Application {
                    resource_group: Some("rg".into()),
                },
            )
            .build();
        assert!(directory.application("1", "APP").is_some());
        assert!(directory.application("2", "APP").is_none());
        assert!(directory.has_resource_group("1", "rg"));
        assert_eq!(directory.resource_groups("1"), vec!["rg"]);
        assert!(directory.resource_groups("2").is_empty());
        assert_eq!(directory.group_of("1", "APP"), Some("rg"));
        assert_eq!(directory.group_of("2", "APP"), None);
        assert_eq!(directory.applications_in_group("1", "rg"), vec!["APP"]);
        assert!(directory.applications_in_group("2", "rg").is_empty());
        assert!(!directory.has_resource_group("2", "rg"));
    }

    #[test]
    fn grants_belong_to_one_user_of_one_account() {
        let policy = crate::Policy::parse(
            "P",
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        )
        .unwrap();
        let grant = Grant {
            policy: std::sync::Arc::new(policy),
            scope: crate::Scope::Account,
        };
        let directory = Directory::builder().grant("1", "u", grant).build();
        let user = |account: &str, name: &str| Principal::User {
            account: account.into(),
            name: name.into(),
        };
        assert_eq!(directory.grants(&user("1", "u")).len(), 1);
        assert!(directory.grants(&user("2", "u")).is_empty());
        assert!(directory.grants(&user("1", "v")).is_empty());
        let root = Principal::Root {
            account: "1".into(),
        };
        assert!(directory.grants(&root).is_empty());
    }
}
