//! The application family: ListTemplate and GetTemplate, CreateApplication, GetApplication,
//! ListApplication and DeleteApplication. Each takes its typed request, as the route
//! authorized it, and makes one engine call.
//!
//! They only find applications of the caller's account (another account's application is
//! unknown, so nothing leaks across tenants) and, when the request names a
//! `ResourceGroupId`, of that group. Templates are the catalog's, the same for every account.

use bpops_catalog::Template;
use bpops_engine::{ApplicationRequest as NewApplicationRequest, EngineError, Step};
use bpops_protocol::ErrorCode;
use bpops_protocol::applications::{
    ApplicationDetail, ApplicationItem, ApplicationRequest, ApplicationResource,
    CreateApplicationRequest, GetTemplateRequest, ListApplicationRequest, ListTemplateRequest,
    PageRequest, TemplateDetail, TemplateItem, TemplateVariable,
};
use bpops_protocol::signature::format_timestamp;
use bpops_store::{
    Application, ApplicationDeleted, ApplicationOrder, ApplicationQuery, ApplicationStatus, PageOf,
    Resource,
};
use bpops_time::Timestamp;
use serde_json::Value;

use crate::ApiError;
use crate::context::{Ctx, Reply};

pub(crate) fn list_templates(
    ctx: &Ctx<'_>,
    request: &ListTemplateRequest,
) -> Result<Reply, ApiError> {
    let matching: Vec<&Template> = ctx
        .app
        .engine
        .catalog()
        .templates()
        .filter(|t| {
            request
                .keyword
                .as_ref()
                .is_none_or(|k| t.name.contains(k.as_str()))
        })
        .collect();
    let page = request.page;
    let items: Vec<TemplateItem> = matching
        .iter()
        .skip(page_start(page))
        .take(page.size as usize)
        .map(|t| TemplateItem {
            template_id: t.id.clone(),
            name: t.name.clone(),
            description: t.description.clone(),
        })
        .collect();
    let total = matching.len() as u64;
    Reply::page(&items, total, page.next(total))
}

pub(crate) fn get_template(ctx: &Ctx<'_>, request: &GetTemplateRequest) -> Result<Reply, ApiError> {
    let template = ctx
        .app
        .engine
        .catalog()
        .template(&request.template_id)
        .ok_or_else(|| EngineError::UnknownTemplate(request.template_id.clone()))?;
    Reply::data(&TemplateDetail {
        template_id: template.id.clone(),
        name: template.name.clone(),
        description: template.description.clone(),
        variables: template
            .variables
            .iter()
            .map(|v| TemplateVariable {
                variable: v.name.clone(),
                data_type: v.kind.as_str().to_owned(),
                default_value: v.default.as_ref().map(value_text),
                attribute: v.description.clone(),
            })
            .collect(),
    })
}

pub(crate) async fn create(
    ctx: &Ctx<'_>,
    request: CreateApplicationRequest,
) -> Result<Reply, ApiError> {
    let id = ctx
        .app
        .engine
        .create_application(NewApplicationRequest {
            account: ctx.account(),
            name: request.name,
            template_id: request.template_id,
            resource_group: request.resource_group_id,
            area_id: request.area_id,
            variables: request.variables,
            configuration: request.configuration,
            client_token: request.client_token,
        })
        .await?;
    Reply::data(&id)
}

/// Answers for `app`, the application the request names as the route read it (`None`:
/// unknown, deleted, another account's or outside the named group, all answered alike).
pub(crate) async fn get(
    ctx: &Ctx<'_>,
    request: &ApplicationRequest,
    app: Option<Application>,
) -> Result<Reply, ApiError> {
    let app = app.ok_or_else(|| unknown_application(&request.application_id))?;
    let resources = ctx
        .app
        .engine
        .application_resources(&app.account, &app.id)
        .await?;
    Reply::data(&ApplicationDetail {
        create_time: create_time(app.created_at),
        status: app.status.as_str().to_owned(),
        application_id: app.id,
        name: app.name,
        template_id: app.template_id,
        resource_group_id: app.resource_group,
        deploy_percent: app.deploy_percent,
        error: app.error,
        checklist: app.checklist,
        price_list: app.price_list,
        resource_list: resources.into_iter().map(resource).collect(),
    })
}

