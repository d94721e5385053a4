//! The lifecycle steps of an application, as operations of the engine: each is stored in
//! the transaction that moves its application to the step's status, so it is durable,
//! ordered with the application's other steps (they share its resource key) and listed
//! like any operation; a worker runs it and commits the application's new status with the
//! operation's end.

use bpops_catalog::lifecycle::{REGIONS, hourly_price};
use bpops_store::{
    AccountId, Application, ApplicationOutcome, ApplicationStatus, Effect, Finish, NewOperation,
    NewStep, Operation, OperationId, ResourceKey, Status, StepStarted,
};
use serde_json::{Value, json};

use crate::engine::fingerprint;
use crate::{Engine, EngineError, Result};

/// The service type of the steps' operations; reserved, so nobody submits a step by hand.
pub const STEP_SERVICE: &str = "bpstudio";

/// The service of the resource key the steps of one application share.
const STEP_RESOURCE: &str = "application";

/// A lifecycle step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// `ValidateApplication`.
    Validate,
    /// `ValuateApplication`.
    Valuate,
}

impl Step {
    /// Its operation name.
    pub fn operation(self) -> &'static str {
        match self {
            Step::Validate => "validateApplication",
            Step::Valuate => "valuateApplication",
        }
    }

    fn from_operation(name: &str) -> Option<Step> {
        [Step::Validate, Step::Valuate]
            .into_iter()
            .find(|step| step.operation() == name)
    }

    /// The statuses it may start from.
    fn allowed(self) -> &'static [ApplicationStatus] {
        use ApplicationStatus::*;
        match self {
            Step::Validate => &[Modified, VerifiedFailure, VerifiedSuccess],
            Step::Valuate => &[VerifiedSuccess, ValuatingFailure, ValuatingSuccess],
        }
    }

    /// The application's status while it runs.
    fn running(self) -> ApplicationStatus {
        match self {
            Step::Validate => ApplicationStatus::Verifying,
            Step::Valuate => ApplicationStatus::Valuating,
        }
    }
}

impl Engine {
    /// Starts `step` on an application of the account and returns its operation's id. A
    /// reused client token returns the first step's id, or `IdempotentParameterMismatch`
    /// when it was another request; a status the step cannot start from is refused and
    /// nothing changes.
    pub async fn start_step(
        &self,
        account: AccountId,
        application: &str,
        step: Step,
        client_token: Option<String>,
    ) -> Result<OperationId> {
        let operation = NewOperation {
            id: OperationId::random(),
            fingerprint: fingerprint(&[STEP_SERVICE, step.operation(), application]),
            resource: Some(ResourceKey {
                account: account.clone(),
                service: STEP_RESOURCE.to_owned(),
                id: application.to_owned(),
            }),
            account,
            service: STEP_SERVICE.to_owned(),
            operation: step.operation().to_owned(),
            application: Some(application.to_owned()),
            attributes: "{}".to_owned(),
            client_token,
            created_at: self.clock.now(),
        };
        let new = NewStep {
            operation,
            allowed: step.allowed(),
            status: step.running(),
        };
        match self.store.start_step(&new, self.expired_before()).await? {
            StepStarted::Started => {
                self.metrics.submitted(STEP_SERVICE, step.operation());
                Ok(new.operation.id)
            }
            StepStarted::Existing {
                id,
                same_parameters: true,
            } => Ok(id),
            StepStarted::Existing {
                same_parameters: false,
                ..
            } => Err(EngineError::IdempotentParameterMismatch),
            StepStarted::NotFound => Err(EngineError::UnknownApplication(application.to_owned())),
            StepStarted::Refused(status) => Err(EngineError::IncorrectApplicationStatus(status)),
        }
    }

