//! `bpops app` run as a user would run it: the real binary against a real server, judged by
//! exit status and output (issue 13, the CLI).

use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{bpops_as, json, stdout};
use crate::common::{Key, OTHER_ROOT, READER, ROOT, Server, TestDir};

/// Deploys take 200 ms per resource: long enough that following one polls it several times.
const SLOW_DEPLOY: &str = "[[operations.emulation]]\nservice = \"bpstudio\"\n\
     operation = \"deployApplication\"\nlatency = \"200ms\"\n";

/// `bpops app <args>` with `key`, asserting its exit status.
async fn app_as(server: &Server, key: Key<'_>, args: &[&str], code: i32) -> Output {
    let mut command = vec!["app"];
    command.extend_from_slice(args);
    let output = bpops_as(server, key, &command).await;
    assert_eq!(
        output.status.code(),
        Some(code),
        "bpops app {}: {output:?}",
        args.join(" ")
    );
    output
}

/// `bpops app <args>` with the root key, asserting its exit status.
async fn app(server: &Server, args: &[&str], code: i32) -> Output {
    app_as(server, ROOT, args, code).await
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the command said each of `parts` on stderr.
fn says(output: &Output, parts: &[&str]) {
    let text = stderr(output);
    for part in parts {
        assert!(text.contains(part), "{part:?} not said: {output:?}");
    }
}

/// Creates a `web-tier` application named `name` in `cn-hangzhou` and returns its id.
async fn create_web_tier(server: &Server, name: &str) -> String {
    let output = app(
        server,
        &[
            "create",
            "--template",
            "web-tier",
            "--name",
            name,
            "--area",
            "cn-hangzhou",
        ],
        0,
    )
    .await;
    stdout(&output).trim().to_owned()
}

/// Creates a `web-tier` application named `name`, validated and valuated: ready to deploy.
async fn ready_to_deploy(server: &Server, name: &str) -> String {
    let id = create_web_tier(server, name).await;
    app(server, &["validate", &id], 0).await;
    app(server, &["valuate", &id], 0).await;
    id
}

#[tokio::test]
async fn an_application_goes_through_its_whole_lifecycle_with_json_output() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(SLOW_DEPLOY)).await;

    let templates = json(&app(&server, &["templates", "--json"], 0).await);
    let ids: Vec<&str> = templates["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["TemplateId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ecs-instance", "web-tier"]);
    assert_eq!(templates["TotalCount"], 2);
    assert!(templates.get("NextToken").is_none(), "{templates}");

    let template = json(&app(&server, &["template", "web-tier", "--json"], 0).await);
    let port = template["Variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Variable"] == "listener_port")
        .unwrap_or_else(|| panic!("no listener_port: {template}"));
    assert_eq!(
        (&port["DataType"], &port["DefaultValue"]),
        (&json!("number"), &json!("80"))
    );

    let created = app(
        &server,
        &[
            "create",
            "--template",
            "web-tier",
            "--name",
            "web",
            "--area",
            "cn-hangzhou",
            "--var",
            "listener_port=8080",
            "--variables",
            r#"{"instance_type":"ecs.g7.xlarge"}"#,
            "--json",
        ],
        0,
    )
    .await;
    let id = json(&created)["ApplicationId"]
        .as_str()
        .expect("an ApplicationId")
        .to_owned();

    let validated = json(&app(&server, &["validate", &id, "--json"], 0).await);
    assert_eq!(validated["Status"], "Verified_Success", "{validated}");
    let checklist = validated["Checklist"].as_array().unwrap();
    assert_eq!(checklist.len(), 3, "{validated}");
    assert_eq!(
        checklist[0]["Specification"], "ecs.g7.xlarge",
        "{validated}"
    );

    let valuated = json(&app(&server, &["valuate", &id, "--json"], 0).await);
    assert_eq!(valuated["Status"], "Valuating_Success", "{valuated}");
    assert_eq!(valuated["PriceList"].as_array().unwrap().len(), 3);

    let deploy = app(&server, &["deploy", &id, "--json"], 0).await;
    // Only the application on stdout; no progress on stderr, which is not a terminal.
    let deployed = json(&deploy);
    assert_eq!(stderr(&deploy), "", "nothing but JSON");
    assert_eq!(
        (&deployed["Status"], &deployed["DeployPercent"]),
        (&json!("Deployed_Success"), &json!(100.0))
    );
    let resources: Vec<&str> = deployed["ResourceList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ResourceId"].as_str().unwrap())
        .collect();
    assert_eq!(resources.len(), 3, "{deployed}");
    assert_eq!(resources.iter().filter(|r| r.starts_with("i-")).count(), 2);
    assert_eq!(resources.iter().filter(|r| r.starts_with("lb-")).count(), 1);

    let got = json(&app(&server, &["get", &id, "--json"], 0).await);
    assert_eq!(got["ResourceList"], deployed["ResourceList"]);
    assert_eq!(got["Checklist"].as_array().unwrap().len(), 3);
    assert_eq!(got["PriceList"].as_array().unwrap().len(), 3);
    let human = stdout(&app(&server, &["get", &id], 0).await);
    for expected in ["Deployed_Success", "RESOURCE ID", "CHECK", "PRICE", "web-1"]
        .iter()
        .chain(&resources)
    {
        assert!(
            human.contains(expected),
            "{expected} missing from:\n{human}"
        );
    }

    let listed = json(&app(&server, &["list", "--template", "web-tier", "--json"], 0).await);
    assert_eq!(listed["TotalCount"], 1, "{listed}");
    assert_eq!(listed["Data"][0]["ApplicationId"], id.as_str());
    assert_eq!(listed["Data"][0]["Status"], "Deployed_Success");

    let refused = app(&server, &["delete", &id], 2).await;
    says(&refused, &["IncorrectApplicationStatus"]);

    let released = json(&app(&server, &["release", &id, "--json"], 0).await);
    assert_eq!(
        (&released["Status"], &released["ResourceList"]),
        (&json!("Destroyed_Success"), &json!([]))
    );

    let deleted = json(&app(&server, &["delete", &id, "--json"], 0).await);
    assert_eq!(deleted, json!({ "ApplicationId": id }));
    let gone = app(&server, &["get", &id, "--json"], 3).await;
    assert_eq!(json(&gone), Value::Null);
    says(&gone, &["InvalidApplicationId.NotFound"]);
}

