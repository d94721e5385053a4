//! The emulated `slb` service: `modifyListenerAttribute`, which changes one HTTP listener of
//! a classic load balancer.
//!
//! A load balancer's properties hold `region_id` and `listeners`, an array of listener
//! objects each with at least `listenerPort`. A listener reads as the seed example of
//! GetExecuteOperationResult shows it (`docs/seed-GetExecuteOperationResult.txt`): every
//! setting a declared listener leaves out takes the real SLB default, and the first change
//! stores the listener whole, so later reads see a stable configuration.
//!
//! Settable attributes are the seed's listener keys that the real
//! `SetLoadBalancerHTTPListenerAttribute` API changes. The other seed keys are reported but
//! fixed here: `listenerPort` (it names the listener), `status` (started and stopped by their
//! own API), `rules`, `aclStatus`/`aclIds` and `vServerGroupId` (forwarding rules, access
//! control lists and server groups have their own APIs, not emulated), `listenerForward`
//! (set at creation) and `requestId` (per response).

use serde_json::{Map, Value, json};

use crate::catalog::{Builtin, BuiltinSpec, Entry};
use crate::emulated::{Decision, Run, id_schema, update_if_changed, visible};
use crate::error::InvalidAttribute;
use crate::value::{as_integer, text};

/// The service type name.
const SERVICE: &str = "slb";

/// The `slb` operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// `modifyListenerAttribute`: changes settings of one listener.
    ModifyListenerAttribute,
}

/// One settable listener attribute: its schema and the value a listener has until set.
struct Setting {
    name: &'static str,
    schema: Value,
    default: Value,
}

/// The settable listener attributes. Ranges and defaults are the real SLB ones, from the
/// SetLoadBalancerHTTPListenerAttribute and CreateLoadBalancerHTTPListener references (API
/// version 2014-05-15, alibabacloud.com/help/en/slb/classic-load-balancer/developer-reference).
/// Where the real API is stricter than the brief (description must be 1 to 80
/// characters there), we accept the empty string too, so a description can be cleared.
fn settings() -> Vec<Setting> {
    let choice = |values: &[&str], description: &str| json!({"type": "string", "enum": values, "description": description});
    let on_off = |description: &str| choice(&["on", "off"], description);
    let range = |min: i64, max: i64, description: &str| json!({"type": "integer", "minimum": min, "maximum": max, "description": description});
    let setting = |name, schema, default| Setting {
        name,
        schema,
        default,
    };
    vec![
        setting(
            "healthCheck",
            on_off("Health checks on or off."),
            json!("on"),
        ),
        setting(
            "healthCheckURI",
            json!({
                "type": "string", "minLength": 1, "maxLength": 80,
                "description": "The health check path: starts with /, 1 to 80 characters of \
                                letters, digits and - / . % ? # & _ ; ~ ! ( ) * [ ] @ $ ^ : ' , + ="
            }),
            json!("/"),
        ),
        setting(
            "healthCheckHttpCode",
            json!({
                "type": "string", "minLength": 1,
                "description": "Comma-separated HTTP status classes that mean healthy: \
                                http_2xx, http_3xx, http_4xx, http_5xx."
            }),
            json!("http_2xx"),
        ),
        setting(
            "healthCheckInterval",
            range(1, 50, "Seconds between health checks."),
            json!(2),
        ),
        setting(
            "healthyThreshold",
            range(2, 10, "Successes before a backend is healthy."),
            json!(3),
        ),
        setting(
            "unhealthyThreshold",
            range(2, 10, "Failures before a backend is unhealthy."),
            json!(3),
        ),
        setting(
            "healthCheckTimeout",
            range(1, 300, "Seconds to wait for a health check reply."),
            json!(5),
        ),
        setting(
            "healthCheckMethod",
            choice(&["head", "get"], "The health check HTTP method."),
            json!("head"),
        ),
        setting(
            "healthCheckType",
            choice(&["http", "tcp"], "The health check protocol."),
            json!("http"),
        ),
        setting(
            "healthCheckHttpVersion",
            choice(&["http1.0", "http1.1"], "The health check HTTP version."),
            json!("http1.0"),
        ),
        setting(
            "scheduler",
            choice(&["wrr", "rr", "wlc", "sch"], "The scheduling algorithm."),
            json!("wrr"),
        ),
        setting(
            "stickySession",
            on_off("Session persistence on or off."),
            json!("off"),
        ),
        setting("gzip", on_off("Compression on or off."), json!("on")),
        setting(
            "bandwidth",
            json!({
                "type": "integer", "minimum": -1, "maximum": 5120,
                "description": "Peak bandwidth in Mbit/s, 1 to 5120, or -1 for unlimited."
            }),
            json!(-1),
        ),
        setting("xForwardedFor", on_off("Add X-Forwarded-For."), json!("on")),
        setting("xForwardedFor_SLBIP", on_off("Add SLB-IP."), json!("off")),
        setting("xForwardedFor_SLBID", on_off("Add SLB-ID."), json!("off")),
        setting(
            "xForwardedFor_proto",
            on_off("Add X-Forwarded-Proto."),
            json!("off"),
        ),
        setting(
            "idleTimeout",
            range(1, 60, "Seconds an idle connection is kept."),
            json!(15),
        ),
        setting(
            "requestTimeout",
            range(1, 180, "Seconds to wait for a backend reply."),
            json!(60),
        ),
        setting(
            "description",
            json!({"type": "string", "maxLength": 80, "description": "Up to 80 characters."}),
            json!(""),
        ),
    ]
}

