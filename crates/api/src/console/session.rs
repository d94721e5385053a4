//! Console sessions: signing in with an AccessKey pair, the session that follows, and
//! signing out (`/console/session`), and the authentication of the console's API calls.
//!
//! A session is a random 256-bit token in a cookie that scripts cannot read (`HttpOnly`),
//! that browsers send only to `/console` and only from the console's own pages
//! (`SameSite=Strict`). The store keeps the token's SHA-256, never the token, so every node
//! sharing the store knows the session and a copy of the database signs nobody in. Every
//! call and the sign-out must also carry the session's CSRF token, a digest of the session
//! token that the page reads from `GET /console/session`; another site can neither read it
//! nor make a browser send it. The secret of the key is read once, at sign-in, compared, and
//! dropped: it is never stored, logged, audited or sent back.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bpops_iam::{AccessKey, ExposeSecret, Principal};
use bpops_protocol::params::Params;
use bpops_protocol::signature::format_timestamp;
use bpops_protocol::wire::ErrorBody;
use bpops_protocol::{Action, ErrorCode};
use bpops_store::{NewSession, Session, TraceParent};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit::{Entry, Target};
use crate::context::Ctx;
use crate::pipeline::{self, json};
use crate::{ApiError, App, routes};

/// The session cookie's name.
const COOKIE: &str = "bpops_console";

/// The header that carries the CSRF token.
const CSRF_HEADER: &str = "x-csrf-token";

/// The header a sign-in must carry (`X-Bpops-Console: sign-in`): a form on another site
/// cannot send it, so no other site can sign a browser in to a key of its choosing.
const SIGN_IN_HEADER: &str = "x-bpops-console";

/// The largest sign-in body read: an AccessKey pair, form-encoded.
const MAX_SIGN_IN_BODY: usize = 4096;

/// What the audit trail calls a sign-in and a sign-out.
const SIGN_IN: &str = "ConsoleSignIn";
const SIGN_OUT: &str = "ConsoleSignOut";

/// Answers `/console/session`: `POST` signs in, `GET` says who is signed in, `DELETE` signs
/// out.
pub(super) async fn handle(app: &App, peer: SocketAddr, request: Request) -> Response {
    let request_id = pipeline::request_id();
    let arrived = app.engine.clock().now();
    let mut entry = Entry::default();
    let outcome = match *request.method() {
        Method::POST => sign_in(app, peer, request, &mut entry)
            .await
            .map(|(token, signed_in)| {
                let mut response = json(StatusCode::OK, &request_id, &signed_in);
                set_cookie(
                    &mut response,
                    &token,
                    app.settings.console_session.as_secs(),
                );
                response
            }),
        Method::DELETE => sign_out(app, request.headers(), &mut entry)
            .await
            .map(|()| {
                let mut response = json(StatusCode::OK, &request_id, &serde_json::json!({}));
                set_cookie(&mut response, "", 0);
                response
            }),
        // Not audited: it reads the caller's own session, and nothing else.
        Method::GET => {
            return current(app, peer, request.headers(), &request_id)
                .await
                .unwrap_or_else(|e| refusal(&request_id, e));
        }
        _ => {
            let e = ApiError::invalid("method", "use POST, GET or DELETE");
            return refusal(&request_id, e);
        }
    };
    let refused = outcome.as_ref().err();
    pipeline::audit(app, entry, arrived, &request_id, peer.ip(), refused);
    outcome.unwrap_or_else(|e| refusal(&request_id, e))
}

/// Authenticates a console API call: the principal of its session's key, that key's id and
/// the action the call names. Notes in `entry` who made it.
pub(crate) async fn authenticate(
    app: &App,
    headers: &HeaderMap,
    params: &Params,
    entry: &mut Entry,
) -> Result<(Principal, String, Action), ApiError> {
    let action = pipeline::action(params.get("Action"))?;
    let (token, session) = live_session(app, headers).await?;
    entry.claimed(Some(action.as_str()), &session.access_key_id);
    check_csrf(headers, token)?;
    let key = session_key(app, &session, entry)?;
    Ok((key.principal.clone(), session.access_key_id, action))
}

