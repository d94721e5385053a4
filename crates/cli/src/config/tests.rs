//! The configuration's unit tests: what is accepted, and what each refusal names.

use std::time::Duration;

use bpops_iam::{Principal, Scope};
use bpops_store::Pool;

use super::*;

fn check(text: &str) -> anyhow::Result<Config> {
    parse(text)
}

fn error(text: &str) -> String {
    format!("{:#}", check(text).expect_err("must be refused"))
}

const ALLOW_ALL: &str =
    r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

const BASE: &str = r#"
    [[accounts]]
    id = "1001"
    [[resource_groups]]
    account = "1001"
    id = "rg-prod"
    [[applications]]
    account = "1001"
    id = "APP"
    resource_group = "rg-prod"
    [[users]]
    account = "1001"
    name = "reader"
"#;

#[test]
fn the_example_configuration_is_valid() {
    let text = include_str!("../../../../bpops.example.toml");
    let config = check(text).expect("the example validates");
    assert!(config.directory.key("LTAI5tExampleRoot000001").is_some());
    assert!(!config.resources.is_empty());
}

#[test]
fn an_empty_file_gives_defaults() {
    let config = check("").unwrap();
    assert_eq!(config.engine.retention, Duration::from_secs(3600));
    assert_eq!(config.api.sync_wait, Duration::from_secs(2));
    assert_eq!(config.engine.shutdown_grace, Duration::from_secs(10));
    assert_eq!(config.listen, None);
    assert_eq!(config.storage, None);
    assert_eq!(config.clock, ClockKind::System);
}

#[test]
fn the_test_clock_is_on_only_when_the_file_says_manual() {
    let config = check("[testing]\nclock = \"manual\"").unwrap();
    assert_eq!(config.clock, ClockKind::Manual);
    assert_eq!(
        check("[testing]\nclock = \"system\"").unwrap().clock,
        ClockKind::System
    );
    let refused = error("[testing]\nclock = \"frozen\"");
    assert!(
        refused.contains("frozen") && refused.contains("manual"),
        "{refused}"
    );
}

#[test]
fn concurrency_is_per_pool_with_defaults_for_the_pools_left_out() {
    let defaults = check("").unwrap().engine.concurrency;
    assert_eq!(defaults, bpops_engine::default_concurrency());
    assert!(defaults[Pool::Emulated] > defaults[Pool::Command]);
    let set = check(
        "[operations.concurrency]
command = 4
http = 0",
    )
    .unwrap()
    .engine
    .concurrency;
    assert_eq!((set[Pool::Command], set[Pool::Http]), (4, 0));
    assert_eq!(set[Pool::Emulated], defaults[Pool::Emulated]);
    let e = error(
        "[operations.concurrency]
emulated = 1000000",
    );
    assert!(e.contains("[operations.concurrency] emulated"), "{e}");
    let e = error(
        "[operations.concurrency]
timer = 5",
    );
    assert!(e.contains("timer"), "{e}");
    assert!(
        error(
            "[operations.concurrency]
command = -1"
        )
        .contains("command")
    );
}

#[test]
fn audit_is_on_for_7_days_unless_the_file_says_otherwise() {
    let config = check("").unwrap();
    assert!(config.api.audit.enabled);
    assert_eq!(
        config.engine.audit_retention,
        Duration::from_secs(7 * 24 * 3600)
    );
    let config = check("[audit]\nenabled = false\nretention = \"30d\"").unwrap();
    assert!(!config.api.audit.enabled);
    assert_eq!(
        config.engine.audit_retention,
        Duration::from_secs(30 * 24 * 3600)
    );
    assert!(error("[audit]\nretention = \"0s\"").contains("[audit] retention"));
    assert!(error("[audit]\nretention = \"soon\"").contains("soon"));
    assert!(error("[audit]\nenabeld = true").contains("enabeld"));
}

#[test]
fn unknown_keys_are_refused_with_their_name() {
    assert!(error("[operations]\nretention = \"1h\"\nretnetion = \"2h\"").contains("retnetion"));
    assert!(error("[[accounts]]\nid = \"1\"\ncolour = \"red\"").contains("colour"));
}

