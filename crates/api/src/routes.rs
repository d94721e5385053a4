//! The route table: for each action, what its RAM check is made against and its handler, and
//! the check itself ([`authorize`]): the request context is built here, from the request, the
//! directory and, where the target decides, the target itself, and evaluated by
//! `bpops_iam::authorize`.
//!
//! N.B. a request is authorized against what it actually reaches, never against what it
//! says it reaches: the application its target belongs to, and that application's resource
//! group, named in the request or not.

use bpops_engine::{Resolved, Submission};
use bpops_iam::{Evaluation, RequestContext};
use bpops_protocol::ErrorCode;
use bpops_protocol::extensions::ListExecuteOperationsRequest;
use bpops_protocol::wire::ExecuteOperationRequest;
use bpops_store::{Operation, OperationId};
use serde_json::{Map, Value, json};

use crate::context::{Ctx, Reply};
use crate::request::ActionRequest;
use crate::{ApiError, catalog, operations};

/// Authorizes and answers `request`.
pub(crate) async fn route(ctx: &Ctx<'_>, request: ActionRequest) -> Result<Reply, ApiError> {
    match request {
        ActionRequest::ListServices => {
            authorize(ctx, &Check::virtual_resource(ctx))?;
            catalog::list_services(ctx)
        }
        ActionRequest::ListOperations(request) => {
            authorize(ctx, &Check::virtual_resource(ctx))?;
            catalog::list_operations(ctx, &request)
        }
        ActionRequest::GetOperationParams(request) => {
            authorize(ctx, &Check::virtual_resource(ctx))?;
            catalog::get_operation_params(ctx, &request)
        }
        ActionRequest::ExecuteOperationASync(request) => {
            operations::execute_async(ctx, execute(ctx, request).await?).await
        }
        ActionRequest::ExecuteOperationSync(request) => {
            operations::execute_sync(ctx, execute(ctx, request).await?).await
        }
        ActionRequest::GetExecuteOperationResult(request) => {
            let group = request.resource_group_id.as_deref();
            let op = operation(ctx, &request.operation_id, group).await?;
            authorize(ctx, &Check::operation(ctx, op.as_ref(), group))?;
            operations::get_execute_operation_result(ctx, &request, op).await
        }
        ActionRequest::CancelExecuteOperation(request) => {
            let group = request.resource_group_id.as_deref();
            let op = operation(ctx, &request.operation_id, group).await?;
            authorize(ctx, &Check::operation(ctx, op.as_ref(), group))?;
            operations::cancel(ctx, &request, op).await
        }
        ActionRequest::ListExecuteOperations(request) => {
            authorize(ctx, &Check::listing(ctx, &request))?;
            operations::list(ctx, request).await
        }
    }
}

/// What a request is authorized against.
struct Check<'a> {
    resource: String,
    requested_group: Option<&'a str>,
    /// The resource group of each target the request reaches (`None`: in no group); it must
    /// be allowed for every one.
    target_groups: Vec<Option<String>>,
    service_type: Option<&'a str>,
    operation: Option<&'a str>,
}

impl<'a> Check<'a> {
    /// `acs:bpstudio::{account}:bpstudiovirtual/*`, in no resource group: the catalog.
    fn virtual_resource(ctx: &Ctx<'_>) -> Check<'a> {
        Check {
            resource: bpops_iam::virtual_arn(ctx.principal.account()),
            requested_group: None,
            target_groups: vec![None],
            service_type: None,
            operation: None,
        }
    }

    /// `bpstudiovirtual/*`, in the group of the operation's application. An operation that
    /// was not found (or is outside the named group, which answers the same) is authorized
    /// as if it were in the named group: the answer says nothing about it either way.
    fn operation(ctx: &Ctx<'_>, op: Option<&Operation>, requested: Option<&'a str>) -> Check<'a> {
        let target_group = match op {
            Some(op) => ctx.group_of(op.application.as_deref()),
            None => requested.map(str::to_owned),
        };
        Check {
            target_groups: vec![target_group],
            requested_group: requested,
            ..Check::virtual_resource(ctx)
        }
    }

