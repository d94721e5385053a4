//! The catalog actions: ListServices, ListOperations and GetOperationParams.

use bpops_engine::EngineError;
use bpops_protocol::wire::{
    GetOperationParamsRequest, ListOperationsRequest, OperationParams, OperationSummary,
};

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
