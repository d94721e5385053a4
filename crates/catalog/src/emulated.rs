//! The emulated executor: what a run sees ([`Run`]), what it decides ([`Decision`], with an
//! [`Effect`] as data), and the dispatch to the service that implements each operation.
//!
//! A run is a pure function of the entry, the attributes and the resource's current state.
//! It never writes anything: the engine commits the effect together with the final status in
//! one transaction, so a crash can neither apply an effect twice nor lose it. Latency and
//! failure injection belong to the engine too, which keeps these rules testable as plain
//! function calls.

use serde_json::{Map, Value, json};

use crate::catalog::{Builtin, Entry};
use crate::{ecs, slb};

/// The most characters an id-like attribute of an emulated operation may have. Real cloud ids
/// are far shorter; the bound keeps what one request makes bpops store and remember small
/// (an id is kept in the operation's attributes, its resource key and often its message).
pub(crate) const MAX_ID_LENGTH: usize = 128;

/// The schema of an id-like attribute: 1 to [`MAX_ID_LENGTH`] characters.
pub(crate) fn id_schema(description: &str) -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH,
        "description": format!("{description} 1 to {MAX_ID_LENGTH} characters."),
    })
}

/// The inventory record of one resource, as the store holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The service type, e.g. `ecs`.
    pub service: String,
    /// The resource id, e.g. `i-web1`.
    pub id: String,
    /// The application the resource belongs to.
    pub application: String,
    /// The resource's state, as declared in the configuration and changed by operations.
    pub properties: Map<String, Value>,
}

/// What an emulated run sees.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The operation being run.
    pub entry: &'a Entry,
    /// The attributes, already validated by [`Entry::validate`].
    pub attributes: &'a Map<String, Value>,
    /// The application the operation acts in (its target's when it was submitted, or else
    /// the request's ApplicationId), if any.
    pub application: Option<&'a str>,
    /// The target's current state; `None` when it does not exist (or no longer does).
    pub resource: Option<&'a Resource>,
}

/// What an emulated run decided. The engine commits `effect` and the final status in one
/// transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `SUCCESS` when true, `FAILURE` otherwise.
    pub succeeded: bool,
    /// On success the resource's state after the operation, as JSON text; on failure a
    /// reason starting with a stable code and `": "`.
    pub message: String,
    /// The operation's output as JSON text, `"{}"` when none.
    pub arguments: String,
    /// The change to commit; `None` when nothing changes (failures, no-op successes).
    pub effect: Option<Effect>,
}

/// A change to the target resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Replace the resource's properties with these (the whole map, not a patch).
    Update(Map<String, Value>),
    /// Remove the resource from the inventory.
    Delete,
}

impl Decision {
    /// A failure whose message is `"{code}: {text}"`.
    pub(crate) fn failure(code: &str, text: impl std::fmt::Display) -> Decision {
        Decision {
            succeeded: false,
            message: format!("{code}: {text}"),
            arguments: "{}".to_string(),
            effect: None,
        }
    }

    /// A success reporting `state` (serialized as the message) and `arguments`.
    pub(crate) fn success(state: &Value, arguments: &Value, effect: Option<Effect>) -> Decision {
        Decision {
            succeeded: true,
            message: state.to_string(),
            arguments: arguments.to_string(),
            effect,
        }
    }
}

/// Runs a built-in emulated operation against the resource's current state (a pure
/// function). For an entry whose executor is not [`Executor::Emulated`](crate::Executor)
/// it returns an `InternalError` failure rather than panic: the caller matched wrongly, and
/// the operation should end visibly rather than take the worker down.
pub fn run_emulated(run: &Run) -> Decision {
    match run.entry.builtin_operation() {
        Some(Builtin::Ecs(operation)) => ecs::run(operation, run),
        Some(Builtin::Slb(operation)) => slb::run(operation, run),
        None => Decision::failure(
            "InternalError",
            format!(
                "{}/{} is not an emulated operation",
                run.entry.service(),
                run.entry.operation()
            ),
        ),
    }
}

/// The resource a run may act on, or `None` when it must be reported as not found: absent,
/// of another service or id, or not in the operation's application. The submitter was
/// authorized for that application only (for none, when the target did not exist then), so
/// a resource outside it looks exactly like absence: a run never reaches a resource its
/// submitter's policies were not checked against, and learns nothing about it.
pub(crate) fn visible<'a>(run: &Run<'a>, service: &str, id: &str) -> Option<&'a Resource> {
    let resource = run.resource?;
    let same_application = run.application == Some(resource.application.as_str());
    (resource.service == service && resource.id == id && same_application).then_some(resource)
}

/// An effect replacing `before` with `after`, or none when they are equal, so no-op
/// successes write nothing.
pub(crate) fn update_if_changed(
    before: &Map<String, Value>,
    after: Map<String, Value>,
) -> Option<Effect> {
    (before != &after).then_some(Effect::Update(after))
}

/// Validates `attributes` as a submit would, then runs the operation: the path every
/// emulated-operation test takes.
#[cfg(test)]
pub(crate) fn validate_and_run(
    service: &str,
    operation: &str,
    attributes: serde_json::Value,
    application: Option<&str>,
    resource: Option<&Resource>,
) -> Decision {
    let catalog = crate::Catalog::builtin();
    let entry = catalog.entry(service, operation).unwrap();
    let attributes = attributes.as_object().unwrap().clone();
    entry
        .validate(&attributes, application)
        .expect("test attributes are valid");
    run_emulated(&Run {
        entry,
        attributes: &attributes,
        application,
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;
    use serde_json::json;

    fn resource(application: &str) -> Resource {
        Resource {
            service: "ecs".into(),
            id: "i-web1".into(),
            application: application.into(),
            properties: Map::new(),
        }
    }

    #[test]
    fn failure_message_starts_with_code_and_colon() {
        let decision = Decision::failure("InstanceNotFound", "gone");
        assert!(!decision.succeeded);
        assert_eq!(decision.message, "InstanceNotFound: gone");
        assert_eq!(decision.arguments, "{}");
        assert_eq!(decision.effect, None);
    }

    #[test]
    fn only_a_resource_of_the_operation_application_is_visible() {
        let catalog = Catalog::builtin();
        let entry = catalog.entry("ecs", "rename").unwrap();
        let attributes = Map::new();
        let owned = resource("APP-WEB");
        let run = |application| Run {
            entry,
            attributes: &attributes,
            application,
            resource: Some(&owned),
        };
        assert!(visible(&run(Some("APP-WEB")), "ecs", "i-web1").is_some());
        assert!(visible(&run(Some("APP-DB")), "ecs", "i-web1").is_none());
        assert!(visible(&run(None), "ecs", "i-web1").is_none());
        assert!(visible(&run(Some("APP-WEB")), "slb", "i-web1").is_none());
        assert!(visible(&run(Some("APP-WEB")), "ecs", "i-web2").is_none());
    }

    #[test]
    fn unchanged_properties_produce_no_effect() {
        let before = json!({"a": 1}).as_object().unwrap().clone();
        assert_eq!(update_if_changed(&before, before.clone()), None);
        let after = json!({"a": 2}).as_object().unwrap().clone();
        assert_eq!(
            update_if_changed(&before, after.clone()),
            Some(Effect::Update(after))
        );
    }
}
