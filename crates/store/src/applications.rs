//! The records of applications: what the store keeps of each one, and what its intents
//! ([`crate::Store::create_application`] and its siblings) take and answer.
//!
//! An application belongs to one account and is named by its id within it. Its name is
//! unique among the account's applications that are not deleted; a deleted application keeps
//! its row (so its id is never reused) but is invisible to every read.

use bpops_time::Timestamp;
use serde_json::{Map, Value};

use crate::{AccountId, NewOperation, OperationId, Resource};

/// Where an application is in its lifecycle, with BPStudio's spellings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApplicationStatus {
    /// Created or reconfigured, not validated since.
    Modified,
    /// Being validated.
    Verifying,
    /// Validation passed.
    VerifiedSuccess,
    /// Validation found problems.
    VerifiedFailure,
    /// Being priced.
    Valuating,
    /// Priced.
    ValuatingSuccess,
    /// Pricing failed.
    ValuatingFailure,
    /// Its resources are being created.
    Deploying,
    /// Every resource was created.
    DeployedSuccess,
    /// No resource could be created.
    DeployedFailure,
    /// Some resources were created, some not.
    PartiallyDeployedSuccess,
    /// Its resources are being released.
    Destroying,
    /// Every resource was released.
    DestroyedSuccess,
    /// No resource could be released.
    DestroyedFailure,
    /// Some resources were released, some not.
    PartiallyDestroyedSuccess,
}

impl ApplicationStatus {
    /// Every status.
    pub const ALL: [ApplicationStatus; 15] = [
        ApplicationStatus::Modified,
        ApplicationStatus::Verifying,
        ApplicationStatus::VerifiedSuccess,
        ApplicationStatus::VerifiedFailure,
        ApplicationStatus::Valuating,
        ApplicationStatus::ValuatingSuccess,
        ApplicationStatus::ValuatingFailure,
        ApplicationStatus::Deploying,
        ApplicationStatus::DeployedSuccess,
        ApplicationStatus::DeployedFailure,
        ApplicationStatus::PartiallyDeployedSuccess,
        ApplicationStatus::Destroying,
        ApplicationStatus::DestroyedSuccess,
        ApplicationStatus::DestroyedFailure,
        ApplicationStatus::PartiallyDestroyedSuccess,
    ];

    /// The wire spelling, e.g. `Deployed_Success`.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::Modified => "Modified",
            ApplicationStatus::Verifying => "Verifying",
            ApplicationStatus::VerifiedSuccess => "Verified_Success",
            ApplicationStatus::VerifiedFailure => "Verified_Failure",
            ApplicationStatus::Valuating => "Valuating",
            ApplicationStatus::ValuatingSuccess => "Valuating_Success",
            ApplicationStatus::ValuatingFailure => "Valuating_Failure",
            ApplicationStatus::Deploying => "Deploying",
            ApplicationStatus::DeployedSuccess => "Deployed_Success",
            ApplicationStatus::DeployedFailure => "Deployed_Failure",
            ApplicationStatus::PartiallyDeployedSuccess => "PartiallyDeployedSuccess",
            ApplicationStatus::Destroying => "Destroying",
            ApplicationStatus::DestroyedSuccess => "Destroyed_Success",
            ApplicationStatus::DestroyedFailure => "Destroyed_Failure",
            ApplicationStatus::PartiallyDestroyedSuccess => "PartiallyDestroyedSuccess",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<ApplicationStatus> {
        ApplicationStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
    }

    /// Whether an application in this status may have its variables changed: only one not
    /// deployed yet, with no step running (the steps read the variables as they run).
    pub fn reconfigurable(self) -> bool {
        matches!(
            self,
            ApplicationStatus::Modified
                | ApplicationStatus::VerifiedSuccess
                | ApplicationStatus::VerifiedFailure
                | ApplicationStatus::ValuatingSuccess
                | ApplicationStatus::ValuatingFailure
        )
    }

    /// Whether an application in this status may be deleted: only one that holds no
    /// resources, because it never deployed (and runs no step) or released them all.
    pub fn deletable(self) -> bool {
        self.reconfigurable() || self == ApplicationStatus::DestroyedSuccess
    }
}

/// A resource with where its application stands, read together: what a submit is authorized
/// against.
#[derive(Clone, Debug, PartialEq)]
pub struct LocatedResource {
    /// The resource.
    pub resource: Resource,
    /// Its application; `None` when that application does not exist (or was deleted).
    pub application: Option<ApplicationPlace>,
}

/// Where an application stands, for authorization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicationPlace {
    /// Its resource group, if any.
    pub resource_group: Option<String>,
}

/// An application, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Application {
    /// The owning account.
    pub account: AccountId,
    /// Its id, unique in the account.
    pub id: String,
    /// Its name, unique among the account's applications that are not deleted.
    pub name: String,
    /// The template it was created from.
    pub template_id: String,
    /// The resource group it is in, if any.
    pub resource_group: Option<String>,
    /// The region it deploys to (`AreaId`), empty when none was given.
    pub area_id: String,
    /// Where it is in its lifecycle.
    pub status: ApplicationStatus,
    /// The template's variables, with the values it was given (defaults filled in).
    pub variables: Map<String, Value>,
    /// Its `Configuration`, as given.
    pub configuration: Map<String, Value>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed (created, or its status moved).
    pub updated_at: Timestamp,
    /// How far its deployment went, 0 to 100.
    pub deploy_percent: f64,
    /// Why its last step failed; empty when it did not.
    pub error: String,
    /// The per-resource results of its last validation (JSON objects).
    pub checklist: Vec<Value>,
    /// The per-resource prices of its last valuation (JSON objects).
    pub price_list: Vec<Value>,
}

