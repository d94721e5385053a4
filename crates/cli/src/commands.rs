//! The client subcommands: `exec`, `get`, `wait`, `list`, `cancel`, `services`,
//! `operations`, `params`, `history` (in `history.rs`), `audit` (in `audit.rs`),
//! `deliveries` (in `deliveries.rs`) and the `app` family (in `app.rs`).
//! Human output by default (aligned, coloured only on a terminal), `--json` for scripts.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use bpops_client::{Client, Credentials, Execute, ListExecutions};
use bpops_protocol::extensions::{OperationItem, OperationPage, Submitter};
use bpops_protocol::wire::OperationResult;
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{app, output};

/// A listing paged by `NextToken`: its items, and the token of the page after it.
pub(crate) trait Paged {
    type Item;
    fn items(&mut self) -> &mut Vec<Self::Item>;
    fn next_token(&self) -> Option<&str>;
}

impl Paged for OperationPage {
    type Item = OperationItem;
    fn items(&mut self) -> &mut Vec<OperationItem> {
        &mut self.operations
    }
    fn next_token(&self) -> Option<&str> {
        self.next_token.as_deref()
    }
}

/// Reads the page at `token` and, with `all`, every page after it: the last page read,
/// holding the items of all of them (so its `NextToken` is where a reader goes on).
pub(crate) async fn read_pages<P: Paged, F: Future<Output = anyhow::Result<P>>>(
    mut token: Option<String>,
    all: bool,
    mut read: impl FnMut(Option<String>) -> F,
) -> anyhow::Result<P> {
    let mut items = Vec::new();
    loop {
        let mut page = read(token.take()).await?;
        items.append(page.items());
        token = page.next_token().map(str::to_owned);
        if !all || token.is_none() {
            *page.items() = items;
            return Ok(page);
        }
    }
}

/// How a client command ended, beyond errors: it picks the exit status.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done; for `wait`, the operation succeeded.
    Done,
    /// The operation ended in FAILURE, or an application step failed.
    OperationFailed,
    /// The operation id is unknown or expired, or the application or template is unknown.
    Unknown,
    /// `--timeout` ran out before the operation (the application step) was final.
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
    pub(crate) json: bool,
}

/// The client commands.
#[derive(Subcommand)]
pub enum ClientCommand {
    /// Submit an operation (ExecuteOperationASync) and print its id, or wait for it.
    Exec(ExecArgs),
    /// Show an operation's result, and who submitted it in which trace (from its history,
    /// when the key may read it).
    Get(IdArgs),
    /// Wait until an operation is final; exit 0 on SUCCESS, 1 on FAILURE, 3 when unknown, 4
    /// when `--timeout` runs out first.
    Wait(WaitArgs),
    /// List your operations, newest first (ListExecuteOperations).
    List(ListArgs),
    /// Cancel an operation (CancelExecuteOperation); exit 3 when the id is unknown.
    Cancel(IdArgs),
    /// Show an operation's history: who submitted it, each claim, retry and cancel request,
    /// and its end (ListExecuteOperationEvents); exit 3 when the id is unknown.
    History(IdArgs),
    /// List the service types.
    Services(ClientOnly),
    /// List a service's operations.
    Operations(ServiceArgs),
    /// Show an operation's parameter schema.
    Params(OperationArgs),
    /// Templates and applications: create, deploy, release (the application family).
    #[command(subcommand)]
    App(app::AppCommand),
    /// Show your account's audit trail of API requests, newest first (LookupEvents).
    Audit(crate::audit::AuditArgs),
    /// Show your account's webhook deliveries, oldest first, with their last attempt
    /// (ListNotificationDeliveries).
    Deliveries(crate::deliveries::DeliveriesArgs),
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
    pub(crate) operation_id: String,
    #[command(flatten)]
    pub(crate) client: ClientArgs,
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
pub fn run(command: ClientCommand) -> anyhow::Result<Exit> {
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
            ClientCommand::History(args) => crate::history::history(args).await,
            ClientCommand::Services(args) => services(args).await,
            ClientCommand::Operations(args) => operations(args).await,
            ClientCommand::Params(args) => params(args).await,
            ClientCommand::App(command) => app::run(command).await,
            ClientCommand::Audit(args) => crate::audit::run(args).await,
            ClientCommand::Deliveries(args) => crate::deliveries::run(args).await,
        }
    })
}

