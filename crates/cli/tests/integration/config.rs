//! product.md "Configuration" from the command line: a bad file stops `bpops serve` with a
//! message naming what is wrong, and without a file the first start creates an account with
//! a demo application and prints its key once, later starts reuse it silently.

use std::ffi::OsString;

use serde_json::json;

use crate::common::{APP, Exited, Key, ROOT, TestDir, add_tags, operation_id};

#[tokio::test]
async fn a_dangling_reference_stops_serve_naming_table_entry_and_problem() {
    let dir = TestDir::new();
    let config = dir.config(
        r#"
[[applications]]
account = "1000000000000001"
id = "APP-LOST"
resource_group = "rg-nowhere"
"#,
    );
    let exited = dir
        .serve_until_exit(&[OsString::from("--config"), config.into()])
        .await;
    // APP-LOST is the third [[applications]] entry of the file.
    assert_refused(
        &exited,
        &[
            "[[applications]] entry 3 (APP-LOST)",
            "\"rg-nowhere\"",
            "does not exist",
        ],
    );
}

#[tokio::test]
async fn an_unknown_key_is_refused_by_name() {
    let dir = TestDir::new();
    let config = dir.config("[operations]\nretention = \"1h\"\nretnetion = \"2h\"\n");
    let exited = dir
        .serve_until_exit(&[OsString::from("--config"), config.into()])
        .await;
    assert_refused(&exited, &["retnetion"]);
}

#[tokio::test]
async fn without_a_config_the_first_start_prints_a_key_once_and_later_starts_reuse_it() {
    let dir = TestDir::new();

    let first = dir.serve_without_config().await;
    let printed = first.stdout_so_far();
    assert!(printed.contains("Created account "), "{printed}");
    let printed = PrintedKey::from_stdout(&printed);
    let key = printed.key();
    let secret = &printed.secret;
    first.call(key, "ListServices", &[]).await.assert_ok();
    first.kill().await;

    let second = dir.serve_without_config().await;
    second.call(key, "ListServices", &[]).await.assert_ok();
    let output = second.kill().await;
    assert!(!output.stdout.contains(secret), "{}", output.stdout);
    assert!(!output.stdout.contains("export "), "{}", output.stdout);
    assert!(!output.stderr.contains(secret), "the logs show the secret");
}

#[tokio::test]
async fn without_a_config_the_demo_instance_takes_operations() {
    let dir = TestDir::new();
    let server = dir.serve_without_config().await;
    let printed = PrintedKey::from_stdout(&server.stdout_so_far());
    let key = printed.key();
    let attributes = add_tags("i-web1", json!({"env": "prod"})).to_string();
    let reply = server
        .call(
            key,
            "ExecuteOperationASync",
            &[
                ("ServiceType", "ecs"),
                ("Operation", "addTags"),
                ("ApplicationId", "APP-WEB"),
                ("Attributes", &attributes),
            ],
        )
        .await;
    let op = operation_id(&reply);
    let data = server
        .wait_final(key, &op, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(data["Status"], "SUCCESS", "{data}");
}

#[tokio::test]
async fn data_with_a_postgres_storage_url_is_refused_naming_both() {
    let dir = TestDir::new();
    let cluster = dir.write(
        "cluster.toml",
        "[storage]\nurl = \"postgres://bpops:hunter2@db.internal:5432/bpops\"\n",
    );
    let data = dir.path().join("data");
    let exited = dir
        .serve_until_exit(&[
            OsString::from("--config"),
            cluster.into(),
            OsString::from("--data"),
            data.clone().into(),
        ])
        .await;
    assert_refused(
        &exited,
        &[
            "--data",
            "postgres://bpops:<redacted>@db.internal:5432/bpops",
        ],
    );
    assert!(!exited.stderr.contains("hunter2"), "{}", exited.stderr);
    assert!(!data.exists(), "no SQLite database was created");
}

#[tokio::test]
async fn a_busy_port_on_first_start_fails_without_a_key_and_a_later_start_prints_it() {
    let dir = TestDir::new();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let data = OsString::from(dir.path().join("data"));
    let exited = dir
        .serve_on_until_exit(&address, &[OsString::from("--data"), data])
        .await;
    assert_refused(&exited, &[&address]);
    assert!(
        !exited.stdout.contains("ALIBABA_CLOUD_ACCESS_KEY"),
        "a key was shown though the server never served:\n{}",
        exited.stdout
    );
    drop(busy);

    let server = dir.serve_without_config().await;
    let printed = PrintedKey::from_stdout(&server.stdout_so_far());
    let key = printed.key();
    server.call(key, "ListServices", &[]).await.assert_ok();
}

#[tokio::test]
async fn the_example_configuration_serves_with_its_root_key() {
    let dir = TestDir::new();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bpops.example.toml");
    let data = dir.path().join("data");
    let server = dir
        .serve_args(&[
            OsString::from("--config"),
            OsString::from(example),
            OsString::from("--data"),
            data.clone().into(),
        ])
        .await;
    let root = Key {
        id: "LTAI5tExampleRoot000001",
        secret: "example-root-secret",
    };
    server.call(root, "ListServices", &[]).await.assert_ok();
    assert!(data.join("bpops.db").exists(), "--data wins over [storage]");
}

/// Asserts `bpops serve` stopped without serving, its error naming each of `expected`.
fn assert_refused(exited: &Exited, expected: &[&str]) {
    assert!(!exited.status.success(), "{}", exited.stderr);
    for expected in expected {
        assert!(
            exited.stderr.contains(expected),
            "stderr lacks {expected:?}:\n{}",
            exited.stderr
        );
    }
    assert!(!exited.stdout.contains("listening on"), "{}", exited.stdout);
}

/// The key of the `export` lines a first start prints.
struct PrintedKey {
    id: String,
    secret: String,
}

impl PrintedKey {
    fn from_stdout(stdout: &str) -> PrintedKey {
        PrintedKey {
            id: printed_value(stdout, "export ALIBABA_CLOUD_ACCESS_KEY_ID="),
            secret: printed_value(stdout, "export ALIBABA_CLOUD_ACCESS_KEY_SECRET="),
        }
    }

    fn key(&self) -> Key<'_> {
        Key {
            id: &self.id,
            secret: &self.secret,
        }
    }
}

/// The value after `label` on the line that has it.
fn printed_value(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} line in:\n{stdout}"))
        .trim()
        .to_owned()
}

#[tokio::test]
async fn a_declared_application_moved_in_the_file_keeps_its_stored_group_and_says_so() {
    let dir = TestDir::new();
    let config = dir.config("");
    dir.serve(&config).await.stop("TERM").await;
    let moved = std::fs::read_to_string(&config).unwrap().replace(
        "id = \"APP-WEB\"\nresource_group = \"rg-prod\"",
        "id = \"APP-WEB\"",
    );
    std::fs::write(&config, moved).unwrap();
    let server = dir.serve(&config).await;
    server
        .logged("a declared application is in another resource group in the store")
        .await;
    let logs = server.stderr_so_far();
    assert!(
        logs.contains("stored=\"rg-prod\"") && logs.contains("declared=\"none\""),
        "{logs}"
    );
    // The store's group is the one that applies.
    let reply = server
        .call(ROOT, "GetApplication", &[("ApplicationId", APP)])
        .await;
    assert_eq!(reply.data()["ResourceGroupId"], "rg-prod");
}