#[tokio::test]
async fn tables_for_people_and_a_hint_for_the_next_page() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let templates = stdout(&app(&server, &["templates"], 0).await);
    assert!(
        templates.starts_with("TEMPLATE ID   NAME") && templates.contains("web-tier      Web tier"),
        "{templates}"
    );
    let template = stdout(&app(&server, &["template", "ecs-instance"], 0).await);
    assert!(
        template.contains("instance_name  string  ecs-1"),
        "{template}"
    );

    create_web_tier(&server, "second").await;
    // The configuration's APP-WEB and "second".
    let first = app(&server, &["list", "--max-results", "1"], 0).await;
    assert_eq!(stdout(&first).lines().count(), 2, "{first:?}");
    says(&first, &["more: --page 2 (2 in all)"]);
    let last = app(&server, &["list", "--max-results", "1", "--page", "2"], 0).await;
    assert_eq!(stderr(&last), "");

    let too_big = app(&server, &["list", "--max-results", "51"], 2).await;
    says(&too_big, &["InvalidParameter", "MaxResults"]);
}

#[tokio::test]
async fn unknown_templates_and_applications_exit_3() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let template = app(&server, &["template", "no-such-template"], 3).await;
    says(&template, &["InvalidTemplateId.NotFound"]);
    let create = app(
        &server,
        &[
            "create",
            "--template",
            "no-such-template",
            "--name",
            "web",
            "--json",
        ],
        3,
    )
    .await;
    assert_eq!(json(&create), Value::Null);
    for command in ["get", "validate", "deploy", "release", "delete"] {
        let output = app(&server, &[command, "NOSUCHAPPLICATION"], 3).await;
        says(&output, &["InvalidApplicationId.NotFound"]);
    }
}

#[tokio::test]
async fn bad_variables_and_names_are_refused_with_exit_2_and_nothing_is_created() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let cases: [(&[&str], &[&str]); 5] = [
        (&["--var", "listener_port"], &["--var", "KEY=VALUE"]),
        (
            &["--variables", "[1]"],
            &["--variables must be a JSON object"],
        ),
        (
            &["--var", "nope=1"],
            &["InvalidParameter", "Variables.nope"],
        ),
        (
            &["--var", "listener_port=eighty"],
            &["InvalidParameter", "Variables.listener_port", "number"],
        ),
        (
            &["--var", "listener_port=80", "--var", "instance_type=7"],
            &["InvalidParameter", "Variables.instance_type", "string"],
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["create", "--template", "web-tier", "--name", "web"];
        args.extend_from_slice(extra);
        says(&app(&server, &args, 2).await, expected);
    }
    let named = app(
        &server,
        &["create", "--template", "web-tier", "--name", "1web"],
        2,
    )
    .await;
    says(&named, &["InvalidParameter", "Name"]);
    let listed = json(&app(&server, &["list", "--template", "web-tier", "--json"], 0).await);
    assert_eq!(listed["TotalCount"], 0, "nothing was created: {listed}");
}

#[tokio::test]
async fn a_client_token_returns_the_first_application_and_a_name_is_taken_once() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let tokened = |name| {
        [
            "create",
            "--template",
            "ecs-instance",
            "--name",
            name,
            "--client-token",
            "token-1",
        ]
    };
    let first = stdout(&app(&server, &tokened("tokened"), 0).await);
    let again = stdout(&app(&server, &tokened("tokened"), 0).await);
    assert_eq!(first, again);
    let mismatch = app(&server, &tokened("renamed"), 2).await;
    says(&mismatch, &["IdempotentParameterMismatch"]);
    let duplicate = app(
        &server,
        &["create", "--template", "web-tier", "--name", "tokened"],
        2,
    )
    .await;
    says(&duplicate, &["InvalidApplicationName.Duplicate"]);
}

