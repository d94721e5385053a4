//! The route table: for each action, what its RAM check is made against and its handler, and
//! the check itself ([`guarded`]): the request context is built here, from the request and the
//! directory, and evaluated by `bpops_iam::authorize`.

use std::future::Future;
use std::net::IpAddr;

use bpops_iam::{Evaluation, Principal, RequestContext};
use bpops_protocol::params::Params;
use bpops_protocol::wire::{ExecuteOperationRequest, GetExecuteOperationResultRequest};
use bpops_protocol::{Action, ErrorCode};
use serde_json::{Map, Value, json};

use crate::extensions;
use crate::handlers::{self, Reply};
use crate::{ApiError, App};

/// What an action is authorized against.
enum Target {
    /// `acs:bpstudio::{account}:bpstudiovirtual/*`, in no resource group.
    Virtual,
    /// `acs:bpstudio::{account}:application/{ApplicationId or *}`, in the application's group.
    Application,
    /// `acs:bpstudio::{account}:bpstudiovirtual/*`, in the group of the operation's
    /// application (GetExecuteOperationResult).
    Operation,
    /// `acs:bpstudio::{account}:bpstudiovirtual/*`, in the group the request names in
    /// `ResourceGroupId`: its handler only finds operations of that group's applications
    /// (CancelExecuteOperation, ListExecuteOperations).
    NamedGroup,
}

/// What a handler gets: an authenticated principal and the request's parameters.
pub(crate) struct Ctx<'a> {
    pub app: &'a App,
    pub principal: &'a Principal,
    pub params: &'a Params,
    pub action: Action,
    /// The TCP peer, `acs:SourceIp`.
    pub peer: IpAddr,
}

/// Authorizes and runs `ctx.action`.
pub(crate) async fn route(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    use Target::{Application, NamedGroup, Operation, Virtual};
    match ctx.action {
        Action::ListServices => guarded(ctx, Virtual, handlers::list_services).await,
        Action::ListOperations => guarded(ctx, Virtual, handlers::list_operations).await,
        Action::GetOperationParams => guarded(ctx, Virtual, handlers::get_operation_params).await,
        Action::ExecuteOperationASync => guarded(ctx, Application, handlers::execute_async).await,
        Action::ExecuteOperationSync => guarded(ctx, Application, handlers::execute_sync).await,
        Action::GetExecuteOperationResult => {
            guarded(ctx, Operation, handlers::get_execute_operation_result).await
        }
        Action::ListExecuteOperations => guarded(ctx, NamedGroup, extensions::list).await,
        Action::CancelExecuteOperation => guarded(ctx, NamedGroup, extensions::cancel).await,
    }
}

/// The parts of the request context that depend on the action.
struct Parts {
    resource: String,
    requested_group: Option<String>,
    target_group: Option<String>,
    service_type: Option<String>,
    operation: Option<String>,
}

fn parts(ctx: &Ctx<'_>, target: Target) -> Result<Parts, ApiError> {
    let account = ctx.principal.account();
    let directory = &ctx.app.directory;
    let parts = match target {
        Target::Virtual => Parts {
            resource: bpops_iam::virtual_arn(account),
            requested_group: None,
            target_group: None,
            service_type: None,
            operation: None,
        },
        Target::Application => {
            let request = ExecuteOperationRequest::from_params(ctx.params)?;
            let application = request.application_id.as_deref();
            // An unknown application is in no group; its handler refuses it once authorized.
            let target_group = application
                .and_then(|id| directory.application(account, id))
                .and_then(|a| a.resource_group.clone());
            Parts {
                resource: bpops_iam::application_arn(account, application),
                requested_group: request.resource_group_id,
                target_group,
                service_type: Some(request.service_type),
                operation: Some(request.operation),
            }
        }
        Target::Operation => {
            let request = GetExecuteOperationResultRequest::from_params(ctx.params)?;
            // The operation's group is only known once it is loaded, and the handler answers
            // "does not exist" for an operation outside the named group. So when data is
            // returned, the target is in the named group: authorizing as if it were is exact,
            // needs no second check, and decides before anything is read.
            Parts {
                resource: bpops_iam::virtual_arn(account),
                target_group: request.resource_group_id.clone(),
                requested_group: request.resource_group_id,
                service_type: None,
                operation: None,
            }
        }
        Target::NamedGroup => {
            // As for `Operation`: the handler finds nothing outside the named group, so
            // authorizing as if the target were in it is exact, and decides before any write.
            let group = bpops_protocol::extensions::resource_group_id(ctx.params)?;
            Parts {
                resource: bpops_iam::virtual_arn(account),
                target_group: group.clone(),
                requested_group: group,
                service_type: None,
                operation: None,
            }
        }
    };
    if let Some(group) = &parts.requested_group
        && !directory.has_resource_group(account, group)
    {
        return Err(ApiError::invalid(
            "ResourceGroupId",
            format!("the resource group \"{group}\" does not exist"),
        ));
    }
    Ok(parts)
}

async fn guarded<'a, F, Fut>(
    ctx: &'a Ctx<'a>,
    target: Target,
    handler: F,
) -> Result<Reply, ApiError>
where
    F: FnOnce(&'a Ctx<'a>) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let parts = parts(ctx, target)?;
    let ram_action = ctx.action.ram_action();
    let request = RequestContext {
        action: ram_action,
        resource: &parts.resource,
        source_ip: Some(ctx.peer),
        current_time_ms: ctx.app.engine.clock().now_ms(),
        // bpops serves plain HTTP; a TLS-terminating proxy in front is not trusted to say so.
        secure_transport: false,
        service_type: parts.service_type.as_deref(),
        operation: parts.operation.as_deref(),
        requested_group: parts.requested_group.as_deref(),
        target_group: parts.target_group.as_deref(),
    };
    let grants = ctx.app.directory.grants(ctx.principal);
    match bpops_iam::authorize(ctx.principal, grants, &request) {
        Evaluation::Allow { .. } => handler(ctx).await,
        Evaluation::Deny { kind, by } => {
            if let Some(by) = &by {
                tracing::info!(policy = %by.policy, "denied by policy");
            }
            let mut detail = Map::new();
            detail.insert("AuthAction".into(), json!(ram_action));
            detail.insert("AuthPrincipalType".into(), json!(ctx.principal.kind()));
            detail.insert(
                "AuthPrincipalDisplayName".into(),
                json!(ctx.principal.display_name()),
            );
            detail.insert(
                "AuthPrincipalOwnerId".into(),
                json!(ctx.principal.account()),
            );
            detail.insert("NoPermissionType".into(), json!(kind.as_str()));
            if let Some(by) = by {
                detail.insert("PolicyType".into(), json!(by.policy_type.as_str()));
            }
            Err(ApiError {
                code: ErrorCode::NoPermission,
                message: format!(
                    "You are not authorized to perform {ram_action} on {}.",
                    parts.resource
                ),
                access_denied_detail: Some(Value::Object(detail)),
            })
        }
    }
}
