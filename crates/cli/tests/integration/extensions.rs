//! The extension actions, ListExecuteOperations and CancelExecuteOperation, against the real
//! server, and the `bpops list` / `bpops cancel` commands that call them.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{bpops, json as printed_json};
use crate::common::{
    APP, OTHER_ROOT, READER, ROOT, RUNNING_INSTANCE, Reply, Server, TestDir, add_tags,
};
use crate::waiting::{increase, scrape};

const WAIT: Duration = Duration::from_secs(20);

/// `rename` takes 30 s, so a renamed instance holds its queue that long.
pub(crate) const SLOW_RENAME: &str = "[[operations.emulation]]\nservice = \"ecs\"\n\
     operation = \"rename\"\nlatency = \"30s\"\n";

async fn list(server: &Server, params: &[(&str, &str)]) -> Reply {
    server.call(ROOT, "ListExecuteOperations", params).await
}

fn ids(data: &Value) -> Vec<String> {
    data["Operations"]
        .as_array()
        .unwrap_or_else(|| panic!("no Operations: {data}"))
        .iter()
        .map(|op| op["OperationId"].as_str().unwrap().to_owned())
        .collect()
}

/// Owned copies, to compare with [`ids`].
fn owned(ids: &[&String]) -> Vec<String> {
    ids.iter().map(|id| (*id).clone()).collect()
}

async fn cancel(server: &Server, key: crate::common::Key<'_>, id: &str) -> Reply {
    server
        .call(key, "CancelExecuteOperation", &[("OperationId", id)])
        .await
}

