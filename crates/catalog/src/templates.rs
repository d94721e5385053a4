//! Application templates: what an application is created from. A [`Template`] declares
//! typed variables (each with an optional default) and the nodes a deployment creates, each
//! an `ecs` instance or an `slb` load balancer whose string properties may refer to a
//! variable as `${name}`.
//!
//! Templates come from the configuration (`[[templates]]`, which deserializes straight into
//! these types and is checked by [`Template::check`]) and from [`builtin`], so a server with
//! no configuration can already create applications.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::InvalidAttribute;

/// An application template.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Its id, what `TemplateId` names.
    pub id: String,
    /// Its name, for people.
    pub name: String,
    /// What it deploys.
    #[serde(default)]
    pub description: String,
    /// The variables an application of it sets.
    #[serde(default)]
    pub variables: Vec<Variable>,
    /// The resources a deployment creates.
    #[serde(default)]
    pub nodes: Vec<Node>,
}

/// A variable of a template.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// Its name, as `Variables` keys it and `${name}` refers to it.
    pub name: String,
    /// The JSON type of its values.
    #[serde(rename = "type")]
    pub kind: VariableType,
    /// Its value when an application does not set it; without one, every application must.
    pub default: Option<Value>,
    /// What it means.
    #[serde(default)]
    pub description: String,
}

/// The type of a variable's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VariableType {
    /// A JSON string.
    String,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
}

impl VariableType {
    /// The spelling in the configuration and on the wire (`DataType`).
    pub fn as_str(self) -> &'static str {
        match self {
            VariableType::String => "string",
            VariableType::Number => "number",
            VariableType::Boolean => "boolean",
        }
    }

    fn admits(self, value: &Value) -> bool {
        match self {
            VariableType::String => value.is_string(),
            VariableType::Number => value.is_number(),
            VariableType::Boolean => value.is_boolean(),
        }
    }
}

/// A resource a deployment of the template creates.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// Its name, unique in the template.
    pub name: String,
    /// `ecs` (an instance) or `slb` (a load balancer).
    pub service: String,
    /// Its initial properties; a string may refer to a variable as `${name}`.
    #[serde(default)]
    pub properties: Map<String, Value>,
}

/// The services a node may be of.
const NODE_SERVICES: [&str; 2] = ["ecs", "slb"];