    /// The end of a step's operation, from its application as it is now (`None`: gone).
    pub(crate) fn finish_step(&self, op: &Operation, app: Option<Application>) -> Finish {
        let now = self.clock.now();
        let (Some(step), Some(app)) = (Step::from_operation(&op.operation), app) else {
            return crate::emulated::failure(
                "InvalidApplicationId.NotFound: the application does not exist.".to_owned(),
                now,
            );
        };
        let (status, error, checklist, price_list) = match step {
            Step::Validate => {
                let (error, checklist) = self.validate(&app);
                let status = match error {
                    None => ApplicationStatus::VerifiedSuccess,
                    Some(_) => ApplicationStatus::VerifiedFailure,
                };
                (status, error, Some(checklist), None)
            }
            Step::Valuate => {
                let (error, price_list) = self.valuate(&app);
                let status = match error {
                    None => ApplicationStatus::ValuatingSuccess,
                    Some(_) => ApplicationStatus::ValuatingFailure,
                };
                (status, error, None, Some(price_list))
            }
        };
        let error = error.unwrap_or_default();
        Finish {
            status: if error.is_empty() {
                Status::Success
            } else {
                Status::Failure
            },
            message: error.clone(),
            arguments: json!({"ApplicationId": app.id, "Status": status.as_str()}).to_string(),
            finished_at: now,
            effect: Some(Effect::Application(ApplicationOutcome {
                account: app.account,
                id: app.id,
                status,
                error,
                checklist,
                price_list,
                updated_at: now,
            })),
        }
    }

    /// Checks the application's variables against its template and its region: the first
    /// problem, and a `Checklist` entry per node.
    fn validate(&self, app: &Application) -> (Option<String>, Vec<Value>) {
        let Some(template) = self.catalog.template(&app.template_id) else {
            return (
                Some(format!(
                    "the template \"{}\" does not exist",
                    app.template_id
                )),
                Vec::new(),
            );
        };
        let problem = match template.variables(&app.variables) {
            Err(e) => Some(e.to_string()),
            Ok(_) if !REGIONS.contains(&app.area_id.as_str()) => Some(format!(
                "AreaId \"{}\" is not a region bpops deploys to",
                app.area_id
            )),
            Ok(_) => None,
        };
        let checklist = template
            .nodes
            .iter()
            .map(|node| {
                json!({
                    "ResourceName": node.name,
                    "ResourceCode": node.service,
                    "Region": app.area_id,
                    "Specification": node.specification(&app.variables),
                    "Lifecycle": "Create",
                    "Result": if problem.is_none() { "Success" } else { "Failure" },
                    "Remark": problem.clone().unwrap_or_default(),
                })
            })
            .collect();
        (problem, checklist)
    }

    /// Prices each node of the application's template per hour: the first node without a
    /// price, and a `PriceList` entry per node.
    fn valuate(&self, app: &Application) -> (Option<String>, Vec<Value>) {
        let nodes = self
            .catalog
            .template(&app.template_id)
            .map(|t| t.nodes.as_slice())
            .unwrap_or_default();
        let mut problem = None;
        let price_list = nodes
            .iter()
            .map(|node| {
                let spec = node.specification(&app.variables);
                let price = hourly_price(&node.service, &spec);
                if price.is_none() && problem.is_none() {
                    problem = Some(format!(
                        "no price for {} \"{spec}\" (node \"{}\")",
                        node.service, node.name
                    ));
                }
                json!({
                    "ResourceCode": node.service,
                    "InstanceName": node.name,
                    "Specification": spec,
                    "Region": app.area_id,
                    "Count": 1,
                    "ChargeType": "PostPaid",
                    "Period": 1,
                    "PriceUnit": "CNY/Hour",
                    "OnePrice": price.unwrap_or_default(),
                    "Price": price.unwrap_or_default(),
                    "OriginalPrice": price.unwrap_or_default(),
                    "Lifecycle": "Create",
                    "Remark": if price.is_some() { "" } else { "no price" },
                    "Type": "Hour",
                })
            })
            .collect();
        (problem, price_list)
    }
}