/// Submits a slow rename of the running instance and waits until it is RUNNING.
pub(crate) async fn running_rename(server: &Server) -> String {
    let id = server
        .submit(
            "rename",
            &json!({"instanceId": RUNNING_INSTANCE, "instance_name": "renamed"}),
        )
        .await;
    let deadline = Instant::now() + WAIT;
    while server.result(ROOT, &id).await.data()["Status"] != "RUNNING" {
        assert!(Instant::now() < deadline, "{id} never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    id
}

#[tokio::test]
async fn pages_are_newest_first_and_never_skip_or_repeat_under_concurrent_submits() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    let mut before = Vec::new();
    for n in 0..12 {
        before.push(
            server
                .submit(
                    "addTags",
                    &add_tags(RUNNING_INSTANCE, json!({"n": n.to_string()})),
                )
                .await,
        );
    }
    before.reverse();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = vec![("MaxResults", "5")];
        if let Some(token) = &token {
            params.push(("NextToken", token));
        }
        // Submits race with every page.
        let (late_1, late_2) = (
            add_tags(RUNNING_INSTANCE, json!({"late": "1"})),
            add_tags(RUNNING_INSTANCE, json!({"late": "2"})),
        );
        let (page, _, _) = tokio::join!(
            list(&server, &params),
            server.submit("addTags", &late_1),
            server.submit("addTags", &late_2),
        );
        let data = page.data();
        assert_eq!(data["MaxResults"], 5);
        seen.extend(ids(data));
        match data["NextToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "repeated: {seen:?}");
    let kept: Vec<String> = seen.into_iter().filter(|id| before.contains(id)).collect();
    assert_eq!(kept, before, "skipped or out of order");
}

#[tokio::test]
async fn each_filter_narrows_the_listing() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(SLOW_RENAME)).await;
    let done = server
        .submit("addTags", &add_tags(RUNNING_INSTANCE, json!({"a": "b"})))
        .await;
    server.wait_final(ROOT, &done, WAIT).await;
    let running = running_rename(&server).await;
    let queued = server
        .submit("addTags", &add_tags(RUNNING_INSTANCE, json!({"c": "d"})))
        .await;
    let attributes = json!({"loadBalancerId": "lb-none", "listenerPort": 80}).to_string();
    let no_app = crate::common::operation_id(
        &server
            .call(
                ROOT,
                "ExecuteOperationASync",
                &[
                    ("ServiceType", "slb"),
                    ("Operation", "modifyListenerAttribute"),
                    ("Attributes", &attributes),
                ],
            )
            .await,
    );
    let failed = server.wait_final(ROOT, &no_app, WAIT).await;
    assert_eq!(failed["Status"], "FAILURE");

    let everything = ids(list(&server, &[]).await.data());
    assert_eq!(everything, owned(&[&no_app, &queued, &running, &done]));
    type Case<'a> = (&'a [(&'a str, &'a str)], Vec<&'a String>);
    let cases: [Case<'_>; 9] = [
        (&[("Status", "SUCCESS")], vec![&done]),
        (&[("Status", "RUNNING")], vec![&running]),
        (&[("Status", "INIT")], vec![&queued]),
        (&[("Status", "FAILURE")], vec![&no_app]),
        (&[("ServiceType", "slb")], vec![&no_app]),
        (&[("Operation", "addTags")], vec![&queued, &done]),
        (&[("ApplicationId", APP)], vec![&queued, &running, &done]),
        (
            &[("ResourceGroupId", "rg-prod")],
            vec![&queued, &running, &done],
        ),
        (
            &[("ResourceGroupId", "rg-prod"), ("Operation", "rename")],
            vec![&running],
        ),
    ];
    for (params, expected) in cases {
        assert_eq!(
            ids(list(&server, params).await.data()),
            owned(&expected),
            "{params:?}"
        );
    }
    assert!(
        ids(
            list(&server, &[("CreateTimeStart", "2999-01-01T00:00:00Z")])
                .await
                .data()
        )
        .is_empty()
    );
    assert!(
        ids(list(&server, &[("CreateTimeEnd", "2000-01-01T00:00:00Z")])
            .await
            .data())
        .is_empty()
    );
    assert_eq!(
        ids(list(
            &server,
            &[
                ("CreateTimeStart", "2000-01-01T00:00:00Z"),
                ("CreateTimeEnd", "2999-01-01T00:00:00Z")
            ]
        )
        .await
        .data())
        .len(),
        4
    );

    // Items: times in ISO 8601 UTC; no FinishTime while unfinished, no ApplicationId without one.
    let items = list(&server, &[]).await.data()["Operations"].clone();
    let by_id = |id: &String| {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["OperationId"] == **id)
            .unwrap()
            .clone()
    };
    let finished = by_id(&done);
    assert_eq!(finished["ServiceType"], "ecs");
    assert_eq!(finished["ApplicationId"], APP);
    assert_eq!(finished["Status"], "SUCCESS");
    for time in [&finished["CreateTime"], &finished["FinishTime"]] {
        let time = time.as_str().unwrap();
        assert!(
            time.len() == 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{time}"
        );
    }
    assert!(by_id(&running).get("FinishTime").is_none());
    assert!(by_id(&no_app).get("ApplicationId").is_none());

    // Another tenant sees none of them; an unknown group is refused.
    let foreign = server.call(OTHER_ROOT, "ListExecuteOperations", &[]).await;
    assert!(ids(foreign.data()).is_empty());
    list(&server, &[("ResourceGroupId", "rg-none")])
        .await
        .assert_error(400, "InvalidParameter");
    list(&server, &[("Status", "DONE")])
        .await
        .assert_error(400, "InvalidParameter");
}

#[tokio::test]
async fn max_results_is_1_to_100_and_defaults_to_20() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config("")).await;
    for n in 0..3 {
        server
            .submit(
                "addTags",
                &add_tags(RUNNING_INSTANCE, json!({"n": n.to_string()})),
            )
            .await;
    }
    for bad in ["0", "101", "ten"] {
        list(&server, &[("MaxResults", bad)])
            .await
            .assert_error(400, "InvalidParameter");
    }
    let default = list(&server, &[]).await;
    assert_eq!(default.data()["MaxResults"], 20);
    assert!(default.data().get("NextToken").is_none(), "one page");
    let one = list(&server, &[("MaxResults", "1")]).await;
    assert_eq!(ids(one.data()).len(), 1);
    assert!(one.data()["NextToken"].is_string());
    let hundred = list(&server, &[("MaxResults", "100")]).await;
    assert_eq!(ids(hundred.data()).len(), 3);
    list(&server, &[("NextToken", "bogus")])
        .await
        .assert_error(400, "InvalidParameter");
}