/// The catalog entries of every `slb` operation.
pub(crate) fn entries() -> Vec<Entry> {
    let mut properties = json!({
        "loadBalancerId": id_schema("The id of the load balancer, e.g. lb-web."),
        "listenerPort": {
            "type": "integer", "minimum": 1, "maximum": 65535,
            "description": "The frontend port of the listener to change."
        }
    });
    if let Some(properties) = properties.as_object_mut() {
        for setting in settings() {
            properties.insert(setting.name.to_string(), setting.schema);
        }
    }
    let spec = BuiltinSpec {
        service: SERVICE,
        operation: "modifyListenerAttribute",
        display_name: "Modify a load balancer listener",
        description: "Changes settings of the HTTP listener on listenerPort; settings not given \
                      keep their value.",
        attributes_schema: json!({
            "type": "object",
            "properties": properties,
            "required": ["loadBalancerId", "listenerPort"],
            "additionalProperties": false,
        }),
        target_attribute: "loadBalancerId",
        rules: &[
            "The load balancer must exist.",
            "It must have a listener on listenerPort.",
        ],
        outputs: json!({}),
        builtin: Builtin::Slb(Operation::ModifyListenerAttribute),
    };
    vec![Entry::builtin(spec)]
}

/// The submit-time rules the schema cannot express.
pub(crate) fn check(
    operation: Operation,
    attributes: &Map<String, Value>,
) -> Result<(), InvalidAttribute> {
    match operation {
        Operation::ModifyListenerAttribute => {
            if attributes.get("bandwidth").and_then(as_integer) == Some(0) {
                return Err(InvalidAttribute::new(
                    "bandwidth",
                    "must be -1 (unlimited) or 1 to 5120",
                ));
            }
            if let Some(uri) = text(attributes, "healthCheckURI") {
                check_uri(uri)?;
            }
            if let Some(codes) = text(attributes, "healthCheckHttpCode") {
                check_http_codes(codes)?;
            }
            Ok(())
        }
    }
}

fn check_uri(uri: &str) -> Result<(), InvalidAttribute> {
    const EXTRA: &str = "-/.%?#&_;~!()*[]@$^:',+=";
    if !uri.starts_with('/') {
        return Err(InvalidAttribute::new("healthCheckURI", "must start with /"));
    }
    if let Some(bad) = uri
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !EXTRA.contains(*c))
    {
        return Err(InvalidAttribute::new(
            "healthCheckURI",
            format!("must not contain {bad:?}"),
        ));
    }
    Ok(())
}

fn check_http_codes(codes: &str) -> Result<(), InvalidAttribute> {
    const CLASSES: [&str; 4] = ["http_2xx", "http_3xx", "http_4xx", "http_5xx"];
    let mut seen = Vec::new();
    for code in codes.split(',') {
        if !CLASSES.contains(&code) {
            return Err(InvalidAttribute::new(
                "healthCheckHttpCode",
                format!("\"{code}\" is not one of {}", CLASSES.join(", ")),
            ));
        }
        if seen.contains(&code) {
            return Err(InvalidAttribute::new(
                "healthCheckHttpCode",
                format!("lists \"{code}\" twice"),
            ));
        }
        seen.push(code);
    }
    Ok(())
}

