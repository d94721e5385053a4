//! `bpops bench` as CI runs it: the scale scenario's three phases, the burn-down and the
//! queued path against the server bench starts, judged by what they report (never by their
//! timing).

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

/// The burn-down drains a backlog that waited (bench checks that none of it ran while held),
/// and the queued path's operations all succeed through a worker: the emulated one, and the
/// declared one through the endpoint bench runs (which fails when nothing answers it).
#[tokio::test]
async fn burn_down_and_queued_path_complete_every_operation() {
    let output = bench(&[
        "--short",
        "--scenario",
        "burn-down,queued-path",
        "--operations",
        "200",
        "--json",
    ])
    .await;
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let scenarios: Vec<&str> = lines
        .iter()
        .map(|line| line["scenario"].as_str().expect("a scenario"))
        .collect();
    assert_eq!(
        scenarios,
        [
            "burn-down (200 queued, then the server starts)",
            "queued path (emulated 1ms latency)",
            "queued path (declared http operation)",
        ]
    );
    for line in &lines {
        assert_eq!(line["count"], 200, "{line}");
        assert_eq!(line["errors"], 0, "{line}");
    }
}

#[tokio::test]
async fn burn_down_and_queued_path_refuse_a_server_they_did_not_start() {
    for scenario in ["burn-down", "queued-path"] {
        let output = bench(&["--scenario", scenario, "--endpoint", "http://127.0.0.1:9"]).await;
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("the {scenario} scenario")),
            "{stderr}"
        );
    }
}
