//! The request of each action, parsed once: the route authorizes it and its handler answers
//! it, both from the same typed value.

use bpops_engine::Step;
use bpops_protocol::Action;
use bpops_protocol::application_changes::{
    ChangeResourceGroupRequest, GetApplicationVariablesRequest, ReConfigApplicationRequest,
};
use bpops_protocol::applications::{
    ApplicationRequest, CreateApplicationRequest, GetTemplateRequest, ListApplicationRequest,
    ListTemplateRequest,
};
use bpops_protocol::audit::LookupEventsRequest;
use bpops_protocol::deliveries::ListNotificationDeliveriesRequest;
use bpops_protocol::extensions::{CancelExecuteOperationRequest, ListExecuteOperationsRequest};
use bpops_protocol::history::ListExecuteOperationEventsRequest;
use bpops_protocol::params::Params;
use bpops_protocol::test_clock::AdvanceClockRequest;
use bpops_protocol::wire::{
    ExecuteOperationRequest, GetExecuteOperationResultRequest, GetOperationParamsRequest,
    ListOperationsRequest, RequestError,
};

/// One served request, by action.
pub(crate) enum ActionRequest {
    ListServices,
    ListOperations(ListOperationsRequest),
    GetOperationParams(GetOperationParamsRequest),
    ExecuteOperationASync(ExecuteOperationRequest),
    ExecuteOperationSync(ExecuteOperationRequest),
    GetExecuteOperationResult(GetExecuteOperationResultRequest),
    ListExecuteOperations(ListExecuteOperationsRequest),
    CancelExecuteOperation(CancelExecuteOperationRequest),
    ListExecuteOperationEvents(ListExecuteOperationEventsRequest),
    ListTemplate(ListTemplateRequest),
    GetTemplate(GetTemplateRequest),
    CreateApplication(CreateApplicationRequest),
    GetApplication(ApplicationRequest),
    ListApplication(ListApplicationRequest),
    DeleteApplication(ApplicationRequest),
    /// `ValidateApplication`, `ValuateApplication`, `DeployApplication` and
    /// `ReleaseApplication`: the step, and the application it starts on.
    ApplicationStep(Step, ApplicationRequest),
    ChangeResourceGroup(ChangeResourceGroupRequest),
    GetApplicationVariables(GetApplicationVariablesRequest),
    ReConfigApplication(ReConfigApplicationRequest),
    AdvanceClock(AdvanceClockRequest),
    LookupEvents(LookupEventsRequest),
    ListNotificationDeliveries(ListNotificationDeliveriesRequest),
}

impl ActionRequest {
    /// The typed request of `action` from its parameters.
    pub(crate) fn parse(action: Action, params: &Params) -> Result<ActionRequest, RequestError> {
        Ok(match action {
            Action::ListServices => ActionRequest::ListServices,
            Action::ListOperations => {
                ActionRequest::ListOperations(ListOperationsRequest::from_params(params)?)
            }
            Action::GetOperationParams => {
                ActionRequest::GetOperationParams(GetOperationParamsRequest::from_params(params)?)
            }
            Action::ExecuteOperationASync => {
                ActionRequest::ExecuteOperationASync(ExecuteOperationRequest::from_params(params)?)
            }
            Action::ExecuteOperationSync => {
                ActionRequest::ExecuteOperationSync(ExecuteOperationRequest::from_params(params)?)
            }
            Action::GetExecuteOperationResult => ActionRequest::GetExecuteOperationResult(
                GetExecuteOperationResultRequest::from_params(params)?,
            ),
            Action::ListExecuteOperations => ActionRequest::ListExecuteOperations(
                ListExecuteOperationsRequest::from_params(params)?,
            ),
            Action::CancelExecuteOperation => ActionRequest::CancelExecuteOperation(
                CancelExecuteOperationRequest::from_params(params)?,
            ),
            Action::ListExecuteOperationEvents => ActionRequest::ListExecuteOperationEvents(
                ListExecuteOperationEventsRequest::from_params(params)?,
            ),
            Action::ListTemplate => {
                ActionRequest::ListTemplate(ListTemplateRequest::from_params(params)?)
            }
            Action::GetTemplate => {
                ActionRequest::GetTemplate(GetTemplateRequest::from_params(params)?)
            }
            Action::CreateApplication => {
                ActionRequest::CreateApplication(CreateApplicationRequest::from_params(params)?)
            }
            Action::GetApplication => {
                ActionRequest::GetApplication(ApplicationRequest::from_params(params)?)
            }
            Action::ListApplication => {
                ActionRequest::ListApplication(ListApplicationRequest::from_params(params)?)
            }
            Action::DeleteApplication => {
                ActionRequest::DeleteApplication(ApplicationRequest::from_params(params)?)
            }
            Action::ValidateApplication => step(Step::Validate, params)?,
            Action::ValuateApplication => step(Step::Valuate, params)?,
            Action::DeployApplication => step(Step::Deploy, params)?,
            Action::ReleaseApplication => step(Step::Release, params)?,
            Action::ChangeResourceGroup => {
                ActionRequest::ChangeResourceGroup(ChangeResourceGroupRequest::from_params(params)?)
            }
            Action::GetApplicationVariables => ActionRequest::GetApplicationVariables(
                GetApplicationVariablesRequest::from_params(params)?,
            ),
            Action::ReConfigApplication => {
                ActionRequest::ReConfigApplication(ReConfigApplicationRequest::from_params(params)?)
            }
            Action::AdvanceClock => {
                ActionRequest::AdvanceClock(AdvanceClockRequest::from_params(params)?)
            }
            Action::LookupEvents => {
                ActionRequest::LookupEvents(LookupEventsRequest::from_params(params)?)
            }
            Action::ListNotificationDeliveries => ActionRequest::ListNotificationDeliveries(
                ListNotificationDeliveriesRequest::from_params(params)?,
            ),
        })
    }
}

fn step(step: Step, params: &Params) -> Result<ActionRequest, RequestError> {
    Ok(ActionRequest::ApplicationStep(
        step,
        ApplicationRequest::from_params(params)?,
    ))
}
