//! The actions bpops serves, by their wire names, with the RAM action each one is authorized as.
//! The other 19 of the 38 BPStudio actions the SDKs know (wire-protocol.md §1.1) are not
//! served, and [`Action::from_wire`] does not know them either.

use std::fmt;

/// The actions bpops serves, by wire name (note the wire spelling `ExecuteOperationASync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Lists the service types the catalog offers.
    ListServices,
    /// Lists the operations of one service type.
    ListOperations,
    /// Describes the parameters and outputs of one operation.
    GetOperationParams,
    /// Submits an operation and answers with its OperationId at once.
    ExecuteOperationASync,
    /// Submits an operation and waits, up to a bound, for its result.
    ExecuteOperationSync,
    /// Reads the status and result of an operation by its OperationId.
    GetExecuteOperationResult,
    /// Lists the caller's operations, newest first, a page at a time (a bpops extension).
    ListExecuteOperations,
    /// Cancels an operation that has not finished (a bpops extension).
    CancelExecuteOperation,
    /// Lists the events of one operation's history, oldest first (a bpops extension).
    ListExecuteOperationEvents,
    /// Lists the templates applications are created from.
    ListTemplate,
    /// Describes one template and its variables.
    GetTemplate,
    /// Creates an application from a template.
    CreateApplication,
    /// Describes one application and the resources it holds.
    GetApplication,
    /// Lists the caller's applications, a page at a time.
    ListApplication,
    /// Deletes an application that holds no resources.
    DeleteApplication,
    /// Starts validating an application against its template and region.
    ValidateApplication,
    /// Starts pricing an application's resources.
    ValuateApplication,
    /// Starts creating an application's resources.
    DeployApplication,
    /// Starts releasing an application's resources.
    ReleaseApplication,
    /// Moves an application to another resource group.
    ChangeResourceGroup,
    /// Reads the values of an application's variables.
    GetApplicationVariables,
    /// Changes an application's variables before it is deployed.
    ReConfigApplication,
    /// Moves the test clock forward (a bpops extension; only with `[testing] clock`).
    AdvanceClock,
    /// Reads the account's audit trail, newest first (a bpops extension, after ActionTrail).
    LookupEvents,
    /// Lists the webhook deliveries of the caller's operations, oldest first (a bpops
    /// extension).
    ListNotificationDeliveries,
}

impl Action {
    /// Every served action, in the order of the API table in product.md, then the extensions,
    /// then the application family, then the test clock's, the audit trail's and the webhooks'.
    pub const ALL: [Action; 25] = [
        Action::ListServices,
        Action::ListOperations,
        Action::GetOperationParams,
        Action::ExecuteOperationASync,
        Action::ExecuteOperationSync,
        Action::GetExecuteOperationResult,
        Action::ListExecuteOperations,
        Action::CancelExecuteOperation,
        Action::ListExecuteOperationEvents,
        Action::ListTemplate,
        Action::GetTemplate,
        Action::CreateApplication,
        Action::GetApplication,
        Action::ListApplication,
        Action::DeleteApplication,
        Action::ValidateApplication,
        Action::ValuateApplication,
        Action::DeployApplication,
        Action::ReleaseApplication,
        Action::ChangeResourceGroup,
        Action::GetApplicationVariables,
        Action::ReConfigApplication,
        Action::AdvanceClock,
        Action::LookupEvents,
        Action::ListNotificationDeliveries,
    ];