#[test]
fn dangling_references_name_table_entry_and_problem() {
    let e = error(&format!(
        "{BASE}[[access_keys]]\nid = \"K\"\nsecret = \"s\"\naccount = \"1001\"\nuser = \"ghost\""
    ));
    assert!(
        e.contains("[[access_keys]] entry 1 (K)") && e.contains("\"ghost\""),
        "{e}"
    );
    let e = error(&format!(
        "{BASE}[[applications]]\naccount = \"1001\"\nid = \"APP2\"\nresource_group = \"rg-nope\""
    ));
    assert!(
        e.contains("[[applications]] entry 2 (APP2)") && e.contains("rg-nope"),
        "{e}"
    );
    let e = error("[[users]]\naccount = \"404\"\nname = \"u\"");
    assert!(
        e.contains("[[users]] entry 1 (u)") && e.contains("\"404\""),
        "{e}"
    );
    let e = error(&format!(
        "{BASE}[[resources]]\napplication = \"NOAPP\"\nservice = \"ecs\"\nid = \"i-1\""
    ));
    assert!(
        e.contains("[[resources]] entry 1 (i-1)") && e.contains("NOAPP"),
        "{e}"
    );
    let e = error(&format!(
        "{BASE}[[policies]]\naccount = \"1001\"\nname = \"P\"\ndocument = '{ALLOW_ALL}'\n[[attachments]]\naccount = \"1001\"\npolicy = \"P\"\nuser = \"reader\"\nscope = \"rg-other\""
    ));
    assert!(
        e.contains("[[attachments]] entry 1") && e.contains("rg-other"),
        "{e}"
    );
}

#[test]
fn invalid_values_are_refused() {
    assert!(error("[operations]\nretention = \"soon\"").contains("retention"));
    assert!(error("[operations]\nretention = \"0s\"").contains("retention"));
    assert!(error("[operations]\nsync_wait = \"30s\"").contains("sync_wait"));
    assert!(error("[operations]\nshutdown_grace = \"later\"").contains("shutdown_grace"));
    assert!(error("[operations]\nshutdown_grace = \"1h\"").contains("shutdown_grace"));
    assert!(error("listen = \"nowhere\"").contains("listen"));
    assert!(error("[storage]\nurl = \"mysql://x\"").contains("sqlite://"));
    let e = error(
        "[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nfailure_rate = 2.0",
    );
    assert!(e.contains("failure_rate"), "{e}");
    let e = error("[[operations.emulation]]\nservice = \"ecs\"\noperation = \"nope\"");
    assert!(
        e.contains("[[operations.emulation]] entry 1 (ecs:nope)"),
        "{e}"
    );
    let e = error(&format!(
        "{BASE}[[resources]]\napplication = \"APP\"\nservice = \"rds\"\nid = \"x\""
    ));
    assert!(e.contains("rds"), "{e}");
    let e = error(&format!(
        "{BASE}[[policies]]\naccount = \"1001\"\nname = \"P\"\ndocument = 'not json'"
    ));
    assert!(e.contains("[[policies]] entry 1 (P)"), "{e}");
}

#[test]
fn a_malformed_policy_stops_start_up_naming_policy_statement_and_problem() {
    let e = error(&format!(
        "{BASE}[[policies]]\naccount = \"1001\"\nname = \"NoDeletes\"\ndocument = '{{\"Version\":\"1\",\"Statement\":[{{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\",\"Condition\":{{\"StringEquals\":{{\"bpstudio:Opration\":\"ecsDelete\"}}}}}}]}}'"
    ));
    assert!(
        e.contains("[[policies]] entry 1 (NoDeletes)")
            && e.contains("Statement 1")
            && e.contains("bpstudio:Opration"),
        "{e}"
    );
}

#[test]
fn attachments_become_grants_of_their_user_with_their_scope() {
    let config = check(&format!(
        "{BASE}[[policies]]\naccount = \"1001\"\nname = \"P\"\ndocument = '{ALLOW_ALL}'\n\
         [[attachments]]\naccount = \"1001\"\npolicy = \"P\"\nuser = \"reader\"\nscope = \"account\"\n\
         [[attachments]]\naccount = \"1001\"\npolicy = \"P\"\nuser = \"reader\"\nscope = \"rg-prod\""
    ))
    .unwrap();
    let reader = Principal::User {
        account: "1001".into(),
        name: "reader".into(),
    };
    let scopes: Vec<_> = config
        .directory
        .grants(&reader)
        .iter()
        .map(|g| (g.policy.name().to_owned(), g.scope.clone()))
        .collect();
    assert_eq!(
        scopes,
        [
            ("P".to_owned(), Scope::Account),
            ("P".to_owned(), Scope::ResourceGroup("rg-prod".into()))
        ]
    );
}