impl Template {
    /// Checks the template as the configuration declares it: an id and a name, variables
    /// named once with defaults of their type, nodes named once of a known service, and
    /// every `${name}` naming a variable. The error names the field (`variables.2.default`,
    /// `nodes.web.properties.instance_type`) and the problem.
    pub fn check(&self) -> Result<(), InvalidAttribute> {
        if self.id.is_empty() || self.name.is_empty() {
            return Err(InvalidAttribute::new(
                if self.id.is_empty() { "id" } else { "name" },
                "must not be empty",
            ));
        }
        for (n, variable) in self.variables.iter().enumerate() {
            let at = |field: &str| format!("variables.{}{field}", n + 1);
            if variable.name.is_empty() {
                return Err(InvalidAttribute::new(at(".name"), "must not be empty"));
            }
            if self.variables[..n].iter().any(|v| v.name == variable.name) {
                return Err(InvalidAttribute::new(
                    at(".name"),
                    format!("\"{}\" is declared twice", variable.name),
                ));
            }
            if let Some(default) = &variable.default
                && !variable.kind.admits(default)
            {
                return Err(InvalidAttribute::new(
                    at(".default"),
                    format!("must be a {}", variable.kind.as_str()),
                ));
            }
        }
        for (n, node) in self.nodes.iter().enumerate() {
            let at = format!("nodes.{}", n + 1);
            if node.name.is_empty() || self.nodes[..n].iter().any(|o| o.name == node.name) {
                return Err(InvalidAttribute::new(
                    format!("{at}.name"),
                    "is empty or declared twice",
                ));
            }
            if !NODE_SERVICES.contains(&node.service.as_str()) {
                return Err(InvalidAttribute::new(
                    format!("{at}.service"),
                    format!("must be one of {NODE_SERVICES:?}"),
                ));
            }
            for (key, value) in &node.properties {
                for name in references(value) {
                    if !self.variables.iter().any(|v| v.name == name) {
                        return Err(InvalidAttribute::new(
                            format!("{at}.properties.{key}"),
                            format!("refers to ${{{name}}}, which is not a variable"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The variables of an application of this template: `given`, checked as
    /// [`Template::check_values`] does, with the defaults of those it leaves out. The error
    /// names the variable (`Variables.<name>`) and the problem.
    pub fn variables(
        &self,
        given: &Map<String, Value>,
    ) -> Result<Map<String, Value>, InvalidAttribute> {
        self.check_values(given)?;
        let mut values = Map::new();
        for variable in &self.variables {
            let Some(value) = given.get(&variable.name).or(variable.default.as_ref()) else {
                return Err(InvalidAttribute::new(
                    variable_field(&variable.name),
                    "is required: the template gives it no default",
                ));
            };
            values.insert(variable.name.clone(), value.clone());
        }
        Ok(values)
    }

    /// Checks values for some of the template's variables (a reconfiguration's, or a new
    /// application's): each names a variable the template declares and is of its type. The
    /// error names the variable (`Variables.<name>`) and the problem.
    pub fn check_values(&self, given: &Map<String, Value>) -> Result<(), InvalidAttribute> {
        for (name, value) in given {
            let Some(variable) = self.variables.iter().find(|v| &v.name == name) else {
                return Err(InvalidAttribute::new(
                    variable_field(name),
                    format!("template \"{}\" has no such variable", self.id),
                ));
            };
            if !variable.kind.admits(value) {
                return Err(InvalidAttribute::new(
                    variable_field(name),
                    format!("must be a {}", variable.kind.as_str()),
                ));
            }
        }
        Ok(())
    }
}

/// How an error names a variable: as the request's `Variables` parameter holds it.
fn variable_field(name: &str) -> String {
    format!("Variables.{name}")
}

/// The names `${name}` refers to anywhere in `value`.
fn references(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => {
            let mut names = Vec::new();
            let mut rest = text.as_str();
            while let Some(start) = rest.find("${") {
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else { break };
                names.push(after[..end].to_owned());
                rest = &after[end + 1..];
            }
            names
        }
        Value::Array(items) => items.iter().flat_map(references).collect(),
        Value::Object(map) => map.values().flat_map(references).collect(),
        Value::Null | Value::Bool(_) | Value::Number(_) => Vec::new(),
    }
}

/// The built-in templates: one ECS instance, and a web tier of two instances behind a load
/// balancer.
pub fn builtin() -> Vec<Template> {
    let instance_type = Variable {
        name: "instance_type".into(),
        kind: VariableType::String,
        default: Some(json!("ecs.g7.large")),
        description: "The instance type of the ECS instances.".into(),
    };
    let ecs = |name: &str, instance_name: &str| Node {
        name: name.into(),
        service: "ecs".into(),
        properties: object(json!({
            "instance_name": instance_name,
            "instance_type": "${instance_type}",
            "status": "Running",
        })),
    };
    vec![
        Template {
            id: "ecs-instance".into(),
            name: "One ECS instance".into(),
            description: "A single running ECS instance.".into(),
            variables: vec![
                Variable {
                    name: "instance_name".into(),
                    kind: VariableType::String,
                    default: Some(json!("ecs-1")),
                    description: "The name of the instance.".into(),
                },
                instance_type.clone(),
            ],
            nodes: vec![ecs("instance", "${instance_name}")],
        },
        Template {
            id: "web-tier".into(),
            name: "Web tier".into(),
            description: "Two ECS instances behind an SLB load balancer.".into(),
            variables: vec![
                instance_type,
                Variable {
                    name: "listener_port".into(),
                    kind: VariableType::Number,
                    default: Some(json!(80)),
                    description: "The port the load balancer listens on.".into(),
                },
            ],
            nodes: vec![
                ecs("web-1", "web-1"),
                ecs("web-2", "web-2"),
                Node {
                    name: "lb".into(),
                    service: "slb".into(),
                    properties: object(
                        json!({"listeners": [{"listenerPort": "${listener_port}"}]}),
                    ),
                },
            ],
        },
    ]
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_tier() -> Template {
        builtin().into_iter().find(|t| t.id == "web-tier").unwrap()
    }

    #[test]
    fn builtin_templates_pass_their_own_check() {
        for template in builtin() {
            assert_eq!(template.check(), Ok(()), "{}", template.id);
        }
    }

    #[test]
    fn variables_take_defaults_and_refuse_unknown_names_and_wrong_types() {
        let template = web_tier();
        let given = object(json!({"listener_port": 8080}));
        assert_eq!(
            template.variables(&given).unwrap(),
            object(json!({"instance_type": "ecs.g7.large", "listener_port": 8080}))
        );
        let unknown = template.variables(&object(json!({"nope": 1}))).unwrap_err();
        assert_eq!(unknown.field, "Variables.nope");
        let wrong = template
            .variables(&object(json!({"listener_port": "80"})))
            .unwrap_err();
        assert_eq!(wrong.field, "Variables.listener_port");
        assert!(wrong.reason.contains("number"), "{}", wrong.reason);
    }

    #[test]
    fn check_values_takes_some_variables_of_their_types() {
        let template = web_tier();
        assert_eq!(
            template.check_values(&object(json!({"listener_port": 8080}))),
            Ok(())
        );
        let unknown = template
            .check_values(&object(json!({"nope": "x"})))
            .unwrap_err();
        assert_eq!(unknown.field, "Variables.nope");
        let wrong = template
            .check_values(&object(json!({"instance_type": 7})))
            .unwrap_err();
        assert_eq!(wrong.field, "Variables.instance_type");
        assert!(wrong.reason.contains("string"), "{}", wrong.reason);
    }

    #[test]
    fn a_variable_without_default_is_required() {
        let mut template = web_tier();
        template.variables[0].default = None;
        let missing = template.variables(&Map::new()).unwrap_err();
        assert_eq!(missing.field, "Variables.instance_type");
    }

    #[test]
    fn check_names_the_field_at_fault() {
        let mut dangling = web_tier();
        dangling.nodes[0]
            .properties
            .insert("instance_name".into(), json!("web-${tier}"));
        let e = dangling.check().unwrap_err();
        assert_eq!(e.field, "nodes.1.properties.instance_name");
        assert!(e.reason.contains("${tier}"), "{}", e.reason);

        let mut bad_default = web_tier();
        bad_default.variables[1].default = Some(json!("80"));
        assert_eq!(
            bad_default.check().unwrap_err().field,
            "variables.2.default"
        );

        let mut twice = web_tier();
        twice.variables[1].name = "instance_type".into();
        assert_eq!(twice.check().unwrap_err().field, "variables.2.name");

        let mut service = web_tier();
        service.nodes[2].service = "rds".into();
        assert_eq!(service.check().unwrap_err().field, "nodes.3.service");
    }
}
