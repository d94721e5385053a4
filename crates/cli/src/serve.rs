//! `bpops serve`: reads the configuration, opens the store, starts the span export (when
//! configured) and the engine, and serves the API until SIGINT or SIGTERM.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bpops_engine::Engine;
use bpops_iam::{AccessKey, Directory, ExposeSecret, Principal, SecretString};
use bpops_store::{AccountId, Application, BootstrapKey, Resource, ResourceKey, Store};
use bpops_store_postgres::{DEFAULT_POOL_SIZE, PgStore};
use bpops_store_sqlite::SqliteStore;
use bpops_time::{Clock, ManualClock, SystemClock, Timestamp};
use clap::Args;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::{self, ClockKind, Config, StorageUrl};

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DATA: &str = "bpops-data";

/// Flags of `bpops serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Configuration file (TOML). Without one, bpops creates an account and a root key on
    /// first start.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: the file's `listen`, else 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Data directory for the embedded database [default: ./bpops-data]; overrides the file's
    /// SQLite path.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Log lines as text, or as one JSON object each; every line of a request carries its
    /// RequestId.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// How log lines are written (to stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    Text,
    /// One JSON object per line, with the request's span fields (RequestId, peer).
    Json,
}

/// Runs the server.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match args.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => config::load(path)?,
        None => config::parse("")?,
    };
    let (listen, storage) = merge_overrides(&args, &config)?;
    // N.B. bound before anything is created: a first start that cannot serve must not
    // create (and show) a key that is then never used.
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let local = listener.local_addr()?;
    let store = open_store(&storage).await?;
    let now = SystemClock.now();
    let applications: Vec<Application> = config
        .applications
        .iter()
        .map(|a| Application::declared(a.account.clone(), &a.id, a.resource_group.clone(), now))
        .collect();
    store
        .seed_applications(&applications)
        .await
        .context("seeding the applications")?;
    warn_where_the_store_differs(store.as_ref(), &applications).await?;
    store
        .seed_resources(&config.resources)
        .await
        .context("seeding the inventory")?;
    let directory = match &args.config {
        Some(_) => config.directory,
        None => bootstrap_directory(store.as_ref(), now).await?,
    };

    let grace = config.engine.shutdown_grace;
    let node = config.engine.node.clone();
    let exporter = match &config.telemetry {
        Some(telemetry) => {
            let (spans, exporter) = bpops_telemetry::start(telemetry)?;
            tracing::info!(endpoint = %telemetry.endpoint, "exporting spans over OTLP");
            config.engine.spans = spans;
            Some(exporter)
        }
        None => None,
    };
    let engine = Engine::new(
        Arc::clone(&store),
        Arc::new(config.catalog),
        config.engine,
        clock(config.clock),
    );
    let app = bpops_api::App::new(
        Arc::clone(&engine),
        Arc::clone(&store),
        Arc::new(directory),
        config.api,
    );

    let shutdown = CancellationToken::new();
    let mut engine_tasks = engine.start(shutdown.clone());
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    tracing::info!(address = %local, node = %node, "serving");
    // Tests and scripts read this line to learn the port (it may have been 0).
    println!("listening on {local}");
    std::io::stdout().flush()?;

    let serving = tokio::spawn(bpops_api::serve_on(listener, app, shutdown.clone()));
    shutdown.cancelled().await;
    // N.B. requests in flight and running operations drain together, each within the grace
    // (waiters are answered at once; the engine releases what is still running after it).
    let (requests, ()) = tokio::join!(tokio::time::timeout(grace, serving), async {
        while engine_tasks.join_next().await.is_some() {}
    });
    match requests {
        Ok(served) => served
            .context("the server task failed")?
            .context("serving")?,
        Err(_) => tracing::warn!("requests still in flight at the end of the grace are dropped"),
    }
    // N.B. last: the spans of the requests and attempts that ended above are queued now.
    if let Some(exporter) = exporter {
        exporter.close().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Seeding never overwrites, so an application the file declares keeps what the store holds
/// (its resource group included) once it exists; says so where the two differ, since an
/// operator who edits the file expects the edit to count.
async fn warn_where_the_store_differs(
    store: &dyn Store,
    declared: &[Application],
) -> anyhow::Result<()> {
    for app in declared {
        let held = store
            .application(&app.account, &app.id)
            .await
            .context("reading the declared applications")?;
        match held {
            None => tracing::warn!(
                account = %app.account,
                application = %app.id,
                "a declared application is not in the store: deleted through the API, or its \
                 name is held by an application created through it"
            ),
            Some(held) if held.resource_group != app.resource_group => tracing::warn!(
                account = %app.account,
                application = %app.id,
                stored = held.resource_group.as_deref().unwrap_or("none"),
                declared = app.resource_group.as_deref().unwrap_or("none"),
                "a declared application is in another resource group in the store, which \
                 applies: the configuration only seeds applications"
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

/// `--listen` and `--data` win over the file, which wins over the defaults. `--data` never
/// replaces a PostgreSQL database: that would turn a node of a cluster into a standalone one.
fn merge_overrides(args: &ServeArgs, config: &Config) -> anyhow::Result<(SocketAddr, StorageUrl)> {
    let listen = match (args.listen, config.listen) {
        (Some(addr), _) | (None, Some(addr)) => addr,
        (None, None) => DEFAULT_LISTEN.parse().expect("the default address parses"),
    };
    let storage = match (&args.data, &config.storage) {
        (Some(dir), Some(url @ StorageUrl::Postgres(_))) => anyhow::bail!(
            "--data {} cannot be combined with [storage] url = {url}: --data is the directory \
             of an embedded SQLite database, which the other nodes would not see; drop --data \
             to use the PostgreSQL database",
            dir.display()
        ),
        (Some(dir), _) => StorageUrl::Sqlite(dir.join("bpops.db")),
        (None, Some(url)) => url.clone(),
        (None, None) => StorageUrl::Sqlite(PathBuf::from(DEFAULT_DATA).join("bpops.db")),
    };
    Ok((listen, storage))
}

/// The store at a storage URL, for `bpops bench`, which loads its server's store while the
/// server is stopped.
pub(crate) fn open_store_at(url: &str) -> bpops_bench::Opening<'_> {
    Box::pin(async move { open_store(&config::parse_storage_url(url)?).await })
}

/// The backend is chosen here, once, from the URL scheme.
async fn open_store(url: &StorageUrl) -> anyhow::Result<Arc<dyn Store>> {
    match url {
        StorageUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let store =
                SqliteStore::open(path).with_context(|| format!("opening {}", path.display()))?;
            Ok(Arc::new(store))
        }
        StorageUrl::Postgres(url) => {
            let store = PgStore::open(url, DEFAULT_POOL_SIZE)
                .await
                .context("opening the PostgreSQL database")?;
            Ok(Arc::new(store))
        }
    }
}

/// Without a configuration file: one account and its root key, created on the first start
/// and printed once, then reused; and a demo in it (an application with an ECS instance), so
/// the README's first example runs as pasted.
async fn bootstrap_directory(store: &dyn Store, now: Timestamp) -> anyhow::Result<Directory> {
    let candidate = BootstrapKey {
        account: AccountId::new(format!("1{}", random_chars(b"0123456789", 15))),
        access_key_id: format!("LTAI{}", random_chars(ALPHANUMERIC, 20)),
        secret: SecretString::from(random_chars(ALPHANUMERIC, 30)),
    };
    let (key, created) = store
        .bootstrap_key(&candidate)
        .await
        .context("reading the bootstrap key")?;
    // Seeded at every start, as a file's resources are: a start that stopped after creating
    // the key still gets it, and the instance keeps whatever operations did to it.
    store
        .seed_applications(&[Application::declared(
            key.account.clone(),
            DEMO_APPLICATION,
            None,
            now,
        )])
        .await
        .context("seeding the demo application")?;
    store
        .seed_resources(&[demo_instance(&key.account)])
        .await
        .context("seeding the demo instance")?;
    if created {
        println!(
            "Created account {} with a root AccessKey, and a demo application {DEMO_APPLICATION} \
             with the ECS instance {DEMO_INSTANCE}.",
            key.account
        );
        println!(
            "The secret is shown only this once. The bpops client commands and the SDK \
             examples read the key from these variables:"
        );
        println!("  export ALIBABA_CLOUD_ACCESS_KEY_ID={}", key.access_key_id);
        println!(
            "  export ALIBABA_CLOUD_ACCESS_KEY_SECRET={}",
            key.secret.expose_secret()
        );
    } else {
        tracing::info!(account = %key.account, access_key_id = %key.access_key_id, "using the root key created on first start");
    }
    Ok(Directory::builder()
        .key(AccessKey {
            id: key.access_key_id,
            secret: key.secret,
            principal: Principal::Root {
                account: key.account.to_string(),
            },
            active: true,
        })
        .build())
}

const DEMO_APPLICATION: &str = "APP-WEB";
const DEMO_INSTANCE: &str = "i-web1";

/// The demo's running ECS instance, as `bpops.example.toml` declares it.
fn demo_instance(account: &AccountId) -> Resource {
    let properties = [
        ("instance_name", "web-1"),
        ("instance_type", "ecs.g7.large"),
        ("status", "Running"),
        ("region_id", "cn-hangzhou"),
    ];
    Resource {
        key: ResourceKey {
            account: account.clone(),
            service: "ecs".to_owned(),
            id: DEMO_INSTANCE.to_owned(),
        },
        application: DEMO_APPLICATION.to_owned(),
        properties: properties
            .into_iter()
            .map(|(name, value)| (name.to_owned(), Value::from(value)))
            .collect(),
    }
}

const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_chars(alphabet: &[u8], n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system has no random source");
    // Rejection sampling would remove the slight bias; for ids and secrets of this length
    // the bias of `% 62` costs well under a bit of entropy.
    bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}

/// The engine's clock: the system's, or the test clock, said loudly, since every expiry,
/// lease and latency then follows what clients tell it.
fn clock(kind: ClockKind) -> Arc<dyn Clock> {
    match kind {
        ClockKind::System => Arc::new(SystemClock),
        ClockKind::Manual => {
            tracing::warn!(
                "TEST CLOCK: [testing] clock = \"manual\": AdvanceClock moves this server's time \
                 forward (retention, leases, latency, backoff); never serve production with it"
            );
            Arc::new(ManualClock::following_system())
        }
    }
}
