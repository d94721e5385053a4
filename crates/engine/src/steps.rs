//! The lifecycle steps of an application, as operations of the engine: each is stored in
//! the transaction that moves its application to the step's status, so it is durable,
//! ordered with the application's other steps (they share its resource key) and listed
//! like any operation; a worker runs it and commits the application's new status with the
//! operation's end.
//!
//! A deploy (a release) creates (deletes) one resource at a time, each in its own write
//! fenced by the attempt ([`bpops_store::Store::progress`]). A resource's id derives from
//! the application and the node, and a create leaves a present resource alone, so an
//! attempt that takes over from one that died never creates a resource twice.

use bpops_catalog::Node;
use bpops_catalog::lifecycle::REGIONS;
use bpops_store::{
    AccountId, Application, ApplicationOutcome, ApplicationStatus, Effect, Finish, NewOperation,
    NewStep, Operation, OperationId, Pool, Progress, Requester, Resource, ResourceKey, Status,
    StepStarted,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::emulated::{failure, injected_failure};
use crate::engine::fingerprint;
use crate::worker::until_answered;
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
    /// `DeployApplication`.
    Deploy,
    /// `ReleaseApplication`.
    Release,
}

impl Step {
    /// Its operation name.
    pub fn operation(self) -> &'static str {
        match self {
            Step::Validate => "validateApplication",
            Step::Valuate => "valuateApplication",
            Step::Deploy => "deployApplication",
            Step::Release => "releaseApplication",
        }
    }

    /// The step whose operation is `name`.
    pub fn from_operation(name: &str) -> Option<Step> {
        [Step::Validate, Step::Valuate, Step::Deploy, Step::Release]
            .into_iter()
            .find(|step| step.operation() == name)
    }

    /// Whether `[[operations.emulation]]` applies to it, per resource: deploying and
    /// releasing.
    pub fn emulated(self) -> bool {
        matches!(self, Step::Deploy | Step::Release)
    }

    /// The statuses it may start from.
    fn allowed(self) -> &'static [ApplicationStatus] {
        use ApplicationStatus::*;
        match self {
            Step::Validate => &[Modified, VerifiedFailure, VerifiedSuccess],
            Step::Valuate => &[VerifiedSuccess, ValuatingFailure, ValuatingSuccess],
            Step::Deploy => &[ValuatingSuccess, DeployedFailure, PartiallyDeployedSuccess],
            Step::Release => &[
                DeployedSuccess,
                PartiallyDeployedSuccess,
                DeployedFailure,
                DestroyedFailure,
                PartiallyDestroyedSuccess,
            ],
        }
    }

    /// The application's status while it runs.
    fn running(self) -> ApplicationStatus {
        match self {
            Step::Validate => ApplicationStatus::Verifying,
            Step::Valuate => ApplicationStatus::Valuating,
            Step::Deploy => ApplicationStatus::Deploying,
            Step::Release => ApplicationStatus::Destroying,
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
        submitted_by: Option<Requester>,
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
            pool: Pool::Step,
            attributes: "{}".to_owned(),
            client_token,
            created_at: self.clock.now(),
            submitted_by,
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

    /// Runs a step's operation on its application as it is now (`None`: gone) and returns
    /// its end, which carries the application's outcome.
    pub(crate) async fn run_step(
        &self,
        op: &Operation,
        app: Option<Application>,
        cancel: &CancellationToken,
    ) -> Finish {
        let (Some(step), Some(app)) = (Step::from_operation(&op.operation), app) else {
            return failure(
                "InvalidApplicationId.NotFound: the application does not exist.".to_owned(),
                self.clock.now(),
            );
        };
        let mut outcome = Outcome::default();
        match step {
            Step::Validate => {
                let (error, checklist) = self.validate(&app);
                outcome.status = match error {
                    None => ApplicationStatus::VerifiedSuccess,
                    Some(_) => ApplicationStatus::VerifiedFailure,
                };
                (outcome.error, outcome.checklist) = (error, Some(checklist));
            }
            Step::Valuate => {
                let (error, price_list) = self.valuate(&app);
                outcome.status = match error {
                    None => ApplicationStatus::ValuatingSuccess,
                    Some(_) => ApplicationStatus::ValuatingFailure,
                };
                (outcome.error, outcome.price_list) = (error, Some(price_list));
            }
            Step::Deploy => match self.deploy(op, &app, cancel).await {
                Some(deployed) => outcome = deployed,
                None => return superseded(self),
            },
            Step::Release => match self.release(op, &app, cancel).await {
                Some(released) => outcome = released,
                None => return superseded(self),
            },
        }
        let now = self.clock.now();
        let Outcome {
            status,
            error,
            checklist,
            price_list,
            deploy_percent,
        } = outcome;
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
                deploy_percent,
                updated_at: now,
            })),
        }
    }

    /// Creates the resource of each node of the application's template that the inventory
    /// does not hold yet, one write each; `None` when the attempt lost its lease or was
    /// cancelled.
    async fn deploy(
        &self,
        op: &Operation,
        app: &Application,
        cancel: &CancellationToken,
    ) -> Option<Outcome> {
        let nodes = self
            .catalog
            .template(&app.template_id)
            .map(|t| t.nodes.clone())
            .unwrap_or_default();
        let mut failed = Vec::new();
        let mut created = 0;
        for node in &nodes {
            let resource = deployed(app, node);
            let present = until_answered(op, "reading the inventory", cancel.cancelled(), || {
                self.store.resource(&resource.key)
            })
            .await?
            .is_some();
            if !present {
                if !self.emulate(op, cancel).await? {
                    failed.push(node.name.as_str());
                    continue;
                }
                let progress = Progress {
                    effect: Effect::Create { resource },
                    application: app.id.clone(),
                    deploy_percent: percent(created + 1, nodes.len()),
                };
                self.write(op, &progress, cancel).await?;
            }
            created += 1;
        }
        let status = match (created, failed.len()) {
            (_, 0) => ApplicationStatus::DeployedSuccess,
            (0, _) => ApplicationStatus::DeployedFailure,
            _ => ApplicationStatus::PartiallyDeployedSuccess,
        };
        Some(Outcome {
            status,
            error: (!failed.is_empty())
                .then(|| format!("InjectedFailure: not created: {}", failed.join(", "))),
            deploy_percent: Some(percent(created, nodes.len())),
            ..Outcome::default()
        })
    }

    /// Deletes every resource the application holds, one write each; `None` when the
    /// attempt lost its lease or was cancelled.
    async fn release(
        &self,
        op: &Operation,
        app: &Application,
        cancel: &CancellationToken,
    ) -> Option<Outcome> {
        let resources = until_answered(op, "reading the inventory", cancel.cancelled(), || {
            self.store.application_resources(&app.account, &app.id)
        })
        .await?;
        let total = resources.len();
        let mut failed = Vec::new();
        let mut released = 0;
        for resource in resources {
            if !self.emulate(op, cancel).await? {
                failed.push(resource.key.id);
                continue;
            }
            released += 1;
            let progress = Progress {
                effect: Effect::Delete { key: resource.key },
                application: app.id.clone(),
                deploy_percent: percent(total - released, total),
            };
            self.write(op, &progress, cancel).await?;
        }
        let status = match (released, failed.len()) {
            (_, 0) => ApplicationStatus::DestroyedSuccess,
            (0, _) => ApplicationStatus::DestroyedFailure,
            _ => ApplicationStatus::PartiallyDestroyedSuccess,
        };
        Some(Outcome {
            status,
            error: (!failed.is_empty())
                .then(|| format!("InjectedFailure: not released: {}", failed.join(", "))),
            // N.B. what a release found is all the application holds: none left is 0 %.
            deploy_percent: Some(if total == 0 {
                0.0
            } else {
                percent(total - released, total)
            }),
            ..Outcome::default()
        })
    }

    /// The latency and failure `[[operations.emulation]]` gives the step's operation, for
    /// one resource: whether it succeeds; `None` when cancelled meanwhile.
    async fn emulate(&self, op: &Operation, cancel: &CancellationToken) -> Option<bool> {
        let emulation = self.settings.emulation(&op.service, &op.operation);
        if !emulation.latency.is_zero() {
            tokio::select! {
                () = self.clock.sleep(emulation.latency) => {}
                () = cancel.cancelled() => return None,
            }
        }
        let clock = self.clock.as_ref();
        Some(injected_failure(&emulation, clock, &op.service, &op.operation).is_none())
    }

    /// One fenced write of the attempt; `None` when it is no longer current.
    async fn write(
        &self,
        op: &Operation,
        progress: &Progress,
        cancel: &CancellationToken,
    ) -> Option<()> {
        let written = until_answered(op, "writing a deployment step", cancel.cancelled(), || {
            self.store.progress(&op.id, op.attempt, progress)
        })
        .await?;
        written.then_some(())
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
                let price = self.settings.prices.hourly(&node.service, &spec);
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

/// How a step leaves its application.
struct Outcome {
    status: ApplicationStatus,
    error: Option<String>,
    checklist: Option<Vec<Value>>,
    price_list: Option<Vec<Value>>,
    deploy_percent: Option<f64>,
}

impl Default for Outcome {
    fn default() -> Outcome {
        Outcome {
            status: ApplicationStatus::Modified,
            error: None,
            checklist: None,
            price_list: None,
            deploy_percent: None,
        }
    }
}

/// The end of an attempt that lost its lease (or was cancelled) midway: its finish is fenced
/// out, so it never reaches the application.
fn superseded(engine: &Engine) -> Finish {
    failure("the attempt was superseded".to_owned(), engine.clock.now())
}

/// `part` of `whole`, in percent (100 when there is nothing to do).
fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 100.0;
    }
    (part as f64 * 100.0 / whole as f64).round()
}

/// Letters and digits of the ids of deployed resources, lower case like the cloud's.
const RESOURCE_ID_ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The resource a node of an application deploys: its id derives from the account, the
/// application and the node (`i-` or `lb-` and 20 lower-case letters and digits), so every
/// attempt of a deploy names the same resource.
fn deployed(app: &Application, node: &Node) -> Resource {
    let digest = Sha256::new()
        .chain_update(app.account.as_str())
        .chain_update([0])
        .chain_update(&app.id)
        .chain_update([0])
        .chain_update(&node.name)
        .finalize();
    let suffix: String = digest
        .iter()
        .take(20)
        .map(|b| RESOURCE_ID_ALPHABET[usize::from(*b) % RESOURCE_ID_ALPHABET.len()] as char)
        .collect();
    let prefix = if node.service == "ecs" { "i-" } else { "lb-" };
    let mut properties = node.resolved(&app.variables);
    properties.insert("region_id".to_owned(), json!(app.area_id));
    Resource {
        key: ResourceKey {
            account: app.account.clone(),
            service: node.service.clone(),
            id: format!("{prefix}{suffix}"),
        },
        application: app.id.clone(),
        properties,
    }
}
