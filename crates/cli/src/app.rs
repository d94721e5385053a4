//! `bpops app`: the application family from the command line. Templates are listed and
//! shown; applications created, shown, listed and deleted; and each lifecycle step
//! (validate, valuate, deploy, release) is started and, unless `--no-wait`, followed by
//! reading the application until the step's final status, with a progress bar for deploy and
//! release on a terminal.
//!
//! Exit statuses are those of the other client commands: 1 when a step ends in a failure
//! status (`*_Failure`, `Partially*`), 2 for a refusal (such as a step in the wrong state),
//! 3 when the application or template does not exist, 4 when `--timeout` runs out.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use bpops_client::Page;
use bpops_protocol::applications::{
    ApplicationDetail, ApplicationRequest, CreateApplicationRequest, DEFAULT_PAGE_SIZE,
    GetTemplateRequest, ListApplicationRequest, ListTemplateRequest, PageRequest,
};
use bpops_protocol::{Action, ErrorCode};
use bpops_store::ApplicationStatus;
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::commands::{ClientArgs, Exit, as_value, connect, json_object};
use crate::output;

/// How often a step being followed is looked at.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// How many cells the progress bar has.
const BAR_CELLS: usize = 20;

/// The `app` subcommands.
#[derive(Subcommand)]
pub enum AppCommand {
    /// List the templates applications are created from (ListTemplate).
    Templates(TemplatesArgs),
    /// Show a template and its variables (GetTemplate); exit 3 when it does not exist.
    Template(TemplateArgs),
    /// Create an application from a template (CreateApplication) and print its id.
    Create(CreateArgs),
    /// Show an application: its status, resources, checklist and prices (GetApplication).
    Get(ApplicationArgs),
    /// List your applications (ListApplication).
    List(ListArgs),
    /// Validate an application's variables and region, and wait for the verdict.
    Validate(StepArgs),
    /// Price an application's resources, and wait for the price list.
    Valuate(StepArgs),
    /// Create an application's resources, and wait until they are all created.
    Deploy(StepArgs),
    /// Release an application's resources, and wait until they are all released.
    Release(StepArgs),
    /// Delete an application that holds no resources (DeleteApplication).
    Delete(ApplicationArgs),
}

/// The page flags of a listing.
#[derive(Args)]
pub struct PageArgs {
    /// Page size, 1 to 50.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PAGE_SIZE)]
    max_results: u32,
    /// Page number, from 1 (a previous page's NextToken).
    #[arg(long, value_name = "N", default_value_t = 1)]
    page: u32,
}

