//! Submitting operations and reading their results (product.md "The API", "Operations and
//! executors"): the id shape, statuses and outputs, retention, tenancy, idempotency, and
//! which problems are refused at submit versus reported as `FAILURE` when the operation runs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{
    OTHER_ROOT, ROOT, RUNNING_INSTANCE, Server, TestDir, add_tags, arguments, execute_params,
    operation_id, state,
};

/// Long enough for an unloaded operation to finish; the tests poll, so this is only a cap.
const FINISH_WITHIN: Duration = Duration::from_secs(10);

const NOT_FOUND_MESSAGE: &str = "The operation does not exist or has expired.";

#[tokio::test]
async fn execute_operation_async_returns_op_and_22_alphanumerics() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let mut seen = Vec::new();
    for n in 0..3 {
        let name = format!("web-{n}");
        let id = server
            .submit(
                "rename",
                &json!({"instanceId": RUNNING_INSTANCE, "instance_name": name}),
            )
            .await;
        let digits = id.strip_prefix("op_").unwrap_or_else(|| panic!("{id}"));
        assert_eq!(digits.len(), 22, "{id}");
        assert!(digits.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        assert!(!seen.contains(&id), "{id} was issued twice");
        seen.push(id);
    }
}

#[tokio::test]
async fn add_tags_reaches_success_with_a_tag_map_in_arguments() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let id = server
        .submit(
            "addTags",
            &add_tags(RUNNING_INSTANCE, json!({"env": "prod", "team": "web"})),
        )
        .await;

    let data = server.wait_final(ROOT, &id, FINISH_WITHIN).await;
    assert_eq!(data["OperationId"], id.as_str());
    assert_eq!(data["Status"], "SUCCESS", "{data}");
    assert_eq!(
        arguments(&data),
        json!({"tagMap": {"env": [RUNNING_INSTANCE], "team": [RUNNING_INSTANCE]}})
    );
    let instance = state(&data);
    assert_eq!(instance["instanceId"], RUNNING_INSTANCE);
    assert_eq!(instance["tags"], json!({"env": "prod", "team": "web"}));
}

/// A server whose `rename` takes `latency`, and an ExecuteOperationSync renaming the running
/// instance to `name` on it: the server, how long the answer took, and its `Data`.
async fn sync_rename(dir: &TestDir, latency: &str, name: &str) -> (Server, Duration, Value) {
    let config = dir.config(&format!(
        "[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"{latency}\"\n"
    ));
    let server = dir.serve(&config).await;
    let started = Instant::now();
    let reply = server
        .execute(
            "ExecuteOperationSync",
            "rename",
            &json!({"instanceId": RUNNING_INSTANCE, "instance_name": name}),
        )
        .await;
    let elapsed = started.elapsed();
    let data = reply.data().clone();
    assert!(data["OperationId"].as_str().unwrap().starts_with("op_"));
    (server, elapsed, data)
}

#[tokio::test]
async fn execute_operation_sync_waits_and_returns_the_final_result() {
    let dir = TestDir::new();
    // Slow enough that an answer without waiting would still say INIT or RUNNING.
    let (server, elapsed, data) = sync_rename(&dir, "300ms", "renamed-sync").await;
    assert!(elapsed >= Duration::from_millis(300));
    assert_eq!(data["Status"], "SUCCESS", "{data}");
    assert_eq!(state(&data)["instance_name"], "renamed-sync");
    assert_eq!(data["Arguments"], "{}");

    // The result stays readable by id, identical.
    let again = server
        .result(ROOT, data["OperationId"].as_str().unwrap())
        .await;
    assert_eq!(again.data(), &data);
}

#[tokio::test]
async fn execute_operation_sync_answers_within_two_seconds_by_default() {
    // The Node.js SDK cores give up after 3 s: an operation slower than that must still be
    // answered (not final yet, with its id) before, when the file leaves sync_wait out.
    let dir = TestDir::new();
    let (_server, elapsed, data) = sync_rename(&dir, "3s", "slow").await;
    // The status when the time is up, not when the wait began (the claim publishes nothing).
    assert_eq!(data["Status"], "RUNNING", "{data}");
    assert!(
        (Duration::from_secs(2)..Duration::from_millis(2700)).contains(&elapsed),
        "answered after {elapsed:?}"
    );
}

#[tokio::test]
async fn unknown_and_foreign_operation_ids_get_code_200_without_data() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let mine = server
        .submit(
            "rename",
            &json!({"instanceId": RUNNING_INSTANCE, "instance_name": "mine"}),
        )
        .await;
    server.result(ROOT, &mine).await.data();

    // Never issued, malformed, and another account's: all answered alike.
    for (key, id) in [
        (ROOT, "op_0000000000000000000000"),
        (ROOT, "not-an-operation-id"),
        (OTHER_ROOT, mine.as_str()),
    ] {
        let reply = server.result(key, id).await;
        reply.assert_ok();
        assert!(reply.json.get("Data").is_none(), "{id}: {}", reply.json);
        assert_eq!(reply.message(), NOT_FOUND_MESSAGE);
    }
}