#[tokio::test]
async fn cancel_ends_init_and_running_emulated_operations_and_refuses_final_ones() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(SLOW_RENAME)).await;
    let running = running_rename(&server).await;
    let queued = server
        .submit(
            "addTags",
            &add_tags(RUNNING_INSTANCE, json!({"after": "cancel"})),
        )
        .await;

    // INIT: FAILURE at once.
    let reply = cancel(&server, ROOT, &queued).await;
    let data = reply.data();
    assert_eq!(data["Status"], "FAILURE", "{data}");
    assert!(
        data["Message"]
            .as_str()
            .unwrap()
            .starts_with("OperationCancelled")
    );
    assert_eq!(
        server.result(ROOT, &queued).await.data()["Status"],
        "FAILURE"
    );

    // RUNNING, 30 s from done: stopped well before, its effect never applied.
    let started = Instant::now();
    let data = cancel(&server, ROOT, &running).await.data().clone();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(data["Status"], "FAILURE", "{data}");
    assert!(
        data["Message"]
            .as_str()
            .unwrap()
            .starts_with("OperationCancelled")
    );
    let next = server
        .submit("addTags", &add_tags(RUNNING_INSTANCE, json!({"x": "y"})))
        .await;
    let state = crate::common::state(&server.wait_final(ROOT, &next, WAIT).await);
    assert_eq!(state["instance_name"], "web-1", "the rename never applied");

    // Final: 409, and nothing changes.
    let reply = cancel(&server, ROOT, &next).await;
    reply.assert_error(409, "IncorrectOperationStatus");
    assert_eq!(server.result(ROOT, &next).await.data()["Status"], "SUCCESS");
}

#[tokio::test]
async fn an_operation_cancelled_while_init_is_counted_as_finished() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(SLOW_RENAME)).await;
    running_rename(&server).await;
    let queued = server
        .submit("addTags", &add_tags(RUNNING_INSTANCE, json!({"q": "1"})))
        .await;
    let before = scrape(&server).await;
    assert_eq!(
        cancel(&server, ROOT, &queued).await.data()["Status"],
        "FAILURE"
    );
    let after = scrape(&server).await;

    let finished =
        "bpops_operations_finished_total{service=\"ecs\",operation=\"addTags\",status=\"FAILURE\"}";
    assert_eq!(increase(&before, &after, finished), 1.0, "{after}");
    // It never ran, so it took no execution time.
    let executed = "bpops_operation_execution_seconds_count{service=\"ecs\",operation=\"addTags\"}";
    assert_eq!(increase(&before, &after, executed), 0.0, "{after}");
}

#[tokio::test]
async fn cancel_of_an_unknown_or_another_accounts_operation_is_not_found() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(SLOW_RENAME)).await;
    let running = running_rename(&server).await;
    for (key, id) in [
        (OTHER_ROOT, running.as_str()),
        (ROOT, "op_0000000000000000000000"),
        (ROOT, "not-an-id"),
    ] {
        cancel(&server, key, id)
            .await
            .assert_error(404, "InvalidOperationId.NotFound");
    }
    assert_eq!(
        server.result(ROOT, &running).await.data()["Status"],
        "RUNNING"
    );
    // A user without a grant is denied both actions by their own RAM actions.
    let denied = cancel(&server, READER, &running).await;
    denied.assert_error(403, "NoPermission");
    assert_eq!(
        denied.json["AccessDeniedDetail"]["AuthAction"],
        "bpstudio:CancelExecuteOperation"
    );
    let denied = server.call(READER, "ListExecuteOperations", &[]).await;
    denied.assert_error(403, "NoPermission");
    assert_eq!(
        denied.json["AccessDeniedDetail"]["AuthAction"],
        "bpstudio:ListExecuteOperations"
    );
}