#[tokio::test]
async fn a_step_in_the_wrong_state_is_refused_with_exit_2_and_changes_nothing() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let id = create_web_tier(&server, "web").await;
    for step in ["valuate", "deploy", "release"] {
        let refused = app(&server, &[step, &id], 2).await;
        says(&refused, &["IncorrectApplicationStatus", "Modified"]);
    }
    let unchanged = json(&app(&server, &["get", &id, "--json"], 0).await);
    assert_eq!(unchanged["Status"], "Modified");
}

#[tokio::test]
async fn a_step_that_fails_exits_1_with_the_applications_error() {
    let dir = TestDir::new();
    let failing = "[[operations.emulation]]\nservice = \"bpstudio\"\n\
                   operation = \"deployApplication\"\nfailure_rate = 1.0\n";
    let server = dir.serve(&dir.config(failing)).await;

    // Created without a region: validation fails.
    let created = app(
        &server,
        &["create", "--template", "ecs-instance", "--name", "nowhere"],
        0,
    )
    .await;
    let nowhere = stdout(&created).trim().to_owned();
    let validate = app(&server, &["validate", &nowhere, "--json"], 1).await;
    assert_eq!(json(&validate)["Status"], "Verified_Failure");
    says(&validate, &["ended Verified_Failure: AreaId"]);

    let id = ready_to_deploy(&server, "doomed").await;
    let deploy = app(&server, &["deploy", &id], 1).await;
    assert!(stdout(&deploy).contains("Deployed_Failure"), "{deploy:?}");
    says(&deploy, &["ended Deployed_Failure: InjectedFailure"]);
}

#[tokio::test]
async fn no_wait_returns_at_once_and_timeout_stops_waiting_with_exit_4() {
    let dir = TestDir::new();
    let slow = "[[operations.emulation]]\nservice = \"bpstudio\"\n\
                operation = \"deployApplication\"\nlatency = \"2s\"\n";
    let server = dir.serve(&dir.config(slow)).await;
    let started = ready_to_deploy(&server, "started").await;
    let followed = ready_to_deploy(&server, "followed").await;

    let no_wait = json(&app(&server, &["deploy", &started, "--no-wait", "--json"], 0).await);
    assert_eq!(no_wait["Status"], "Deploying", "{no_wait}");
    let again = app(&server, &["deploy", &started], 2).await;
    says(&again, &["IncorrectApplicationStatus", "Deploying"]);

    let began = Instant::now();
    let timed_out = app(
        &server,
        &["deploy", &followed, "--timeout", "500ms", "--json"],
        4,
    )
    .await;
    let took = began.elapsed();
    assert!(
        (Duration::from_millis(500)..Duration::from_secs(2)).contains(&took),
        "--timeout 500ms waited {took:?}"
    );
    assert_eq!(json(&timed_out)["Status"], "Deploying");
    says(&timed_out, &["timed out after 500ms"]);
}

#[tokio::test]
async fn ram_refuses_what_a_user_is_not_granted_and_other_accounts_see_nothing() {
    let dir = TestDir::new();
    let read_only = r#"
[[policies]]
account = "1000000000000001"
name = "ReadApplications"
document = '{"Version":"1","Statement":[{"Effect":"Allow","Action":["bpstudio:GetApplication","bpstudio:ListApplication"],"Resource":"*"}]}'

[[attachments]]
account = "1000000000000001"
policy = "ReadApplications"
user = "reader"
scope = "account"
"#;
    let server = dir.serve(&dir.config(read_only)).await;
    let id = create_web_tier(&server, "web").await;

    let seen = json(&app_as(&server, READER, &["get", &id, "--json"], 0).await);
    assert_eq!(seen["Status"], "Modified");
    for args in [
        vec!["validate", id.as_str()],
        vec!["delete", id.as_str()],
        vec!["create", "--template", "web-tier", "--name", "mine"],
        vec!["templates"],
    ] {
        let denied = app_as(&server, READER, &args, 2).await;
        says(&denied, &["NoPermission"]);
    }
    let unchanged = json(&app(&server, &["get", &id, "--json"], 0).await);
    assert_eq!(unchanged["Status"], "Modified");

    for command in ["get", "validate", "delete"] {
        let hidden = app_as(&server, OTHER_ROOT, &[command, &id], 3).await;
        says(&hidden, &["InvalidApplicationId.NotFound"]);
    }
    let theirs = json(&app_as(&server, OTHER_ROOT, &["list", "--json"], 0).await);
    assert!(
        !theirs.to_string().contains(&id),
        "another account lists it: {theirs}"
    );
}
