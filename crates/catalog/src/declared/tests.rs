//! Tests of declared operations, from TOML text to catalog entries: one per validation error,
//! plus what a valid declaration looks like to callers.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{Catalog, DeclaredError, Executor, FailureKind, Target};

/// The `[operations]` table as the configuration file holds it.
#[derive(Deserialize)]
struct File {
    operations: Operations,
}

#[derive(Deserialize)]
struct Operations {
    declared: Vec<crate::Declared>,
}

/// Pretends `rollout` is on PATH in `/usr/local/bin` and absolute paths under `/opt`
/// exist.
fn fake_resolve(program: &str) -> Result<PathBuf, String> {
    match program {
        "rollout" => Ok(PathBuf::from("/usr/local/bin/rollout")),
        absolute if absolute.starts_with("/opt/") => Ok(PathBuf::from(absolute)),
        _ => Err("not found on PATH".to_string()),
    }
}

fn parse(toml_text: &str) -> Vec<crate::Declared> {
    let file: File = toml::from_str(toml_text).expect("test TOML deserializes");
    file.operations.declared
}

fn load(toml_text: &str) -> Result<Catalog, DeclaredError> {
    Catalog::builtin().with_declared(parse(toml_text), &fake_resolve)
}

/// A valid command declaration with `extra` lines added to the table (later keys may not
/// repeat earlier ones, so the variable parts come only from `extra`).
fn command(extra: &str) -> String {
    format!(
        r#"
[[operations.declared]]
service = "deploy"
operation = "rollout"
display_name = "Roll out a release"
{extra}
"#
    )
}

const ROLLOUT: &str = r#"
[[operations.declared]]
service = "deploy"
operation = "rollout"
display_name = "Roll out a release"
description = "Rolls a version out to an app."
attributes = { type = "object", properties = { app = { type = "string" }, version = { type = "string", pattern = "^v[0-9]+$" } }, required = ["app", "version"] }
outputs = { url = { type = "string" } }
target = "app"
timeout = "45s"
retry = { attempts = 3, backoff = "200ms", max_backoff = "5s", on = ["timeout", "exit", "http_5xx", "connect"] }
executor = { kind = "command", argv = ["rollout", "--json"] }

[[operations.declared]]
service = "deploy"
operation = "notify"
display_name = "Notify the release channel"
executor = { kind = "http", url = "http://127.0.0.1:9000/hooks/notify", secret = "s3cret-value" }
"#;

/// The error's field and problem, which every validation test checks.
fn refused(toml_text: &str) -> (String, String) {
    let error = load(toml_text).expect_err("declaration should be refused");
    assert_eq!(error.index, 0, "{error}");
    (error.field, error.problem)
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().expect("object").clone()
}

#[test]
fn declared_operations_join_the_catalog_beside_the_builtins() {
    let catalog = load(ROLLOUT).unwrap();
    assert_eq!(catalog.services(), vec!["deploy", "ecs", "slb"]);
    let names: Vec<&str> = catalog
        .operations("deploy")
        .unwrap()
        .iter()
        .map(|entry| entry.operation())
        .collect();
    assert_eq!(names, vec!["notify", "rollout"]);
}

#[test]
fn command_entry_has_resolved_program_timeout_and_retry_policy() {
    let catalog = load(ROLLOUT).unwrap();
    let entry = catalog.entry("deploy", "rollout").unwrap();
    let Executor::Command(spec) = entry.executor() else {
        panic!("expected a command executor, got {:?}", entry.executor());
    };
    assert_eq!(spec.program, PathBuf::from("/usr/local/bin/rollout"));
    assert_eq!(spec.args, vec!["--json"]);
    assert_eq!(entry.timeout(), Some(Duration::from_secs(45)));
    let retry = entry.retry_policy();
    assert_eq!(retry.attempts(), 3);
    assert!(retry.retries(FailureKind::Exit));
    assert!(!retry.retries(FailureKind::Http4xx));
    assert_eq!(retry.delay(1, 1.0), Some(Duration::from_millis(200)));
    assert_eq!(retry.delay(3, 1.0), None);
}

#[test]
fn declared_attributes_are_checked_by_schema_including_pattern() {
    let catalog = load(ROLLOUT).unwrap();
    let entry = catalog.entry("deploy", "rollout").unwrap();
    assert!(
        entry
            .validate(&object(json!({"app": "web", "version": "v12"})), None)
            .is_ok()
    );
    let error = entry
        .validate(&object(json!({"app": "web", "version": "12"})), None)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "version: must match the pattern \"^v[0-9]+$\""
    );
    let missing = entry
        .validate(&object(json!({"version": "v1"})), None)
        .unwrap_err();
    assert_eq!(missing.to_string(), "app: is required");
}

