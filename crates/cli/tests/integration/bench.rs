//! `bpops bench` as CI runs it: the scale scenario's three phases against the server bench
//! starts, judged by what they report (never by their timing).

use serde_json::Value;

async fn bench(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_bpops"))
        .arg("bench")
        .args(args)
        .output()
        .await
        .expect("running bpops bench")
}

#[tokio::test]
async fn scale_reads_loaded_operations_in_three_phases_and_reports_the_sweep() {
    let output = bench(&[
        "--short",
        "--scenario",
        "scale",
        "--scale-operations",
        "3000",
        "--json",
    ])
    .await;
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let phases: Vec<&str> = lines
        .iter()
        .map(|line| line["scale"]["phase"].as_str().expect("a scale line"))
        .collect();
    assert_eq!(phases, ["near-empty", "retained", "sweeping"]);
    for line in &lines {
        // Every read found its operation: the loaded ones read like submitted ones.
        assert_eq!(line["errors"], 0, "{line}");
        assert!(line["count"].as_u64().unwrap() > 0, "{line}");
    }
    let (retained, sweeping) = (&lines[1]["scale"], &lines[2]["scale"]);
    assert_eq!(retained["loaded"], 3000);
    assert_eq!(
        retained["retained"], 4000,
        "the near-empty store's 1,000 count too"
    );
    assert!(retained["p99_vs_near_empty"].is_number(), "{retained}");
    assert_eq!(sweeping["expired"], 3000);
    assert!(sweeping["swept_per_second"].is_number(), "{sweeping}");
    assert!(lines[0]["scale"].get("p99_vs_near_empty").is_none());
}

#[tokio::test]
async fn scale_refuses_a_server_it_did_not_start() {
    let output = bench(&["--scenario", "scale", "--endpoint", "http://127.0.0.1:9"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("scale scenario"), "{stderr}");
}
