//! Changing an application after its creation: moving it to another resource group, and
//! giving its variables new values before it is deployed. Each is one store intent, whose
//! transaction holds its check, so a move or a reconfiguration racing a lifecycle step (or
//! another of its kind) never leaves the application half changed.

use bpops_store::{Application, GroupChange, GroupChanged, Reconfiguration, Reconfigured};
use serde_json::{Map, Value};

use crate::{Engine, EngineError, Result};

impl Engine {
    /// Moves an application to another resource group, if it is still in `change.from`, the
    /// group the caller was authorized against.
    pub async fn change_resource_group(&self, change: &GroupChange) -> Result<GroupChanged> {
        let changed = self.store.change_resource_group(change).await?;
        self.outbox_written();
        Ok(changed)
    }

    /// Gives some variables of `app` new values, checked against its template, and moves it
    /// back to `Modified`. Refused with `IncorrectApplicationStatus` unless its status allows
    /// it ([`bpops_store::ApplicationStatus::reconfigurable`]).
    pub async fn reconfigure_application(
        &self,
        app: &Application,
        variables: Map<String, Value>,
    ) -> Result<()> {
        // N.B. the status is checked here first, although the store checks it again in its
        // transaction: an application the configuration declared has no template to check
        // the variables against, and is deployed, which is what the caller must hear.
        if !app.status.reconfigurable() {
            return Err(EngineError::IncorrectApplicationStatus(app.status));
        }
        let template = self
            .catalog
            .template(&app.template_id)
            .ok_or_else(|| EngineError::UnknownTemplate(app.template_id.clone()))?;
        template
            .check_values(&variables)
            .map_err(EngineError::InvalidVariable)?;
        let change = Reconfiguration {
            account: app.account.clone(),
            id: app.id.clone(),
            variables,
            updated_at: self.clock.now(),
        };
        let reconfigured = self.store.reconfigure_application(&change).await?;
        self.outbox_written();
        match reconfigured {
            Reconfigured::Reconfigured => Ok(()),
            Reconfigured::NotFound => Err(EngineError::UnknownApplication(app.id.clone())),
            Reconfigured::Refused(status) => Err(EngineError::IncorrectApplicationStatus(status)),
        }
    }
}