/// Runs `operation`; `run.attributes` have passed `Entry::validate`.
pub(crate) fn run(operation: Operation, run: &Run) -> Decision {
    match operation {
        Operation::ModifyListenerAttribute => modify_listener(run),
    }
}

fn modify_listener(run: &Run) -> Decision {
    let id = text(run.attributes, "loadBalancerId").unwrap_or_default();
    let port = run
        .attributes
        .get("listenerPort")
        .and_then(as_integer)
        .unwrap_or_default();
    let Some(resource) = visible(run, SERVICE, id) else {
        return Decision::failure(
            "LoadBalancerNotFound",
            format!("The specified load balancer \"{id}\" does not exist."),
        );
    };
    let before = &resource.properties;
    let mut listeners = before
        .get("listeners")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(index) = listeners
        .iter()
        .position(|l| l.get("listenerPort").and_then(as_integer) == Some(port))
    else {
        return Decision::failure(
            "ListenerNotFound",
            format!("The load balancer \"{id}\" has no listener on port {port}."),
        );
    };

    let mut listener = defaults(id, port);
    if let Value::Object(declared) = &listeners[index] {
        listener.extend(declared.clone());
    }
    for setting in settings() {
        if let Some(value) = run.attributes.get(setting.name) {
            // Store `80.0` as `80`: schemas accept both, reads should see one.
            let value = as_integer(value).map_or_else(|| value.clone(), Value::from);
            listener.insert(setting.name.to_string(), value);
        }
    }
    listener.insert("listenerPort".into(), json!(port));
    listeners[index] = Value::Object(listener.clone());
    let mut after = before.clone();
    after.insert("listeners".into(), Value::Array(listeners));

    listener.insert(
        "requestId".into(),
        json!(request_id(id, port, run.attributes)),
    );
    Decision::success(
        &json!([listener]),
        &json!({}),
        update_if_changed(before, after),
    )
}

/// A listener with every setting at its default.
fn defaults(id: &str, port: i64) -> Map<String, Value> {
    let mut listener: Map<String, Value> = settings()
        .into_iter()
        .map(|setting| (setting.name.to_string(), setting.default))
        .collect();
    let fixed = [
        ("listenerPort", json!(port)),
        ("status", json!("running")),
        ("rules", json!([])),
        ("aclIds", json!([])),
        ("aclStatus", json!("off")),
        ("listenerForward", json!("off")),
        // Server groups are not emulated: a listener gets a stable id of its own default
        // group, shaped like the seed's `rsp-...`, unless its declaration names one.
        (
            "vServerGroupId",
            json!(format!(
                "rsp-{}-{port}",
                id.strip_prefix("lb-").unwrap_or(id)
            )),
        ),
    ];
    for (name, value) in fixed {
        listener.insert(name.to_string(), value);
    }
    listener
}