    /// `bpstudiovirtual/*`, in the group of every operation the listing may show: the named
    /// group, or the named application's, or (naming neither) every group of the account.
    fn listing(ctx: &Ctx<'_>, request: &'a ListExecuteOperationsRequest) -> Check<'a> {
        let requested = request.resource_group_id.as_deref();
        let target_groups = match (requested, request.application_id.as_deref()) {
            (Some(group), _) => vec![Some(group.to_owned())],
            (None, Some(application)) => vec![ctx.group_of(Some(application))],
            (None, None) => {
                let groups = ctx.app.directory.resource_groups(ctx.principal.account());
                std::iter::once(None)
                    .chain(groups.into_iter().map(|g| Some(g.to_owned())))
                    .collect()
            }
        };
        Check {
            target_groups,
            requested_group: requested,
            ..Check::virtual_resource(ctx)
        }
    }
}

/// Reads the Execute request's target, authorizes the request against the application the
/// target is in (or, when it does not exist, the one the request names), and checks the
/// named application. An `ApplicationId` other than the target's is refused when it is
/// submitted, after this check, so it never widens what the caller may reach.
async fn execute(ctx: &Ctx<'_>, request: ExecuteOperationRequest) -> Result<Resolved, ApiError> {
    let account = ctx.account();
    let resolved = ctx
        .app
        .engine
        .resolve(Submission {
            account,
            service: request.service_type,
            operation: request.operation,
            attributes: request.attributes,
            application: request.application_id,
            client_token: request.client_token,
        })
        .await?;
    let application = resolved.application();
    let submission = resolved.submission();
    authorize(
        ctx,
        &Check {
            resource: bpops_iam::application_arn(ctx.principal.account(), application),
            requested_group: request.resource_group_id.as_deref(),
            target_groups: vec![ctx.group_of(application)],
            service_type: Some(&submission.service),
            operation: Some(&submission.operation),
        },
    )?;
    if let Some(named) = &submission.application
        && ctx
            .app
            .directory
            .application(ctx.principal.account(), named)
            .is_none()
    {
        return Err(ApiError::new(
            ErrorCode::InvalidApplicationIdNotFound,
            format!("The specified application \"{named}\" does not exist."),
        ));
    }
    Ok(resolved)
}

/// The operation `id` names in the caller's account, if it exists, has not expired and is in
/// the named resource group (always, when none is named). A malformed id cannot exist.
async fn operation(
    ctx: &Ctx<'_>,
    id: &str,
    group: Option<&str>,
) -> Result<Option<Operation>, ApiError> {
    let Ok(id) = id.parse::<OperationId>() else {
        return Ok(None);
    };
    let op = ctx.app.engine.get(&ctx.account(), &id).await?;
    Ok(op.filter(|op| {
        group.is_none_or(|g| ctx.group_of(op.application.as_deref()).as_deref() == Some(g))
    }))
}

fn authorize(ctx: &Ctx<'_>, check: &Check<'_>) -> Result<(), ApiError> {
    let account = ctx.principal.account();
    if let Some(group) = check.requested_group
        && !ctx.app.directory.has_resource_group(account, group)
    {
        return Err(ApiError::invalid(
            "ResourceGroupId",
            format!("the resource group \"{group}\" does not exist"),
        ));
    }
    let ram_action = ctx.action.ram_action();
    let grants = ctx.app.directory.grants(ctx.principal);
    let now = ctx.app.engine.clock().now();
    for target_group in &check.target_groups {
        let request = RequestContext {
            action: ram_action,
            resource: &check.resource,
            source_ip: Some(ctx.peer),
            current_time: now,
            // bpops serves plain HTTP; a TLS-terminating proxy in front is not trusted to say so.
            secure_transport: false,
            service_type: check.service_type,
            operation: check.operation,
            requested_group: check.requested_group,
            target_group: target_group.as_deref(),
        };
        if let Evaluation::Deny { kind, by } = bpops_iam::authorize(ctx.principal, grants, &request)
        {
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
            detail.insert("AuthPrincipalOwnerId".into(), json!(account));
            detail.insert("NoPermissionType".into(), json!(kind.as_str()));
            if let Some(by) = by {
                detail.insert("PolicyType".into(), json!(by.policy_type.as_str()));
            }
            return Err(ApiError {
                code: ErrorCode::NoPermission,
                message: format!(
                    "You are not authorized to perform {ram_action} on {}.",
                    check.resource
                ),
                access_denied_detail: Some(Value::Object(detail)),
            });
        }
    }
    Ok(())
}
