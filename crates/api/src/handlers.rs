//! One handler per action: typed parameters in, one engine call, data out.

use std::time::Duration;

use bpops_engine::{EngineError, Resolved};
use bpops_protocol::wire::{
    GetExecuteOperationResultRequest, GetOperationParamsRequest, ListOperationsRequest,
    OperationParams, OperationResult, OperationSummary,
};
use bpops_store::Operation;

use crate::ApiError;
use crate::context::{Ctx, Reply};

pub(crate) fn list_services(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    Reply::data(&ctx.app.engine.catalog().services())
}

pub(crate) fn list_operations(
    ctx: &Ctx<'_>,
    request: &ListOperationsRequest,
) -> Result<Reply, ApiError> {
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
    Reply::data(&summaries)
}

pub(crate) fn get_operation_params(
    ctx: &Ctx<'_>,
    request: &GetOperationParamsRequest,
) -> Result<Reply, ApiError> {
    let entry = ctx
        .app
        .engine
        .catalog()
        .entry(&request.service_type, &request.operation)
        .map_err(EngineError::from)?;
    Reply::data(&OperationParams {
        service: entry.service().to_owned(),
        operation: entry.operation().to_owned(),
        attributes: entry.attributes_schema().clone(),
        properties: entry.properties(),
        outputs: entry.outputs(),
    })
}

pub(crate) async fn execute_async(ctx: &Ctx<'_>, resolved: Resolved) -> Result<Reply, ApiError> {
    let id = ctx.app.engine.submit_resolved(resolved).await?;
    Reply::data(&id.as_str())
}

pub(crate) async fn execute_sync(ctx: &Ctx<'_>, resolved: Resolved) -> Result<Reply, ApiError> {
    let id = ctx.app.engine.submit_resolved(resolved).await?;
    let op = ctx
        .app
        .engine
        .wait(&ctx.account(), &id, ctx.app.settings.sync_wait)
        .await?;
    // The operation was stored a moment ago, so it can only be missing if its retention
    // is shorter than the wait: answer as for any expired operation.
    match op {
        Some(op) => Reply::data(&result(op)),
        None => Ok(not_found()),
    }
}

/// Answers for `op`, the operation the request names as the route read it (`None`: unknown,
/// expired, malformed, another account's or outside the named group, all answered alike).
pub(crate) async fn get_execute_operation_result(
    ctx: &Ctx<'_>,
    request: &GetExecuteOperationResultRequest,
    op: Option<Operation>,
) -> Result<Reply, ApiError> {
    let Some(op) = op else {
        return Ok(not_found());
    };
    if op.status.is_final() || request.wait_seconds == 0 {
        return Reply::data(&result(op));
    }
    let wait = Duration::from_secs(u64::from(request.wait_seconds));
    match ctx.app.engine.wait(&ctx.account(), &op.id, wait).await? {
        Some(op) => Reply::data(&result(op)),
        // It expired while we waited (a retention shorter than the wait).
        None => Ok(not_found()),
    }
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
    Reply::message("The operation does not exist or has expired.")
}
