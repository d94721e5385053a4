//! The request pipeline, in its fixed order: bounded read → parameters → authenticate →
//! authorize and dispatch → envelope. Every answer, success or error, is JSON with a fresh
//! RequestId, and every request, whatever its answer, leaves an audit record (and a span,
//! when spans are exported).
//!
//! Two kinds of caller go through it: a request signed with an AccessKey (the API), and the
//! web console's, made with the session of a browser that signed in with one. They differ in
//! the authentication step alone: either way the principal is that key's, and the route
//! table authorizes and answers the request as it does any other.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bpops_iam::{ExposeSecret, Principal};
use bpops_protocol::params::Params;
use bpops_protocol::signature::{self, RawRequest};
use bpops_protocol::wire::{Envelope, ErrorBody};
use bpops_protocol::{API_VERSION, Action, ErrorCode};
use bpops_store::nonces::{NonceCheck, NonceSpend};
use bpops_store::{SUCCESS, StoreError, TraceParent, nonce_expired};
use bpops_telemetry::RequestSpan;
use bpops_time::Timestamp;
use http_body_util::BodyExt;
use serde::Serialize;
use tracing::Instrument;

use crate::audit::Entry;
use crate::context::{Ctx, Reply};
use crate::request::ActionRequest;
use crate::{ApiError, App, Settings};
use crate::{console, routes};

/// The longest `SignatureNonce` accepted: the SDKs send 32 to 36 characters.
const MAX_NONCE_CHARS: usize = 128;

/// How a request proves who makes it.
#[derive(Clone, Copy)]
pub(crate) enum Caller {
    /// Signed with an AccessKey, as the SDKs do.
    Signed,
    /// A web console session's cookie and CSRF token.
    Console,
}

/// Where a request comes from: its TCP peer, and how it proves who makes it.
struct Origin {
    peer: SocketAddr,
    caller: Caller,
}

/// Answers one request from `peer`.
pub(crate) async fn handle(
    app: Arc<App>,
    peer: SocketAddr,
    request: Request,
    caller: Caller,
) -> Response {
    let request_id = request_id();
    let host_id = host(request.headers());
    // A valid `traceparent` puts the request in its caller's trace, as a span of its own;
    // without one it starts a trace, sampled when this server exports its spans.
    let parent = traceparent(request.headers()).and_then(|h| h.parse::<TraceParent>().ok());
    let trace = match parent {
        Some(parent) => parent.child(),
        None => TraceParent::new_trace(app.engine.spans().enabled()),
    };
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        peer = %peer,
        trace_id = %trace.trace_id()
    );
    let deadline = app.settings.request_timeout;
    let started = std::time::Instant::now();
    let arrived = app.engine.clock().now();
    let mut action = None;
    let mut entry = Entry::default();
    let processing = process(
        &app,
        Origin { peer, caller },
        &request_id,
        trace,
        request,
        &mut action,
        &mut entry,
    );
    let outcome = tokio::time::timeout(deadline, processing)
        .instrument(span.clone())
        .await
        .unwrap_or_else(|_| {
            tracing::warn!(parent: &span, timeout = ?deadline, "request timed out");
            Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The request took too long to process; retry later.",
            ))
        });
    let _enter = span.enter();
    let elapsed = started.elapsed();
    let (code, status) = match &outcome {
        Ok(_) => ("200", StatusCode::OK.as_u16()),
        Err(e) => (e.code.as_str(), e.code.http_status()),
    };
    app.metrics
        .request(action.map(Action::as_str), code, elapsed);
    app.engine.spans().request(RequestSpan {
        trace,
        caller: parent,
        action: action.map_or("unknown", Action::as_str),
        request_id: &request_id,
        account: entry.account(),
        status,
        code,
        start: arrived,
        duration: elapsed,
    });
    audit(
        &app,
        entry,
        arrived,
        &request_id,
        peer.ip(),
        outcome.as_ref().err(),
    );
    match outcome {
        Ok((action, reply)) => {
            tracing::info!(action = action.as_str(), "ok");
            let envelope = Envelope {
                total_count: reply.total_count,
                next_token: reply.next_token,
                ..Envelope::ok(request_id.clone(), reply.message, reply.data)
            };
            json(StatusCode::OK, &request_id, &envelope)
        }
        Err(e) => {
            tracing::info!(code = e.code.as_str(), "refused");
            let body = ErrorBody {
                request_id: request_id.clone(),
                host_id,
                code: e.code.as_str().to_owned(),
                message: e.message,
                recommend: recommend(e.code).to_owned(),
                access_denied_detail: e.access_denied_detail,
            };
            let status = StatusCode::from_u16(e.code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json(status, &request_id, &body)
        }
    }
}

