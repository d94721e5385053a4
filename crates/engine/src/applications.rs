//! Applications through the engine: created from a catalog template (variables checked,
//! defaults filled in, `ClientToken` idempotency as for operations), read, listed and
//! deleted. The store holds them, so every node sees an application the moment it is
//! created.

use bpops_store::{
    AccountId, Application, ApplicationCreated, ApplicationDeleted, ApplicationPage,
    ApplicationQuery, ApplicationStatus, NewApplication, Resource,
};
use serde_json::{Map, Value};

use crate::engine::fingerprint;
use crate::{Engine, EngineError, Result};

/// A request to create an application, as the API read it.
#[derive(Clone, Debug)]
pub struct ApplicationRequest {
    /// The account creating it.
    pub account: AccountId,
    /// Its name, already checked against the naming rules.
    pub name: String,
    /// The template to create it from.
    pub template_id: String,
    /// The resource group to create it in, already checked to belong to the account.
    pub resource_group: Option<String>,
    /// The region it deploys to.
    pub area_id: Option<String>,
    /// Values of the template's variables.
    pub variables: Map<String, Value>,
    /// `Configuration`, kept as given.
    pub configuration: Map<String, Value>,
    /// `ClientToken`, for idempotency.
    pub client_token: Option<String>,
}

/// Letters and digits of an application id.
const ID_ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A new application id in BPStudio's shape: 16 upper-case letters and digits (about 82
/// random bits).
fn new_application_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    // N.B. 256 % 36 = 4: the first four symbols are slightly likelier, which costs well
    // under a bit of the id's entropy.
    bytes
        .iter()
        .map(|b| ID_ALPHABET[usize::from(*b) % ID_ALPHABET.len()] as char)
        .collect()
}

impl Engine {
    /// Creates an application in status `Modified` and returns its id. A reused client
    /// token returns the first application's id, or `IdempotentParameterMismatch` when the
    /// parameters differ; a name in use in the account is refused.
    pub async fn create_application(&self, request: ApplicationRequest) -> Result<String> {
        let template = self
            .catalog
            .template(&request.template_id)
            .ok_or_else(|| EngineError::UnknownTemplate(request.template_id.clone()))?;
        let variables = template
            .variables(&request.variables)
            .map_err(EngineError::InvalidVariable)?;
        let variables_text = Value::Object(variables.clone()).to_string();
        let configuration_text = Value::Object(request.configuration.clone()).to_string();
        // N.B. over the variables with their defaults: leaving a variable out or giving its
        // default is the same request.
        let fingerprint = fingerprint(&[
            &request.name,
            &request.template_id,
            request.resource_group.as_deref().unwrap_or(""),
            request.area_id.as_deref().unwrap_or(""),
            &variables_text,
            &configuration_text,
        ]);
        let now = self.clock.now();
        let new = NewApplication {
            application: Application {
                account: request.account,
                id: new_application_id(),
                name: request.name,
                template_id: request.template_id,
                resource_group: request.resource_group,
                area_id: request.area_id.unwrap_or_default(),
                status: ApplicationStatus::Modified,
                variables,
                configuration: request.configuration,
                created_at: now,
                updated_at: now,
                deploy_percent: 0.0,
                error: String::new(),
                checklist: Vec::new(),
                price_list: Vec::new(),
            },
            client_token: request.client_token,
            fingerprint,
        };
        let created = self.store.create_application(&new).await?;
        self.outbox_written();
        match created {
            ApplicationCreated::Created => Ok(new.application.id),
            ApplicationCreated::Existing {
                id,
                same_parameters: true,
            } => Ok(id),
            ApplicationCreated::Existing {
                same_parameters: false,
                ..
            } => Err(EngineError::IdempotentParameterMismatch),
            ApplicationCreated::NameInUse => {
                Err(EngineError::ApplicationNameInUse(new.application.name))
            }
        }
    }

    /// One application of the account; `None` when it does not exist or was deleted.
    pub async fn application(&self, account: &AccountId, id: &str) -> Result<Option<Application>> {
        Ok(self.store.application(account, id).await?)
    }

    /// A page of the account's applications, with how many match.
    pub async fn list_applications(&self, query: &ApplicationQuery) -> Result<ApplicationPage> {
        Ok(self.store.list_applications(query).await?)
    }

    /// The inventory resources an application of the account holds now.
    pub async fn application_resources(
        &self,
        account: &AccountId,
        application: &str,
    ) -> Result<Vec<Resource>> {
        Ok(self
            .store
            .application_resources(account, application)
            .await?)
    }

    /// Deletes an application of the account whose status allows it.
    pub async fn delete_application(
        &self,
        account: &AccountId,
        id: &str,
    ) -> Result<ApplicationDeleted> {
        let deleted = self
            .store
            .delete_application(account, id, self.clock.now())
            .await?;
        self.outbox_written();
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_ids_have_bpstudio_shape_and_differ() {
        let (a, b) = (new_application_id(), new_application_id());
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 16);
            assert!(
                id.bytes()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
                "{id}"
            );
        }
    }
}