#[test]
fn an_inactive_key_is_kept_inactive() {
    let config = check(&format!(
        "{BASE}[[access_keys]]\nid = \"K\"\nsecret = \"s\"\naccount = \"1001\"\nactive = false"
    ))
    .unwrap();
    assert!(!config.directory.key("K").unwrap().active);
}

#[test]
fn errors_about_access_keys_never_show_the_secret() {
    let e = error(&format!(
        "{BASE}[[access_keys]]\nid = \"K\"\nsecret = \"hunter2\"\naccount = \"1001\"\nuser = \"ghost\"\n\
         [[access_keys]]\nid = \"K\"\nsecret = \"hunter3\"\naccount = \"1001\""
    ));
    assert!(!e.contains("hunter"), "{e}");
}

#[test]
fn emulation_is_read_per_operation() {
    let config = check("[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"250ms\"\nfailure_rate = 0.5").unwrap();
    let e = config.engine.emulation("ecs", "rename");
    assert_eq!(e.latency, Duration::from_millis(250));
    assert_eq!(e.failure_rate, 0.5);
    assert_eq!(
        config.engine.emulation("ecs", "addTags").latency,
        Duration::ZERO
    );
}

#[test]
fn emulation_applies_to_deploying_and_releasing_applications_only() {
    let config = check("[[operations.emulation]]\nservice = \"bpstudio\"\noperation = \"deployApplication\"\nlatency = \"1s\"\n\n[[operations.emulation]]\nservice = \"bpstudio\"\noperation = \"releaseApplication\"\nfailure_rate = 0.5").unwrap();
    let deploy = config.engine.emulation("bpstudio", "deployApplication");
    assert_eq!(deploy.latency, Duration::from_secs(1));
    let release = config.engine.emulation("bpstudio", "releaseApplication");
    assert_eq!(release.failure_rate, 0.5);
    let e = error(
        "[[operations.emulation]]\nservice = \"bpstudio\"\noperation = \"validateApplication\"",
    );
    assert!(
        e.contains("[[operations.emulation]] entry 1 (bpstudio:validateApplication)"),
        "{e}"
    );
}

#[test]
fn pricing_sets_prices_over_the_built_in_ones() {
    let config = check(
        "[pricing]\necs = { \"ecs.g7.large\" = 2.5, \"ecs.new\" = 0 }\nslb = { \"slb.s9\" = 1.25 }",
    )
    .unwrap();
    let prices = &config.engine.prices;
    assert_eq!(prices.hourly("ecs", "ecs.g7.large"), Some(2.5));
    assert_eq!(prices.hourly("ecs", "ecs.new"), Some(0.0));
    assert_eq!(prices.hourly("slb", "slb.s9"), Some(1.25));
    assert_eq!(prices.hourly("slb", "slb.s1.small"), Some(0.07), "built in");
    let e = error("[pricing]\necs = { \"ecs.g7.large\" = -1 }");
    assert!(e.contains("[pricing.ecs] \"ecs.g7.large\""), "{e}");
    let e = error("[pricing]\nrds = { \"x\" = 1 }");
    assert!(e.contains("rds"), "{e}");
}

#[test]
fn access_key_secrets_never_show_in_debug_output() {
    let raw: RawConfig =
        toml::from_str("[[access_keys]]\nid = \"K\"\nsecret = \"hunter2\"\naccount = \"1\"")
            .unwrap();
    assert!(!format!("{raw:?}").contains("hunter2"));
}

#[test]
fn a_duration_that_does_not_parse_is_refused_at_its_line_and_key() {
    let e = error(
        "[[operations.emulation]]\nservice = \"ecs\"\noperation = \"rename\"\nlatency = \"slow\"",
    );
    assert!(
        e.contains("line 4")
            && e.contains("latency = \"slow\"")
            && e.contains("\"slow\" is not a duration such as \"90s\" or \"1h\""),
        "{e}"
    );
}

#[test]
fn templates_join_the_built_in_ones_and_applications_are_declared() {
    let config = check(include_str!("../../../../bpops.example.toml")).unwrap();
    let ids: Vec<&str> = config.catalog.templates().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["api-servers", "ecs-instance", "web-tier"]);
    assert_eq!(
        config.applications,
        [DeclaredApplication {
            account: AccountId::new("1000000000000001"),
            id: "APP-WEB".into(),
            resource_group: Some("rg-prod".into()),
        }]
    );
}

