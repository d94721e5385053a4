//! The emulated `ecs` service: its operations' catalog entries and the submit-time rules
//! that a schema cannot express. What happens when an operation runs is in [`run`].
//!
//! The attribute names, ranges and rules are the contract in `product.md`, "The emulated
//! operations' attributes (contract)"; where the contract is silent we follow the real ECS
//! API and say so at the rule.

mod run;

use serde_json::{Map, Value, json};

use crate::catalog::{Builtin, BuiltinSpec, Entry};
use crate::emulated::id_schema;
use crate::error::InvalidAttribute;
use crate::value::text;

pub(crate) use run::run;

/// The service type name.
pub(crate) const SERVICE: &str = "ecs";

/// Most tags one instance may carry, and so most one `addTags` may apply.
pub(crate) const MAX_TAGS: usize = 20;

/// Tag key prefixes reserved by the cloud for its own tags.
const RESERVED_TAG_PREFIXES: &[&str] = &["aliyun", "acs:"];

/// The `ecs` operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// `rename`: sets `instance_name`.
    Rename,
    /// `modifyInstanceType`: changes the instance type or the power status.
    ModifyInstanceType,
    /// `addTags`: merges tags into the instance's tags.
    AddTags,
    /// `ecsDelete`: removes the instance.
    Delete,
    /// `modifyPayType`: switches between subscription and pay-as-you-go.
    ModifyPayType,
}

/// The catalog entries of every `ecs` operation.
pub(crate) fn entries() -> Vec<Entry> {
    [
        Operation::Rename,
        Operation::ModifyInstanceType,
        Operation::AddTags,
        Operation::Delete,
        Operation::ModifyPayType,
    ]
    .into_iter()
    .map(|operation| Entry::builtin(spec(operation)))
    .collect()
}

fn spec(operation: Operation) -> BuiltinSpec {
    let (name, display_name, description, own, required, rules): (
        &str,
        &str,
        &str,
        Value,
        &[&str],
        &'static [&'static str],
    ) = match operation {
        Operation::Rename => (
            "rename",
            "Rename an ECS instance",
            "Sets the instance's name.",
            json!({
                "instance_name": {
                    "type": "string", "minLength": 2, "maxLength": 128,
                    "description": "The new instance name, 2 to 128 characters."
                }
            }),
            &["instance_name"],
            &["The instance must exist."],
        ),
        Operation::ModifyInstanceType => (
            "modifyInstanceType",
            "Change an ECS instance's type or status",
            "Changes the instance type (change_type modify_instance_type, with instance_type) \
             or the power status (change_type modify_status, with status).",
            json!({
                "change_type": {
                    "type": "string", "enum": ["modify_instance_type", "modify_status"],
                    "description": "What to change: modify_instance_type needs instance_type, \
                                    modify_status needs status."
                },
                "instance_type": id_schema(
                    "The new instance type, ecs.<family>.<size>, e.g. ecs.g7.large."
                ),
                "status": {
                    "type": "string", "enum": ["Running", "Stopped", "Restart"],
                    "description": "The status to reach; Restart leaves the instance Running."
                }
            }),
            &["change_type"],
            &[
                "The instance must exist.",
                "Changing the instance type needs the instance Stopped.",
                "Restart needs the instance Running.",
                "Asking for the status the instance already has succeeds without change.",
            ],
        ),
        Operation::AddTags => (
            "addTags",
            "Tag an ECS instance",
            "Adds tags to the instance, replacing the values of keys it already has.",
            json!({
                "tags": {
                    "type": "object", "minProperties": 1, "maxProperties": MAX_TAGS,
                    "additionalProperties": {"type": "string", "maxLength": 128},
                    "description": "1 to 20 tags, key to value. Keys are 1 to 128 characters and \
                                    must not start with aliyun or acs:; values are 0 to 128 \
                                    characters."
                }
            }),
            &["tags"],
            &[
                "The instance must exist.",
                "The instance may carry at most 20 tags after the change.",
            ],
        ),
        Operation::Delete => (
            "ecsDelete",
            "Delete an ECS instance",
            "Deletes the instance; it is gone afterwards.",
            json!({
                "force": {
                    "type": "boolean", "default": false,
                    "description": "Delete even if the instance is Running."
                }
            }),
            &[],
            &[
                "The instance must exist.",
                "Without force the instance must be Stopped.",
            ],
        ),
        Operation::ModifyPayType => (
            "modifyPayType",
            "Change an ECS instance's billing method",
            "Switches the instance between subscription (PrePaid) and pay-as-you-go (PostPaid).",
            json!({
                "pay_type": {
                    "type": "string", "enum": ["PrePaid", "PostPaid"],
                    "description": "The billing method."
                }
            }),
            &["pay_type"],
            &["The instance must exist."],
        ),
    };
    let outputs = match operation {
        Operation::AddTags => json!({
            "tagMap": {
                "type": "object",
                "description": "For each tag key applied, the ids of the instances it was \
                                applied to: {\"<key>\": [\"<instanceId>\"]}."
            }
        }),
        _ => json!({}),
    };
    BuiltinSpec {
        service: SERVICE,
        operation: name,
        display_name,
        description,
        attributes_schema: object_schema(own, required),
        target_attribute: "instanceId",
        rules,
        outputs,
        builtin: Builtin::Ecs(operation),
    }
}

