//! The route table: for each action, what its RAM check is made against and its handler, and
//! the check itself ([`authorize`]): the request context is built here, from the request, the
//! directory and, where the target decides, the target itself, and evaluated by
//! `bpops_iam::authorize`. Applications and their resource groups are read from the store
//! when the request arrives, so one created a moment ago, on any node, is checked like one
//! the configuration declared.
//!
//! N.B. a request is authorized against what it actually reaches, never against what it
//! says it reaches: the application its target belongs to, and that application's resource
//! group, named in the request or not.

use bpops_engine::{Resolved, Step, Submission};
use bpops_iam::{Evaluation, RequestContext};
use bpops_protocol::ErrorCode;
use bpops_protocol::application_changes::ChangeResourceGroupRequest;
use bpops_protocol::applications::ApplicationRequest;
use bpops_protocol::wire::ExecuteOperationRequest;
use bpops_store::{Application, Operation, OperationId};
use serde_json::{Map, Value, json};

use crate::context::{Ctx, Reply};
use crate::request::ActionRequest;
use crate::{
    ApiError, application_changes, applications, audit, catalog, deliveries, history, operations,
    test_clock,
};

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
            authorize(ctx, &Check::operation(ctx, op.as_ref(), group).await?)?;
            operations::get_execute_operation_result(ctx, &request, op).await
        }
        ActionRequest::CancelExecuteOperation(request) => {
            let group = request.resource_group_id.as_deref();
            let op = operation(ctx, &request.operation_id, group).await?;
            authorize(ctx, &Check::operation(ctx, op.as_ref(), group).await?)?;
            operations::cancel(ctx, &request, op).await
        }
        ActionRequest::ListExecuteOperationEvents(request) => {
            // N.B. read and checked exactly as GetExecuteOperationResult, under its own action.
            let group = request.resource_group_id.as_deref();
            let op = operation(ctx, &request.operation_id, group).await?;
            authorize(ctx, &Check::operation(ctx, op.as_ref(), group).await?)?;
            history::list(ctx, &request, op).await
        }
        ActionRequest::ListExecuteOperations(request) => {
            let resource = bpops_iam::virtual_arn(ctx.principal.account());
            let group = request.resource_group_id.as_deref();
            let application = request.application_id.as_deref();
            authorize(
                ctx,
                &Check::listing(ctx, resource, group, application).await?,
            )?;
            operations::list(ctx, request).await
        }
        ActionRequest::ListTemplate(request) => {
            let group = request.resource_group_id.as_deref();
            authorize(ctx, &Check::template(ctx, None, group))?;
            applications::list_templates(ctx, &request)
        }
        ActionRequest::GetTemplate(request) => {
            let group = request.resource_group_id.as_deref();
            authorize(
                ctx,
                &Check::template(ctx, Some(&request.template_id), group),
            )?;
            applications::get_template(ctx, &request)
        }
        ActionRequest::CreateApplication(request) => {
            // Checked against the group it is to be created in, which the request names.
            let group = request.resource_group_id.as_deref();
            authorize(
                ctx,
                &Check {
                    resource: bpops_iam::application_arn(ctx.principal.account(), None),
                    requested_group: group,
                    target_groups: vec![group.map(str::to_owned)],
                    service_type: None,
                    operation: None,
                },
            )?;
            applications::create(ctx, request).await
        }
        ActionRequest::GetApplication(request) => {
            let app = application(ctx, &request).await?;
            authorize(ctx, &Check::application(ctx, app.as_ref(), &request))?;
            applications::get(ctx, &request, app).await
        }
        ActionRequest::ListApplication(request) => {
            let resource = bpops_iam::application_arn(ctx.principal.account(), None);
            let group = request.resource_group_id.as_deref();
            authorize(ctx, &Check::listing(ctx, resource, group, None).await?)?;
            applications::list(ctx, request).await
        }
        ActionRequest::DeleteApplication(request) => {
            let app = application(ctx, &request).await?;
            authorize(ctx, &Check::application(ctx, app.as_ref(), &request))?;
            applications::delete(ctx, &request, app).await
        }
        ActionRequest::ApplicationStep(step, request) => {
            let app = application(ctx, &request).await?;
            authorize(ctx, &Check::application(ctx, app.as_ref(), &request))?;
            let id = applications::step(ctx, &request, app, step).await?;
            ctx.target.created(&id);
            match step {
                // N.B. a string, as the SDK models say: the step's operation id.
                Step::Validate => Reply::data(&id),
                // An integer, as the SDK models say; what BPStudio means by it is not
                // documented: 1 is "started".
                Step::Valuate | Step::Deploy | Step::Release => Reply::data(&1),
            }
        }
        ActionRequest::ChangeResourceGroup(request) => {
            let target = request.new_resource_group_id.as_str();
            if !ctx
                .app
                .directory
                .has_resource_group(ctx.principal.account(), target)
            {
                return Err(ApiError::new(
                    ErrorCode::InvalidResourceGroupIdNotFound,
                    format!("The resource group \"{target}\" does not exist."),
                ));
            }
            loop {
                let app = account_application(ctx, &request.resource_id).await?;
                // Allowed where the application is and where it goes: a grant in one group
                // neither pushes an application out of it nor pulls one into it.
                permit(
                    ctx,
                    &Check::own_group(ctx, app.as_ref(), &request.resource_id),
                )?;
                permit(ctx, &Check::moved_to(ctx, &request))?;
                // N.B. `None`: another move came between the read and this one, so the check
                // above was against a group the application has left; check again.
                if let Some(reply) =
                    application_changes::change_resource_group(ctx, &request, app).await?
                {
                    break Ok(reply);
                }
            }
        }
        ActionRequest::GetApplicationVariables(request) => {
            let app = account_application(ctx, &request.app_id).await?;
            permit(ctx, &Check::own_group(ctx, app.as_ref(), &request.app_id))?;
            application_changes::variables(&request.app_id, app)
        }
        ActionRequest::ReConfigApplication(request) => {
            let app = account_application(ctx, &request.app_id).await?;
            permit(ctx, &Check::own_group(ctx, app.as_ref(), &request.app_id))?;
            application_changes::reconfigure(ctx, request, app).await
        }
        ActionRequest::AdvanceClock(request) => {
            let resource = bpops_iam::test_clock_arn(ctx.principal.account());
            authorize(ctx, &Check::ungrouped(resource))?;
            test_clock::advance(ctx, &request).await
        }
        ActionRequest::LookupEvents(request) => {
            authorize(ctx, &Check::audit(ctx))?;
            audit::lookup::lookup_events(ctx, request).await
        }
        ActionRequest::ListNotificationDeliveries(request) => {
            let op = match &request.operation_id {
                // N.B. read and checked exactly as GetExecuteOperationResult, under its own
                // action.
                Some(id) => {
                    let group = request.resource_group_id.as_deref();
                    let op = operation(ctx, id, group).await?;
                    authorize(ctx, &Check::operation(ctx, op.as_ref(), group).await?)?;
                    op
                }
                None => {
                    let resource = bpops_iam::virtual_arn(ctx.principal.account());
                    let application = request.application_id.as_deref();
                    authorize(
                        ctx,
                        &Check::listing(ctx, resource, None, application).await?,
                    )?;
                    None
                }
            };
            deliveries::list(ctx, &request, op).await
        }
    }
}