#[test]
fn invalid_templates_name_the_entry_and_the_field() {
    let template = |body: &str| format!("[[templates]]\nid = \"t\"\nname = \"T\"\n{body}");
    let e = error(&template(
        "variables = [{ name = \"size\", type = \"string\" }]\nnodes = [{ name = \"a\", service = \"ecs\", properties = { instance_type = \"${sise}\" } }]",
    ));
    assert!(
        e.contains("[[templates]] entry 1 (t): nodes.1.properties.instance_type")
            && e.contains("${sise}"),
        "{e}"
    );
    let e = error(&template(
        "variables = [{ name = \"n\", type = \"number\", default = \"2\" }]",
    ));
    assert!(e.contains("variables.1.default"), "{e}");
    let e = error(&template("variables = [{ name = \"n\", type = \"date\" }]"));
    assert!(e.contains("date"), "{e}");
    let e = error("[[templates]]\nid = \"web-tier\"\nname = \"Mine\"");
    assert!(
        e.contains("[[templates]] entry 1 (web-tier): id") && e.contains("built-in"),
        "{e}"
    );
}

#[test]
fn notifications_become_webhooks_with_their_filters() {
    let text = format!(
        r#"{BASE}
        [[notifications]]
        name = "ops-failures"
        url = "http://127.0.0.1:9000/events"
        secret = "s3cret"
        events = ["finished"]
        statuses = ["FAILURE"]
        services = ["ecs"]
        accounts = ["1001"]
        max_age = "2h"
        [[notifications]]
        name = "everything"
        url = "http://hooks.internal/bpops"
        secret = "other"
        events = ["application_deleted", "finished"]
        [[notifications]]
        name = "deploys"
        url = "http://hooks.internal/deploys"
        secret = "other"
        services = ["bpstudio"]
        operations = ["deployApplication"]
        applications = ["APP"]
        "#
    );
    let config = check(&text).unwrap();
    let hooks = &config.engine.notifications;
    assert_eq!(hooks.len(), 3);
    assert_eq!(hooks[0].filter.statuses, [bpops_store::Status::Failure]);
    assert_eq!(hooks[0].max_age, Duration::from_secs(7200));
    assert_eq!(hooks[1].timeout, bpops_engine::Webhook::DEFAULT_TIMEOUT);
    assert_eq!(hooks[1].filter.events, ["application_deleted", "finished"]);
    assert!(
        !format!("{hooks:?}").contains("s3cret"),
        "a secret is never shown"
    );
}

#[test]
fn a_bad_notification_is_refused_with_its_entry_and_problem() {
    let hook = |extra: &str| {
        format!(
            "{BASE}\n[[notifications]]\nname = \"h\"\nurl = \"http://127.0.0.1:9/x\"\n\
             secret = \"k\"\n{extra}\n"
        )
    };
    for (extra, expected) in [
        ("events = [\"done\"]", "\"done\" is not an event kind"),
        ("statuses = [\"OK\"]", "\"OK\" is not a status"),
        ("services = [\"s3\"]", "\"s3\" is not a service"),
        ("operations = [\"Nope\"]", "\"Nope\" is no operation"),
        ("accounts = [\"999\"]", "\"999\" is not declared"),
        ("timeout = \"0s\"", "timeout must be longer than zero"),
        ("max_age = \"1s\"\nbackoff = \"2s\"", "backoff must be"),
    ] {
        let message = error(&hook(extra));
        assert!(
            message.contains("[[notifications]] entry 1 (\"h\")") && message.contains(expected),
            "{extra}: {message}"
        );
    }
    let bad_url = error(&format!(
        "{BASE}\n[[notifications]]\nname = \"h\"\nurl = \"https://x\"\nsecret = \"k\"\n"
    ));
    assert!(bad_url.contains("uses https"), "{bad_url}");
    let twice = error(&format!(
        "{BASE}\n[[notifications]]\nname = \"h\"\nurl = \"http://x\"\nsecret = \"k\"\n\
         [[notifications]]\nname = \"h\"\nurl = \"http://y\"\nsecret = \"k\"\n"
    ));
    assert!(
        twice.contains("entry 2") && twice.contains("unique"),
        "{twice}"
    );
    let empty_secret = error(&format!(
        "{BASE}\n[[notifications]]\nname = \"h\"\nurl = \"http://x\"\nsecret = \"\"\n"
    ));
    assert!(
        empty_secret.contains("secret must not be empty"),
        "{empty_secret}"
    );
}
