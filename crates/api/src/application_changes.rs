//! ChangeResourceGroup, GetApplicationVariables and ReConfigApplication: each takes the
//! application the route read and authorized (`None`: unknown, deleted or another account's,
//! all answered alike) and makes one engine call.

use bpops_engine::EngineError;
use bpops_protocol::ErrorCode;
use bpops_protocol::application_changes::{
    ApplicationVariables, ChangeResourceGroupRequest, ReConfigApplicationRequest, VariableValue,
};
use bpops_store::{Application, GroupChange, GroupChanged};

use crate::ApiError;
use crate::applications::{unknown_application, value_text};
use crate::context::{Ctx, Reply};

/// Moves the application to the request's new group; `None` when it was no longer in the
/// group the route authorized the request against (another move came first), so the route
/// must authorize it again.
pub(crate) async fn change_resource_group(
    ctx: &Ctx<'_>,
    request: &ChangeResourceGroupRequest,
    app: Option<Application>,
) -> Result<Option<Reply>, ApiError> {
    let app = app.ok_or_else(|| unknown_application(&request.resource_id))?;
    let change = GroupChange {
        account: app.account,
        id: app.id,
        from: app.resource_group,
        to: request.new_resource_group_id.clone(),
        at: ctx.app.engine.clock().now(),
    };
    match ctx.app.engine.change_resource_group(&change).await? {
        // `Data` is an empty string: BPStudio's reference says it carries no business data.
        GroupChanged::Moved => Ok(Some(Reply::data(&"")?)),
        // Deleted meanwhile by another request.
        GroupChanged::NotFound => Err(unknown_application(&request.resource_id)),
        GroupChanged::Elsewhere => Ok(None),
    }
}

/// `Data`: one element, the application (the one instance of its template) with every
/// variable it holds.
pub(crate) fn variables(app_id: &str, app: Option<Application>) -> Result<Reply, ApiError> {
    let app = app.ok_or_else(|| unknown_application(app_id))?;
    let variable_list = app
        .variables
        .iter()
        .map(|(name, value)| VariableValue {
            variable: format!("${{{name}}}"),
            value: value_text(value),
        })
        .collect();
    Reply::data(&[ApplicationVariables {
        instance_id: app.id,
        variable_list,
    }])
}

pub(crate) async fn reconfigure(
    ctx: &Ctx<'_>,
    request: ReConfigApplicationRequest,
    app: Option<Application>,
) -> Result<Reply, ApiError> {
    let app = app.ok_or_else(|| unknown_application(&request.app_id))?;
    match ctx
        .app
        .engine
        .reconfigure_application(&app, request.variables)
        .await
    {
        Ok(()) => Ok(Reply::message("success")),
        Err(EngineError::IncorrectApplicationStatus(status)) => Err(ApiError::new(
            ErrorCode::IncorrectApplicationStatus,
            format!(
                "The application is {}: its variables change only before it is deployed, \
                 while no step runs.",
                status.as_str()
            ),
        )),
        Err(e) => Err(e.into()),
    }
}
