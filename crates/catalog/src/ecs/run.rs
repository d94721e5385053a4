//! Running the emulated `ecs` operations against an instance's current state.
//!
//! Checks run in a fixed order, each ending the run as `FAILURE` with a stable code:
//! the instance is visible (`InstanceNotFound`), the region matches
//! (`InvalidRegionId.Mismatch`), then the operation's own state rules
//! (`IncorrectInstanceStatus`, `TagLimitExceeded`). Visibility comes first so that nothing
//! about an instance of another application leaks, not even its region.

use serde_json::{Map, Value, json};

use super::{MAX_TAGS, Operation, SERVICE};
use crate::emulated::{Decision, Effect, Run, update_if_changed, visible};
use crate::value::text;

const RUNNING: &str = "Running";
const STOPPED: &str = "Stopped";

/// Runs `operation`; `run.attributes` have passed `Entry::validate`.
pub(crate) fn run(operation: Operation, run: &Run) -> Decision {
    let id = text(run.attributes, "instanceId").unwrap_or_default();
    let Some(resource) = visible(run, SERVICE, id) else {
        return Decision::failure(
            "InstanceNotFound",
            format!("The specified instance \"{id}\" does not exist."),
        );
    };
    let before = &resource.properties;
    if let Some(region) = text(run.attributes, "regionId") {
        let actual = before.get("region_id").and_then(Value::as_str);
        if actual != Some(region) {
            let detail = match actual {
                Some(actual) => {
                    format!("The instance \"{id}\" is in region \"{actual}\", not \"{region}\".")
                }
                None => format!("The instance \"{id}\" is not in region \"{region}\"."),
            };
            return Decision::failure("InvalidRegionId.Mismatch", detail);
        }
    }

    let status = before.get("status").and_then(Value::as_str).unwrap_or("");
    let incorrect = |action: &str, needed: &str| {
        Decision::failure(
            "IncorrectInstanceStatus",
            format!("The instance \"{id}\" is {status}; {action} needs it {needed}."),
        )
    };
    let mut after = before.clone();
    let mut arguments = json!({});
    match operation {
        Operation::Rename => {
            copy(run.attributes, "instance_name", &mut after);
        }
        Operation::ModifyInstanceType => {
            if text(run.attributes, "change_type") == Some("modify_instance_type") {
                // Real ECS resizes only stopped instances (ModifyInstanceSpec).
                if status != STOPPED {
                    return incorrect("changing its instance type", STOPPED);
                }
                copy(run.attributes, "instance_type", &mut after);
            } else {
                let wanted = text(run.attributes, "status").unwrap_or_default();
                match (wanted, status) {
                    ("Restart", RUNNING) => {}
                    ("Restart", _) => return incorrect("a restart", RUNNING),
                    (RUNNING, RUNNING) | (STOPPED, STOPPED) => {}
                    (RUNNING, STOPPED) | (STOPPED, RUNNING) => {
                        after.insert("status".into(), json!(wanted));
                    }
                    (RUNNING, _) => return incorrect("starting it", STOPPED),
                    _ => return incorrect("stopping it", RUNNING),
                }
            }
        }
        Operation::AddTags => {
            let requested = run
                .attributes
                .get("tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut tags = before
                .get("tags")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            tags.extend(requested.clone());
            if tags.len() > MAX_TAGS {
                return Decision::failure(
                    "TagLimitExceeded",
                    format!(
                        "The instance \"{id}\" would carry {} tags; at most {MAX_TAGS} are allowed.",
                        tags.len()
                    ),
                );
            }
            after.insert("tags".into(), Value::Object(tags));
            let tag_map: Map<String, Value> = requested
                .keys()
                .map(|key| (key.clone(), json!([id])))
                .collect();
            arguments = json!({ "tagMap": tag_map });
        }
        Operation::Delete => {
            let force = run
                .attributes
                .get("force")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !force && status != STOPPED {
                return incorrect("deleting it without force", STOPPED);
            }
            after.insert("status".into(), json!("Deleted"));
            return Decision::success(&view(id, after), &arguments, Some(Effect::Delete));
        }
        Operation::ModifyPayType => {
            copy(run.attributes, "pay_type", &mut after);
        }
    }
    let state = view(id, after.clone());
    Decision::success(&state, &arguments, update_if_changed(before, after))
}

/// Sets property `name` from the attribute of the same name.
fn copy(attributes: &Map<String, Value>, name: &str, properties: &mut Map<String, Value>) {
    if let Some(value) = attributes.get(name) {
        properties.insert(name.to_string(), value.clone());
    }
}

/// The instance as reported in `Message`: its properties plus its id.
fn view(id: &str, mut properties: Map<String, Value>) -> Value {
    properties.insert("instanceId".into(), json!(id));
    Value::Object(properties)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Resource;

    fn instance(status: &str) -> Resource {
        Resource {
            service: "ecs".into(),
            id: "i-web1".into(),
            application: "APP-WEB".into(),
            properties: json!({
                "instance_name": "web-1",
                "instance_type": "ecs.g7.large",
                "status": status,
                "region_id": "cn-hangzhou"
            })
            .as_object()
            .unwrap()
            .clone(),
        }
    }

    fn with_tags(count: usize) -> Resource {
        let mut resource = instance(RUNNING);
        let tags: Map<String, Value> = (0..count).map(|i| (format!("t{i}"), json!("v"))).collect();
        resource
            .properties
            .insert("tags".into(), Value::Object(tags));
        resource
    }

    /// Validates like the engine does at submit, then runs.
    fn execute(
        operation: &str,
        attributes: Value,
        application: Option<&str>,
        resource: Option<&Resource>,
    ) -> Decision {
        crate::emulated::validate_and_run("ecs", operation, attributes, application, resource)
    }

    fn on(operation: &str, attributes: Value, resource: &Resource) -> Decision {
        execute(operation, attributes, Some("APP-WEB"), Some(resource))
    }

    fn state(decision: &Decision) -> Value {
        assert!(decision.succeeded, "expected success: {}", decision.message);
        serde_json::from_str(&decision.message).expect("Message is JSON")
    }

    fn updated(decision: &Decision) -> &Map<String, Value> {
        match &decision.effect {
            Some(Effect::Update(properties)) => properties,
            other => panic!("expected an update, got {other:?}"),
        }
    }

    fn status_change(status: &str) -> Value {
        json!({"instanceId": "i-web1", "change_type": "modify_status", "status": status})
    }

    fn type_change() -> Value {
        json!({"instanceId": "i-web1", "change_type": "modify_instance_type", "instance_type": "ecs.c7.xlarge"})
    }

    #[test]
    fn rename_reports_the_instance_with_its_new_name() {
        let decision = on(
            "rename",
            json!({"instanceId": "i-web1", "instance_name": "web-2"}),
            &instance(RUNNING),
        );
        let state = state(&decision);
        assert_eq!(state["instance_name"], "web-2");
        assert_eq!(state["instanceId"], "i-web1");
        assert_eq!(state["status"], "Running");
        assert_eq!(decision.arguments, "{}");
        assert_eq!(updated(&decision)["instance_name"], "web-2");
    }

    #[test]
    fn missing_instance_is_instance_not_found() {
        let decision = execute(
            "rename",
            json!({"instanceId": "i-gone", "instance_name": "web-2"}),
            None,
            None,
        );
        assert!(!decision.succeeded);
        assert_eq!(
            decision.message,
            "InstanceNotFound: The specified instance \"i-gone\" does not exist."
        );
        assert_eq!(decision.effect, None);
        assert_eq!(decision.arguments, "{}");
    }

    #[test]
    fn instance_of_another_application_looks_missing() {
        let resource = instance(RUNNING);
        let attributes = json!({"instanceId": "i-web1", "instance_name": "web-2"});
        let hidden = execute(
            "rename",
            attributes.clone(),
            Some("APP-DB"),
            Some(&resource),
        );
        let missing = execute("rename", attributes.clone(), Some("APP-DB"), None);
        assert_eq!(hidden, missing);
        assert!(execute("rename", attributes, Some("APP-WEB"), Some(&resource)).succeeded);
    }

    #[test]
    fn an_operation_in_no_application_never_reaches_an_instance() {
        // Its target did not exist when it was submitted, so its submitter was authorized
        // for no application: an instance that appeared since looks missing.
        let attributes = json!({"instanceId": "i-web1", "instance_name": "web-2"});
        let unchecked = execute("rename", attributes.clone(), None, Some(&instance(RUNNING)));
        let missing = execute("rename", attributes, None, None);
        assert_eq!(unchecked, missing);
    }

    #[test]
    fn region_mismatch_fails_after_visibility() {
        let attributes =
            json!({"instanceId": "i-web1", "instance_name": "web-2", "regionId": "cn-beijing"});
        let decision = on("rename", attributes.clone(), &instance(RUNNING));
        assert_eq!(
            decision.message,
            "InvalidRegionId.Mismatch: The instance \"i-web1\" is in region \"cn-hangzhou\", not \"cn-beijing\"."
        );
        let hidden = execute(
            "rename",
            attributes,
            Some("APP-DB"),
            Some(&instance(RUNNING)),
        );
        assert!(hidden.message.starts_with("InstanceNotFound: "));
        let matching =
            json!({"instanceId": "i-web1", "instance_name": "web-2", "regionId": "cn-hangzhou"});
        assert!(on("rename", matching, &instance(RUNNING)).succeeded);
    }

    #[test]
    fn type_change_needs_a_stopped_instance() {
        let decision = on("modifyInstanceType", type_change(), &instance(RUNNING));
        assert!(!decision.succeeded);
        assert_eq!(
            decision.message,
            "IncorrectInstanceStatus: The instance \"i-web1\" is Running; changing its instance type needs it Stopped."
        );
        assert_eq!(decision.effect, None);
    }

    #[test]
    fn type_change_on_stopped_instance_applies() {
        let decision = on("modifyInstanceType", type_change(), &instance(STOPPED));
        assert_eq!(state(&decision)["instance_type"], "ecs.c7.xlarge");
        assert_eq!(updated(&decision)["instance_type"], "ecs.c7.xlarge");
        assert_eq!(updated(&decision)["status"], "Stopped");
    }

    #[test]
    fn restart_needs_a_running_instance() {
        let decision = on(
            "modifyInstanceType",
            status_change("Restart"),
            &instance(STOPPED),
        );
        assert_eq!(
            decision.message,
            "IncorrectInstanceStatus: The instance \"i-web1\" is Stopped; a restart needs it Running."
        );
    }

    #[test]
    fn restart_leaves_a_running_instance_running() {
        let decision = on(
            "modifyInstanceType",
            status_change("Restart"),
            &instance(RUNNING),
        );
        assert_eq!(state(&decision)["status"], "Running");
        assert_eq!(decision.effect, None);
    }

    #[test]
    fn reaching_the_current_status_is_a_no_op_success() {
        for status in [RUNNING, STOPPED] {
            let decision = on(
                "modifyInstanceType",
                status_change(status),
                &instance(status),
            );
            assert_eq!(state(&decision)["status"], status);
            assert_eq!(decision.effect, None, "{status}");
            assert_eq!(decision.arguments, "{}");
        }
    }

    #[test]
    fn start_and_stop_change_the_status() {
        let stop = on(
            "modifyInstanceType",
            status_change(STOPPED),
            &instance(RUNNING),
        );
        assert_eq!(updated(&stop)["status"], "Stopped");
        let start = on(
            "modifyInstanceType",
            status_change(RUNNING),
            &instance(STOPPED),
        );
        assert_eq!(updated(&start)["status"], "Running");
    }

    #[test]
    fn add_tags_outputs_a_tag_map_of_applied_keys() {
        let attributes = json!({"instanceId": "i-web1", "tags": {"env": "prod", "team": "web"}});
        let decision = on("addTags", attributes, &with_tags(1));
        let arguments: Value = serde_json::from_str(&decision.arguments).unwrap();
        assert_eq!(
            arguments,
            json!({"tagMap": {"env": ["i-web1"], "team": ["i-web1"]}})
        );
        assert_eq!(
            state(&decision)["tags"],
            json!({"t0": "v", "env": "prod", "team": "web"})
        );
    }

    #[test]
    fn add_tags_to_an_untagged_instance_creates_its_tags() {
        let decision = on(
            "addTags",
            json!({"instanceId": "i-web1", "tags": {"env": "prod"}}),
            &instance(RUNNING),
        );
        assert_eq!(updated(&decision)["tags"], json!({"env": "prod"}));
    }

    #[test]
    fn tag_limit_counts_the_tags_after_merging() {
        let three_new = json!({"instanceId": "i-web1", "tags": {"a": "1", "b": "2", "c": "3"}});
        let decision = on("addTags", three_new, &with_tags(18));
        assert!(!decision.succeeded);
        assert_eq!(
            decision.message,
            "TagLimitExceeded: The instance \"i-web1\" would carry 21 tags; at most 20 are allowed."
        );
        // Overwriting keys the instance has does not count against the limit.
        let two_new_two_old =
            json!({"instanceId": "i-web1", "tags": {"t0": "x", "t1": "y", "a": "1", "b": "2"}});
        let decision = on("addTags", two_new_two_old, &with_tags(18));
        assert_eq!(updated(&decision)["tags"].as_object().unwrap().len(), 20);
        assert_eq!(updated(&decision)["tags"]["t0"], "x");
    }

    #[test]
    fn delete_without_force_needs_a_stopped_instance() {
        let decision = on(
            "ecsDelete",
            json!({"instanceId": "i-web1"}),
            &instance(RUNNING),
        );
        assert_eq!(
            decision.message,
            "IncorrectInstanceStatus: The instance \"i-web1\" is Running; deleting it without force needs it Stopped."
        );
        assert_eq!(decision.effect, None);
        let explicit = on(
            "ecsDelete",
            json!({"instanceId": "i-web1", "force": false}),
            &instance(RUNNING),
        );
        assert!(!explicit.succeeded);
    }

    #[test]
    fn delete_reports_the_instance_as_deleted() {
        for (attributes, status) in [
            (json!({"instanceId": "i-web1"}), STOPPED),
            (json!({"instanceId": "i-web1", "force": true}), RUNNING),
        ] {
            let decision = on("ecsDelete", attributes, &instance(status));
            let state = state(&decision);
            assert_eq!(state["status"], "Deleted");
            assert_eq!(state["instanceId"], "i-web1");
            assert_eq!(state["instance_name"], "web-1");
            assert_eq!(decision.effect, Some(Effect::Delete));
            assert_eq!(decision.arguments, "{}");
        }
    }

    #[test]
    fn deleted_instance_is_not_found_afterwards() {
        let decision = execute(
            "ecsDelete",
            json!({"instanceId": "i-web1", "force": true}),
            None,
            None,
        );
        assert!(
            decision.message.starts_with("InstanceNotFound: "),
            "{}",
            decision.message
        );
    }

    #[test]
    fn pay_type_change_is_recorded_and_repeating_it_is_a_no_op() {
        let decision = on(
            "modifyPayType",
            json!({"instanceId": "i-web1", "pay_type": "PrePaid"}),
            &instance(RUNNING),
        );
        assert_eq!(state(&decision)["pay_type"], "PrePaid");
        let mut prepaid = instance(RUNNING);
        prepaid.properties = updated(&decision).clone();
        let again = on(
            "modifyPayType",
            json!({"instanceId": "i-web1", "pay_type": "PrePaid"}),
            &prepaid,
        );
        assert!(again.succeeded);
        assert_eq!(again.effect, None);
    }

    #[test]
    fn every_failure_message_starts_with_a_code() {
        let failures = [
            execute(
                "rename",
                json!({"instanceId": "i-x", "instance_name": "ab"}),
                None,
                None,
            ),
            on("modifyInstanceType", type_change(), &instance(RUNNING)),
            on(
                "addTags",
                json!({"instanceId": "i-web1", "tags": {"a": "1", "b": "2", "c": "3"}}),
                &with_tags(18),
            ),
            on(
                "rename",
                json!({"instanceId": "i-web1", "instance_name": "ab", "regionId": "x"}),
                &instance(RUNNING),
            ),
        ];
        for decision in failures {
            let (code, rest) = decision.message.split_once(": ").expect("code then ': '");
            assert!(
                !code.is_empty() && !code.contains(' '),
                "{}",
                decision.message
            );
            assert!(!rest.is_empty());
        }
    }
}