/// Who is signed in, as the page shows it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SignedIn<'a> {
    access_key_id: &'a str,
    account_id: &'a str,
    /// The RAM user; omitted for the account's root key.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<&'a str>,
    /// What the page sends back with every call, in the `X-CSRF-Token` header.
    csrf_token: String,
    /// When the session ends, ISO 8601 UTC.
    expire_time: String,
    /// Whether the key's policies may allow cancelling operations, so the page offers the
    /// buttons; the server checks each cancel all the same.
    can_cancel: bool,
    /// Whether they may allow submitting operations (in some application), so the page
    /// offers the form's submit button; the server checks each submit all the same.
    can_submit: bool,
    /// The application steps (`ValidateApplication`, …) they may allow, so the page offers
    /// those buttons; the server checks each step all the same.
    application_steps: Vec<&'static str>,
}

async fn sign_in(
    app: &App,
    peer: SocketAddr,
    request: Request,
    entry: &mut Entry,
) -> Result<(String, serde_json::Value), ApiError> {
    entry.named(SIGN_IN);
    let (parts, body) = request.into_parts();
    if parts.headers.get(SIGN_IN_HEADER).map(HeaderValue::as_bytes) != Some(b"sign-in") {
        return Err(ApiError::invalid(
            "X-Bpops-Console",
            "sign in from the console's page",
        ));
    }
    if !app.sign_ins.allows(peer.ip(), Instant::now()) {
        return Err(ApiError::new(
            ErrorCode::Throttling,
            "Too many failed sign-ins from this address; retry in a minute.",
        ));
    }
    let body = tokio::time::timeout(
        app.settings.body_read_timeout,
        axum::body::to_bytes(body, MAX_SIGN_IN_BODY),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            ErrorCode::RequestTimeout,
            "The sign-in was not received in time.",
        )
    })?
    .map_err(|_| ApiError::invalid("body", format!("must be at most {MAX_SIGN_IN_BODY} bytes")))?;
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let params =
        Params::parse("", content_type, &body).map_err(|e| ApiError::invalid("body", e))?;
    let required = |name| {
        params
            .get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::missing(name))
    };
    let (id, secret) = (required("AccessKeyId")?, required("AccessKeySecret")?);
    entry.claimed(Some(SIGN_IN), id);
    let key = app
        .directory
        .key(id)
        .filter(|key| same(key.secret.expose_secret(), secret));
    let Some(key) = key else {
        app.sign_ins.failed(peer.ip(), Instant::now());
        return Err(ApiError::new(
            ErrorCode::SignInFailed,
            "The AccessKeyId and AccessKeySecret are not a key pair of this server.",
        ));
    };
    entry.key_found(key.principal.account());
    entry.verified(&key.principal);
    if !key.active {
        return Err(inactive());
    }
    let token = hex::encode(random_bytes());
    let now = app.engine.clock().real_now();
    let session = NewSession {
        token_hash: digest(&token),
        access_key_id: id.to_owned(),
        created_at: now,
        expires_at: now + app.settings.console_session,
    };
    app.store.create_session(&session).await?;
    let session = Session {
        access_key_id: session.access_key_id,
        expires_at: session.expires_at,
    };
    let body = signed_in(app, peer, &token, &session, key);
    Ok((token, body))
}

