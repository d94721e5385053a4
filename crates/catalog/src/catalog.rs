//! The catalog proper: which operations exist, and what each one ([`Entry`]) knows about
//! itself: display name, attribute schema, description, outputs, target and executor.
//!
//! Entries are built once (by the service modules for the built-ins, by `declared` for the
//! operations the configuration adds) and only read after that, so lookups hand out
//! references and nothing here needs locking.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::declared::{self, Declared};
use crate::error::{DeclaredError, InvalidAttribute, LookupError};
use crate::executor::Executor;
use crate::retry::RetryPolicy;
use crate::schema::Schema;
use crate::templates::{self, Template};
use crate::{ecs, slb};

/// All operations bpops knows, by (service, operation), and the application templates, by
/// id.
#[derive(Debug, Clone)]
pub struct Catalog {
    services: BTreeMap<String, BTreeMap<String, Entry>>,
    templates: BTreeMap<String, Template>,
}

impl Catalog {
    /// The built-in emulated services, `ecs` and `slb`, and the built-in templates.
    pub fn builtin() -> Catalog {
        let mut services: BTreeMap<String, BTreeMap<String, Entry>> = BTreeMap::new();
        for entry in ecs::entries().into_iter().chain(slb::entries()) {
            services
                .entry(entry.service.clone())
                .or_default()
                .insert(entry.operation.clone(), entry);
        }
        let templates = templates::builtin()
            .into_iter()
            .map(|template| (template.id.clone(), template))
            .collect();
        Catalog {
            services,
            templates,
        }
    }

    /// This catalog plus a template the configuration declares (`[[templates]]`), refused
    /// when it does not pass [`Template::check`] or its id is taken.
    pub fn with_template(mut self, template: Template) -> Result<Catalog, InvalidAttribute> {
        template.check()?;
        if self.templates.contains_key(&template.id) {
            return Err(InvalidAttribute::new(
                "id",
                format!(
                    "\"{}\" is a built-in template or declared more than once",
                    template.id
                ),
            ));
        }
        self.templates.insert(template.id.clone(), template);
        Ok(self)
    }

    /// The templates, by id.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.templates.values()
    }

    /// The template with this id.
    pub fn template(&self, id: &str) -> Option<&Template> {
        self.templates.get(id)
    }

    /// This catalog plus the operations the configuration declares (`[[operations.declared]]`).
    ///
    /// Refuses, naming the entry, the field and the problem: a declaration that does not
    /// validate, a service that is built in, and a `(service, operation)` declared twice.
    /// `resolve` turns a command's `argv[0]` into the program's absolute path (or says why it
    /// cannot); it is passed in because looking at `PATH` and the file system is I/O, which this
    /// crate does not do. `bpops_executors::resolve_program` is the real one.
    pub fn with_declared(
        mut self,
        declared: Vec<Declared>,
        resolve: &dyn Fn(&str) -> Result<PathBuf, String>,
    ) -> Result<Catalog, DeclaredError> {
        let builtin: Vec<String> = self.services.keys().cloned().collect();
        for (index, declaration) in declared.into_iter().enumerate() {
            let name = format!("{}/{}", declaration.service, declaration.operation);
            let fail = |field: &str, problem: String| DeclaredError {
                index,
                name: name.clone(),
                field: field.to_string(),
                problem,
            };
            if builtin.contains(&declaration.service) {
                return Err(fail(
                    "service",
                    format!(
                        "\"{}\" is a built-in service; declared operations need a service of their own",
                        declaration.service
                    ),
                ));
            }
            let entry = declared::convert(declaration, resolve)
                .map_err(|(field, problem)| fail(&field, problem))?;
            let operations = self.services.entry(entry.service.clone()).or_default();
            if operations.contains_key(&entry.operation) {
                return Err(fail(
                    "operation",
                    format!("{name} is declared more than once"),
                ));
            }
            operations.insert(entry.operation.clone(), entry);
        }
        Ok(self)
    }

    /// The service type names, sorted and distinct.
    pub fn services(&self) -> Vec<&str> {
        self.services.keys().map(String::as_str).collect()
    }

    /// The operations of `service`, sorted by operation name; `None` for an unknown service.
    pub fn operations(&self, service: &str) -> Option<Vec<&Entry>> {
        self.services
            .get(service)
            .map(|operations| operations.values().collect())
    }

    /// The entry for `(service, operation)`.
    pub fn entry(&self, service: &str, operation: &str) -> Result<&Entry, LookupError> {
        let operations = self
            .services
            .get(service)
            .ok_or_else(|| LookupError::UnknownService(service.to_string()))?;
        operations
            .get(operation)
            .ok_or_else(|| LookupError::UnknownOperation {
                service: service.to_string(),
                operation: operation.to_string(),
            })
    }
}

