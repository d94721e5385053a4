//! The web console, at `/console` on the API's own address: its pages and assets (built
//! into the binary, see `assets`), its sessions (`session`), the live updates of its
//! operations page (`events`), and `POST /console/api`, where a signed-in browser makes API
//! calls. Those go through the request pipeline like signed
//! ones, authenticated by the session instead of a signature, so the console can do exactly
//! what its AccessKey may, no more, and each of its calls is in the audit trail.
//!
//! Every answer under `/console` carries a strict Content-Security-Policy (scripts, styles
//! and connections from this origin only; nothing inline, no frames) and the headers that
//! keep browsers from sniffing, framing or caching it.

mod assets;
mod events;
mod session;
mod throttle;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;

use crate::App;
use crate::pipeline::{self, Caller};

pub(crate) use events::Streams;
pub(crate) use session::authenticate;
pub(crate) use throttle::SignInThrottle;

/// The path every console URL starts with.
const ROOT: &str = "/console";

/// Whether `path` is the console's.
pub(crate) fn owns(path: &str) -> bool {
    path.strip_prefix(ROOT)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Answers a request under `/console`.
pub(crate) async fn handle(app: Arc<App>, peer: SocketAddr, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let mut response = match (path.as_str(), &method) {
        ("/console/api", &Method::POST) => {
            pipeline::handle(app, peer, request, Caller::Console).await
        }
        ("/console/api", _) => status(StatusCode::METHOD_NOT_ALLOWED),
        ("/console/session", _) => session::handle(&app, peer, request).await,
        ("/console/events", &Method::GET) => {
            let query = request.uri().query().unwrap_or("");
            events::handle(app, peer, request.headers(), query).await
        }
        ("/console/events", _) => status(StatusCode::METHOD_NOT_ALLOWED),
        (path, &Method::GET) => match path.strip_prefix("/console/assets/") {
            Some(name) => assets::asset(name),
            None if is_page(path) => assets::page(),
            None => status(StatusCode::NOT_FOUND),
        },
        _ => status(StatusCode::NOT_FOUND),
    };
    secure(response.headers_mut());
    response
}

/// Whether `path` is one of the pages (the page itself is drawn by the browser from the
/// URL, so that a link to any of them, or the back button, shows it).
fn is_page(path: &str) -> bool {
    const PAGES: [&str; 8] = [
        "/console",
        "/console/",
        "/console/sign-in",
        "/console/operations",
        "/console/start",
        "/console/overview",
        "/console/applications",
        "/console/explorer",
    ];
    let is_id = |id: &str| {
        (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    PAGES.contains(&path)
        || ["/console/operations/", "/console/applications/"]
            .iter()
            .any(|list| path.strip_prefix(list).is_some_and(is_id))
}

/// The headers of every console answer.
fn secure(headers: &mut HeaderMap) {
    const HEADERS: [(&str, &str); 7] = [
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("cache-control", "no-store"),
    ];
    for (name, value) in HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn status(code: StatusCode) -> Response {
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(code.canonical_reason().unwrap_or("")))
        .expect("a static response is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_the_known_paths_and_operation_ids() {
        for page in [
            "/console",
            "/console/",
            "/console/sign-in",
            "/console/operations",
            "/console/start",
            "/console/overview",
            "/console/applications",
            "/console/explorer",
            "/console/applications/APP-WEB",
            "/console/operations/op_0123456789abcdefABCDEF",
        ] {
            assert!(is_page(page), "{page}");
        }
        for other in [
            "/console/operations/",
            "/console/operations/a/b",
            "/console/operations/%3Cscript%3E",
            "/console/applications/a.b",
            "/console/nope",
        ] {
            assert!(!is_page(other), "{other}");
        }
    }

    #[test]
    fn the_console_owns_its_path_and_nothing_beside_it() {
        assert!(owns("/console"));
        assert!(owns("/console/api"));
        assert!(!owns("/consoles"));
        assert!(!owns("/"));
    }
}