pub(crate) async fn list(
    ctx: &Ctx<'_>,
    request: ListApplicationRequest,
) -> Result<Reply, ApiError> {
    let statuses = request.status.as_deref().map(statuses).transpose()?;
    let page = request.page;
    let query = ApplicationQuery {
        keyword: request.keyword,
        statuses,
        template_id: request.template_id,
        resource_id: request.resource_id,
        resource_group: request.resource_group_id,
        order: if request.by_creation {
            ApplicationOrder::Created
        } else {
            ApplicationOrder::Updated
        },
        page: Some(PageOf {
            number: page.number,
            size: page.size,
        }),
        ..ApplicationQuery::all(ctx.account())
    };
    let found = ctx.app.engine.list_applications(&query).await?;
    let items: Vec<ApplicationItem> = found
        .applications
        .into_iter()
        .map(|app| ApplicationItem {
            create_time: create_time(app.created_at),
            status: app.status.as_str().to_owned(),
            application_id: app.id,
            name: app.name,
            resource_group_id: app.resource_group,
        })
        .collect();
    Reply::page(&items, found.total, page.next(found.total))
}

pub(crate) async fn delete(
    ctx: &Ctx<'_>,
    request: &ApplicationRequest,
    app: Option<Application>,
) -> Result<Reply, ApiError> {
    let app = app.ok_or_else(|| unknown_application(&request.application_id))?;
    match ctx
        .app
        .engine
        .delete_application(&app.account, &app.id)
        .await?
    {
        ApplicationDeleted::Deleted => Ok(Reply::message("success")),
        // Deleted meanwhile by another request.
        ApplicationDeleted::NotFound => Err(unknown_application(&request.application_id)),
        ApplicationDeleted::Refused(status) => Err(ApiError::new(
            ErrorCode::IncorrectApplicationStatus,
            format!(
                "The application is {} and cannot be deleted: release its resources first.",
                status.as_str()
            ),
        )),
    }
}

/// Starts a lifecycle step on the application the route read, and returns the id of its
/// operation.
pub(crate) async fn step(
    ctx: &Ctx<'_>,
    request: &ApplicationRequest,
    app: Option<Application>,
    step: Step,
) -> Result<String, ApiError> {
    let app = app.ok_or_else(|| unknown_application(&request.application_id))?;
    let started = ctx
        .app
        .engine
        .start_step(
            app.account,
            &app.id,
            step,
            request.client_token.clone(),
            Some(ctx.requester()),
        )
        .await;
    match started {
        Ok(id) => Ok(id.to_string()),
        // Deleted meanwhile by another request.
        Err(EngineError::UnknownApplication(_)) => {
            Err(unknown_application(&request.application_id))
        }
        Err(e) => Err(e.into()),
    }
}

/// `Status` of ListApplication: a status, or BPStudio's shorthands `success` and `release`.
fn statuses(status: &str) -> Result<Vec<ApplicationStatus>, ApiError> {
    match status {
        "success" => Ok(vec![ApplicationStatus::DeployedSuccess]),
        "release" => Ok(vec![
            ApplicationStatus::DestroyedSuccess,
            ApplicationStatus::DestroyedFailure,
        ]),
        other => ApplicationStatus::parse(other)
            .map(|status| vec![status])
            .ok_or_else(|| {
                ApiError::invalid(
                    "Status",
                    "must be success, release, or an application status such as Modified",
                )
            }),
    }
}

/// How many items come before the page.
fn page_start(page: PageRequest) -> usize {
    (page.number as usize - 1).saturating_mul(page.size as usize)
}

/// A time as BPStudio writes `CreateTime`, e.g. `2021-09-15 08:30:00` (UTC).
fn create_time(at: Timestamp) -> String {
    let iso = format_timestamp(at);
    format!("{} {}", &iso[..10], &iso[11..19])
}

/// A variable's value as text (`DefaultValue`, a `VariableList`'s `Value`): a string as
/// itself, anything else as JSON.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// An inventory resource as an element of `ResourceList`.
fn resource(resource: Resource) -> ApplicationResource {
    let text = |name: &str| {
        resource
            .properties
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    ApplicationResource {
        resource_name: text("instance_name").unwrap_or_else(|| resource.key.id.clone()),
        status: text("status").unwrap_or_default(),
        charge_type: text("pay_type"),
        resource_id: resource.key.id.clone(),
        resource_type: resource.key.service.clone(),
        resource_code: resource.key.service.clone(),
    }
}

/// Unknown, deleted, another account's, or outside the named group: one answer for all.
pub(crate) fn unknown_application(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidApplicationIdNotFound,
        format!("The specified application \"{id}\" does not exist."),
    )
}