/// One operation.
#[derive(Debug, Clone)]
pub struct Entry {
    service: String,
    operation: String,
    display_name: String,
    attributes_schema: Value,
    schema: Schema,
    properties: Value,
    outputs: Value,
    target: Option<TargetRule>,
    /// The built-in behaviour (cross-field rules, emulation); `None` for declared operations,
    /// which are checked by their schema only.
    builtin: Option<Builtin>,
    executor: Executor,
    timeout: Option<Duration>,
    retry: RetryPolicy,
}

/// Which attribute names an operation's target, and in which service the resource lives.
#[derive(Debug, Clone)]
pub(crate) struct TargetRule {
    pub(crate) service: String,
    pub(crate) attribute: String,
}

/// What `declared` has checked about one declared operation, ready to become an [`Entry`].
pub(crate) struct DeclaredParts {
    pub(crate) service: String,
    pub(crate) operation: String,
    pub(crate) display_name: String,
    pub(crate) attributes_schema: Value,
    pub(crate) schema: Schema,
    pub(crate) properties: Value,
    pub(crate) outputs: Value,
    pub(crate) target: Option<TargetRule>,
    pub(crate) executor: Executor,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
}

/// The built-in operation an entry stands for: selects its cross-field rules and its
/// emulated behaviour. Declared operations have neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    /// An `ecs` operation.
    Ecs(ecs::Operation),
    /// An `slb` operation.
    Slb(slb::Operation),
}

/// What a service module declares about one built-in operation.
pub(crate) struct BuiltinSpec {
    pub(crate) service: &'static str,
    pub(crate) operation: &'static str,
    pub(crate) display_name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) attributes_schema: Value,
    /// The attribute holding the target resource's id (in `service`).
    pub(crate) target_attribute: &'static str,
    /// Run-time rules, one sentence each, shown in `Properties` so clients can read why an
    /// operation may end as `FAILURE`.
    pub(crate) rules: &'static [&'static str],
    pub(crate) outputs: Value,
    pub(crate) builtin: Builtin,
}

impl Entry {
    /// Builds a built-in entry.
    ///
    /// # Panics
    ///
    /// If the built-in schema is outside the supported subset: a programming error, which
    /// every test that calls `Catalog::builtin` would reveal.
    pub(crate) fn builtin(spec: BuiltinSpec) -> Entry {
        let schema = Schema::parse(&spec.attributes_schema).unwrap_or_else(|error| {
            panic!(
                "built-in schema of {}/{} is invalid: {error}",
                spec.service, spec.operation
            )
        });
        let properties = serde_json::json!({
            "resourceType": spec.service,
            "targetAttribute": spec.target_attribute,
            "executor": Executor::Emulated.kind(),
            "description": spec.description,
            "rules": spec.rules,
        });
        Entry {
            service: spec.service.to_string(),
            operation: spec.operation.to_string(),
            display_name: spec.display_name.to_string(),
            attributes_schema: spec.attributes_schema,
            schema,
            properties,
            outputs: spec.outputs,
            target: Some(TargetRule {
                service: spec.service.to_string(),
                attribute: spec.target_attribute.to_string(),
            }),
            builtin: Some(spec.builtin),
            executor: Executor::Emulated,
            timeout: None,
            retry: RetryPolicy::once(),
        }
    }

