//! The operation actions: ExecuteOperationASync and ExecuteOperationSync, GetExecuteOperationResult,
//! and the bpops extensions ListExecuteOperations and CancelExecuteOperation. Each takes its
//! typed request, as the route authorized it, and makes one engine call.
//!
//! They only find operations of the caller's account (another account's operation is unknown,
//! so nothing leaks across tenants) and, when the request names a `ResourceGroupId`, of that
//! group's applications.

use std::time::Duration;

use bpops_engine::{Resolved, STEP_SERVICE};
use bpops_protocol::ErrorCode;
use bpops_protocol::extensions::{
    CancelExecuteOperationRequest, ListExecuteOperationsRequest, OperationItem, OperationPage,
    Submitter,
};
use bpops_protocol::signature::format_timestamp;
use bpops_protocol::wire::{GetExecuteOperationResultRequest, OperationResult};
use bpops_store::{AccountId, Cancelled, ListQuery, Operation, Status, TraceParent};
use bpops_time::Timestamp;

use crate::ApiError;
use crate::context::{Ctx, Reply, next_token, page_start};

pub(crate) async fn execute_async(ctx: &Ctx<'_>, resolved: Resolved) -> Result<Reply, ApiError> {
    let id = ctx.app.engine.submit_resolved(resolved).await?;
    ctx.target.created(id.as_str());
    Reply::data(&id.as_str())
}

pub(crate) async fn execute_sync(ctx: &Ctx<'_>, resolved: Resolved) -> Result<Reply, ApiError> {
    let id = ctx.app.engine.submit_resolved(resolved).await?;
    ctx.target.created(id.as_str());
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
fn result(op: Operation) -> OperationResult {
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

pub(crate) async fn list(
    ctx: &Ctx<'_>,
    request: ListExecuteOperationsRequest,
) -> Result<Reply, ApiError> {
    let account = ctx.principal.account();
    let query = ListQuery {
        account: AccountId::new(account),
        status: request.status.as_deref().and_then(Status::parse),
        service: request.service_type,
        operation: request.operation,
        applications: applications(
            ctx,
            request.application_id,
            request.resource_group_id.as_deref(),
        )
        .await?,
        created_from: request.create_time_start,
        created_before: request.create_time_end,
        expired_before: Timestamp::EPOCH, // set by the engine from the retention
        after: page_start(request.next_token),
        limit: request.max_results,
    };
    let page = ctx.app.engine.list(query).await?;
    Reply::data(&OperationPage {
        operations: page.operations.into_iter().map(item).collect(),
        next_token: next_token(page.next),
        max_results: request.max_results,
    })
}

/// Cancels `op`, the operation the request names as the route read and authorized it (`None`:
/// unknown, expired, malformed, another account's or outside the named group, all answered
/// alike).
pub(crate) async fn cancel(
    ctx: &Ctx<'_>,
    request: &CancelExecuteOperationRequest,
    op: Option<Operation>,
) -> Result<Reply, ApiError> {
    let Some(op) = op else {
        return Err(unknown_operation(&request.operation_id));
    };
    // A final operation never changes: nothing to ask the store.
    if op.status.is_final() {
        return Err(already_final(&op));
    }
    // A lifecycle step moves its application on: cancelled, it would strand the application
    // in its in-progress status, so it runs to its end.
    if op.service == STEP_SERVICE {
        return Err(ApiError::new(
            ErrorCode::IncorrectOperationStatus,
            "The operation is a lifecycle step of an application and cannot be cancelled.",
        ));
    }
    let (account, id) = (ctx.account(), op.id);
    let engine = &ctx.app.engine;
    // N.B. the store reads the operation again under its lock and decides from what it finds
    // then: since the route read it, it may have started, finished, or expired and been swept
    // (not found). The route's checks (the caller's account, the named group) need no
    // repeating: they concern the operation's account and application, which never change.
    match engine.cancel(&account, &id, &ctx.requester()).await? {
        Cancelled::NotFound => Err(unknown_operation(&request.operation_id)),
        Cancelled::AlreadyFinal(op) => Err(already_final(&op)),
        Cancelled::Ended(op) => Reply::data(&result(op)),
        // The node running it stops it: answer once it has (usually at once), or with
        // RUNNING when it takes longer than an ExecuteOperationSync would wait.
        Cancelled::Requested(op) => {
            let waited = engine
                .wait(&account, &id, ctx.app.settings.sync_wait)
                .await?;
            Reply::data(&result(waited.unwrap_or(op)))
        }
    }
}

/// The applications a listing is narrowed to: the one named, the named group's, both (only
/// the named one, if it is in the group), or all (`None`).
async fn applications(
    ctx: &Ctx<'_>,
    application: Option<String>,
    group: Option<&str>,
) -> Result<Option<Vec<String>>, ApiError> {
    let in_group = match group {
        Some(group) => Some(ctx.applications_in_group(group).await?),
        None => None,
    };
    Ok(match (application, in_group) {
        (None, in_group) => in_group,
        (Some(app), None) => Some(vec![app]),
        (Some(app), Some(in_group)) => Some(in_group.into_iter().filter(|a| *a == app).collect()),
    })
}

fn item(op: Operation) -> OperationItem {
    let trace_id = op.trace().map(TraceParent::trace_id);
    let submitted_by = op.submitted_by.map(|by| Submitter {
        account_id: op.account.to_string(),
        user_name: by.user,
        access_key_id: by.access_key_id,
    });
    OperationItem {
        operation_id: op.id.to_string(),
        service_type: op.service,
        operation: op.operation,
        application_id: op.application,
        status: op.status.as_str().to_owned(),
        create_time: format_timestamp(op.created_at),
        finish_time: op.finished_at.map(format_timestamp),
        submitted_by,
        trace_id,
    }
}

/// The refusal to cancel a final operation.
fn already_final(op: &Operation) -> ApiError {
    ApiError::new(
        ErrorCode::IncorrectOperationStatus,
        format!(
            "The operation is already {} and cannot be cancelled.",
            op.status.as_str()
        ),
    )
}

/// Unknown, expired, another account's, or outside the named group: one answer for all.
pub(crate) fn unknown_operation(id: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidOperationIdNotFound,
        format!("The operation \"{id}\" does not exist or has expired."),
    )
}