/// The attributes every `ecs` operation takes, merged with the operation's own.
fn object_schema(own: Value, own_required: &[&str]) -> Value {
    let mut properties = json!({
        "instanceId": id_schema("The id of the instance, e.g. i-web1."),
        "regionId": id_schema("The instance's region, e.g. cn-hangzhou; checked when given."),
        "appId": id_schema("The application the instance belongs to; checked when given."),
    });
    if let (Some(common), Value::Object(own)) = (properties.as_object_mut(), own) {
        common.extend(own);
    }
    let mut required = vec!["instanceId"];
    required.extend_from_slice(own_required);
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The submit-time rules across fields, run after the schema has passed.
pub(crate) fn check(
    operation: Operation,
    attributes: &Map<String, Value>,
    application: Option<&str>,
) -> Result<(), InvalidAttribute> {
    if let (Some(app_id), Some(application)) = (text(attributes, "appId"), application)
        && app_id != application
    {
        return Err(InvalidAttribute::new(
            "appId",
            format!("must equal the operation's application \"{application}\""),
        ));
    }
    match operation {
        Operation::ModifyInstanceType => check_change(attributes),
        Operation::AddTags => check_tags(attributes),
        Operation::Rename | Operation::Delete | Operation::ModifyPayType => Ok(()),
    }
}

/// `change_type` decides which of `instance_type` and `status` is required; the other is
/// refused rather than ignored, so a request cannot say two things at once.
fn check_change(attributes: &Map<String, Value>) -> Result<(), InvalidAttribute> {
    let (needed, refused) = match text(attributes, "change_type") {
        Some("modify_instance_type") => ("instance_type", "status"),
        _ => ("status", "instance_type"),
    };
    let change_type = text(attributes, "change_type").unwrap_or_default();
    if !attributes.contains_key(needed) {
        return Err(InvalidAttribute::new(
            needed,
            format!("is required when change_type is {change_type}"),
        ));
    }
    if attributes.contains_key(refused) {
        return Err(InvalidAttribute::new(
            refused,
            format!("is not allowed when change_type is {change_type}"),
        ));
    }
    if let Some(instance_type) = text(attributes, "instance_type")
        && !is_instance_type(instance_type)
    {
        return Err(InvalidAttribute::new(
            "instance_type",
            format!(
                "\"{instance_type}\" is not of the form ecs.<family>.<size>, e.g. ecs.g7.large"
            ),
        ));
    }
    Ok(())
}

/// `ecs.<family>.<size>`. Real families carry digits and hyphens (`g7`, `t6-c1m1`,
/// `gn7i-c8g1`) and sizes carry digits (`2xlarge`), so both are lowercase alphanumerics;
/// a family starts with a letter and hyphens only separate parts.
fn is_instance_type(text: &str) -> bool {
    let mut parts = text.split('.');
    let (Some("ecs"), Some(family), Some(size), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let family_ok = family.starts_with(|c: char| c.is_ascii_lowercase())
        && family
            .split('-')
            .all(|part| !part.is_empty() && part.chars().all(lower_alnum));
    let size_ok = !size.is_empty() && size.chars().all(lower_alnum);
    family_ok && size_ok
}

/// Tag keys: 1 to 128 characters, and not in the cloud's reserved namespaces. The prefix
/// check is case-sensitive, as the contract states it.
fn check_tags(attributes: &Map<String, Value>) -> Result<(), InvalidAttribute> {
    let Some(Value::Object(tags)) = attributes.get("tags") else {
        return Ok(());
    };
    for key in tags.keys() {
        let field = format!("tags.{key}");
        let length = key.chars().count();
        if !(1..=128).contains(&length) {
            return Err(InvalidAttribute::new(
                field,
                "tag key must be 1 to 128 characters",
            ));
        }
        if let Some(prefix) = RESERVED_TAG_PREFIXES.iter().find(|p| key.starts_with(*p)) {
            return Err(InvalidAttribute::new(
                field,
                format!("tag key must not start with \"{prefix}\" (reserved)"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;

    fn validate(operation: &str, attributes: Value) -> Result<(), InvalidAttribute> {
        validate_for(operation, attributes, None)
    }

    fn validate_for(
        operation: &str,
        attributes: Value,
        application: Option<&str>,
    ) -> Result<(), InvalidAttribute> {
        let catalog = Catalog::builtin();
        let entry = catalog.entry(SERVICE, operation).unwrap();
        entry.validate(attributes.as_object().unwrap(), application)
    }

    fn field(result: Result<(), InvalidAttribute>) -> String {
        result.expect_err("attributes should be refused").field
    }

    #[test]
    fn every_operation_requires_instance_id() {
        for operation in [
            "rename",
            "modifyInstanceType",
            "addTags",
            "ecsDelete",
            "modifyPayType",
        ] {
            assert_eq!(
                field(validate(operation, json!({}))),
                "instanceId",
                "{operation}"
            );
        }
        assert_eq!(
            field(validate("ecsDelete", json!({"instanceId": 7}))),
            "instanceId"
        );
    }

    #[test]
    fn unknown_attribute_is_refused_by_name() {
        let err = validate("ecsDelete", json!({"instanceId": "i-1", "forced": true})).unwrap_err();
        assert_eq!(err.field, "forced");
        assert!(err.reason.contains("is not a known attribute"), "{err}");
    }

    #[test]
    fn region_and_app_id_are_optional_strings() {
        assert!(
            validate(
                "ecsDelete",
                json!({"instanceId": "i-1", "regionId": "cn-hangzhou", "appId": "APP-WEB"})
            )
            .is_ok()
        );
        assert_eq!(
            field(validate(
                "ecsDelete",
                json!({"instanceId": "i-1", "regionId": 1})
            )),
            "regionId"
        );
    }

    #[test]
    fn ids_are_1_to_128_characters() {
        let longest = "i".repeat(128);
        for (operation, extra) in [
            ("ecsDelete", json!({})),
            (
                "modifyInstanceType",
                json!({"change_type": "modify_instance_type", "instance_type": "ecs.g7.large"}),
            ),
        ] {
            for field_name in ["instanceId", "regionId", "appId"] {
                let with = |value: &str| {
                    let mut attributes = json!({"instanceId": "i-1"});
                    attributes[field_name] = json!(value);
                    for (key, value) in extra.as_object().unwrap() {
                        attributes[key] = value.clone();
                    }
                    attributes
                };
                assert!(validate(operation, with(&longest)).is_ok(), "{field_name}");
                let err = validate(operation, with(&format!("{longest}i"))).unwrap_err();
                assert_eq!(
                    (err.field.as_str(), err.reason.as_str()),
                    (field_name, "must be at most 128 characters")
                );
                assert_eq!(field(validate(operation, with(""))), field_name);
            }
        }
        let family = "g".repeat(128 - "ecs..large".len());
        let instance_type = |family: &str| {
            json!({"instanceId": "i-1", "change_type": "modify_instance_type",
                   "instance_type": format!("ecs.{family}.large")})
        };
        assert!(validate("modifyInstanceType", instance_type(&family)).is_ok());
        let err = validate("modifyInstanceType", instance_type(&format!("{family}g"))).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.reason.as_str()),
            ("instance_type", "must be at most 128 characters")
        );
    }

    #[test]
    fn app_id_must_equal_the_operation_application() {
        let attributes = json!({"instanceId": "i-1", "appId": "APP-WEB"});
        assert!(validate_for("ecsDelete", attributes.clone(), Some("APP-WEB")).is_ok());
        assert!(validate_for("ecsDelete", attributes.clone(), None).is_ok());
        let err = validate_for("ecsDelete", attributes, Some("APP-DB")).unwrap_err();
        assert_eq!(err.field, "appId");
        assert!(err.reason.contains("APP-DB"), "{err}");
    }

    #[test]
    fn rename_needs_a_name_of_2_to_128_characters() {
        let name = |n: &str| json!({"instanceId": "i-1", "instance_name": n});
        assert!(validate("rename", name("ab")).is_ok());
        assert!(validate("rename", name(&"名".repeat(128))).is_ok());
        assert_eq!(field(validate("rename", name("a"))), "instance_name");
        assert_eq!(
            field(validate("rename", name(&"a".repeat(129)))),
            "instance_name"
        );
        assert_eq!(
            field(validate("rename", json!({"instanceId": "i-1"}))),
            "instance_name"
        );
    }

    #[test]
    fn type_change_requires_instance_type_and_refuses_status() {
        let ok = json!({"instanceId": "i-1", "change_type": "modify_instance_type", "instance_type": "ecs.g7.large"});
        assert!(validate("modifyInstanceType", ok).is_ok());
        let missing = json!({"instanceId": "i-1", "change_type": "modify_instance_type"});
        let err = validate("modifyInstanceType", missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            "instance_type: is required when change_type is modify_instance_type"
        );
        let both = json!({"instanceId": "i-1", "change_type": "modify_instance_type", "instance_type": "ecs.g7.large", "status": "Running"});
        assert_eq!(field(validate("modifyInstanceType", both)), "status");
    }

    #[test]
    fn status_change_requires_status_and_refuses_instance_type() {
        let ok = json!({"instanceId": "i-1", "change_type": "modify_status", "status": "Restart"});
        assert!(validate("modifyInstanceType", ok).is_ok());
        let missing = json!({"instanceId": "i-1", "change_type": "modify_status"});
        assert_eq!(field(validate("modifyInstanceType", missing)), "status");
        let both = json!({"instanceId": "i-1", "change_type": "modify_status", "status": "Stopped", "instance_type": "ecs.g7.large"});
        assert_eq!(field(validate("modifyInstanceType", both)), "instance_type");
        let bad =
            json!({"instanceId": "i-1", "change_type": "modify_status", "status": "Starting"});
        assert_eq!(field(validate("modifyInstanceType", bad)), "status");
        let bad_kind = json!({"instanceId": "i-1", "change_type": "resize", "status": "Running"});
        assert_eq!(
            field(validate("modifyInstanceType", bad_kind)),
            "change_type"
        );
    }

    #[test]
    fn instance_type_must_look_like_ecs_family_size() {
        for good in [
            "ecs.g7.large",
            "ecs.c7.2xlarge",
            "ecs.t6-c1m1.large",
            "ecs.gn7i-c8g1.2xlarge",
        ] {
            assert!(is_instance_type(good), "{good}");
        }
        for bad in [
            "g7.large",
            "ecs.g7",
            "ecs.g7.large.x",
            "ecs..large",
            "ecs.G7.large",
            "ecs.7g.large",
            "ecs.g7-.large",
            "ecs.g7.",
        ] {
            assert!(!is_instance_type(bad), "{bad}");
        }
        let attributes = json!({"instanceId": "i-1", "change_type": "modify_instance_type", "instance_type": "large"});
        let err = validate("modifyInstanceType", attributes).unwrap_err();
        assert_eq!(err.field, "instance_type");
        assert!(err.reason.contains("ecs.<family>.<size>"), "{err}");
    }

    #[test]
    fn tags_need_1_to_20_string_pairs() {
        let tags = |tags: Value| json!({"instanceId": "i-1", "tags": tags});
        assert!(validate("addTags", tags(json!({"env": "prod", "empty": ""}))).is_ok());
        assert_eq!(field(validate("addTags", tags(json!({})))), "tags");
        let many: Map<String, Value> = (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert_eq!(
            field(validate("addTags", tags(Value::Object(many)))),
            "tags"
        );
        assert_eq!(
            field(validate("addTags", tags(json!({"env": 1})))),
            "tags.env"
        );
        assert_eq!(
            field(validate("addTags", tags(json!({"env": "v".repeat(129)})))),
            "tags.env"
        );
        assert_eq!(field(validate("addTags", tags(json!("env=prod")))), "tags");
    }

    #[test]
    fn tag_keys_must_be_1_to_128_characters() {
        let tags = |key: &str| json!({"instanceId": "i-1", "tags": {key: "v"}});
        assert!(validate("addTags", tags(&"k".repeat(128))).is_ok());
        assert_eq!(field(validate("addTags", tags(""))), "tags.");
        let long = "k".repeat(129);
        assert_eq!(
            field(validate("addTags", tags(&long))),
            format!("tags.{long}")
        );
    }

    #[test]
    fn reserved_tag_prefixes_are_refused_naming_the_key() {
        let tags = |key: &str| json!({"instanceId": "i-1", "tags": {key: "v"}});
        let err = validate("addTags", tags("aliyun:x")).unwrap_err();
        assert_eq!(err.field, "tags.aliyun:x");
        assert!(err.reason.contains("aliyun"), "{err}");
        assert_eq!(field(validate("addTags", tags("aliyunx"))), "tags.aliyunx");
        assert_eq!(
            field(validate("addTags", tags("acs:owner"))),
            "tags.acs:owner"
        );
        assert!(validate("addTags", tags("my-aliyun")).is_ok());
        assert!(validate("addTags", tags("acs")).is_ok());
    }

    #[test]
    fn delete_force_must_be_a_json_boolean() {
        assert!(validate("ecsDelete", json!({"instanceId": "i-1"})).is_ok());
        assert!(validate("ecsDelete", json!({"instanceId": "i-1", "force": true})).is_ok());
        assert_eq!(
            field(validate(
                "ecsDelete",
                json!({"instanceId": "i-1", "force": "true"})
            )),
            "force"
        );
        assert_eq!(
            field(validate(
                "ecsDelete",
                json!({"instanceId": "i-1", "force": 1})
            )),
            "force"
        );
    }

    #[test]
    fn pay_type_is_prepaid_or_postpaid() {
        assert!(
            validate(
                "modifyPayType",
                json!({"instanceId": "i-1", "pay_type": "PrePaid"})
            )
            .is_ok()
        );
        assert!(
            validate(
                "modifyPayType",
                json!({"instanceId": "i-1", "pay_type": "PostPaid"})
            )
            .is_ok()
        );
        assert_eq!(
            field(validate(
                "modifyPayType",
                json!({"instanceId": "i-1", "pay_type": "Free"})
            )),
            "pay_type"
        );
        assert_eq!(
            field(validate("modifyPayType", json!({"instanceId": "i-1"}))),
            "pay_type"
        );
    }
}
