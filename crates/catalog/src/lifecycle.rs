//! What the lifecycle steps of an application check and price, as pure functions of its
//! template, variables and region: the regions bpops deploys to, a node's specification,
//! and the price table.

use std::collections::BTreeMap;

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

/// The built-in prices per hour, in CNY, by service and specification.
const BUILTIN_PRICES: [(&str, &str, f64); 8] = [
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

/// The price table a valuation reads: per hour, by service and specification. The built-in
/// prices, with those of the configuration's `[pricing]` over them.
#[derive(Clone, Debug, PartialEq)]
pub struct Prices(BTreeMap<(String, String), f64>);

impl Default for Prices {
    fn default() -> Prices {
        let mut prices = Prices(BTreeMap::new());
        for (service, specification, per_hour) in BUILTIN_PRICES {
            prices.set(service, specification, per_hour);
        }
        prices
    }
}

impl Prices {
    /// Sets the price per hour of one resource of `service` with `specification`.
    pub fn set(&mut self, service: &str, specification: &str, per_hour: f64) {
        self.0
            .insert((service.to_owned(), specification.to_owned()), per_hour);
    }

    /// The price per hour of one resource of `service` with `specification`, if the table
    /// has one.
    pub fn hourly(&self, service: &str, specification: &str) -> Option<f64> {
        self.0
            .get(&(service.to_owned(), specification.to_owned()))
            .copied()
    }
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
        let mut prices = Prices::default();
        assert_eq!(prices.hourly("ecs", "ecs.g7.large"), Some(0.69));
        assert_eq!(prices.hourly("ecs", "ecs.unknown"), None);
        prices.set("ecs", "ecs.g7.large", 1.0);
        assert_eq!(prices.hourly("ecs", "ecs.g7.large"), Some(1.0));
        assert_eq!(prices.hourly("slb", "ecs.g7.large"), None);
    }
}