/// Whether the caller's policies may allow its action on `resource`, in no resource group or
/// in one of the account's: what the web console asks before it offers a button. A hint,
/// never a permission: each request is authorized on its own as usual.
pub(crate) fn may_be_allowed(ctx: &Ctx<'_>, resource: &str) -> bool {
    let groups = ctx.app.directory.resource_groups(ctx.principal.account());
    let in_groups = groups.into_iter().map(|group| Check {
        requested_group: Some(group),
        target_groups: vec![Some(group.to_owned())],
        ..Check::ungrouped(resource.to_owned())
    });
    std::iter::once(Check::ungrouped(resource.to_owned()))
        .chain(in_groups)
        .any(|check| permit(ctx, &check).is_ok())
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
        Self::ungrouped(bpops_iam::virtual_arn(ctx.principal.account()))
    }

    /// `resource`, in no resource group, and no group named.
    fn ungrouped(resource: String) -> Check<'a> {
        Check {
            resource,
            requested_group: None,
            target_groups: vec![None],
            service_type: None,
            operation: None,
        }
    }

    /// `audit/*`, in no resource group: the account's audit trail, a resource of its own so
    /// that reading the trail can be granted apart from everything else.
    fn audit(ctx: &Ctx<'_>) -> Check<'a> {
        Check {
            resource: bpops_iam::audit_arn(ctx.principal.account()),
            ..Check::virtual_resource(ctx)
        }
    }

    /// `template/{id}` (`template/*` for a listing). Templates are in no resource group: a
    /// group named in the request must exist, and a grant scoped to it does not count.
    fn template(ctx: &Ctx<'_>, template: Option<&str>, requested: Option<&'a str>) -> Check<'a> {
        Check {
            resource: bpops_iam::template_arn(ctx.principal.account(), template),
            requested_group: requested,
            ..Check::virtual_resource(ctx)
        }
    }

    /// `bpstudiovirtual/*`, in the group of the operation's application. An operation that
    /// was not found (or is outside the named group, which answers the same) is authorized
    /// as if it were in the named group: the answer says nothing about it either way.
    async fn operation(
        ctx: &Ctx<'_>,
        op: Option<&Operation>,
        requested: Option<&'a str>,
    ) -> Result<Check<'a>, ApiError> {
        let target_group = match op {
            Some(op) if ctx.decided_by_groups() => ctx.group_of(op.application.as_deref()).await?,
            Some(_) => None,
            None => requested.map(str::to_owned),
        };
        Ok(Check {
            target_groups: vec![target_group],
            requested_group: requested,
            ..Check::virtual_resource(ctx)
        })
    }

    /// `application/{id}`, in the application's group; one that was not found (or is
    /// outside the named group) is authorized as if it were in the named group, as for an
    /// operation.
    fn application(
        ctx: &Ctx<'_>,
        app: Option<&Application>,
        request: &'a ApplicationRequest,
    ) -> Check<'a> {
        let requested = request.resource_group_id.as_deref();
        let target_group = match app {
            Some(app) => app.resource_group.clone(),
            None => requested.map(str::to_owned),
        };
        Check {
            resource: bpops_iam::application_arn(
                ctx.principal.account(),
                Some(&request.application_id),
            ),
            requested_group: requested,
            target_groups: vec![target_group],
            ..Check::virtual_resource(ctx)
        }
    }

    /// `application/{id}` in the application's group, for the actions whose BPStudio
    /// request names the application but has no `ResourceGroupId` (ChangeResourceGroup,
    /// GetApplicationVariables, ReConfigApplication): naming the application names its
    /// group, so a grant scoped to that group counts. One that was not found is authorized
    /// as in no group: the answer says nothing about it either way.
    fn own_group(ctx: &Ctx<'_>, app: Option<&'a Application>, id: &str) -> Check<'a> {
        let group = app.and_then(|app| app.resource_group.as_deref());
        Check {
            resource: bpops_iam::application_arn(ctx.principal.account(), Some(id)),
            requested_group: group,
            target_groups: vec![group.map(str::to_owned)],
            ..Check::virtual_resource(ctx)
        }
    }

    /// `application/{id}` in the group ChangeResourceGroup moves it to, which the request
    /// names.
    fn moved_to(ctx: &Ctx<'_>, request: &'a ChangeResourceGroupRequest) -> Check<'a> {
        let group = request.new_resource_group_id.as_str();
        Check {
            resource: bpops_iam::application_arn(
                ctx.principal.account(),
                Some(&request.resource_id),
            ),
            requested_group: Some(group),
            target_groups: vec![Some(group.to_owned())],
            ..Check::virtual_resource(ctx)
        }
    }

    /// `resource`, in the group of everything the listing may show: the named group, or the
    /// named application's, or (naming neither) every group of the account.
    async fn listing(
        ctx: &Ctx<'_>,
        resource: String,
        requested: Option<&'a str>,
        application: Option<&str>,
    ) -> Result<Check<'a>, ApiError> {
        let target_groups = match (requested, application) {
            (Some(group), _) => vec![Some(group.to_owned())],
            (None, Some(_)) if !ctx.decided_by_groups() => vec![None],
            (None, Some(application)) => vec![ctx.group_of(Some(application)).await?],
            (None, None) => {
                let groups = ctx.app.directory.resource_groups(ctx.principal.account());
                std::iter::once(None)
                    .chain(groups.into_iter().map(|g| Some(g.to_owned())))
                    .collect()
            }
        };
        Ok(Check {
            resource,
            target_groups,
            requested_group: requested,
            ..Check::virtual_resource(ctx)
        })
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
            submitted_by: Some(ctx.requester()),
        })
        .await?;
    let application = resolved.application();
    let place = resolved.application_place();
    let submission = resolved.submission();
    authorize(
        ctx,
        &Check {
            resource: bpops_iam::application_arn(ctx.principal.account(), application),
            requested_group: request.resource_group_id.as_deref(),
            target_groups: vec![place.and_then(|place| place.resource_group.clone())],
            service_type: Some(&submission.service),
            operation: Some(&submission.operation),
        },
    )?;
    let named_exists = match &submission.application {
        None => true,
        Some(named) if Some(named.as_str()) == application => place.is_some(),
        Some(named) => ctx
            .app
            .engine
            .application(&ctx.account(), named)
            .await?
            .is_some(),
    };
    if let (false, Some(named)) = (named_exists, &submission.application) {
        return Err(applications::unknown_application(named));
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
    let Some(op) = ctx.app.engine.get(&ctx.account(), &id).await? else {
        return Ok(None);
    };
    if let Some(group) = group
        && ctx.group_of(op.application.as_deref()).await?.as_deref() != Some(group)
    {
        return Ok(None);
    }
    Ok(Some(op))
}

/// The application the request names in the caller's account, if it exists (not deleted)
/// and is in the named resource group (always, when none is named).
async fn application(
    ctx: &Ctx<'_>,
    request: &ApplicationRequest,
) -> Result<Option<Application>, ApiError> {
    let app = account_application(ctx, &request.application_id).await?;
    Ok(app.filter(|app| {
        request
            .resource_group_id
            .as_deref()
            .is_none_or(|group| app.resource_group.as_deref() == Some(group))
    }))
}

/// The application `id` names in the caller's account, if it exists (not deleted).
async fn account_application(ctx: &Ctx<'_>, id: &str) -> Result<Option<Application>, ApiError> {
    Ok(ctx.app.engine.application(&ctx.account(), id).await?)
}

/// Checks that the group the request names in `ResourceGroupId` exists, then [`permit`]s it.
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
    permit(ctx, check)
}

/// Evaluates the caller's policies against `check`, for each group its target may be in.
fn permit(ctx: &Ctx<'_>, check: &Check<'_>) -> Result<(), ApiError> {
    ctx.target.authorized_against(&check.resource);
    let account = ctx.principal.account();
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
