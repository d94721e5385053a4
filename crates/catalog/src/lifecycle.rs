//! What the lifecycle steps of an application check and price, as pure functions of its
//! template, variables and region: the regions bpops deploys to, a node's specification,
//! and the built-in price table.

use serde_json::{Map, Value};

use crate::Node;

/// The regions the emulated ecs and slb services deploy to (`AreaId`).
pub const REGIONS: [&str; 12] = [
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "cn-shenzhen",
    "cn-qingdao",
    "cn-zhangjiakou",
    "cn-hongkong",
    "ap-southeast-1",
    "ap-northeast-1",
    "eu-central-1",
    "us-west-1",
    "us-east-1",
];

/// A load balancer's specification when its node names none.
const DEFAULT_SLB_SPEC: &str = "slb.s1.small";

/// Prices per hour, in CNY, by service and specification: a small built-in table.
const PRICES: [(&str, &str, f64); 8] = [
    ("ecs", "ecs.t6-c1m1.large", 0.12),
    ("ecs", "ecs.g7.large", 0.69),
    ("ecs", "ecs.g7.xlarge", 1.38),
    ("ecs", "ecs.c7.large", 0.58),
    ("ecs", "ecs.r7.large", 0.88),
    ("slb", "slb.s1.small", 0.07),
    ("slb", "slb.s2.small", 0.14),
    ("slb", "slb.s3.small", 0.28),
];

impl Node {
    /// Its properties with every `${name}` replaced by the variable's value: a string that
    /// is exactly one reference takes the value as it is (a number stays a number).
    pub fn resolved(&self, variables: &Map<String, Value>) -> Map<String, Value> {
        self.properties
            .iter()
            .map(|(key, value)| (key.clone(), substitute(value, variables)))
            .collect()
    }

    /// What it is priced by: an instance's `instance_type`, a load balancer's
    /// `load_balancer_spec` (`slb.s1.small` when it names none).
    pub fn specification(&self, variables: &Map<String, Value>) -> String {
        let key = match self.service.as_str() {
            "ecs" => "instance_type",
            _ => "load_balancer_spec",
        };
        match self.resolved(variables).get(key) {
            Some(Value::String(spec)) => spec.clone(),
            Some(other) => other.to_string(),
            None if self.service == "slb" => DEFAULT_SLB_SPEC.to_owned(),
            None => String::new(),
        }
    }
}

/// The price per hour of one resource of `service` with `specification`, if the table has
/// one.
pub fn hourly_price(service: &str, specification: &str) -> Option<f64> {
    PRICES
        .iter()
        .find(|(s, spec, _)| *s == service && *spec == specification)
        .map(|(_, _, price)| *price)
}

fn substitute(value: &Value, variables: &Map<String, Value>) -> Value {
    match value {
        Value::String(text) => {
            if let Some(name) = text.strip_prefix("${").and_then(|t| t.strip_suffix('}'))
                && let Some(value) = variables.get(name)
                && !name.contains('}')
            {
                return value.clone();
            }
            let mut out = text.clone();
            for (name, value) in variables {
                let shown = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out = out.replace(&format!("${{{name}}}"), &shown);
            }
            Value::String(out)
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| substitute(v, variables)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, variables)))
                .collect(),
        ),
        Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::templates::builtin;

    #[test]
    fn nodes_resolve_variables_keeping_their_types() {
        let web = builtin().into_iter().find(|t| t.id == "web-tier").unwrap();
        let variables = web.variables(&Map::new()).unwrap();
        let lb = web.nodes.iter().find(|n| n.name == "lb").unwrap();
        assert_eq!(
            lb.resolved(&variables)["listeners"],
            json!([{"listenerPort": 80}])
        );
        assert_eq!(lb.specification(&variables), "slb.s1.small");
        assert_eq!(web.nodes[0].specification(&variables), "ecs.g7.large");
    }

    #[test]
    fn prices_come_from_the_table_or_not_at_all() {
        assert_eq!(hourly_price("ecs", "ecs.g7.large"), Some(0.69));
        assert_eq!(hourly_price("ecs", "ecs.unknown"), None);
    }
}
