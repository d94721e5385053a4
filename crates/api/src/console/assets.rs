//! The console's files, built into the binary: one HTML page, one style sheet and the
//! JavaScript modules that draw each page in the browser. They are hand-written and served
//! as they are, so building bpops needs no JavaScript tooling and nothing is fetched at run
//! time.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;

/// The file of every page: it loads `app.js`, which draws the page the URL names.
const PAGE: &str = include_str!("../../console/index.html");

const JS: &str = "text/javascript; charset=utf-8";

/// `(name, content type, contents)` of each file under `/console/assets/`.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../../console/style.css"),
    ),
    ("app.js", JS, include_str!("../../console/app.js")),
    ("api.js", JS, include_str!("../../console/api.js")),
    ("dom.js", JS, include_str!("../../console/dom.js")),
    ("sign-in.js", JS, include_str!("../../console/sign-in.js")),
    (
        "operations.js",
        JS,
        include_str!("../../console/operations.js"),
    ),
    ("detail.js", JS, include_str!("../../console/detail.js")),
    ("start.js", JS, include_str!("../../console/start.js")),
    ("schema.js", JS, include_str!("../../console/schema.js")),
    ("overview.js", JS, include_str!("../../console/overview.js")),
    ("charts.js", JS, include_str!("../../console/charts.js")),
    ("explorer.js", JS, include_str!("../../console/explorer.js")),
    (
        "applications.js",
        JS,
        include_str!("../../console/applications.js"),
    ),
];

/// The page.
pub(super) fn page() -> Response {
    file("text/html; charset=utf-8", PAGE)
}

/// The asset `name`, or 404.
pub(super) fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, contents)) => file(content_type, contents),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .expect("a static response is valid"),
    }
}

fn file(content_type: &str, contents: &'static str) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(contents))
        .expect("a static response is valid")
}