impl Application {
    /// An application the configuration declares (or the demo of a first start), as it is
    /// seeded: already deployed, named by its id, from no template (its resources are
    /// declared one by one, not deployed from one).
    pub fn declared(
        account: AccountId,
        id: &str,
        resource_group: Option<String>,
        now: Timestamp,
    ) -> Application {
        Application {
            account,
            id: id.to_owned(),
            name: id.to_owned(),
            template_id: String::new(),
            resource_group,
            area_id: String::new(),
            status: ApplicationStatus::DeployedSuccess,
            variables: Map::new(),
            configuration: Map::new(),
            created_at: now,
            updated_at: now,
            deploy_percent: 100.0,
            error: String::new(),
            checklist: Vec::new(),
            price_list: Vec::new(),
        }
    }
}

/// An application to create, with what makes its creation idempotent.
#[derive(Clone, Debug, PartialEq)]
pub struct NewApplication {
    /// The application, in its first status.
    pub application: Application,
    /// The request's `ClientToken`, if any.
    pub client_token: Option<String>,
    /// A digest of the request's parameters, compared when a client token is reused.
    pub fingerprint: String,
}

/// What [`crate::Store::create_application`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplicationCreated {
    /// The application was stored.
    Created,
    /// The client token is held by an application of the account that is not deleted;
    /// nothing was stored.
    Existing {
        /// The application the token belongs to.
        id: String,
        /// Whether it was created with the same parameters.
        same_parameters: bool,
    },
    /// Another application of the account that is not deleted has this name; nothing was
    /// stored.
    NameInUse,
}

/// What [`crate::Store::delete_application`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplicationDeleted {
    /// It is deleted.
    Deleted,
    /// The account has no such application (or it was deleted already).
    NotFound,
    /// Its status does not allow deletion ([`ApplicationStatus::deletable`]); nothing changed.
    Refused(ApplicationStatus),
}

/// How [`crate::Store::list_applications`] orders applications, newest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplicationOrder {
    /// By the time they last changed.
    Updated,
    /// By the time they were created.
    Created,
}

/// Which applications of an account [`crate::Store::list_applications`] returns: every
/// field narrows the result; `None` does not filter.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplicationQuery {
    /// Whose applications.
    pub account: AccountId,
    /// Only those whose name contains this text (case-sensitively).
    pub keyword: Option<String>,
    /// Only those in one of these statuses.
    pub statuses: Option<Vec<ApplicationStatus>>,
    /// Only those created from this template.
    pub template_id: Option<String>,
    /// Only those holding an inventory resource of this id (of any service).
    pub resource_id: Option<String>,
    /// Only those in this resource group.
    pub resource_group: Option<String>,
    /// The order, newest first; ties in id order.
    pub order: ApplicationOrder,
    /// The page to return; `None` returns them all.
    pub page: Option<PageOf>,
}

impl ApplicationQuery {
    /// Every application of `account`, newest first by creation, in one page.
    pub fn all(account: AccountId) -> ApplicationQuery {
        ApplicationQuery {
            account,
            keyword: None,
            statuses: None,
            template_id: None,
            resource_id: None,
            resource_group: None,
            order: ApplicationOrder::Created,
            page: None,
        }
    }
}

/// A page of a listing by page number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageOf {
    /// Which page, from 1.
    pub number: u32,
    /// How many items a page holds, at least 1.
    pub size: u32,
}

/// One page of [`crate::Store::list_applications`].
#[derive(Clone, Debug, PartialEq)]
pub struct ApplicationPage {
    /// The applications of the page, in the query's order.
    pub applications: Vec<Application>,
    /// How many applications match the query, on every page.
    pub total: u64,
}

/// A lifecycle step to start on an application: its operation, stored only when the
/// application's status allows the step, in the transaction that moves it to `status`.
#[derive(Clone, Debug)]
pub struct NewStep {
    /// The step's operation; its `application` names the application (in its account).
    pub operation: NewOperation,
    /// The statuses the application may be in for the step to start.
    pub allowed: &'static [ApplicationStatus],
    /// The status the application is in while the step runs.
    pub status: ApplicationStatus,
}

/// What [`crate::Store::start_step`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepStarted {
    /// The application moved to the step's status and its operation was stored, `INIT`.
    Started,
    /// The client token was already used; nothing changed.
    Existing {
        /// The operation the token belongs to.
        id: OperationId,
        /// Whether it was submitted with the same parameters.
        same_parameters: bool,
    },
    /// The account has no such application (or it was deleted); nothing changed.
    NotFound,
    /// The application's status does not allow the step; nothing changed.
    Refused(ApplicationStatus),
}

/// How a lifecycle step leaves its application: part of the step's [`crate::Effect`],
/// committed with the operation's final status.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplicationOutcome {
    /// The owning account.
    pub account: AccountId,
    /// The application.
    pub id: String,
    /// Its new status.
    pub status: ApplicationStatus,
    /// Why the step failed; empty when it did not.
    pub error: String,
    /// Its new `Checklist`, when the step makes one.
    pub checklist: Option<Vec<Value>>,
    /// Its new `PriceList`, when the step makes one.
    pub price_list: Option<Vec<Value>>,
    /// Its new `DeployPercent`, when the step changes it.
    pub deploy_percent: Option<f64>,
    /// When it changed.
    pub updated_at: Timestamp,
}