#[test]
fn target_reads_the_declared_attribute_in_the_declared_service() {
    let catalog = load(ROLLOUT).unwrap();
    let entry = catalog.entry("deploy", "rollout").unwrap();
    assert_eq!(
        entry.target(&object(json!({"app": "web", "version": "v1"}))),
        Some(Target {
            service: "deploy".into(),
            id: "web".into()
        })
    );
    let notify = catalog.entry("deploy", "notify").unwrap();
    assert_eq!(notify.target(&Map::new()), None);
}

#[test]
fn properties_show_the_executor_kind_but_never_the_secret_or_url() {
    let catalog = load(ROLLOUT).unwrap();
    let rollout = catalog.entry("deploy", "rollout").unwrap().properties();
    assert_eq!(rollout["executor"], "command");
    assert_eq!(rollout["targetAttribute"], "app");
    assert_eq!(rollout["timeout"], "45s");
    assert_eq!(rollout["retry"]["attempts"], 3);
    assert_eq!(rollout["description"], "Rolls a version out to an app.");
    let notify = catalog.entry("deploy", "notify").unwrap();
    let shown = notify.properties().to_string();
    assert_eq!(notify.properties()["executor"], "http");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(!shown.contains("127.0.0.1"), "{shown}");
    assert!(!format!("{:?}", notify.executor()).contains("s3cret"));
}

#[test]
fn the_parsed_declaration_never_shows_its_secret_in_debug() {
    let shown = format!("{:?}", parse(ROLLOUT));
    assert!(!shown.contains("s3cret-value"), "{shown}");
    assert!(shown.contains("[REDACTED]"), "{shown}");
}

#[test]
fn outputs_are_empty_unless_declared_and_defaults_apply() {
    let catalog = load(ROLLOUT).unwrap();
    let rollout = catalog.entry("deploy", "rollout").unwrap();
    assert_eq!(rollout.outputs(), json!({"url": {"type": "string"}}));
    let notify = catalog.entry("deploy", "notify").unwrap();
    assert_eq!(notify.outputs(), json!({}));
    assert_eq!(notify.timeout(), Some(Duration::from_secs(30)));
    assert_eq!(notify.retry_policy().attempts(), 1);
    // The default schema takes no attributes at all.
    assert!(notify.validate(&Map::new(), None).is_ok());
    let error = notify.validate(&object(json!({"x": 1})), None).unwrap_err();
    assert_eq!(error.field, "x");
}

#[test]
fn builtins_keep_a_single_attempt_and_no_timeout() {
    let catalog = Catalog::builtin();
    let rename = catalog.entry("ecs", "rename").unwrap();
    assert_eq!(rename.timeout(), None);
    assert_eq!(rename.retry_policy().attempts(), 1);
}

#[test]
fn built_in_service_names_are_refused() {
    let text = command("executor = { kind = \"command\", argv = [\"rollout\"] }")
        .replace("\"deploy\"", "\"ecs\"");
    let error = load(&text).unwrap_err();
    assert_eq!(error.field, "service");
    assert!(
        error.problem.contains("\"ecs\" is a built-in service"),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .starts_with("operations.declared[0] (ecs/rollout): service: "),
        "{error}"
    );
}

#[test]
fn duplicates_are_refused_naming_the_second_entry() {
    let one = command("executor = { kind = \"command\", argv = [\"rollout\"] }");
    let error = load(&format!("{one}{one}")).unwrap_err();
    assert_eq!(error.index, 1);
    assert_eq!(error.field, "operation");
    assert_eq!(error.problem, "deploy/rollout is declared more than once");
}

#[test]
fn names_outside_the_plain_alphabet_are_refused() {
    let text = command("executor = { kind = \"command\", argv = [\"rollout\"] }")
        .replace("\"rollout\"\ndisplay", "\"roll out\"\ndisplay");
    let (field, problem) = refused(&text);
    assert_eq!(field, "operation");
    assert!(problem.contains("1-64 characters"), "{problem}");
    let empty = command("executor = { kind = \"command\", argv = [\"rollout\"] }")
        .replace("\"deploy\"", "\"\"");
    assert_eq!(refused(&empty).0, "service");
}

#[test]
fn empty_display_name_is_refused() {
    let text = command("executor = { kind = \"command\", argv = [\"rollout\"] }")
        .replace("\"Roll out a release\"", "\"  \"");
    assert_eq!(
        refused(&text),
        ("display_name".to_string(), "must not be empty".to_string())
    );
}