/// Flags of `app templates`.
#[derive(Args)]
pub struct TemplatesArgs {
    /// Only templates whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    keyword: Option<String>,
    #[command(flatten)]
    page: PageArgs,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `app template`.
#[derive(Args)]
pub struct TemplateArgs {
    /// The template id, e.g. web-tier.
    template_id: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `app create`.
#[derive(Args)]
pub struct CreateArgs {
    /// The template to create it from, e.g. web-tier.
    #[arg(long, value_name = "ID")]
    template: String,
    /// Its name: 2 to 128 letters, digits, _ and -, starting with a letter, unique in the
    /// account.
    #[arg(long)]
    name: String,
    /// The resource group to create it in.
    #[arg(long, value_name = "RG")]
    resource_group: Option<String>,
    /// The region it deploys to, e.g. cn-hangzhou; without one, validation fails.
    #[arg(long, value_name = "REGION")]
    area: Option<String>,
    /// A template variable as NAME=VALUE; VALUE is read as JSON when it parses (8080, true,
    /// "123"), else as a string. Repeatable.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// All variables as one JSON object; `--var` entries are added to it.
    #[arg(long, value_name = "JSON")]
    variables: Option<String>,
    /// Idempotency token: the same token and parameters return the first application.
    #[arg(long, value_name = "T")]
    client_token: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `app get` and `app delete`.
#[derive(Args)]
pub struct ApplicationArgs {
    /// The application id.
    application_id: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of `app list`.
#[derive(Args)]
pub struct ListArgs {
    /// Only applications whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    keyword: Option<String>,
    /// Only applications in this status (e.g. Deployed_Success), or `success` or `release`.
    #[arg(long, value_name = "S")]
    status: Option<String>,
    /// Only applications of this template.
    #[arg(long, value_name = "ID")]
    template: Option<String>,
    /// Only the application holding this resource.
    #[arg(long, value_name = "ID")]
    resource: Option<String>,
    /// Only applications of this resource group.
    #[arg(long, value_name = "RG")]
    resource_group: Option<String>,
    /// Newest created first, rather than last changed first.
    #[arg(long)]
    by_creation: bool,
    #[command(flatten)]
    page: PageArgs,
    #[command(flatten)]
    client: ClientArgs,
}

/// Flags of the lifecycle steps.
#[derive(Args)]
pub struct StepArgs {
    /// The application id.
    application_id: String,
    /// Idempotency token: the same token on the same step returns the first one.
    #[arg(long, value_name = "T")]
    client_token: Option<String>,
    /// Print the application once the step has started, without waiting for its end.
    #[arg(long)]
    no_wait: bool,
    /// Stop waiting after this long (e.g. 30s, 5m) and exit 4; the step goes on.
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "no_wait")]
    timeout: Option<Duration>,
    #[command(flatten)]
    client: ClientArgs,
}

impl AppCommand {
    fn client(&self) -> &ClientArgs {
        match self {
            AppCommand::Templates(args) => &args.client,
            AppCommand::Template(args) => &args.client,
            AppCommand::Create(args) => &args.client,
            AppCommand::Get(args) | AppCommand::Delete(args) => &args.client,
            AppCommand::List(args) => &args.client,
            AppCommand::Validate(args)
            | AppCommand::Valuate(args)
            | AppCommand::Deploy(args)
            | AppCommand::Release(args) => &args.client,
        }
    }
}

/// Runs an `app` subcommand.
pub async fn run(command: AppCommand) -> anyhow::Result<Exit> {
    let as_json = command.client().json;
    let ran = match command {
        AppCommand::Templates(args) => templates(args).await,
        AppCommand::Template(args) => template(args).await,
        AppCommand::Create(args) => create(args).await,
        AppCommand::Get(args) => get(args).await,
        AppCommand::List(args) => list(args).await,
        AppCommand::Validate(args) => step(Action::ValidateApplication, args).await,
        AppCommand::Valuate(args) => step(Action::ValuateApplication, args).await,
        AppCommand::Deploy(args) => step(Action::DeployApplication, args).await,
        AppCommand::Release(args) => step(Action::ReleaseApplication, args).await,
        AppCommand::Delete(args) => delete(args).await,
    };
    match ran {
        Err(e) if names_nothing(&e) => {
            if as_json {
                output::json(&Value::Null);
            }
            eprintln!("bpops: {e:#}");
            Ok(Exit::Unknown)
        }
        ran => ran,
    }
}

/// Whether the server refused because the application or template does not exist: exit 3,
/// as for an unknown operation.
fn names_nothing(e: &anyhow::Error) -> bool {
    e.downcast_ref::<bpops_client::Error>().is_some_and(|e| {
        e.is_code(ErrorCode::InvalidApplicationIdNotFound.as_str())
            || e.is_code(ErrorCode::InvalidTemplateIdNotFound.as_str())
    })
}

async fn templates(args: TemplatesArgs) -> anyhow::Result<Exit> {
    let page = connect(&args.client)?
        .list_templates(&ListTemplateRequest {
            keyword: args.keyword,
            resource_group_id: None,
            page: page_request(&args.page),
        })
        .await?;
    print_page(
        page,
        args.client.json,
        &["TEMPLATE ID", "NAME", "DESCRIPTION"],
        |t| vec![t.template_id, t.name, t.description],
    );
    Ok(Exit::Done)
}

async fn template(args: TemplateArgs) -> anyhow::Result<Exit> {
    let template = connect(&args.client)?
        .get_template(&GetTemplateRequest {
            template_id: args.template_id,
            resource_group_id: None,
        })
        .await?;
    if args.client.json {
        output::json(&as_value(&template));
        return Ok(Exit::Done);
    }
    output::fields(&[
        ("TemplateId", template.template_id),
        ("Name", template.name),
        ("Description", template.description),
    ]);
    println!();
    let rows: Vec<Vec<String>> = template
        .variables
        .into_iter()
        .map(|v| {
            let default = v.default_value.unwrap_or_else(|| "-".to_owned());
            vec![v.variable, v.data_type, default, v.attribute]
        })
        .collect();
    output::table(&["VARIABLE", "TYPE", "DEFAULT", "DESCRIPTION"], &rows);
    Ok(Exit::Done)
}

async fn create(args: CreateArgs) -> anyhow::Result<Exit> {
    let variables = json_object(
        ("--variables", args.variables.as_deref()),
        ("--var", args.vars.as_slice()),
    )?;
    let id = connect(&args.client)?
        .create_application(&CreateApplicationRequest {
            name: args.name,
            template_id: args.template,
            resource_group_id: args.resource_group,
            area_id: args.area,
            variables,
            configuration: Map::new(),
            client_token: args.client_token,
        })
        .await?;
    output::id("ApplicationId", &id, args.client.json);
    Ok(Exit::Done)
}

async fn get(args: ApplicationArgs) -> anyhow::Result<Exit> {
    let app = connect(&args.client)?
        .get_application(&application(args.application_id))
        .await?;
    print_application(&app, args.client.json);
    Ok(Exit::Done)
}

async fn list(args: ListArgs) -> anyhow::Result<Exit> {
    let page = connect(&args.client)?
        .list_applications(&ListApplicationRequest {
            keyword: args.keyword,
            status: args.status,
            template_id: args.template,
            resource_id: args.resource,
            resource_group_id: args.resource_group,
            by_creation: args.by_creation,
            page: page_request(&args.page),
        })
        .await?;
    print_page(
        page,
        args.client.json,
        &[
            "APPLICATION ID",
            "NAME",
            "STATUS",
            "RESOURCE GROUP",
            "CREATED",
        ],
        |app| {
            let group = app.resource_group_id.unwrap_or_else(|| "-".to_owned());
            vec![
                app.application_id,
                app.name,
                app.status,
                group,
                app.create_time,
            ]
        },
    );
    Ok(Exit::Done)
}

async fn delete(args: ApplicationArgs) -> anyhow::Result<Exit> {
    let request = application(args.application_id);
    connect(&args.client)?.delete_application(&request).await?;
    if args.client.json {
        output::json(&json!({ "ApplicationId": request.application_id }));
    } else {
        println!("deleted {}", request.application_id);
    }
    Ok(Exit::Done)
}

/// Starts the step `action` and follows it: the application is read every [`POLL_EVERY`]
/// until its status is no longer the step's running one, then printed.
///
/// N.B. starting a step moves the application to the step's running status in the same
/// transaction, so the first read after the start cannot see the status from before.
async fn step(action: Action, args: StepArgs) -> anyhow::Result<Exit> {
    let client = connect(&args.client)?;
    let request = ApplicationRequest {
        client_token: args.client_token,
        ..application(args.application_id)
    };
    client.start_step(action, &request).await?;
    let shows_progress = matches!(
        action,
        Action::DeployApplication | Action::ReleaseApplication
    );
    let progress = output::Progress::new(
        shows_progress && !args.client.json && std::io::stderr().is_terminal(),
    );
    let deadline = args.timeout.map(|limit| Instant::now() + limit);
    loop {
        let app = client.get_application(&request).await?;
        let phase = phase(&app.status)?;
        if args.no_wait || phase != Phase::Running {
            progress.clear();
            print_application(&app, args.client.json);
            if phase == Phase::Failed && !args.no_wait {
                let error = if app.error.is_empty() {
                    String::new()
                } else {
                    format!(": {}", app.error)
                };
                eprintln!("bpops: {} ended {}{error}", app.application_id, app.status);
                return Ok(Exit::OperationFailed);
            }
            return Ok(Exit::Done);
        }
        if let (Some(deadline), Some(limit)) = (deadline, args.timeout)
            && Instant::now() >= deadline
        {
            progress.clear();
            if args.client.json {
                output::json(&as_value(&app));
            }
            eprintln!(
                "bpops: timed out after {}: {} is still {}",
                humantime::format_duration(limit),
                app.application_id,
                app.status
            );
            return Ok(Exit::TimedOut);
        }
        progress.draw(&progress_line(
            &app.application_id,
            &app.status,
            app.deploy_percent,
        ));
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Where a step stands, by its application's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Still running.
    Running,
    /// Ended, and not in failure.
    Ended,
    /// Ended in failure, whole or partial.
    Failed,
}

/// The phase of an application `status`.
fn phase(status: &str) -> anyhow::Result<Phase> {
    let Some(parsed) = ApplicationStatus::parse(status) else {
        anyhow::bail!("the server answered an application status bpops does not know: {status}");
    };
    Ok(match parsed {
        ApplicationStatus::Verifying
        | ApplicationStatus::Valuating
        | ApplicationStatus::Deploying
        | ApplicationStatus::Destroying => Phase::Running,
        ApplicationStatus::VerifiedFailure
        | ApplicationStatus::ValuatingFailure
        | ApplicationStatus::DeployedFailure
        | ApplicationStatus::PartiallyDeployedSuccess
        | ApplicationStatus::DestroyedFailure
        | ApplicationStatus::PartiallyDestroyedSuccess => Phase::Failed,
        // N.B. `Modified` too: the step ended, and someone changed the application since.
        ApplicationStatus::Modified
        | ApplicationStatus::VerifiedSuccess
        | ApplicationStatus::ValuatingSuccess
        | ApplicationStatus::DeployedSuccess
        | ApplicationStatus::DestroyedSuccess => Phase::Ended,
    })
}

/// The progress line of a deploy or release: the application, its status, `DeployPercent`
/// as a bar and a number, e.g. `JIX9NEZUALGS46UI  Deploying  [######--------------]  33%`.
fn progress_line(application: &str, status: &str, percent: f64) -> String {
    // N.B. NaN goes through `clamp` unchanged: it is taken as 0 here. Rounded down, so the
    // bar is full and the number 100 only when the step is done.
    let percent = if percent.is_nan() {
        0.0
    } else {
        percent.clamp(0.0, 100.0).floor()
    };
    let filled = (percent * BAR_CELLS as f64 / 100.0).floor() as usize;
    format!(
        "{application}  {status}  [{}{}]  {percent:.0}%",
        "#".repeat(filled),
        "-".repeat(BAR_CELLS - filled)
    )
}

/// An application, as people read it or as the server's `Data`.
fn print_application(app: &ApplicationDetail, as_json: bool) {
    if as_json {
        output::json(&as_value(app));
        return;
    }
    output::fields(&[
        ("ApplicationId", app.application_id.clone()),
        ("Name", app.name.clone()),
        ("Status", app.status.clone()),
        ("TemplateId", app.template_id.clone()),
        (
            "ResourceGroupId",
            app.resource_group_id
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
        ),
        ("CreateTime", app.create_time.clone()),
        ("DeployPercent", format!("{}%", app.deploy_percent)),
        ("Error", app.error.clone()),
    ]);
    if !app.resource_list.is_empty() {
        let rows: Vec<Vec<String>> = app
            .resource_list
            .iter()
            .map(|r| {
                vec![
                    r.resource_id.clone(),
                    r.resource_name.clone(),
                    r.resource_type.clone(),
                    r.status.clone(),
                    r.charge_type.clone().unwrap_or_else(|| "-".to_owned()),
                ]
            })
            .collect();
        println!();
        output::table(
            &["RESOURCE ID", "NAME", "TYPE", "STATUS", "CHARGE TYPE"],
            &rows,
        );
    }
    if !app.checklist.is_empty() {
        println!();
        output::table(
            &["NODE", "CODE", "REGION", "SPECIFICATION", "CHECK", "REMARK"],
            &cells(
                &app.checklist,
                &[
                    "ResourceName",
                    "ResourceCode",
                    "Region",
                    "Specification",
                    "Result",
                    "Remark",
                ],
            ),
        );
    }
    if !app.price_list.is_empty() {
        println!();
        output::table(
            &["NODE", "CODE", "SPECIFICATION", "PRICE", "UNIT"],
            &cells(
                &app.price_list,
                &[
                    "InstanceName",
                    "ResourceCode",
                    "Specification",
                    "Price",
                    "PriceUnit",
                ],
            ),
        );
    }
}

/// A row per JSON object of `entries`, a cell per key: a string as itself, another value as
/// JSON, a missing one as `-`.
fn cells(entries: &[Value], keys: &[&str]) -> Vec<Vec<String>> {
    entries
        .iter()
        .map(|entry| {
            keys.iter()
                .map(|key| match entry.get(key) {
                    None | Some(Value::Null) => "-".to_owned(),
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                })
                .collect()
        })
        .collect()
}

/// The request naming application `id`, and nothing else.
fn application(id: String) -> ApplicationRequest {
    ApplicationRequest {
        application_id: id,
        resource_group_id: None,
        client_token: None,
    }
}

fn page_request(args: &PageArgs) -> PageRequest {
    PageRequest {
        number: args.page,
        size: args.max_results,
    }
}

/// A page of a listing: with `--json` as `{Data, TotalCount, NextToken}`; else a table
/// under `headers` with a `row` per item, and, when it is not the last page, how to get the
/// next one on stderr.
fn print_page<T: Serialize>(
    page: Page<T>,
    as_json: bool,
    headers: &[&str],
    row: impl Fn(T) -> Vec<String>,
) {
    if as_json {
        output::json(&as_value(&page));
        return;
    }
    let rows: Vec<Vec<String>> = page.data.into_iter().map(row).collect();
    output::table(headers, &rows);
    if let Some(next) = page.next_token {
        eprintln!("more: --page {next} ({} in all)", page.total_count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_bar_fills_with_the_deploy_percent() {
        let line = |percent| progress_line("APP1", "Deploying", percent);
        assert_eq!(line(0.0), "APP1  Deploying  [--------------------]  0%");
        assert_eq!(line(33.0), "APP1  Deploying  [######--------------]  33%");
        assert_eq!(line(50.0), "APP1  Deploying  [##########----------]  50%");
        assert_eq!(line(99.9), "APP1  Deploying  [###################-]  99%");
        assert_eq!(line(100.0), "APP1  Deploying  [####################]  100%");
    }

    #[test]
    fn a_percent_out_of_range_draws_within_the_bar() {
        let line = |percent| progress_line("APP1", "Destroying", percent);
        assert_eq!(line(-5.0), line(0.0));
        assert_eq!(line(f64::NAN), line(0.0));
        assert_eq!(line(250.0), line(100.0));
    }

    #[test]
    fn each_status_is_running_ended_or_failed() {
        let phases: Vec<(&str, Phase)> = ApplicationStatus::ALL
            .iter()
            .map(|s| (s.as_str(), phase(s.as_str()).unwrap()))
            .collect();
        let with = |wanted: Phase| -> Vec<&str> {
            phases
                .iter()
                .filter(|(_, p)| *p == wanted)
                .map(|(s, _)| *s)
                .collect()
        };
        assert_eq!(
            with(Phase::Running),
            ["Verifying", "Valuating", "Deploying", "Destroying"]
        );
        assert_eq!(
            with(Phase::Failed),
            [
                "Verified_Failure",
                "Valuating_Failure",
                "Deployed_Failure",
                "PartiallyDeployedSuccess",
                "Destroyed_Failure",
                "PartiallyDestroyedSuccess"
            ]
        );
        assert!(phase("Exploding").is_err());
    }
}