/// Runs the pipeline; `action` is set as soon as the request is known to name one, and
/// `entry` gathers the request's audit record as each step learns its part.
async fn process(
    app: &App,
    Origin { peer, caller }: Origin,
    request_id: &str,
    trace: TraceParent,
    request: Request,
    action_seen: &mut Option<Action>,
    entry: &mut Entry,
) -> Result<(Action, Reply), ApiError> {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST && parts.method != Method::GET {
        return Err(ApiError::invalid("method", "use POST (or GET)"));
    }
    let body = tokio::time::timeout(
        app.settings.body_read_timeout,
        read_body(body, &parts.headers, &app.settings),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            ErrorCode::RequestTimeout,
            "The request body was not received in time.",
        )
    })??;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let query = parts.uri.query().unwrap_or("");
    let params =
        Params::parse(query, content_type, &body).map_err(|e| ApiError::invalid("request", e))?;
    if app.trail.enabled() {
        let action_header = parts.headers.get("x-acs-action");
        entry.parameters(&params, action_header.and_then(|v| v.to_str().ok()));
    }

    let (principal, access_key_id, action) = match caller {
        Caller::Signed => authenticate(app, &parts, &body, &params, entry).await?,
        Caller::Console => console::authenticate(app, &parts.headers, &params, entry).await?,
    };
    *action_seen = Some(action);
    let request = ActionRequest::parse(action, &params)?;

    let ctx = Ctx {
        app,
        principal: &principal,
        action,
        peer: peer.ip(),
        access_key_id: &access_key_id,
        request_id,
        trace,
        target: &entry.target,
    };
    let reply = routes::route(&ctx, request).await?;
    Ok((action, reply))
}

/// A fresh RequestId.
pub(crate) fn request_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase()
}

/// Records the audit record `entry` of a request that arrived at `arrived`, refused with
/// `refusal` or answered, when the trail is on. A request refused before its key was looked
/// up is recorded in the account of the key it names.
pub(crate) fn audit(
    app: &App,
    mut entry: Entry,
    arrived: Timestamp,
    request_id: &str,
    peer: IpAddr,
    refusal: Option<&ApiError>,
) {
    if !app.trail.enabled() {
        return;
    }
    // The trail's code of a success is the word, as LookupEvents answers it.
    let (code, status) = match refusal {
        None => (SUCCESS, StatusCode::OK.as_u16()),
        Some(e) => (e.code.as_str(), e.code.http_status()),
    };
    let directory = &app.directory;
    entry.find_account(|key| Some(directory.key(key)?.principal.account().to_owned()));
    let record = entry.into_record(arrived, request_id.to_owned(), peer, code, status);
    app.trail.record(record);
}

/// Reads the body, refusing to read past `settings.max_body`. A longer body is answered
/// `RequestEntityTooLarge` at once, and what the client still sends is discarded meanwhile.
async fn read_body(
    mut body: Body,
    headers: &HeaderMap,
    settings: &Settings,
) -> Result<Bytes, ApiError> {
    let limit = settings.max_body;
    let too_large = |body: Body| {
        tokio::spawn(discard(body, settings.linger_bytes, settings.linger_time));
        ApiError::new(
            ErrorCode::RequestEntityTooLarge,
            format!("The request body is larger than {limit} bytes."),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(body));
    }
    // N.B. grown as bytes arrive, never from the declared length: a declaration costs nothing.
    let mut read = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::invalid("body", format!("it could not be read ({e})")))?;
        if let Some(data) = frame.data_ref() {
            if read.len() + data.len() > limit {
                return Err(too_large(body));
            }
            read.extend_from_slice(data);
        }
    }
    Ok(Bytes::from(read))
}

/// Reads and throws away what a client still sends of a body refused as too large, for at
/// most `time` and `bytes`, then drops it, which closes the connection. Clients that write
/// their whole body before reading (the classic Python SDK) then get the 413 instead of a
/// broken pipe: closing a socket with unread input resets the connection, and the answer with
/// it. This is nginx's lingering close.
async fn discard(mut body: Body, bytes: usize, time: Duration) {
    let mut discarded = 0;
    let _ = tokio::time::timeout(time, async {
        while discarded < bytes {
            match body.frame().await {
                Some(Ok(frame)) => discarded += frame.data_ref().map_or(0, Bytes::len),
                Some(Err(_)) | None => return,
            }
        }
    })
    .await;
}

