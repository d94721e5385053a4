//! The directory: resource groups, users, access keys and the policies attached to users,
//! as declared in the configuration. Built once, validated by the caller, read-only
//! afterwards. Applications are not here: they are created at run time, so the store holds
//! them.

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

/// Who exists, read by the request path.
#[derive(Debug, Default)]
pub struct Directory {
    keys: HashMap<String, AccessKey>,
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
    fn resource_groups_are_scoped_to_their_account() {
        let directory = Directory::builder().resource_group("1", "rg").build();
        assert!(directory.has_resource_group("1", "rg"));
        assert!(!directory.has_resource_group("2", "rg"));
        assert_eq!(directory.resource_groups("1"), vec!["rg"]);
        assert!(directory.resource_groups("2").is_empty());
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