#[tokio::test]
async fn cancel_outside_the_named_resource_group_is_not_found_and_changes_nothing() {
    let dir = TestDir::new();
    let server = dir
        .serve(&dir.config(&format!("{SLOW_RENAME}{BETA_DENIED}")))
        .await;
    let running = running_rename(&server).await;
    let in_group = |group| {
        [
            ("OperationId", running.as_str()),
            ("ResourceGroupId", group),
        ]
    };
    server
        .call(ROOT, "CancelExecuteOperation", &in_group("rg-beta"))
        .await
        .assert_error(404, "InvalidOperationId.NotFound");
    assert_eq!(
        server.result(ROOT, &running).await.data()["Status"],
        "RUNNING"
    );
    let cancelled = server
        .call(ROOT, "CancelExecuteOperation", &in_group("rg-prod"))
        .await;
    assert_eq!(cancelled.data()["Status"], "FAILURE");
}

/// Whether process `pid` has ended (gone, or a zombie nobody has reaped yet).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[tokio::test]
async fn cancel_kills_a_running_command_with_its_whole_process_group() {
    let dir = TestDir::new();
    let child_pid = dir.path().join("child.pid");
    let script = dir.write(
        "slow.sh",
        &format!(
            "#!/bin/sh\nsleep 60 &\necho $! > {}\nwait\n",
            child_pid.display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!(
        "[[operations.declared]]\nservice = \"deploy\"\noperation = \"slow\"\n\
         display_name = \"Slow\"\ntimeout = \"60s\"\n\
         executor = {{ kind = \"command\", argv = [\"{}\"] }}\n",
        script.display()
    );
    let server = dir.serve(&dir.config(&config)).await;
    let id = crate::common::operation_id(
        &server
            .call(
                ROOT,
                "ExecuteOperationASync",
                &[("ServiceType", "deploy"), ("Operation", "slow")],
            )
            .await,
    );
    let deadline = Instant::now() + WAIT;
    let pid: u32 = loop {
        if let Ok(text) = std::fs::read_to_string(&child_pid)
            && let Ok(pid) = text.trim().parse()
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the script never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!ended(pid));

    let data = cancel(&server, ROOT, &id).await.data().clone();
    assert_eq!(data["Status"], "FAILURE", "{data}");
    assert!(
        data["Message"]
            .as_str()
            .unwrap()
            .starts_with("OperationCancelled"),
        "{data}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !ended(pid) {
        assert!(
            Instant::now() < deadline,
            "the script's child {pid} outlived the cancel"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn cli_list_and_cancel_print_json_and_exit_by_outcome() {
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(SLOW_RENAME)).await;
    let running = running_rename(&server).await;
    let mut queued = Vec::new();
    for n in 0..3 {
        queued.push(
            server
                .submit(
                    "addTags",
                    &add_tags(RUNNING_INSTANCE, json!({"n": n.to_string()})),
                )
                .await,
        );
    }

    let all = bpops(&server, &["list", "--all", "--max-results", "2", "--json"]).await;
    assert_eq!(all.status.code(), Some(0), "{all:?}");
    let listed = ids(&printed_json(&all));
    assert_eq!(
        listed,
        owned(&[&queued[2], &queued[1], &queued[0], &running])
    );

    let page = bpops(&server, &["list", "--max-results", "1", "--json"]).await;
    let page = printed_json(&page);
    assert_eq!(ids(&page), owned(&[&queued[2]]));
    let token = page["NextToken"].as_str().unwrap();
    let next = printed_json(
        &bpops(
            &server,
            &[
                "list",
                "--max-results",
                "1",
                "--next-token",
                token,
                "--json",
            ],
        )
        .await,
    );
    assert_eq!(ids(&next), owned(&[&queued[1]]));

    let filtered = bpops(
        &server,
        &["list", "--status", "RUNNING", "--service", "ecs", "--json"],
    )
    .await;
    assert_eq!(ids(&printed_json(&filtered)), owned(&[&running]));

    let table = bpops(&server, &["list", "--operation", "rename"]).await;
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("OPERATION ID"), "{text}");
    assert!(
        text.contains(&running) && text.contains("RUNNING"),
        "{text}"
    );

    let cancelled = bpops(&server, &["cancel", &queued[0], "--json"]).await;
    assert_eq!(cancelled.status.code(), Some(0), "{cancelled:?}");
    assert_eq!(printed_json(&cancelled)["Status"], "FAILURE");

    let again = bpops(&server, &["cancel", &queued[0]]).await;
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("IncorrectOperationStatus"));

    let unknown = bpops(&server, &["cancel", "op_0000000000000000000000", "--json"]).await;
    assert_eq!(unknown.status.code(), Some(3), "{unknown:?}");
    assert_eq!(printed_json(&unknown), Value::Null);

    let bad = bpops(&server, &["list", "--max-results", "0"]).await;
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("InvalidParameter"));
}

/// A reader with every action account-wide, and every action denied in rg-beta, where
/// APP-BETA and its instance i-beta live.
const BETA_DENIED: &str = r#"
[[resource_groups]]
account = "1000000000000001"
id = "rg-beta"

[[applications]]
account = "1000000000000001"
id = "APP-BETA"
resource_group = "rg-beta"

[[resources]]
application = "APP-BETA"
service = "ecs"
id = "i-beta"
properties = { instance_name = "beta", instance_type = "ecs.g7.large", status = "Running", region_id = "cn-hangzhou" }

[[policies]]
account = "1000000000000001"
name = "Everything"
document = '{"Version":"1","Statement":[{"Effect":"Allow","Action":"bpstudio:*","Resource":"*"}]}'

[[policies]]
account = "1000000000000001"
name = "Nothing"
document = '{"Version":"1","Statement":[{"Effect":"Deny","Action":"bpstudio:*","Resource":"*"}]}'

[[attachments]]
account = "1000000000000001"
policy = "Everything"
user = "reader"
scope = "account"

[[attachments]]
account = "1000000000000001"
policy = "Nothing"
user = "reader"
scope = "rg-beta"
"#;

#[tokio::test]
async fn a_group_scoped_deny_covers_listing_and_cancelling_its_operations_unnamed() {
    // Issue 11 item 2: a listing that names no group reaches every group's operations.
    let dir = TestDir::new();
    let server = dir.serve(&dir.config(BETA_DENIED)).await;
    let web = server
        .submit("addTags", &add_tags(RUNNING_INSTANCE, json!({"a": "b"})))
        .await;
    let beta = crate::common::operation_id(
        &server
            .call(
                ROOT,
                "ExecuteOperationASync",
                &[
                    ("ServiceType", "ecs"),
                    ("Operation", "addTags"),
                    (
                        "Attributes",
                        &add_tags("i-beta", json!({"a": "b"})).to_string(),
                    ),
                ],
            )
            .await,
    );
    server.wait_final(ROOT, &web, WAIT).await;
    server.wait_final(ROOT, &beta, WAIT).await;

    let list_as_reader = |params: &'static [(&'static str, &'static str)]| {
        server.call(READER, "ListExecuteOperations", params)
    };
    for denied in [
        list_as_reader(&[]).await,
        list_as_reader(&[("ApplicationId", "APP-BETA")]).await,
        list_as_reader(&[("ResourceGroupId", "rg-beta")]).await,
        cancel(&server, READER, &beta).await,
    ] {
        denied.assert_error(403, "NoPermission");
        assert_eq!(
            denied.json["AccessDeniedDetail"]["PolicyType"],
            "ResourceGroupLevelIdentityBasedPolicy",
            "{}",
            denied.json
        );
    }
    for params in [
        &[("ResourceGroupId", "rg-prod")][..],
        &[("ApplicationId", APP)][..],
    ] {
        let allowed = server.call(READER, "ListExecuteOperations", params).await;
        assert_eq!(ids(allowed.data()), vec![web.clone()], "{params:?}");
    }
    cancel(&server, READER, &web)
        .await
        .assert_error(409, "IncorrectOperationStatus");
}
