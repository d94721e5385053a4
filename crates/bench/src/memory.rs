//! The memory scenario: the largest operations bpops accepts, many of them, each read several
//! times, against the server bench starts. It measures what callers can make a server hold;
//! every line carries the server's peak resident set so far (`VmHWM`), the last one the
//! scenario's peak.
//!
//! Three phases, in order:
//! 1. `ecs addTags` at the attribute limits: a new 128-character `instanceId` each time (so
//!    each is a new resource, decided at once as `FAILURE` naming the id), a 128-character
//!    `regionId` and 20 tags of 128-character keys and values.
//! 2. A declared command answering `Arguments` and `Message` each exactly at the executors'
//!    cap, submitted with attributes at the request limit (64 KiB of JSON): the largest
//!    operation bpops stores.
//! 3. The same command answering `Arguments` over the cap, in the largest answer bpops reads
//!    whole (so each running attempt holds the most it can).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bpops_client::{Client, Execute};
use bpops_executors::{OUTPUT_LIMIT, RESULT_LIMIT};
use serde_json::{Value, json};

use super::Report;
use super::scenarios::{final_status, for_each, report};

/// The service of the declared operations the scenario runs.
const SERVICE: &str = "memory";
/// The longest id the emulated operations accept.
const ID_LENGTH: usize = 128;
/// Attributes of the declared operations: one string, as long as the request allows.
const PAD_LENGTH: usize = 64 * 1024 - r#"{"pad":""}"#.len();

/// The parameters of one submit.
struct Submit {
    service_type: &'static str,
    operation: &'static str,
    attributes: String,
}

/// One phase: what it submits, and how many times.
struct Phase {
    scenario: &'static str,
    submits: usize,
    params: fn(usize) -> Submit,
}

/// What the scenario does.
pub struct Settings {
    /// `ecs` submits.
    pub submits: usize,
    /// Submits of each declared operation.
    pub declared: usize,
    /// Reads of each operation once final.
    pub reads: usize,
    /// Concurrent clients.
    pub concurrency: usize,
}

/// The `[[operations.declared]]` tables the server needs, with their program written to `dir`.
pub fn declared_operations(dir: &Path) -> anyhow::Result<String> {
    let program = dir.join("memory-answer.sh");
    // Prints {"Message": "mmm…", "Arguments": "aaa…"}: $2 m's and $1 a's, 32 bytes more in all.
    std::fs::write(
        &program,
        "#!/bin/sh\n/usr/bin/cat >/dev/null\nprintf '{\"Message\": \"'\n\
         /usr/bin/head -c \"$2\" /dev/zero | /usr/bin/tr '\\0' m\n\
         printf '\", \"Arguments\": \"'\n\
         /usr/bin/head -c \"$1\" /dev/zero | /usr/bin/tr '\\0' a\nprintf '\"}'\n",
    )?;
    std::fs::set_permissions(
        &program,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let mut text = String::new();
    // (Arguments as a JSON string of a + 2 bytes, Message of m bytes.)
    for (operation, a, m) in [
        ("atCap", RESULT_LIMIT - 2, RESULT_LIMIT),
        ("overCap", OUTPUT_LIMIT - 32, 0),
    ] {
        text.push_str(&format!(
            "\n[[operations.declared]]\nservice = \"{SERVICE}\"\noperation = \"{operation}\"\n\
             display_name = \"Answer {a} characters of Arguments and {m} of Message\"\n\
             attributes = {{ type = \"object\", properties = {{ pad = {{ type = \"string\" }} }} }}\n\
             executor = {{ kind = \"command\", argv = [\"{}\", \"{a}\", \"{m}\"] }}\n",
            program.display(),
        ));
    }
    Ok(text)
}

/// Runs the three phases; `rss` reads the server's peak so far, in MB.
pub async fn memory(
    client: &Arc<Client>,
    settings: &Settings,
    rss: impl Fn() -> f64,
) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::new();
    let phases = [
        Phase {
            scenario: "memory (ecs addTags at the attribute limits)",
            submits: settings.submits,
            params: ecs_params,
        },
        Phase {
            scenario: "memory (declared, Arguments and Message at the cap)",
            submits: settings.declared,
            params: |_| declared_params("atCap"),
        },
        Phase {
            scenario: "memory (declared, Arguments over the cap, largest answer)",
            submits: settings.declared,
            params: |_| declared_params("overCap"),
        },
    ];
    for Phase {
        scenario,
        submits: n,
        params,
    } in phases
    {
        let started = Instant::now();
        let ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
        let submitted = for_each(n, settings.concurrency, {
            let (client, ids) = (Arc::clone(client), Arc::clone(&ids));
            move |i| {
                let (client, ids) = (Arc::clone(&client), Arc::clone(&ids));
                async move {
                    let submit = params(i);
                    let answer = client
                        .execute_async(&Execute {
                            service_type: submit.service_type,
                            operation: submit.operation,
                            attributes: &submit.attributes,
                            application_id: None,
                            client_token: None,
                        })
                        .await;
                    match answer.ok() {
                        Some(id) => {
                            ids.lock().expect("ids lock").push(id);
                            true
                        }
                        None => false,
                    }
                }
            }
        })
        .await;
        let ids = Arc::new(std::mem::take(&mut *ids.lock().expect("ids lock")));
        let read = for_each(ids.len() * settings.reads, settings.concurrency, {
            let (client, ids) = (Arc::clone(client), Arc::clone(&ids));
            move |i| {
                let (client, ids) = (Arc::clone(&client), Arc::clone(&ids));
                async move { final_status(&client, &ids[i % ids.len()]).await.is_some() }
            }
        })
        .await;
        let (mut latencies, mut errors) = submitted;
        latencies.extend(read.0);
        errors += read.1;
        let mut line = report(
            scenario,
            latencies.len(),
            started.elapsed(),
            latencies,
            errors,
        );
        line.server_rss_mb = Some(rss());
        reports.push(line);
    }
    Ok(reports)
}

/// The `i`th `addTags`: every id and tag at its longest, on an instance that does not exist.
fn ecs_params(i: usize) -> Submit {
    let long =
        |prefix: &str, n: usize| format!("{prefix}{n:0>width$}", width = ID_LENGTH - prefix.len());
    let tags: serde_json::Map<String, Value> = (0..20)
        .map(|t| (long("k", t), json!(long("v", t))))
        .collect();
    let attributes = json!({
        "instanceId": long("i-", i),
        "regionId": long("cn-", i),
        "tags": tags,
    });
    Submit {
        service_type: "ecs",
        operation: "addTags",
        attributes: attributes.to_string(),
    }
}

/// A declared `operation` with attributes at the request limit.
fn declared_params(operation: &'static str) -> Submit {
    let attributes = json!({"pad": "p".repeat(PAD_LENGTH)});
    Submit {
        service_type: SERVICE,
        operation,
        attributes: attributes.to_string(),
    }
}