    /// Builds a declared entry from parts `declared` has validated.
    pub(crate) fn declared(parts: DeclaredParts) -> Entry {
        Entry {
            service: parts.service,
            operation: parts.operation,
            display_name: parts.display_name,
            attributes_schema: parts.attributes_schema,
            schema: parts.schema,
            properties: parts.properties,
            outputs: parts.outputs,
            target: parts.target,
            builtin: None,
            executor: parts.executor,
            timeout: Some(parts.timeout),
            retry: parts.retry,
        }
    }

    /// The service type, e.g. `ecs`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The operation name, e.g. `modifyInstanceType`.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// A human-readable name, shown by ListOperations.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The attribute schema as a JSON Schema object (GetOperationParams `Attributes`):
    /// `{"type":"object","properties":{..},"required":[..],"additionalProperties":false}`.
    pub fn attributes_schema(&self) -> &Value {
        &self.attributes_schema
    }

    /// A JSON object describing the operation (GetOperationParams `Properties`): the resource
    /// type it acts on (`resourceType`), the attribute naming the target (`targetAttribute`),
    /// the executor kind and a description; built-ins add their run-time rules, declared
    /// operations their timeout and retry policy. Never a secret, URL or program path.
    pub fn properties(&self) -> Value {
        self.properties.clone()
    }

    /// A JSON object describing the fields of `Arguments` on success (GetOperationParams
    /// `Outputs`); `{}` when the operation outputs nothing.
    pub fn outputs(&self) -> Value {
        self.outputs.clone()
    }

    /// Validates attributes before anything is stored: the schema first, then (built-ins only)
    /// the rules across fields that the schema cannot express. `application` is the request's
    /// ApplicationId, if any.
    pub fn validate(
        &self,
        attributes: &Map<String, Value>,
        application: Option<&str>,
    ) -> Result<(), InvalidAttribute> {
        self.schema.validate_object(attributes)?;
        match self.builtin {
            Some(Builtin::Ecs(operation)) => ecs::check(operation, attributes, application),
            Some(Builtin::Slb(operation)) => slb::check(operation, attributes),
            None => Ok(()),
        }
    }

    /// The resource the operation acts on. Call only after [`Entry::validate`]; `None` when
    /// the operation has no target or the attribute is absent.
    pub fn target(&self, attributes: &Map<String, Value>) -> Option<Target> {
        let rule = self.target.as_ref()?;
        let id = attributes.get(&rule.attribute)?.as_str()?;
        Some(Target {
            service: rule.service.clone(),
            id: id.to_string(),
        })
    }

    /// How the operation runs.
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// The limit on one attempt of a declared operation; `None` for built-ins, whose latency
    /// the engine injects itself.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// When a failed attempt is tried again; built-ins get [`RetryPolicy::once`].
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    pub(crate) fn builtin_operation(&self) -> Option<Builtin> {
        self.builtin
    }
}