#[test]
fn unsupported_or_broken_attribute_schemas_are_refused_with_their_location() {
    let format = command(
        "attributes = { type = \"object\", properties = { v = { type = \"string\", format = \"email\" } } }\n\
         executor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    let (field, problem) = refused(&format);
    assert_eq!(field, "attributes");
    assert!(
        problem.starts_with("#/properties/v: unsupported keyword \"format\""),
        "{problem}"
    );
    let pattern = command(
        "attributes = { type = \"object\", properties = { v = { type = \"string\", pattern = \"(\" } } }\n\
         executor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    let (field, problem) = refused(&pattern);
    assert_eq!(field, "attributes");
    assert!(
        problem.contains("\"pattern\" \"(\" is not a valid regular expression"),
        "{problem}"
    );
}

#[test]
fn attribute_schema_root_must_be_an_object() {
    let text = command(
        "attributes = { type = \"string\" }\nexecutor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    let (field, problem) = refused(&text);
    assert_eq!(field, "attributes");
    assert!(problem.contains("type = \"object\""), "{problem}");
}

#[test]
fn outputs_must_be_a_table() {
    let text =
        command("outputs = \"url\"\nexecutor = { kind = \"command\", argv = [\"rollout\"] }");
    assert_eq!(
        refused(&text),
        ("outputs".to_string(), "must be a table".to_string())
    );
}

#[test]
fn target_must_be_a_string_property() {
    let absent = command(
        "attributes = { type = \"object\", properties = { app = { type = \"string\" } } }\n\
         target = \"application\"\nexecutor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    assert_eq!(
        refused(&absent),
        (
            "target".to_string(),
            "\"application\" is not a property of attributes".to_string()
        )
    );
    let number = command(
        "attributes = { type = \"object\", properties = { app = { type = \"integer\" } } }\n\
         target = \"app\"\nexecutor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    assert_eq!(
        refused(&number),
        (
            "target".to_string(),
            "attribute \"app\" must have type = \"string\"".to_string()
        )
    );
}

#[test]
fn timeouts_must_be_valid_positive_durations() {
    let bad =
        command("timeout = \"soon\"\nexecutor = { kind = \"command\", argv = [\"rollout\"] }");
    let (field, problem) = refused(&bad);
    assert_eq!(field, "timeout");
    assert!(
        problem.starts_with("invalid duration \"soon\""),
        "{problem}"
    );
    let zero = command("timeout = \"0s\"\nexecutor = { kind = \"command\", argv = [\"rollout\"] }");
    assert_eq!(
        refused(&zero),
        (
            "timeout".to_string(),
            "must be longer than zero".to_string()
        )
    );
}

#[test]
fn retry_attempts_must_be_at_least_one() {
    let text = command(
        "retry = { attempts = 0 }\nexecutor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    assert_eq!(
        refused(&text),
        (
            "retry.attempts".to_string(),
            "must be at least 1".to_string()
        )
    );
}

#[test]
fn retry_durations_are_checked_and_ordered() {
    let bad = command(
        "retry = { backoff = \"fast\" }\nexecutor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    assert_eq!(refused(&bad).0, "retry.backoff");
    let bad_max = command(
        "retry = { max_backoff = \"1 fortnight\" }\nexecutor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    assert_eq!(refused(&bad_max).0, "retry.max_backoff");
    let inverted = command(
        "retry = { backoff = \"10s\", max_backoff = \"1s\" }\n\
         executor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    let (field, problem) = refused(&inverted);
    assert_eq!(field, "retry.max_backoff");
    assert_eq!(problem, "\"1s\" is shorter than retry.backoff \"10s\"");
}

#[test]
fn retry_on_names_known_kinds_and_never_cancelled() {
    let unknown = command(
        "retry = { on = [\"timeout\", \"http_500\"] }\nexecutor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    let (field, problem) = refused(&unknown);
    assert_eq!(field, "retry.on");
    assert!(
        problem.starts_with("unknown failure kind \"http_500\""),
        "{problem}"
    );
    assert!(problem.contains("http_5xx"), "{problem}");
    let cancelled = command(
        "retry = { on = [\"cancelled\"] }\nexecutor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    let (field, problem) = refused(&cancelled);
    assert_eq!(field, "retry.on");
    assert!(
        problem.starts_with("\"cancelled\" cannot be retried"),
        "{problem}"
    );
}

#[test]
fn empty_argv_is_refused() {
    let text = command("executor = { kind = \"command\", argv = [] }");
    assert_eq!(
        refused(&text),
        (
            "executor.argv".to_string(),
            "must name a program (it is empty)".to_string()
        )
    );
    let blank = command("executor = { kind = \"command\", argv = [\"\"] }");
    assert_eq!(refused(&blank).1, "argv[0] must not be empty");
}

#[test]
fn relative_paths_and_unknown_programs_are_refused() {
    let relative = command("executor = { kind = \"command\", argv = [\"./rollout\"] }");
    let (field, problem) = refused(&relative);
    assert_eq!(field, "executor.argv");
    assert!(
        problem.contains("must be an absolute path or a program name"),
        "{problem}"
    );
    let missing = command("executor = { kind = \"command\", argv = [\"nosuchprogram\"] }");
    assert_eq!(
        refused(&missing),
        (
            "executor.argv".to_string(),
            "argv[0] \"nosuchprogram\": not found on PATH".to_string()
        )
    );
    let absolute =
        command("executor = { kind = \"command\", argv = [\"/opt/bin/rollout\", \"-v\"] }");
    let catalog = load(&absolute).unwrap();
    let Executor::Command(spec) = catalog.entry("deploy", "rollout").unwrap().executor() else {
        panic!("expected a command");
    };
    assert_eq!(spec.program, PathBuf::from("/opt/bin/rollout"));
}

#[test]
fn nul_in_argv_is_refused() {
    let text = command("executor = { kind = \"command\", argv = [\"rollout\", \"a\\u0000b\"] }");
    assert_eq!(
        refused(&text),
        (
            "executor.argv".to_string(),
            "argv[1] contains a NUL character".to_string()
        )
    );
}

#[test]
fn http_urls_must_be_plain_http_with_a_host() {
    for (url, expected) in [
        ("https://hooks.example/x", "uses https"),
        ("ftp://hooks.example/x", "must start with http://"),
        ("http:///x", "has no host"),
        ("http://host:99999/x", "has an invalid port"),
        ("http://user:pw@host/x", "must not carry credentials"),
        ("http://host/a b", "must not contain spaces"),
    ] {
        let text = command(&format!(
            "executor = {{ kind = \"http\", url = \"{url}\", secret = \"k\" }}"
        ));
        let (field, problem) = refused(&text);
        assert_eq!(field, "executor.url", "{url}");
        assert!(problem.contains(expected), "{url}: {problem}");
    }
    for url in [
        "http://127.0.0.1:9000/hooks",
        "http://[::1]:80/",
        "http://hooks.internal",
    ] {
        let text = command(&format!(
            "executor = {{ kind = \"http\", url = \"{url}\", secret = \"k\" }}"
        ));
        assert!(load(&text).is_ok(), "{url}");
    }
}

#[test]
fn http_secret_must_not_be_empty() {
    let text = command("executor = { kind = \"http\", url = \"http://h/\", secret = \"\" }");
    assert_eq!(
        refused(&text),
        (
            "executor.secret".to_string(),
            "must not be empty".to_string()
        )
    );
}

#[test]
fn unknown_fields_and_kinds_are_refused_by_the_parser() {
    let typo = command("timout = \"1s\"\nexecutor = { kind = \"command\", argv = [\"rollout\"] }");
    let error = toml::from_str::<File>(&typo)
        .err()
        .expect("unknown field refused");
    assert!(error.to_string().contains("timout"), "{error}");
    let kind = command("executor = { kind = \"ftp\", argv = [\"rollout\"] }");
    let error = toml::from_str::<File>(&kind)
        .err()
        .expect("unknown kind refused");
    assert!(error.to_string().contains("ftp"), "{error}");
    let mixed =
        command("executor = { kind = \"command\", argv = [\"rollout\"], url = \"http://h/\" }");
    assert!(toml::from_str::<File>(&mixed).is_err());
    let retry = command(
        "retry = { attempts = 2, jitter = true }\nexecutor = { kind = \"command\", argv = [\"rollout\"] }",
    );
    assert!(toml::from_str::<File>(&retry).is_err());
}

#[test]
fn emulating_a_declared_operation_is_an_internal_error_not_a_panic() {
    let catalog = load(ROLLOUT).unwrap();
    let entry = catalog.entry("deploy", "notify").unwrap();
    let attributes = Map::new();
    let decision = crate::run_emulated(&crate::Run {
        entry,
        attributes: &attributes,
        application: None,
        resource: None,
    });
    assert!(!decision.succeeded);
    assert_eq!(
        decision.message,
        "InternalError: deploy/notify is not an emulated operation"
    );
}