#[tokio::test]
async fn an_operation_past_its_retention_gets_code_200_without_data() {
    let dir = TestDir::new();
    let server = dir
        .serve(&dir.config("[operations]\nretention = \"1s\"\n"))
        .await;
    let id = server
        .submit(
            "rename",
            &json!({"instanceId": RUNNING_INSTANCE, "instance_name": "short-lived"}),
        )
        .await;
    let finished = server.wait_final(ROOT, &id, FINISH_WITHIN).await;
    assert_eq!(finished["Status"], "SUCCESS", "{finished}");

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = server.result(ROOT, &id).await;
        reply.assert_ok();
        if reply.json.get("Data").is_none() {
            assert_eq!(reply.message(), NOT_FOUND_MESSAGE);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still readable long after its 1s retention: {}",
            reply.json
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_client_token_reused_with_the_same_parameters_returns_the_first_id() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    // The same attributes, written differently: the JSON is compared, not the text.
    let compact = r#"{"instanceId":"i-running","tags":{"a":"1"}}"#;
    let spaced = r#"{"tags": {"a": "1"}, "instanceId": "i-running"}"#;
    let mut ids = Vec::new();
    for attributes in [compact, compact, spaced] {
        let mut params = execute_params("addTags", attributes).to_vec();
        params.push(("ClientToken", "token-1"));
        let reply = server.call(ROOT, "ExecuteOperationASync", &params).await;
        ids.push(operation_id(&reply));
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[0], ids[2]);
}

#[tokio::test]
async fn a_client_token_reused_with_other_parameters_is_an_idempotent_parameter_mismatch() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let first = add_tags(RUNNING_INSTANCE, json!({"a": "1"})).to_string();
    let other = add_tags(RUNNING_INSTANCE, json!({"a": "2"})).to_string();
    let mut params = execute_params("addTags", &first).to_vec();
    params.push(("ClientToken", "token-2"));
    operation_id(&server.call(ROOT, "ExecuteOperationASync", &params).await);

    params[3] = ("Attributes", &other);
    server
        .call(ROOT, "ExecuteOperationASync", &params)
        .await
        .assert_error(400, "IdempotentParameterMismatch");
}

#[tokio::test]
async fn invalid_attributes_are_invalid_parameter_naming_the_field() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    for (operation, attributes, field) in [
        (
            "rename",
            json!({"instanceId": RUNNING_INSTANCE, "instance_name": "x"}),
            "instance_name",
        ),
        (
            "rename",
            json!({"instance_name": "fine-name"}),
            "instanceId",
        ),
        (
            "addTags",
            add_tags(RUNNING_INSTANCE, json!({"aliyun:reserved": "v"})),
            "tags",
        ),
    ] {
        let reply = server
            .execute("ExecuteOperationASync", operation, &attributes)
            .await;
        reply.assert_error(400, "InvalidParameter");
        assert!(
            reply.message().contains(&format!("Attributes.{field}")),
            "{operation} {attributes}: {}",
            reply.message()
        );
    }
}

#[tokio::test]
async fn an_unknown_application_id_is_not_found() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let attributes = json!({"instanceId": RUNNING_INSTANCE, "instance_name": "x-1"}).to_string();
    // Unknown everywhere, and known only in another account.
    for application in ["APP-NOPE", "APP-OTHER"] {
        let mut params = execute_params("rename", &attributes);
        params[2] = ("ApplicationId", application);
        let reply = server.call(ROOT, "ExecuteOperationASync", &params).await;
        reply.assert_error(404, "InvalidApplicationId.NotFound");
        assert!(reply.message().contains(application), "{}", reply.message());
    }
}

#[tokio::test]
async fn a_type_change_on_a_running_instance_ends_in_failure_with_incorrect_instance_status() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let id = server
        .submit(
            "modifyInstanceType",
            &json!({
                "instanceId": RUNNING_INSTANCE,
                "change_type": "modify_instance_type",
                "instance_type": "ecs.g7.xlarge"
            }),
        )
        .await;
    let data = server.wait_final(ROOT, &id, FINISH_WITHIN).await;
    assert_eq!(data["Status"], "FAILURE", "{data}");
    let message = data["Message"].as_str().unwrap();
    assert!(
        message.starts_with("IncorrectInstanceStatus: "),
        "{message}"
    );
    assert_eq!(data["Arguments"], "{}");

    // Nothing changed: the next operation sees the old type.
    let id = server
        .submit(
            "rename",
            &json!({"instanceId": RUNNING_INSTANCE, "instance_name": "after-failure"}),
        )
        .await;
    let data = server.wait_final(ROOT, &id, FINISH_WITHIN).await;
    assert_eq!(state(&data)["instance_type"], "ecs.g7.large");
}