/// The `requestId` the seed's listener carries. This crate has no randomness, so it is a
/// digest of the change (FNV-1a, twice for 128 bits) shaped like a bpops RequestId; the
/// same change to the same listener reports the same id.
fn request_id(id: &str, port: i64, attributes: &Map<String, Value>) -> String {
    let input = format!("{id}\n{port}\n{}", Value::Object(attributes.clone()));
    let fnv = |basis: u64| {
        input.bytes().fold(basis, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let hex = format!(
        "{:016X}{:016X}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    );
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulated::Effect;
    use crate::{Catalog, Resource};

    /// The listener in the seed example's Message, verbatim.
    const SEED_LISTENER: &str = r#"[{"vServerGroupId":"rsp-xxxx","healthCheckHttpVersion":"http1.0","status":"running","gzip":"on","requestId":"89xxxx","description":"abcxxx","bandwidth":-1,"healthCheckTimeout":10,"healthCheckType":"http","aclStatus":"off","unhealthyThreshold":3,"xForwardedFor_SLBID":"off","healthCheckHttpCode":"http_3xx,http_2xx","listenerForward":"off","xForwardedFor":"on","idleTimeout":15,"requestTimeout":60,"listenerPort":80,"healthCheckInterval":2,"healthCheckURI":"/","scheduler":"rr","healthyThreshold":3,"xForwardedFor_proto":"off","xForwardedFor_SLBIP":"off","stickySession":"off","healthCheckMethod":"head","healthCheck":"on","rules":[],"aclIds":[]}]"#;

    fn load_balancer() -> Resource {
        Resource {
            service: "slb".into(),
            id: "lb-web".into(),
            application: "APP-WEB".into(),
            properties: json!({
                "region_id": "cn-hangzhou",
                "listeners": [
                    {"listenerPort": 80, "scheduler": "rr"},
                    {"listenerPort": 443}
                ]
            })
            .as_object()
            .unwrap()
            .clone(),
        }
    }

    fn validate(attributes: Value) -> Result<(), InvalidAttribute> {
        let catalog = Catalog::builtin();
        let entry = catalog.entry(SERVICE, "modifyListenerAttribute").unwrap();
        entry.validate(attributes.as_object().unwrap(), None)
    }

    fn execute(
        attributes: Value,
        application: Option<&str>,
        resource: Option<&Resource>,
    ) -> Decision {
        crate::emulated::validate_and_run(
            SERVICE,
            "modifyListenerAttribute",
            attributes,
            application,
            resource,
        )
    }

    /// `lb-web`, port 80, plus `settings`.
    fn change(settings: Value) -> Value {
        let mut attributes = json!({"loadBalancerId": "lb-web", "listenerPort": 80});
        if let (Some(attributes), Value::Object(settings)) = (attributes.as_object_mut(), settings)
        {
            attributes.extend(settings);
        }
        attributes
    }

    fn refused_field(settings: Value) -> String {
        validate(change(settings))
            .expect_err("attributes should be refused")
            .field
    }

    #[test]
    fn seed_listener_settings_are_valid_attributes() {
        let seed: Value = serde_json::from_str(SEED_LISTENER).unwrap();
        let mut settable = seed[0].as_object().unwrap().clone();
        for fixed in [
            "listenerPort",
            "status",
            "rules",
            "aclIds",
            "aclStatus",
            "listenerForward",
            "vServerGroupId",
            "requestId",
        ] {
            assert!(settable.remove(fixed).is_some(), "{fixed} is a seed key");
        }
        assert_eq!(
            settable.len(),
            settings().len(),
            "every other seed key is settable"
        );
        assert!(validate(change(Value::Object(settable))).is_ok());
    }

    #[test]
    fn load_balancer_id_and_listener_port_are_required() {
        assert_eq!(
            validate(json!({"listenerPort": 80})).unwrap_err().field,
            "loadBalancerId"
        );
        assert_eq!(
            validate(json!({"loadBalancerId": "lb-web"}))
                .unwrap_err()
                .field,
            "listenerPort"
        );
    }

    #[test]
    fn load_balancer_id_is_1_to_128_characters() {
        let with = |id: &str| json!({"loadBalancerId": id, "listenerPort": 80});
        let longest = "l".repeat(128);
        assert!(validate(with(&longest)).is_ok());
        let err = validate(with(&format!("{longest}l"))).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.reason.as_str()),
            ("loadBalancerId", "must be at most 128 characters")
        );
        assert_eq!(validate(with("")).unwrap_err().field, "loadBalancerId");
    }

    #[test]
    fn listener_port_must_be_1_to_65535() {
        let port = |p: Value| validate(json!({"loadBalancerId": "lb-web", "listenerPort": p}));
        assert!(port(json!(1)).is_ok());
        assert!(port(json!(65535)).is_ok());
        assert!(port(json!(80.0)).is_ok());
        assert_eq!(
            port(json!(0)).unwrap_err().to_string(),
            "listenerPort: must be at least 1"
        );
        assert_eq!(
            port(json!(65536)).unwrap_err().to_string(),
            "listenerPort: must be at most 65535"
        );
        assert_eq!(port(json!("80")).unwrap_err().field, "listenerPort");
    }

    #[test]
    fn numeric_settings_are_range_checked() {
        let cases = [
            ("healthCheckInterval", 1, 50),
            ("healthyThreshold", 2, 10),
            ("unhealthyThreshold", 2, 10),
            ("healthCheckTimeout", 1, 300),
            ("idleTimeout", 1, 60),
            ("requestTimeout", 1, 180),
        ];
        for (name, min, max) in cases {
            assert!(validate(change(json!({name: min}))).is_ok(), "{name}");
            assert!(validate(change(json!({name: max}))).is_ok(), "{name}");
            assert_eq!(refused_field(json!({name: min - 1})), name);
            assert_eq!(refused_field(json!({name: max + 1})), name);
        }
    }

    #[test]
    fn bandwidth_is_unlimited_or_1_to_5120() {
        assert!(validate(change(json!({"bandwidth": -1}))).is_ok());
        assert!(validate(change(json!({"bandwidth": 1}))).is_ok());
        assert!(validate(change(json!({"bandwidth": 5120}))).is_ok());
        assert_eq!(refused_field(json!({"bandwidth": 0})), "bandwidth");
        assert_eq!(refused_field(json!({"bandwidth": -2})), "bandwidth");
        assert_eq!(refused_field(json!({"bandwidth": 5121})), "bandwidth");
    }

    #[test]
    fn switches_and_choices_accept_only_their_values() {
        for name in [
            "healthCheck",
            "stickySession",
            "gzip",
            "xForwardedFor",
            "xForwardedFor_SLBIP",
            "xForwardedFor_SLBID",
            "xForwardedFor_proto",
        ] {
            assert!(validate(change(json!({name: "off"}))).is_ok(), "{name}");
            assert_eq!(refused_field(json!({name: "yes"})), name);
            assert_eq!(refused_field(json!({name: true})), name);
        }
        assert!(validate(change(json!({"scheduler": "wlc", "healthCheckMethod": "get", "healthCheckType": "tcp", "healthCheckHttpVersion": "http1.1"}))).is_ok());
        assert_eq!(refused_field(json!({"scheduler": "random"})), "scheduler");
        assert_eq!(
            refused_field(json!({"healthCheckMethod": "post"})),
            "healthCheckMethod"
        );
        assert_eq!(
            refused_field(json!({"healthCheckType": "udp"})),
            "healthCheckType"
        );
        assert_eq!(
            refused_field(json!({"healthCheckHttpVersion": "http2"})),
            "healthCheckHttpVersion"
        );
    }

    #[test]
    fn health_check_uri_starts_with_slash_and_has_at_most_80_characters() {
        assert!(validate(change(json!({"healthCheckURI": "/healthz?full=1"}))).is_ok());
        assert!(
            validate(change(
                json!({"healthCheckURI": format!("/{}", "a".repeat(79))})
            ))
            .is_ok()
        );
        assert_eq!(
            refused_field(json!({"healthCheckURI": format!("/{}", "a".repeat(80))})),
            "healthCheckURI"
        );
        assert_eq!(
            validate(change(json!({"healthCheckURI": "healthz"})))
                .unwrap_err()
                .to_string(),
            "healthCheckURI: must start with /"
        );
        assert_eq!(
            refused_field(json!({"healthCheckURI": "/a b"})),
            "healthCheckURI"
        );
    }

    #[test]
    fn health_check_http_code_is_a_list_of_status_classes() {
        assert!(validate(change(json!({"healthCheckHttpCode": "http_3xx,http_2xx"}))).is_ok());
        for bad in [
            "",
            "http_200",
            "http_2xx,",
            "http_2xx,http_2xx",
            "http_2xx, http_3xx",
        ] {
            assert_eq!(
                refused_field(json!({"healthCheckHttpCode": bad})),
                "healthCheckHttpCode",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn description_has_at_most_80_characters() {
        assert!(validate(change(json!({"description": ""}))).is_ok());
        assert!(validate(change(json!({"description": "d".repeat(80)}))).is_ok());
        assert_eq!(
            refused_field(json!({"description": "d".repeat(81)})),
            "description"
        );
    }

    #[test]
    fn fixed_seed_keys_and_unknown_names_are_refused() {
        for name in [
            "status",
            "rules",
            "aclIds",
            "requestId",
            "vServerGroupId",
            "regionId",
        ] {
            let err = validate(change(json!({name: "x"}))).unwrap_err();
            assert_eq!(err.field, name);
            assert!(err.reason.starts_with("is not a known attribute"), "{err}");
        }
    }

    #[test]
    fn modify_reports_the_whole_listener_as_a_one_element_array() {
        let decision = execute(
            change(
                json!({"healthCheckInterval": 5, "scheduler": "wlc", "description": "web", "bandwidth": 100.0}),
            ),
            Some("APP-WEB"),
            Some(&load_balancer()),
        );
        assert!(decision.succeeded, "{}", decision.message);
        assert_eq!(decision.arguments, "{}");
        let message: Value = serde_json::from_str(&decision.message).expect("Message is JSON");
        let array = message.as_array().expect("an array");
        assert_eq!(array.len(), 1);
        let listener = array[0].as_object().unwrap();

        let seed: Value = serde_json::from_str(SEED_LISTENER).unwrap();
        let mut seed_keys: Vec<&String> = seed[0].as_object().unwrap().keys().collect();
        let mut keys: Vec<&String> = listener.keys().collect();
        seed_keys.sort();
        keys.sort();
        assert_eq!(keys, seed_keys);

        assert_eq!(listener["healthCheckInterval"], json!(5));
        assert_eq!(listener["scheduler"], "wlc");
        assert_eq!(listener["description"], "web");
        assert_eq!(listener["bandwidth"], json!(100));
        assert_eq!(listener["listenerPort"], json!(80));
        assert_eq!(listener["status"], "running");
        assert_eq!(listener["healthCheck"], "on");
        assert_eq!(listener["rules"], json!([]));
        assert_eq!(listener["vServerGroupId"], "rsp-web-80");
        let request_id = listener["requestId"].as_str().unwrap();
        assert_eq!(request_id.len(), 36);
    }

    #[test]
    fn modify_stores_the_changed_listener_whole_and_leaves_others() {
        let decision = execute(
            change(json!({"gzip": "off"})),
            Some("APP-WEB"),
            Some(&load_balancer()),
        );
        let Some(Effect::Update(properties)) = &decision.effect else {
            panic!("expected an update, got {:?}", decision.effect);
        };
        assert_eq!(properties["region_id"], "cn-hangzhou");
        let listeners = properties["listeners"].as_array().unwrap();
        assert_eq!(listeners.len(), 2);
        assert_eq!(listeners[0]["gzip"], "off");
        // The declared setting survives; the rest take defaults.
        assert_eq!(listeners[0]["scheduler"], "rr");
        assert_eq!(listeners[0]["idleTimeout"], json!(15));
        assert!(listeners[0].get("requestId").is_none());
        assert_eq!(listeners[1], json!({"listenerPort": 443}));

        let message: Value = serde_json::from_str(&decision.message).unwrap();
        let mut reported = message[0].as_object().unwrap().clone();
        reported.remove("requestId");
        assert_eq!(Value::Object(reported), listeners[0]);
    }

    #[test]
    fn repeating_a_change_on_a_stored_listener_is_a_no_op() {
        let first = execute(
            change(json!({"gzip": "off"})),
            Some("APP-WEB"),
            Some(&load_balancer()),
        );
        let Some(Effect::Update(properties)) = first.effect else {
            panic!("expected an update");
        };
        let mut changed = load_balancer();
        changed.properties = properties;
        let again = execute(
            change(json!({"gzip": "off"})),
            Some("APP-WEB"),
            Some(&changed),
        );
        assert!(again.succeeded);
        assert_eq!(again.effect, None);
    }

    #[test]
    fn unknown_port_is_listener_not_found() {
        let attributes = json!({"loadBalancerId": "lb-web", "listenerPort": 8080, "gzip": "off"});
        let decision = execute(attributes, Some("APP-WEB"), Some(&load_balancer()));
        assert!(!decision.succeeded);
        assert_eq!(
            decision.message,
            "ListenerNotFound: The load balancer \"lb-web\" has no listener on port 8080."
        );
        assert_eq!(decision.effect, None);
    }

    #[test]
    fn missing_or_foreign_load_balancer_is_not_found() {
        let missing = execute(change(json!({})), None, None);
        assert_eq!(
            missing.message,
            "LoadBalancerNotFound: The specified load balancer \"lb-web\" does not exist."
        );
        let foreign = execute(change(json!({})), Some("APP-DB"), Some(&load_balancer()));
        assert_eq!(foreign, missing);
        // An operation in no application (its target did not exist when it was submitted)
        // never reaches one that appeared since.
        let unchecked = execute(change(json!({})), None, Some(&load_balancer()));
        assert_eq!(unchecked, missing);
    }

    #[test]
    fn request_id_is_shaped_like_a_bpops_request_id_and_deterministic() {
        let attributes = change(json!({"gzip": "off"}));
        let attributes = attributes.as_object().unwrap();
        let id = request_id("lb-web", 80, attributes);
        assert_eq!(id, request_id("lb-web", 80, attributes));
        assert_ne!(id, request_id("lb-web", 443, attributes));
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, vec![8, 4, 4, 4, 12]);
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }
}