/// A resource in the inventory, by service and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// The service type the resource belongs to, e.g. `ecs`.
    pub service: String,
    /// The resource id, e.g. `i-web1`.
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().expect("test value is an object").clone()
    }

    #[test]
    fn builtin_services_are_ecs_and_slb_sorted() {
        assert_eq!(Catalog::builtin().services(), vec!["ecs", "slb"]);
    }

    #[test]
    fn operations_are_sorted_by_name() {
        let catalog = Catalog::builtin();
        let names: Vec<&str> = catalog
            .operations("ecs")
            .unwrap()
            .iter()
            .map(|e| e.operation())
            .collect();
        assert_eq!(
            names,
            vec![
                "addTags",
                "ecsDelete",
                "modifyInstanceType",
                "modifyPayType",
                "rename"
            ]
        );
        let slb: Vec<&str> = catalog
            .operations("slb")
            .unwrap()
            .iter()
            .map(|e| e.operation())
            .collect();
        assert_eq!(slb, vec!["modifyListenerAttribute"]);
    }

    #[test]
    fn operations_of_unknown_service_is_none() {
        assert!(Catalog::builtin().operations("rds").is_none());
    }

    #[test]
    fn entry_lookup_distinguishes_unknown_service_from_unknown_operation() {
        let catalog = Catalog::builtin();
        assert_eq!(catalog.entry("ecs", "rename").unwrap().service(), "ecs");
        assert_eq!(
            catalog.entry("rds", "rename").unwrap_err(),
            LookupError::UnknownService("rds".into())
        );
        assert_eq!(
            catalog.entry("ecs", "reboot").unwrap_err(),
            LookupError::UnknownOperation {
                service: "ecs".into(),
                operation: "reboot".into()
            }
        );
    }

    #[test]
    fn every_entry_has_a_closed_object_schema_that_reparses() {
        let catalog = Catalog::builtin();
        for service in catalog.services() {
            for entry in catalog.operations(service).unwrap() {
                let schema = entry.attributes_schema();
                let name = format!("{}/{}", entry.service(), entry.operation());
                assert_eq!(schema["type"], "object", "{name}");
                assert_eq!(schema["additionalProperties"], false, "{name}");
                assert!(schema["properties"].is_object(), "{name}");
                assert!(schema["required"].is_array(), "{name}");
                assert!(Schema::parse(schema).is_ok(), "{name}");
                assert!(!entry.display_name().is_empty(), "{name}");
                assert!(matches!(entry.executor(), Executor::Emulated), "{name}");
            }
        }
    }

    #[test]
    fn properties_name_the_resource_type_and_target_attribute() {
        let catalog = Catalog::builtin();
        let rename = catalog.entry("ecs", "rename").unwrap().properties();
        assert_eq!(rename["resourceType"], "ecs");
        assert_eq!(rename["targetAttribute"], "instanceId");
        assert_eq!(rename["executor"], "emulated");
        let slb = catalog
            .entry("slb", "modifyListenerAttribute")
            .unwrap()
            .properties();
        assert_eq!(slb["resourceType"], "slb");
        assert_eq!(slb["targetAttribute"], "loadBalancerId");
    }

    #[test]
    fn outputs_describe_tag_map_for_add_tags_only_among_ecs() {
        let catalog = Catalog::builtin();
        let add_tags = catalog.entry("ecs", "addTags").unwrap().outputs();
        assert!(add_tags["tagMap"].is_object());
        for operation in ["rename", "modifyInstanceType", "ecsDelete", "modifyPayType"] {
            assert_eq!(
                catalog.entry("ecs", operation).unwrap().outputs(),
                json!({}),
                "{operation}"
            );
        }
    }

    #[test]
    fn target_reads_instance_id_for_ecs_and_load_balancer_id_for_slb() {
        let catalog = Catalog::builtin();
        let ecs = catalog.entry("ecs", "rename").unwrap();
        assert_eq!(
            ecs.target(&object(
                json!({"instanceId": "i-web1", "instance_name": "web"})
            )),
            Some(Target {
                service: "ecs".into(),
                id: "i-web1".into()
            })
        );
        let slb = catalog.entry("slb", "modifyListenerAttribute").unwrap();
        assert_eq!(
            slb.target(&object(
                json!({"loadBalancerId": "lb-1", "listenerPort": 80})
            )),
            Some(Target {
                service: "slb".into(),
                id: "lb-1".into()
            })
        );
        assert_eq!(ecs.target(&Map::new()), None);
    }

    #[test]
    fn validate_applies_the_schema_before_cross_field_rules() {
        let entry = Catalog::builtin().entry("ecs", "rename").unwrap().clone();
        let err = entry
            .validate(&object(json!({"instance_name": "web"})), None)
            .unwrap_err();
        assert_eq!(err.to_string(), "instanceId: is required");
    }
}
