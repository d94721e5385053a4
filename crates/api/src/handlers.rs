//! One handler per action: typed parameters in, one engine call, data out.

use std::time::Duration;

use bpops_engine::{EngineError, Submission};
use bpops_protocol::ErrorCode;
use bpops_protocol::wire::{
    ExecuteOperationRequest, GetExecuteOperationResultRequest, GetOperationParamsRequest,
    ListOperationsRequest, OperationParams, OperationResult, OperationSummary,
};
use bpops_store::{AccountId, Operation, OperationId};
use serde::Serialize;
use serde_json::Value;

use crate::ApiError;
use crate::routes::Ctx;

/// A successful answer: the envelope's `Message` and `Data` (omitted when `None`).
pub(crate) struct Reply {
    pub message: String,
    pub data: Option<Value>,
}

impl Reply {
    fn data(data: impl Serialize) -> Result<Reply, ApiError> {
        let data = serde_json::to_value(data).map_err(ApiError::internal)?;
        Ok(Reply {
            message: "success".to_owned(),
            data: Some(data),
        })
    }
}

fn account(ctx: &Ctx<'_>) -> AccountId {
    AccountId::new(ctx.principal.account())
}

pub(crate) async fn list_services(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    Reply::data(ctx.app.engine.catalog().services())
}

pub(crate) async fn list_operations(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let request = ListOperationsRequest::from_params(ctx.params)?;
    let entries = ctx
        .app
        .engine
        .catalog()
        .operations(&request.service_type)
        .ok_or_else(|| EngineError::UnknownService(request.service_type.clone()))?;
    let summaries: Vec<_> = entries
        .into_iter()
        .map(|e| OperationSummary {
            service: e.service().to_owned(),
            operation: e.operation().to_owned(),
            display_name: e.display_name().to_owned(),
        })
        .collect();
    Reply::data(summaries)
}

pub(crate) async fn get_operation_params(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let request = GetOperationParamsRequest::from_params(ctx.params)?;
    let entry = ctx
        .app
        .engine
        .catalog()
        .entry(&request.service_type, &request.operation)
        .map_err(EngineError::from)?;
    Reply::data(OperationParams {
        service: entry.service().to_owned(),
        operation: entry.operation().to_owned(),
        attributes: entry.attributes_schema().clone(),
        properties: entry.properties(),
        outputs: entry.outputs(),
    })
}

pub(crate) async fn execute_async(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = submit(ctx).await?;
    Reply::data(id.as_str())
}

pub(crate) async fn execute_sync(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let id = submit(ctx).await?;
    let op = ctx
        .app
        .engine
        .wait(&account(ctx), &id, ctx.app.settings.sync_wait)
        .await?;
    // The operation was stored a moment ago, so it can only be missing if its retention
    // is shorter than the wait: answer as for any expired operation.
    match op {
        Some(op) => Reply::data(result(op)),
        None => Ok(not_found()),
    }
}

pub(crate) async fn get_execute_operation_result(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let request = GetExecuteOperationResultRequest::from_params(ctx.params)?;
    // A malformed id cannot exist: same answer as for an unknown one, so nothing leaks.
    let Ok(id) = request.operation_id.parse::<OperationId>() else {
        return Ok(not_found());
    };
    let account = account(ctx);
    let op = match ctx.app.engine.get(&account, &id).await? {
        // N.B. the route authorized this request as if the operation were in the named group
        // (routes.rs, `Target::Operation`): answering for one outside it would be a leak.
        Some(op) if in_group(ctx, &op, request.resource_group_id.as_deref()) => op,
        Some(_) | None => return Ok(not_found()),
    };
    if op.status.is_final() || request.wait_seconds == 0 {
        return Reply::data(result(op));
    }
    let wait = Duration::from_secs(u64::from(request.wait_seconds));
    match ctx.app.engine.wait(&account, &id, wait).await? {
        Some(op) => Reply::data(result(op)),
        // It expired while we waited (a retention shorter than the wait).
        None => Ok(not_found()),
    }
}

/// Whether `op` is in the resource group the request names (always, when it names none):
/// the group of the operation's application.
fn in_group(ctx: &Ctx<'_>, op: &Operation, group: Option<&str>) -> bool {
    let Some(group) = group else { return true };
    op.application
        .as_deref()
        .and_then(|app| ctx.app.directory.application(op.account.as_str(), app))
        .is_some_and(|app| app.resource_group.as_deref() == Some(group))
}

async fn submit(ctx: &Ctx<'_>) -> Result<OperationId, ApiError> {
    let request = ExecuteOperationRequest::from_params(ctx.params)?;
    let account = account(ctx);
    if let Some(application) = &request.application_id
        && ctx
            .app
            .directory
            .application(account.as_str(), application)
            .is_none()
    {
        return Err(ApiError::new(
            ErrorCode::InvalidApplicationIdNotFound,
            format!("The specified application \"{application}\" does not exist."),
        ));
    }
    let id = ctx
        .app
        .engine
        .submit(Submission {
            account,
            service: request.service_type,
            operation: request.operation,
            attributes: request.attributes,
            application: request.application_id,
            client_token: request.client_token,
        })
        .await?;
    Ok(id)
}

/// The wire form of an operation's result, as every action that answers with one gives it.
pub(crate) fn result(op: Operation) -> OperationResult {
    OperationResult {
        operation_id: op.id.to_string(),
        status: op.status.as_str().to_owned(),
        message: op.message,
        arguments: op.arguments,
    }
}

/// The answer for an id that never existed, expired, or belongs to another account.
fn not_found() -> Reply {
    Reply {
        message: "The operation does not exist or has expired.".to_owned(),
        data: None,
    }
}
