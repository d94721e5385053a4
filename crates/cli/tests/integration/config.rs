//! product.md "Configuration" from the command line: a bad file stops `bpops serve` with a
//! message naming what is wrong, and without a file the first start creates an account and
//! prints its key once, later starts reuse it silently.

use std::ffi::OsString;

use crate::common::{Key, TestDir};

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
    assert!(!exited.status.success(), "{}", exited.stderr);
    // APP-LOST is the third [[applications]] entry of the file.
    for expected in [
        "[[applications]] entry 3 (APP-LOST)",
        "\"rg-nowhere\"",
        "does not exist",
    ] {
        assert!(
            exited.stderr.contains(expected),
            "stderr lacks {expected:?}:\n{}",
            exited.stderr
        );
    }
    assert!(!exited.stdout.contains("listening on"), "{}", exited.stdout);
}

#[tokio::test]
async fn an_unknown_key_is_refused_by_name() {
    let dir = TestDir::new();
    let config = dir.config("[operations]\nretention = \"1h\"\nretnetion = \"2h\"\n");
    let exited = dir
        .serve_until_exit(&[OsString::from("--config"), config.into()])
        .await;
    assert!(!exited.status.success(), "{}", exited.stderr);
    assert!(exited.stderr.contains("retnetion"), "{}", exited.stderr);
    assert!(!exited.stdout.contains("listening on"), "{}", exited.stdout);
}

#[tokio::test]
async fn without_a_config_the_first_start_prints_a_key_once_and_later_starts_reuse_it() {
    let dir = TestDir::new();

    let first = dir.serve_without_config().await;
    let printed = first.stdout_so_far();
    let id = printed_value(&printed, "AccessKeyId:");
    let secret = printed_value(&printed, "AccessKeySecret:");
    assert!(printed.contains("Created account "), "{printed}");
    let key = Key {
        id: &id,
        secret: &secret,
    };
    first.call(key, "ListServices", &[]).await.assert_ok();
    first.kill().await;

    let second = dir.serve_without_config().await;
    second.call(key, "ListServices", &[]).await.assert_ok();
    let output = second.kill().await;
    assert!(!output.stdout.contains(&secret), "{}", output.stdout);
    assert!(
        !output.stdout.contains("AccessKeySecret"),
        "{}",
        output.stdout
    );
    assert!(!output.stderr.contains(&secret), "the logs show the secret");
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

/// The value after `label` on the line that has it.
fn printed_value(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} line in:\n{stdout}"))
        .trim()
        .to_owned()
}
