//! Property tests of the policy parser and evaluation: no document, however malformed, makes
//! them panic; a parsed document always evaluates; and a Deny of everything always wins.
//! Case counts are kept small for CI.

use std::net::IpAddr;
use std::sync::Arc;

use bpops_iam::{DenyKind, Evaluation, Grant, Policy, RequestContext, Scope, evaluate};
use bpops_time::Timestamp;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// JSON values built mostly from the language's own words, so that documents get deep into
/// the parser rather than failing at the first key.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Allow".to_owned()),
        Just("Deny".to_owned()),
        Just("*".to_owned()),
        Just("bpstudio:*".to_owned()),
        Just("bpstudio:Get?xecute*".to_owned()),
        Just("acs:bpstudio:*:*:application/*".to_owned()),
        Just("10.0.0.0/8".to_owned()),
        Just("2024-05-06T07:08:09Z".to_owned()),
        Just("true".to_owned()),
        Just("1714979289".to_owned()),
        "\\PC{0,12}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        word().prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        Just(Value::Null),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..4)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Effect".to_owned()),
        Just("Action".to_owned()),
        Just("NotAction".to_owned()),
        Just("Resource".to_owned()),
        Just("NotResource".to_owned()),
        Just("Condition".to_owned()),
        Just("StringLike".to_owned()),
        Just("IpAddress".to_owned()),
        Just("DateLessThan".to_owned()),
        Just("NumericGreaterThan".to_owned()),
        Just("Bool".to_owned()),
        Just("acs:SourceIp".to_owned()),
        Just("acs:CurrentTime".to_owned()),
        Just("bpstudio:Operation".to_owned()),
        "\\PC{0,8}",
    ]
}

fn document() -> impl Strategy<Value = String> {
    let statement = proptest::collection::vec((key(), value()), 0..6)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()));
    (
        prop_oneof![Just(json!("1")), scalar()],
        proptest::collection::vec(statement, 0..4),
    )
        .prop_map(|(version, statements)| {
            json!({"Version": version, "Statement": statements}).to_string()
        })
}

fn ctx(source_ip: IpAddr, now: Timestamp, operation: &str) -> RequestContext<'_> {
    RequestContext {
        action: "bpstudio:ExecuteOperationASync",
        resource: "acs:bpstudio::1001:application/APP",
        source_ip: Some(source_ip),
        current_time: now,
        secure_transport: false,
        service_type: Some("ecs"),
        operation: Some(operation),
        requested_group: Some("rg"),
        target_group: Some("rg"),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_never_panics_the_parser(text in "\\PC{0,300}") {
        let _ = Policy::parse("P", &text);
    }

    #[test]
    fn documents_parse_or_fail_without_panic_and_parsed_ones_evaluate(
        doc in document(),
        ip in any::<IpAddr>(),
        now in any::<i64>(),
        operation in "\\PC{0,12}",
    ) {
        if let Ok(policy) = Policy::parse("P", &doc) {
            let policy = Arc::new(policy);
            let deny_all = Arc::new(Policy::parse(
                "DenyAll",
                r#"{"Version":"1","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#,
            ).unwrap());
            let request = ctx(ip, Timestamp::from_millis(now), &operation);
            let grants = [
                Grant { policy: Arc::clone(&policy), scope: Scope::Account },
                Grant { policy, scope: Scope::ResourceGroup("rg".into()) },
            ];
            let _ = evaluate(&request, &grants);
            // Whatever else is attached, a Deny of everything wins.
            let mut with_deny = grants.to_vec();
            with_deny.push(Grant { policy: deny_all, scope: Scope::Account });
            let denied = matches!(
                evaluate(&request, &with_deny),
                Evaluation::Deny { kind: DenyKind::Explicit, .. }
            );
            prop_assert!(denied);
        }
    }
}