    /// The action with wire name `name`, matched exactly: the SDKs send the names verbatim, and
    /// RAM policies name actions case-sensitively.
    pub fn from_wire(name: &str) -> Option<Action> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == name)
    }

    /// The wire name, as in `x-acs-action` or `Action=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ListServices => "ListServices",
            Action::ListOperations => "ListOperations",
            Action::GetOperationParams => "GetOperationParams",
            Action::ExecuteOperationASync => "ExecuteOperationASync",
            Action::ExecuteOperationSync => "ExecuteOperationSync",
            Action::GetExecuteOperationResult => "GetExecuteOperationResult",
            Action::ListExecuteOperations => "ListExecuteOperations",
            Action::CancelExecuteOperation => "CancelExecuteOperation",
            Action::ListExecuteOperationEvents => "ListExecuteOperationEvents",
            Action::ListTemplate => "ListTemplate",
            Action::GetTemplate => "GetTemplate",
            Action::CreateApplication => "CreateApplication",
            Action::GetApplication => "GetApplication",
            Action::ListApplication => "ListApplication",
            Action::DeleteApplication => "DeleteApplication",
            Action::ValidateApplication => "ValidateApplication",
            Action::ValuateApplication => "ValuateApplication",
            Action::DeployApplication => "DeployApplication",
            Action::ReleaseApplication => "ReleaseApplication",
            Action::ChangeResourceGroup => "ChangeResourceGroup",
            Action::GetApplicationVariables => "GetApplicationVariables",
            Action::ReConfigApplication => "ReConfigApplication",
            Action::AdvanceClock => "AdvanceClock",
            Action::LookupEvents => "LookupEvents",
            Action::ListNotificationDeliveries => "ListNotificationDeliveries",
        }
    }

    /// Whether it stores something (a submit, a cancel, an application), rather than only
    /// reading.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Action::ExecuteOperationASync
                | Action::ExecuteOperationSync
                | Action::CancelExecuteOperation
                | Action::CreateApplication
                | Action::DeleteApplication
                | Action::ValidateApplication
                | Action::ValuateApplication
                | Action::DeployApplication
                | Action::ReleaseApplication
                | Action::ChangeResourceGroup
                | Action::ReConfigApplication
                | Action::AdvanceClock
        )
    }

    /// The RAM action a policy grants for it, `bpstudio:<Name>`.
    pub fn ram_action(self) -> &'static str {
        match self {
            Action::ListServices => "bpstudio:ListServices",
            Action::ListOperations => "bpstudio:ListOperations",
            Action::GetOperationParams => "bpstudio:GetOperationParams",
            Action::ExecuteOperationASync => "bpstudio:ExecuteOperationASync",
            Action::ExecuteOperationSync => "bpstudio:ExecuteOperationSync",
            Action::GetExecuteOperationResult => "bpstudio:GetExecuteOperationResult",
            Action::ListExecuteOperations => "bpstudio:ListExecuteOperations",
            Action::CancelExecuteOperation => "bpstudio:CancelExecuteOperation",
            Action::ListExecuteOperationEvents => "bpstudio:ListExecuteOperationEvents",
            Action::ListTemplate => "bpstudio:ListTemplate",
            Action::GetTemplate => "bpstudio:GetTemplate",
            Action::CreateApplication => "bpstudio:CreateApplication",
            Action::GetApplication => "bpstudio:GetApplication",
            Action::ListApplication => "bpstudio:ListApplication",
            Action::DeleteApplication => "bpstudio:DeleteApplication",
            Action::ValidateApplication => "bpstudio:ValidateApplication",
            Action::ValuateApplication => "bpstudio:ValuateApplication",
            Action::DeployApplication => "bpstudio:DeployApplication",
            Action::ReleaseApplication => "bpstudio:ReleaseApplication",
            Action::ChangeResourceGroup => "bpstudio:ChangeResourceGroup",
            Action::GetApplicationVariables => "bpstudio:GetApplicationVariables",
            Action::ReConfigApplication => "bpstudio:ReConfigApplication",
            Action::AdvanceClock => "bpstudio:AdvanceClock",
            Action::LookupEvents => "bpstudio:LookupEvents",
            Action::ListNotificationDeliveries => "bpstudio:ListNotificationDeliveries",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for action in Action::ALL {
            assert_eq!(Action::from_wire(action.as_str()), Some(action));
            assert_eq!(action.to_string(), action.as_str());
        }
    }

    #[test]
    fn ram_action_is_the_wire_name_in_the_bpstudio_namespace() {
        for action in Action::ALL {
            assert_eq!(action.ram_action(), format!("bpstudio:{action}"));
        }
    }

    #[test]
    fn from_wire_is_exact() {
        assert_eq!(
            Action::from_wire("ExecuteOperationASync"),
            Some(Action::ExecuteOperationASync)
        );
        for name in [
            "ExecuteOperationAsync",
            "listservices",
            " ListServices",
            "deployapplication",
            "",
        ] {
            assert_eq!(Action::from_wire(name), None, "{name:?}");
        }
    }
}
