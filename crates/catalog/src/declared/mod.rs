//! Declared operations: what the configuration adds to the catalog with
//! `[[operations.declared]]` tables.
//!
//! `config` mirrors the TOML; [`convert`] checks one declaration and turns it into an
//! [`Entry`] with an [`Executor::Command`] or [`Executor::Http`], a timeout and a
//! [`RetryPolicy`]. Problems come back as `(field, problem)` so the catalog can name the
//! entry too. Declared attributes are checked by their schema only: there are no cross-field
//! rules to run, and no emulation.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::catalog::{DeclaredParts, Entry, TargetRule};
use crate::executor::{CommandSpec, Executor, HttpSpec};
use crate::retry::{FailureKind, RetryPolicy};
use crate::schema::Schema;

mod config;

pub use config::{Declared, DeclaredExecutor, DeclaredRetry};

/// A problem with one field of a declaration: `(field, problem)`.
type Problem = (String, String);

fn problem(field: &str, text: impl Into<String>) -> Problem {
    (field.to_string(), text.into())
}

/// Checks one declaration and builds its entry. The caller has already refused built-in
/// service names and checks for duplicates.
pub(crate) fn convert(
    declared: Declared,
    resolve: &dyn Fn(&str) -> Result<PathBuf, String>,
) -> Result<Entry, Problem> {
    check_name("service", &declared.service)?;
    check_name("operation", &declared.operation)?;
    if declared.display_name.trim().is_empty() {
        return Err(problem("display_name", "must not be empty"));
    }
    let schema = Schema::parse(&declared.attributes)
        .map_err(|error| problem("attributes", error.to_string()))?;
    if declared.attributes.get("type") != Some(&json!("object")) {
        return Err(problem(
            "attributes",
            "the schema's root must say type = \"object\" (Attributes is a JSON object)",
        ));
    }
    if !declared.outputs.is_object() {
        return Err(problem("outputs", "must be a table"));
    }
    let target = match &declared.target {
        None => None,
        Some(attribute) => {
            check_target(&declared.attributes, attribute)?;
            Some(TargetRule {
                service: declared.service.clone(),
                attribute: attribute.clone(),
            })
        }
    };
    let timeout = duration("timeout", &declared.timeout)?;
    if timeout.is_zero() {
        return Err(problem("timeout", "must be longer than zero"));
    }
    let retry = retry_policy(&declared.retry)?;
    let executor = executor(declared.executor, resolve)?;

    let properties = json!({
        "resourceType": declared.service,
        "targetAttribute": declared.target,
        "executor": executor.kind(),
        "description": declared.description,
        "timeout": humantime::format_duration(timeout).to_string(),
        "retry": {
            "attempts": retry.attempts(),
            "on": retry.retried_kinds().iter().map(|kind| kind.as_str()).collect::<Vec<_>>(),
        },
    });
    Ok(Entry::declared(DeclaredParts {
        service: declared.service,
        operation: declared.operation,
        display_name: declared.display_name,
        attributes_schema: declared.attributes,
        schema,
        properties,
        outputs: declared.outputs,
        target,
        executor,
        timeout,
        retry,
    }))
}

/// Service and operation names travel in query strings and appear in logs and metrics
/// labels, so they are kept to a plain, bounded alphabet.
fn check_name(field: &str, name: &str) -> Result<(), Problem> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
        return Err(problem(
            field,
            format!("\"{name}\" must be 1-64 characters of letters, digits, '_', '-' and '.'"),
        ));
    }
    Ok(())
}

