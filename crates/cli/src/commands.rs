//! The client subcommands: `exec`, `get`, `wait`, `list`, `cancel`, `services`,
//! `operations`, `params`.
//! Human output by default (aligned, coloured only on a terminal), `--json` for scripts.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use crate::client::{CallError, Client, Credentials};
use crate::output;

/// How a client command ended, beyond errors.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done; for `wait`, the operation succeeded.
    Done,
    /// The operation ended in FAILURE.
    OperationFailed,
    /// The operation id is unknown or expired.
    Unknown,
    /// `wait --timeout` ran out before the operation was final.
    TimedOut,
}

const ACCESS_KEY_ID_VAR: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
const ACCESS_KEY_SECRET_VAR: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";

/// Where to connect and how to print, shared by every client command.
#[derive(Args, Clone)]
pub struct ClientArgs {
    /// The bpops endpoint.
    #[arg(long, env = "BPOPS_ENDPOINT", default_value = "http://127.0.0.1:8080")]
    endpoint: String,
    /// AccessKeyId to sign with.
    #[arg(long, env = ACCESS_KEY_ID_VAR)]
    access_key_id: Option<String>,
    /// AccessKeySecret to sign with.
    #[arg(long, env = ACCESS_KEY_SECRET_VAR, hide_env_values = true)]
    access_key_secret: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long)]
    json: bool,
}

/// The client commands.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Submit an operation (ExecuteOperationASync) and print its id, or wait for it.
    Exec(ExecArgs),
    /// Show an operation's result.
    Get(IdArgs),
    /// Wait until an operation is final; exit 0 on SUCCESS, 1 on FAILURE, 3 when unknown, 4
    /// when `--timeout` runs out first.
    Wait(WaitArgs),
    /// List your operations, newest first (ListExecuteOperations).
    List(ListArgs),
    /// Cancel an operation (CancelExecuteOperation); exit 3 when the id is unknown.
    Cancel(IdArgs),
    /// List the service types.
    Services(ClientOnly),
    /// List a service's operations.
    Operations(ServiceArgs),
    /// Show an operation's parameter schema.
    Params(OperationArgs),
}