async fn current(
    app: &App,
    peer: SocketAddr,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<Response, ApiError> {
    let (token, session) = live_session(app, headers).await?;
    let key = session_key(app, &session, &mut Entry::default())?;
    let body = signed_in(app, peer, token, &session, key);
    Ok(json(StatusCode::OK, request_id, &body))
}

/// Ends the session of the request's cookie, if it has a live one (with its CSRF token).
async fn sign_out(app: &App, headers: &HeaderMap, entry: &mut Entry) -> Result<(), ApiError> {
    entry.named(SIGN_OUT);
    let Ok((token, session)) = live_session(app, headers).await else {
        return Ok(());
    };
    entry.claimed(Some(SIGN_OUT), &session.access_key_id);
    check_csrf(headers, token)?;
    if let Some(key) = app.directory.key(&session.access_key_id) {
        entry.key_found(key.principal.account());
        entry.verified(&key.principal);
    }
    app.store.end_session(&digest(token)).await?;
    Ok(())
}

fn signed_in(
    app: &App,
    peer: SocketAddr,
    token: &str,
    session: &Session,
    key: &AccessKey,
) -> serde_json::Value {
    let target = Target::default();
    let account = key.principal.account();
    let may = |action, resource: &str| {
        let ctx = Ctx {
            app,
            principal: &key.principal,
            action,
            peer: peer.ip(),
            access_key_id: &session.access_key_id,
            request_id: "",
            trace: TraceParent::new_trace(false),
            target: &target,
        };
        routes::may_be_allowed(&ctx, resource)
    };
    let user_name = match &key.principal {
        Principal::User { name, .. } => Some(name.as_str()),
        Principal::Root { .. } => None,
    };
    serde_json::to_value(SignedIn {
        access_key_id: &session.access_key_id,
        account_id: key.principal.account(),
        user_name,
        csrf_token: csrf_token(token),
        expire_time: format_timestamp(session.expires_at),
        can_cancel: may(
            Action::CancelExecuteOperation,
            &bpops_iam::virtual_arn(account),
        ),
        can_submit: may(
            Action::ExecuteOperationASync,
            &bpops_iam::application_arn(account, None),
        ),
        application_steps: [
            Action::ValidateApplication,
            Action::ValuateApplication,
            Action::DeployApplication,
            Action::ReleaseApplication,
        ]
        .into_iter()
        .filter(|&action| may(action, &bpops_iam::application_arn(account, None)))
        .map(Action::as_str)
        .collect(),
    })
    .expect("strings and booleans serialize")
}

/// The request's session token and its live session.
pub(super) async fn live_session<'h>(
    app: &App,
    headers: &'h HeaderMap,
) -> Result<(&'h str, Session), ApiError> {
    let Some(token) = cookie_token(headers) else {
        return Err(ApiError::new(
            ErrorCode::InvalidSession,
            "Sign in to the console first.",
        ));
    };
    let now = app.engine.clock().real_now();
    match app.store.session(&digest(token), now).await? {
        Some(session) => Ok((token, session)),
        None => Err(ApiError::new(
            ErrorCode::InvalidSession,
            "The console session has ended; sign in again.",
        )),
    }
}

/// The key a session acts as, as the configuration has it now: a key removed since the
/// sign-in ends its sessions, a disabled one refuses them.
pub(super) fn session_key<'a>(
    app: &'a App,
    session: &Session,
    entry: &mut Entry,
) -> Result<&'a AccessKey, ApiError> {
    let key = app.directory.key(&session.access_key_id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidSession,
            "The console session's AccessKey no longer exists; sign in again.",
        )
    })?;
    entry.key_found(key.principal.account());
    entry.verified(&key.principal);
    if !key.active {
        return Err(inactive());
    }
    Ok(key)
}

fn inactive() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidAccessKeyIdInactive,
        "The specified AccessKeyId is disabled.",
    )
}

fn check_csrf(headers: &HeaderMap, token: &str) -> Result<(), ApiError> {
    let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if sent.is_some_and(|sent| same(sent, &csrf_token(token))) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidCsrfToken,
            "The request lacks the console session's CSRF token.",
        ))
    }
}

/// The session token in the request's cookie, if it has one of the right shape.
fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .find(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn set_cookie(response: &mut Response, token: &str, max_age_secs: u64) {
    let cookie = format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
}

/// The CSRF token of a session: a digest of its token under a label of its own, so it
/// reveals nothing of the token, and the stored hash does not give it.
fn csrf_token(token: &str) -> String {
    digest(&format!("bpops console csrf {token}"))
}

/// The hex SHA-256 of `text`.
pub(super) fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Whether `a` and `b` are equal, in a time that says nothing of where they differ: their
/// digests are compared, and how much of two digests agree tells nothing of the texts.
fn same(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0; 32];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    bytes
}

pub(super) fn refusal(request_id: &str, e: ApiError) -> Response {
    let status =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody {
        request_id: request_id.to_owned(),
        host_id: "bpops".to_owned(),
        code: e.code.as_str().to_owned(),
        message: e.message,
        recommend: String::new(),
        access_denied_detail: e.access_denied_detail,
    };
    let mut response = json(status, request_id, &body);
    if e.code == ErrorCode::InvalidSession {
        set_cookie(&mut response, "", 0);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_token_is_read_from_its_cookie_only_when_well_formed() {
        let token = "ab".repeat(32);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={token}")).unwrap(),
        );
        assert_eq!(cookie_token(&headers), Some(token.as_str()));
        for bad in [
            "bpops_console=short",
            "bpops_consolex=abab",
            "x=bpops_console",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, HeaderValue::from_static(bad));
            assert_eq!(cookie_token(&headers), None, "{bad}");
        }
    }

    #[test]
    fn the_csrf_token_is_neither_the_token_nor_its_stored_hash() {
        let token = "cd".repeat(32);
        assert_ne!(csrf_token(&token), token);
        assert_ne!(csrf_token(&token), digest(&token));
        assert_eq!(csrf_token(&token), csrf_token(&token));
    }
}