/// Checks who signed the request and that the signature, clock and nonce are good: the
/// principal, with the AccessKeyId it signed with, and the action. Notes in `entry` who
/// claims to have signed it, and whether that was verified.
async fn authenticate(
    app: &App,
    parts: &Parts,
    body: &[u8],
    params: &Params,
    entry: &mut Entry,
) -> Result<(Principal, String, Action), ApiError> {
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let raw = &RawRequest {
        method: parts.method.as_str(),
        target: parts.uri.path_and_query().map_or("/", |pq| pq.as_str()),
        headers: &headers,
        body,
    };
    let claim = signature::inspect(raw, params)?;
    entry.claimed(claim.action.as_deref(), &claim.access_key_id);
    match claim.version.as_deref() {
        None | Some("") => return Err(ApiError::missing("Version")),
        Some(API_VERSION) => {}
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidVersion,
                format!("The specified version \"{other}\" is not supported; use {API_VERSION}."),
            ));
        }
    }
    let action = action(claim.action.as_deref())?;

    // N.B. the real time, even on a test clock: advancing it must not expire signatures.
    let now = app.engine.clock().real_now();
    let timestamp = signature::parse_timestamp(&claim.timestamp).ok_or_else(|| {
        ApiError::invalid("Timestamp", "expected UTC time as YYYY-MM-DDThh:mm:ssZ")
    })?;
    let skew = app.settings.clock_skew;
    // The nonce is spent until the last millisecond at which this timestamp is accepted, and
    // that is decided by the same rule as the nonce's expiry, so no copy outlives its nonce.
    let expires_at = timestamp + skew;
    let expired = || {
        ApiError::new(
            ErrorCode::InvalidTimeStampExpired,
            format!(
                "The request timestamp {} is more than {} minutes away from the server time.",
                claim.timestamp,
                skew.as_secs() / 60
            ),
        )
    };
    if nonce_expired(expires_at, now) || now < timestamp - skew {
        return Err(expired());
    }

    if claim.nonce.chars().count() > MAX_NONCE_CHARS {
        return Err(ApiError::invalid(
            "SignatureNonce",
            format!("must be at most {MAX_NONCE_CHARS} characters"),
        ));
    }
    let key = app.directory.key(&claim.access_key_id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidAccessKeyIdNotFound,
            "The specified AccessKeyId does not exist.",
        )
    })?;
    entry.key_found(key.principal.account());
    signature::verify(raw, params, &claim, key.secret.expose_secret())?;
    entry.verified(&key.principal);
    if !key.active {
        return Err(ApiError::new(
            ErrorCode::InvalidAccessKeyIdInactive,
            "The specified AccessKeyId is disabled.",
        ));
    }

    // N.B. only a verified request may spend a nonce, so nobody can burn others' nonces or
    // fill the table without a valid key.
    let spend = NonceSpend::new(&claim.access_key_id, &claim.nonce, expires_at);
    match app.nonces.check_and_remember(&spend, now) {
        NonceCheck::Fresh => {}
        NonceCheck::Replayed => return Err(nonce_used()),
        NonceCheck::Full => {
            return Err(ApiError::new(
                ErrorCode::Throttling,
                "Too many requests with this AccessKey; retry later.",
            ));
        }
    }
    // Fresh here; the store tells whether another node sharing it has seen the nonce.
    let spent = match app.store.spend_nonce(&spend, now).await {
        Ok(spent) => spent,
        // A full disk stores no nonce; a read is still served on this node's word (a replay
        // of a read changes nothing), a write is refused like any other write.
        Err(StoreError::Full(cause)) if !action.writes() => {
            tracing::warn!(cause = %cause, "the storage is full: this read's nonce is checked on this node only");
            true
        }
        Err(e) => return Err(e.into()),
    };
    if !spent {
        return Err(nonce_used());
    }
    // A spend that read the clock later than this request may have forgotten the nonce in
    // between (a concurrent request here, or another node): the window is checked again on a
    // clock read after the spend, so a copy is never accepted once its nonce can be forgotten.
    if nonce_expired(expires_at, app.engine.clock().real_now()) {
        return Err(expired());
    }
    Ok((key.principal.clone(), claim.access_key_id, action))
}

/// The action a request names.
pub(crate) fn action(name: Option<&str>) -> Result<Action, ApiError> {
    match name {
        None | Some("") => Err(ApiError::missing("Action")),
        Some(name) => Action::from_wire(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidActionNotFound,
                format!("The specified action \"{name}\" is not valid."),
            )
        }),
    }
}

fn nonce_used() -> ApiError {
    ApiError::new(
        ErrorCode::SignatureNonceUsed,
        "The request signature nonce has been used.",
    )
}

/// The request's `traceparent` header, when it has exactly one that is text: W3C asks that
/// several be treated as none.
fn traceparent(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all("traceparent").iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.to_str().ok(),
        _ => None,
    }
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("bpops")
        .to_owned()
}

fn recommend(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::SignatureDoesNotMatch => {
            "Check the AccessKeySecret, and that nothing between client and server rewrote a signed header."
        }
        ErrorCode::InvalidTimeStampExpired => "Synchronize the client's clock.",
        ErrorCode::SignatureNonceUsed => "Use a new SignatureNonce for every request.",
        ErrorCode::NoPermission => "Ask the account's administrator to grant the action.",
        ErrorCode::Throttling | ErrorCode::ServiceUnavailable => "Retry later.",
        ErrorCode::RequestTimeout => "Send the whole request without pausing.",
        _ => "",
    }
}

pub(crate) fn json(status: StatusCode, request_id: &str, body: &impl Serialize) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-acs-request-id", value);
    }
    response
}