pub(crate) fn connect(args: &ClientArgs) -> anyhow::Result<Client> {
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

async fn exec(args: ExecArgs) -> anyhow::Result<Exit> {
    let attributes = attributes(args.attributes_json.as_deref(), &args.attrs)?;
    let client = connect(&args.client)?;
    let id = client
        .execute_async(&Execute {
            service_type: &args.service,
            operation: &args.operation,
            attributes: &attributes,
            application_id: args.application.as_deref(),
            client_token: args.client_token.as_deref(),
        })
        .await?;
    if args.wait {
        return wait(&client, &args.client, &id, None).await;
    }
    output::id("OperationId", &id, args.client.json);
    Ok(Exit::Done)
}

async fn get(args: IdArgs) -> anyhow::Result<Exit> {
    let client = connect(&args.client)?;
    match client.get_result(&args.operation_id, None).await? {
        Some(result) => {
            print_result(&result, args.client.json);
            if !args.client.json {
                crate::history::print_submission(&client, &args.operation_id).await;
            }
            Ok(Exit::Done)
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
) -> anyhow::Result<Exit> {
    const MIN_INTERVAL: Duration = Duration::from_millis(250);
    const MAX_WAIT: Duration = Duration::from_secs(10);
    let started = Instant::now();
    let deadline = timeout.map(|limit| started + limit);
    let progress = output::Progress::new(std::io::stderr().is_terminal());
    loop {
        let asked = Instant::now();
        let left = deadline.map_or(MAX_WAIT, |d| d.saturating_duration_since(asked));
        // `WaitSeconds` counts whole seconds: what is left, rounded up.
        let wait = left.min(MAX_WAIT);
        let wait_seconds = wait.as_secs() + u64::from(wait.subsec_millis() > 0);
        let waiting = client.get_result(id, Some(wait_seconds));
        let answer = match deadline {
            None => waiting.await?,
            Some(deadline) => match tokio::time::timeout_at(deadline.into(), waiting).await {
                Ok(answer) => answer?,
                Err(_) => client.get_result(id, Some(0)).await?,
            },
        };
        let Some(result) = answer else {
            progress.clear();
            return unknown(id, args.json);
        };
        let status = result.status.as_str();
        if matches!(status, "SUCCESS" | "FAILURE") {
            progress.clear();
            print_result(&result, args.json);
            return Ok(if status == "SUCCESS" {
                Exit::Done
            } else {
                Exit::OperationFailed
            });
        }
        progress.show(id, status, started.elapsed());
        if let Some(limit) = timeout
            && started.elapsed() >= limit
        {
            progress.clear();
            if args.json {
                output::json(&as_value(&result));
            }
            eprintln!(
                "bpops: timed out after {}: {id} is still {status}",
                humantime::format_duration(limit)
            );
            return Ok(Exit::TimedOut);
        }
        let next = asked + MIN_INTERVAL;
        tokio::time::sleep_until(deadline.map_or(next, |d| d.min(next)).into()).await;
    }
}

async fn list_operations(args: ListArgs) -> anyhow::Result<Exit> {
    let client = connect(&args.client)?;
    let max_results = args.max_results.map(|n| n.to_string());
    // The "more" hint's flags: the request's filters and page size.
    let flags: Vec<(&str, &str)> = [
        ("--status", &args.status),
        ("--service", &args.service),
        ("--operation", &args.operation),
        ("--application", &args.application),
        ("--max-results", &max_results),
    ]
    .into_iter()
    .filter_map(|(flag, value)| Some((flag, value.as_deref()?)))
    .collect();
    let (client, args) = (&client, &args);
    let mut page = read_pages(args.next_token.clone(), args.all, |token| async move {
        let request = ListExecutions {
            status: args.status.as_deref(),
            service_type: args.service.as_deref(),
            operation: args.operation.as_deref(),
            application_id: args.application.as_deref(),
            max_results: args.max_results,
            next_token: token.as_deref(),
        };
        Ok(client.list_executions(&request).await?)
    })
    .await?;
    if args.client.json {
        output::json(&as_value(&page));
        return Ok(Exit::Done);
    }
    let rows: Vec<Vec<String>> = std::mem::take(&mut page.operations)
        .into_iter()
        .map(|op| {
            let optional = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
            vec![
                op.operation_id,
                op.service_type,
                op.operation,
                optional(op.application_id),
                output::status(&op.status),
                op.create_time,
                optional(op.finish_time),
                op.submitted_by
                    .map_or_else(|| "-".to_owned(), |by| submitter(&by)),
                optional(op.trace_id),
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
            "SUBMITTED BY",
            "TRACE ID",
        ],
        &rows,
    );
    if let Some(token) = &page.next_token {
        print_more("bpops list", &flags, token);
    }
    Ok(Exit::Done)
}

/// Who submitted an operation, in a few words: the RAM user or the account's root key, and
/// the AccessKeyId.
fn submitter(by: &Submitter) -> String {
    match &by.user_name {
        Some(user) => format!("{user} ({})", by.access_key_id),
        None => format!("root ({})", by.access_key_id),
    }
}

/// Prints, on stderr, the command that gets the page after `token`: `command` with the same
/// `flags` (filters and page size), to paste.
pub(crate) fn print_more(command: &str, flags: &[(&str, &str)], token: &str) {
    let mut next = String::from(command);
    for (flag, value) in flags {
        next.push_str(&format!(" {flag} {}", shell_word(value)));
    }
    next.push_str(&format!(" --next-token {}", shell_word(token)));
    eprintln!("more: {next} (or --all)");
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

async fn cancel(args: IdArgs) -> anyhow::Result<Exit> {
    let client = connect(&args.client)?;
    match client.cancel(&args.operation_id).await {
        Ok(result) => {
            print_result(&result, args.client.json);
            Ok(Exit::Done)
        }
        Err(e) if e.is_code("InvalidOperationId.NotFound") => {
            unknown(&args.operation_id, args.client.json)
        }
        Err(e) => Err(e.into()),
    }
}

async fn services(args: ClientOnly) -> anyhow::Result<Exit> {
    let services = connect(&args.client)?.list_services().await?;
    if args.client.json {
        output::json(&as_value(&services));
    } else {
        let rows: Vec<Vec<String>> = services.into_iter().map(|s| vec![s]).collect();
        output::table(&["SERVICE"], &rows);
    }
    Ok(Exit::Done)
}

async fn operations(args: ServiceArgs) -> anyhow::Result<Exit> {
    let operations = connect(&args.client)?
        .list_operations(&args.service)
        .await?;
    if args.client.json {
        output::json(&as_value(&operations));
    } else {
        let rows: Vec<Vec<String>> = operations
            .into_iter()
            .map(|o| vec![o.service, o.operation, o.display_name])
            .collect();
        output::table(&["SERVICE", "OPERATION", "DISPLAY NAME"], &rows);
    }
    Ok(Exit::Done)
}

async fn params(args: OperationArgs) -> anyhow::Result<Exit> {
    let params = connect(&args.client)?
        .operation_params(&args.service, &args.operation)
        .await?;
    let params = as_value(&params);
    if args.client.json {
        output::json(&params);
    } else {
        println!("{}", serde_json::to_string_pretty(&params)?);
    }
    Ok(Exit::Done)
}

/// The `Attributes` parameter from `--attributes-json` and `--attr` entries.
fn attributes(base: Option<&str>, attrs: &[String]) -> anyhow::Result<String> {
    let object = json_object(("--attributes-json", base), ("--attr", attrs))?;
    Ok(Value::Object(object).to_string())
}

/// A JSON object from a flag holding one (`base`, named by its flag) and a repeatable flag
/// of `KEY=VALUE` entries added to it; VALUE is JSON when it parses, else a string.
pub(crate) fn json_object(
    (base_flag, base): (&str, Option<&str>),
    (entry_flag, entries): (&str, &[String]),
) -> anyhow::Result<Map<String, Value>> {
    let mut object = match base {
        None => Map::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(object)) => object,
            Ok(_) => anyhow::bail!("{base_flag} must be a JSON object"),
            // serde_json names the problem and where: "… at line 1 column 2".
            Err(e) => anyhow::bail!("{base_flag} is not valid JSON: {e}"),
        },
    };
    for entry in entries {
        let Some((key, value)) = entry.split_once('=') else {
            anyhow::bail!("{entry_flag} {entry:?} is not KEY=VALUE");
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        object.insert(key.to_owned(), value);
    }
    Ok(object)
}

fn print_result(result: &OperationResult, as_json: bool) {
    if as_json {
        output::json(&as_value(result));
        return;
    }
    output::fields(&[
        ("OperationId", result.operation_id.clone()),
        ("Status", output::status(&result.status)),
        ("Message", result.message.clone()),
        ("Arguments", result.arguments.clone()),
    ]);
}

/// `data` as a JSON value, printed as the server's answer was: keys in sorted order.
pub(crate) fn as_value(data: &impl Serialize) -> Value {
    serde_json::to_value(data).expect("wire types serialize")
}

pub(crate) fn unknown(id: &str, as_json: bool) -> anyhow::Result<Exit> {
    if as_json {
        output::json(&Value::Null);
    }
    eprintln!("bpops: {id} does not exist or has expired");
    Ok(Exit::Unknown)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