/// The target must be a declared string property: [`Entry::target`] reads it as a string,
/// and a target that is silently absent would lose the per-resource ordering.
fn check_target(attributes: &Value, attribute: &str) -> Result<(), Problem> {
    match attributes.pointer(&format!("/properties/{}", escape_pointer(attribute))) {
        None => Err(problem(
            "target",
            format!("\"{attribute}\" is not a property of attributes"),
        )),
        Some(schema) if schema.get("type") != Some(&json!("string")) => Err(problem(
            "target",
            format!("attribute \"{attribute}\" must have type = \"string\""),
        )),
        Some(_) => Ok(()),
    }
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn duration(field: &str, text: &str) -> Result<Duration, Problem> {
    humantime::parse_duration(text)
        .map_err(|error| problem(field, format!("invalid duration \"{text}\": {error}")))
}

fn retry_policy(retry: &DeclaredRetry) -> Result<RetryPolicy, Problem> {
    if retry.attempts == 0 {
        return Err(problem("retry.attempts", "must be at least 1"));
    }
    let backoff = duration("retry.backoff", &retry.backoff)?;
    let max_backoff = duration("retry.max_backoff", &retry.max_backoff)?;
    if max_backoff < backoff {
        return Err(problem(
            "retry.max_backoff",
            format!(
                "\"{}\" is shorter than retry.backoff \"{}\"",
                retry.max_backoff, retry.backoff
            ),
        ));
    }
    let mut on = Vec::new();
    for name in &retry.on {
        let kind = FailureKind::parse(name).ok_or_else(|| {
            let known: Vec<&str> = FailureKind::ALL
                .iter()
                .filter(|kind| **kind != FailureKind::Cancelled)
                .map(|kind| kind.as_str())
                .collect();
            problem(
                "retry.on",
                format!(
                    "unknown failure kind \"{name}\" (expected: {})",
                    known.join(", ")
                ),
            )
        })?;
        if kind == FailureKind::Cancelled {
            return Err(problem(
                "retry.on",
                "\"cancelled\" cannot be retried: a cancelled operation stays cancelled",
            ));
        }
        on.push(kind);
    }
    Ok(RetryPolicy::new(retry.attempts, backoff, max_backoff, on))
}

fn executor(
    declared: DeclaredExecutor,
    resolve: &dyn Fn(&str) -> Result<PathBuf, String>,
) -> Result<Executor, Problem> {
    match declared {
        DeclaredExecutor::Command { argv } => {
            let Some((program, args)) = argv.split_first() else {
                return Err(problem(
                    "executor.argv",
                    "must name a program (it is empty)",
                ));
            };
            if let Some(index) = argv.iter().position(|arg| arg.contains('\0')) {
                return Err(problem(
                    "executor.argv",
                    format!("argv[{index}] contains a NUL character"),
                ));
            }
            if program.is_empty() {
                return Err(problem("executor.argv", "argv[0] must not be empty"));
            }
            // A relative path with a slash would depend on bpops's working directory, which
            // the operator does not see in the configuration.
            if program.contains('/') && !program.starts_with('/') {
                return Err(problem(
                    "executor.argv",
                    format!(
                        "argv[0] \"{program}\" must be an absolute path or a program name found on PATH"
                    ),
                ));
            }
            let resolved = resolve(program)
                .map_err(|why| problem("executor.argv", format!("argv[0] \"{program}\": {why}")))?;
            Ok(Executor::Command(CommandSpec {
                program: resolved,
                args: args.to_vec(),
            }))
        }
        DeclaredExecutor::Http { url, secret } => {
            check_url(&url)?;
            if secret.expose_secret().is_empty() {
                return Err(problem("executor.secret", "must not be empty"));
            }
            Ok(Executor::Http(HttpSpec { url, secret }))
        }
    }
}

fn check_url(url: &str) -> Result<(), Problem> {
    match http_url_problem(url) {
        Some(why) => Err(problem("executor.url", why)),
        None => Ok(()),
    }
}

/// Why `url` is not an `http://host[:port][/path]` URL bpops can call (the declared
/// executors' and the webhooks'), `None` when it is. A shape check only (this crate does not
/// use an HTTP library).
pub fn http_url_problem(url: &str) -> Option<String> {
    let bad = |why: &str| Some(format!("\"{url}\" {why}"));
    if url.starts_with("https://") {
        return bad(
            "uses https, which bpops does not speak; terminate TLS in front of the receiver",
        );
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return bad("must start with http://");
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return bad("must not carry credentials; use the secret");
    }
    let host = match authority.rsplit_once(':') {
        // An IPv6 literal (`[::1]`) has colons of its own; its port follows the `]`.
        Some((host, port)) if !port.contains(']') => {
            if port.parse::<u16>().is_err() {
                return bad("has an invalid port");
            }
            host
        }
        _ => authority,
    };
    if host.is_empty() {
        return bad("has no host");
    }
    None
}

#[cfg(test)]
mod tests;