/// Flags of `exec`.
#[derive(Args)]
pub struct ExecArgs {
    /// Service type, e.g. ecs.
    service: String,
    /// Operation, e.g. addTags.
    operation: String,
    /// An attribute as KEY=VALUE; VALUE is read as JSON when it parses (80, true, {"a":"b"}),
    /// else as a string. Repeatable.
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    attrs: Vec<String>,
    /// All attributes as one JSON object; `--attr` entries are added to it.
    #[arg(long, value_name = "JSON")]
    attributes_json: Option<String>,
    /// The application the operation belongs to.
    #[arg(long, value_name = "ID")]
    application: Option<String>,
    /// Idempotency token: the same token and parameters return the first operation.
    #[arg(long, value_name = "T")]
    client_token: Option<String>,
    /// Wait for the result, as `bpops wait` does.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `get`.
#[derive(Args)]
pub struct IdArgs {
    /// The operation id.
    operation_id: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `wait`.
#[derive(Args)]
pub struct WaitArgs {
    /// The operation id.
    operation_id: String,
    /// Give up after this long (e.g. 30s, 5m); by default wait as long as it takes.
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `list`.
#[derive(Args)]
pub struct ListArgs {
    /// Only operations in this status: INIT, RUNNING, SUCCESS or FAILURE.
    #[arg(long, value_name = "S")]
    status: Option<String>,
    /// Only operations of this service type.
    #[arg(long, value_name = "S")]
    service: Option<String>,
    /// Only operations with this operation name.
    #[arg(long, value_name = "O")]
    operation: Option<String>,
    /// Only operations of this application.
    #[arg(long, value_name = "A")]
    application: Option<String>,
    /// Page size, 1 to 100 (the server's default is 20).
    #[arg(long, value_name = "N")]
    max_results: Option<u32>,
    /// Continue from a previous page's NextToken.
    #[arg(long, value_name = "T")]
    next_token: Option<String>,
    /// Follow NextToken to the last page and print everything.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of commands that take nothing else.
#[derive(Args)]
pub struct ClientOnly {
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `operations`.
#[derive(Args)]
pub struct ServiceArgs {
    /// Service type.
    service: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `params`.
#[derive(Args)]
pub struct OperationArgs {
    /// Service type.
    service: String,
    /// Operation.
    operation: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs a client command.
pub fn run(command: ClientCommand) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            ClientCommand::Exec(args) => exec(args).await,
            ClientCommand::Get(args) => get(args).await,
            ClientCommand::Wait(args) => {
                let client = connect(&args.client)?;
                wait(&client, &args.client, &args.operation_id, args.timeout).await
            }
            ClientCommand::List(args) => list_operations(args).await,
            ClientCommand::Cancel(args) => cancel(args).await,
            ClientCommand::Services(args) => services(args).await,
            ClientCommand::Operations(args) => operations(args).await,
            ClientCommand::Params(args) => params(args).await,
        }
    })
}

fn connect(args: &ClientArgs) -> anyhow::Result<Client> {
    // Checked here rather than by clap, whose message would name only the flags.
    let (Some(access_key_id), Some(access_key_secret)) =
        (&args.access_key_id, &args.access_key_secret)
    else {
        anyhow::bail!(
            "no AccessKey: set {ACCESS_KEY_ID_VAR} and {ACCESS_KEY_SECRET_VAR} (or pass \
             --access-key-id and --access-key-secret)"
        );
    };
    Ok(Client::new(Credentials {
        endpoint: args.endpoint.clone(),
        access_key_id: access_key_id.clone(),
        access_key_secret: access_key_secret.clone(),
    })?)
}

async fn exec(args: ExecArgs) -> anyhow::Result<Outcome> {
    let attributes = attributes(args.attributes_json.as_deref(), &args.attrs)?;
    let client = connect(&args.client)?;
    let mut params = vec![
        ("ServiceType", args.service.as_str()),
        ("Operation", args.operation.as_str()),
        ("Attributes", attributes.as_str()),
    ];
    if let Some(application) = &args.application {
        params.push(("ApplicationId", application));
    }
    if let Some(token) = &args.client_token {
        params.push(("ClientToken", token));
    }
    let answer = client.call("ExecuteOperationASync", &params).await?;
    let id = answer["Data"].as_str().unwrap_or_default().to_owned();
    if args.wait {
        return wait(&client, &args.client, &id, None).await;
    }
    if args.client.json {
        output::json(&json!({ "OperationId": id }));
    } else {
        println!("{id}");
    }
    Ok(Outcome::Done)
}

async fn get(args: IdArgs) -> anyhow::Result<Outcome> {
    let client = connect(&args.client)?;
    let answer = client
        .call(
            "GetExecuteOperationResult",
            &[("OperationId", &args.operation_id)],
        )
        .await?;
    match answer.get("Data") {
        Some(data) => {
            print_result(data, args.client.json);
            Ok(Outcome::Done)
        }
        None => unknown(&args.operation_id, args.client.json),
    }
}

/// Waits for a final status. Each request asks the server to hold the answer until the
/// operation finishes (`WaitSeconds`: the time left, rounded up, at most [`MAX_WAIT`]); a
/// server that answers at once is asked again no more than four times a second. With a
/// timeout, a request still pending at the deadline is dropped and the status read at once.
async fn wait(
    client: &Client,
    args: &ClientArgs,
    id: &str,
    timeout: Option<Duration>,
) -> anyhow::Result<Outcome> {
    const MIN_INTERVAL: Duration = Duration::from_millis(250);
    const MAX_WAIT: Duration = Duration::from_secs(10);
    let started = Instant::now();
    let deadline = timeout.map(|limit| started + limit);
    let progress = output::Progress::new(std::io::stderr().is_terminal());
    loop {
        let asked = Instant::now();
        let left = deadline.map_or(MAX_WAIT, |d| d.saturating_duration_since(asked));
        let wait_seconds = left.min(MAX_WAIT).as_millis().div_ceil(1000).to_string();
        let waiting = read_result(client, id, &wait_seconds);
        let answer = match deadline {
            None => waiting.await?,
            Some(deadline) => match tokio::time::timeout_at(deadline.into(), waiting).await {
                Ok(answer) => answer?,
                Err(_) => read_result(client, id, "0").await?,
            },
        };
        let Some(data) = answer.get("Data") else {
            progress.clear();
            return unknown(id, args.json);
        };
        let status = data["Status"].as_str().unwrap_or_default();
        if matches!(status, "SUCCESS" | "FAILURE") {
            progress.clear();
            print_result(data, args.json);
            return Ok(if status == "SUCCESS" {
                Outcome::Done
            } else {
                Outcome::OperationFailed
            });
        }
        progress.show(id, status, started.elapsed());
        if let Some(limit) = timeout
            && started.elapsed() >= limit
        {
            progress.clear();
            if args.json {
                output::json(data);
            }
            eprintln!(
                "bpops: timed out after {}: {id} is still {status}",
                humantime::format_duration(limit)
            );
            return Ok(Outcome::TimedOut);
        }
        let next = asked + MIN_INTERVAL;
        tokio::time::sleep_until(deadline.map_or(next, |d| d.min(next)).into()).await;
    }
}

/// GetExecuteOperationResult of `id`, held by the server up to `wait_seconds`.
async fn read_result(client: &Client, id: &str, wait_seconds: &str) -> Result<Value, CallError> {
    client
        .call(
            "GetExecuteOperationResult",
            &[("OperationId", id), ("WaitSeconds", wait_seconds)],
        )
        .await
}

async fn list_operations(args: ListArgs) -> anyhow::Result<Outcome> {
    let client = connect(&args.client)?;
    let max_results = args.max_results.map(|n| n.to_string());
    // (flag, parameter, value): the request's filters, and the "more" hint's flags.
    let filters: Vec<(&str, &str, &str)> = [
        ("--status", "Status", &args.status),
        ("--service", "ServiceType", &args.service),
        ("--operation", "Operation", &args.operation),
        ("--application", "ApplicationId", &args.application),
        ("--max-results", "MaxResults", &max_results),
    ]
    .into_iter()
    .filter_map(|(flag, name, value)| Some((flag, name, value.as_deref()?)))
    .collect();
    let mut operations = Vec::new();
    let mut token = args.next_token.clone();
    let data = loop {
        let mut params: Vec<(&str, &str)> = filters
            .iter()
            .map(|(_, name, value)| (*name, *value))
            .collect();
        if let Some(token) = &token {
            params.push(("NextToken", token));
        }
        let answer = client.call("ListExecuteOperations", &params).await?;
        let data = answer["Data"].clone();
        operations.extend(list(&data["Operations"]).iter().cloned());
        token = data["NextToken"].as_str().map(str::to_owned);
        if !args.all || token.is_none() {
            break data;
        }
    };
    if args.client.json {
        let mut page = json!({ "Operations": operations, "MaxResults": data["MaxResults"] });
        if let Some(token) = &token {
            page["NextToken"] = json!(token);
        }
        output::json(&page);
        return Ok(Outcome::Done);
    }
    let rows: Vec<Vec<String>> = operations
        .iter()
        .map(|op| {
            let optional = |v: &Value| v.as_str().unwrap_or("-").to_owned();
            vec![
                text(&op["OperationId"]),
                text(&op["ServiceType"]),
                text(&op["Operation"]),
                optional(&op["ApplicationId"]),
                output::status(&text(&op["Status"])),
                text(&op["CreateTime"]),
                optional(&op["FinishTime"]),
            ]
        })
        .collect();
    output::table(
        &[
            "OPERATION ID",
            "SERVICE",
            "OPERATION",
            "APPLICATION",
            "STATUS",
            "CREATED",
            "FINISHED",
        ],
        &rows,
    );
    if let Some(token) = token {
        // The next page with the same filters and page size, as a command to paste.
        let mut next = String::from("bpops list");
        for (flag, _, value) in &filters {
            next.push_str(&format!(" {flag} {}", shell_word(value)));
        }
        next.push_str(&format!(" --next-token {}", shell_word(&token)));
        eprintln!("more: {next} (or --all)");
    }
    Ok(Outcome::Done)
}

/// `word` as one shell word: as is when it holds only safe characters, else single-quoted.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.,:/=+@%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

async fn cancel(args: IdArgs) -> anyhow::Result<Outcome> {
    let client = connect(&args.client)?;
    let answer = client
        .call(
            "CancelExecuteOperation",
            &[("OperationId", &args.operation_id)],
        )
        .await;
    match answer {
        Ok(answer) => {
            print_result(&answer["Data"], args.client.json);
            Ok(Outcome::Done)
        }
        Err(CallError::Refused { code, .. }) if code == "InvalidOperationId.NotFound" => {
            unknown(&args.operation_id, args.client.json)
        }
        Err(e) => Err(e.into()),
    }
}

async fn services(args: ClientOnly) -> anyhow::Result<Outcome> {
    let answer = connect(&args.client)?.call("ListServices", &[]).await?;
    if args.client.json {
        output::json(&answer["Data"]);
    } else {
        let rows: Vec<Vec<String>> = list(&answer["Data"])
            .iter()
            .map(|s| vec![text(s)])
            .collect();
        output::table(&["SERVICE"], &rows);
    }
    Ok(Outcome::Done)
}

async fn operations(args: ServiceArgs) -> anyhow::Result<Outcome> {
    let answer = connect(&args.client)?
        .call("ListOperations", &[("ServiceType", &args.service)])
        .await?;
    if args.client.json {
        output::json(&answer["Data"]);
    } else {
        let rows: Vec<Vec<String>> = list(&answer["Data"])
            .iter()
            .map(|o| {
                vec![
                    text(&o["Service"]),
                    text(&o["Operation"]),
                    text(&o["DisplayName"]),
                ]
            })
            .collect();
        output::table(&["SERVICE", "OPERATION", "DISPLAY NAME"], &rows);
    }
    Ok(Outcome::Done)
}

async fn params(args: OperationArgs) -> anyhow::Result<Outcome> {
    let answer = connect(&args.client)?
        .call(
            "GetOperationParams",
            &[
                ("ServiceType", &args.service),
                ("Operation", &args.operation),
            ],
        )
        .await?;
    if args.client.json {
        output::json(&answer["Data"]);
    } else {
        println!("{}", serde_json::to_string_pretty(&answer["Data"])?);
    }
    Ok(Outcome::Done)
}

/// The `Attributes` parameter from `--attributes-json` and `--attr` entries.
fn attributes(base: Option<&str>, attrs: &[String]) -> anyhow::Result<String> {
    let mut object = match base {
        None => Map::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(object)) => object,
            Ok(_) => anyhow::bail!("--attributes-json must be a JSON object"),
            // serde_json names the problem and where: "… at line 1 column 2".
            Err(e) => anyhow::bail!("--attributes-json is not valid JSON: {e}"),
        },
    };
    for attr in attrs {
        let Some((key, value)) = attr.split_once('=') else {
            anyhow::bail!("--attr {attr:?} is not KEY=VALUE");
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        object.insert(key.to_owned(), value);
    }
    Ok(Value::Object(object).to_string())
}

fn print_result(data: &Value, as_json: bool) {
    if as_json {
        output::json(data);
        return;
    }
    let status = text(&data["Status"]);
    output::fields(&[
        ("OperationId", text(&data["OperationId"])),
        ("Status", output::status(&status)),
        ("Message", text(&data["Message"])),
        ("Arguments", text(&data["Arguments"])),
    ]);
}

fn unknown(id: &str, as_json: bool) -> anyhow::Result<Outcome> {
    if as_json {
        output::json(&Value::Null);
    }
    eprintln!("bpops: {id} does not exist or has expired");
    Ok(Outcome::Unknown)
}

/// The elements of a JSON array, or none when `value` is not one.
pub(crate) fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_values_are_json_when_they_parse_and_strings_otherwise() {
        let text = attributes(
            Some(r#"{"instanceId":"i-1"}"#),
            &[
                "listenerPort=80".into(),
                "force=true".into(),
                "instance_name=web 2".into(),
                "tags={\"a\":\"b\"}".into(),
            ],
        )
        .unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!({"instanceId": "i-1", "listenerPort": 80, "force": true, "instance_name": "web 2", "tags": {"a": "b"}})
        );
    }

    #[test]
    fn malformed_attributes_are_usage_errors() {
        assert!(attributes(Some("[1]"), &[]).is_err());
        assert!(attributes(None, &["no-equals-sign".into()]).is_err());
    }
}
