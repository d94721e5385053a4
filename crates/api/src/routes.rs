//! The route table: for each action, the resource its RAM check names and its handler.

use std::future::Future;

use bpops_iam::{Decision, Principal};
use bpops_protocol::Action;
use bpops_protocol::params::Params;
use serde_json::json;

use crate::handlers::{self, Reply};
use crate::{ApiError, App};
use bpops_protocol::ErrorCode;

/// Which resource ARN an action is authorized against.
enum Scope {
    /// `acs:bpstudio::{account}:bpstudiovirtual/*`
    Virtual,
    /// `acs:bpstudio::{account}:application/{ApplicationId or *}`
    Application,
}

/// What a handler gets: an authenticated principal and the request's parameters.
pub(crate) struct Ctx<'a> {
    pub app: &'a App,
    pub principal: &'a Principal,
    pub params: &'a Params,
    pub action: Action,
}

/// Authorizes and runs `ctx.action`.
pub(crate) async fn route(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    use Scope::{Application, Virtual};
    match ctx.action {
        Action::ListServices => guarded(ctx, Virtual, handlers::list_services).await,
        Action::ListOperations => guarded(ctx, Virtual, handlers::list_operations).await,
        Action::GetOperationParams => guarded(ctx, Virtual, handlers::get_operation_params).await,
        Action::ExecuteOperationASync => guarded(ctx, Application, handlers::execute_async).await,
        Action::ExecuteOperationSync => guarded(ctx, Application, handlers::execute_sync).await,
        Action::GetExecuteOperationResult => {
            guarded(ctx, Virtual, handlers::get_execute_operation_result).await
        }
    }
}

async fn guarded<'a, F, Fut>(ctx: &'a Ctx<'a>, scope: Scope, handler: F) -> Result<Reply, ApiError>
where
    F: FnOnce(&'a Ctx<'a>) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let account = ctx.principal.account();
    let resource = match scope {
        Scope::Virtual => bpops_iam::virtual_arn(account),
        Scope::Application => {
            let application = ctx.params.get("ApplicationId").filter(|a| !a.is_empty());
            bpops_iam::application_arn(account, application)
        }
    };
    let ram_action = ctx.action.ram_action();
    match bpops_iam::authorize(ctx.principal, ram_action, &resource) {
        Decision::Allow => handler(ctx).await,
        Decision::Deny(kind) => Err(ApiError {
            code: ErrorCode::NoPermission,
            message: format!("You are not authorized to perform {ram_action} on {resource}."),
            access_denied_detail: Some(json!({
                "AuthAction": ram_action,
                "AuthPrincipalType": ctx.principal.kind(),
                "AuthPrincipalDisplayName": ctx.principal.display_name(),
                "AuthPrincipalOwnerId": account,
                "NoPermissionType": kind.as_str(),
            })),
        }),
    }
}
