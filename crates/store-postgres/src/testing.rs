//! Fresh PostgreSQL schemas and databases for tests, each named uniquely and dropped when
//! its guard is.
//!
//! The server is `BPOPS_TEST_POSTGRES` (a URL), by default the local one CI starts:
//! `postgres://postgres@127.0.0.1:5432/postgres`.

use std::time::Duration;

use tokio_postgres::{Config, NoTls};

use crate::PgStore;

/// Pool size of test stores: small, as many tests run at once against one server.
const TEST_POOL_SIZE: usize = 4;

/// The server tests use.
pub fn server_url() -> String {
    std::env::var("BPOPS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn server_config() -> Config {
    server_url()
        .parse()
        .expect("BPOPS_TEST_POSTGRES is a PostgreSQL URL")
}

/// A unique lower-case identifier starting with `prefix`.
fn unique_name(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).expect("the operating system has a random source");
    let suffix: String = bytes.iter().map(|b| (b'a' + b % 26) as char).collect();
    format!("{prefix}{suffix}")
}

/// Runs `sql` on a connection to `config`, panicking with a hint when the server is down.
async fn execute(config: &Config, sql: &str) {
    let (client, connection) = connect(config).await;
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = connection.await;
}

/// The first column, as text, of the rows the query `sql` returns on `config`.
async fn column(config: &Config, sql: &str) -> Vec<String> {
    let (client, connection) = connect(config).await;
    let rows = client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = connection.await;
    rows.iter().map(|row| row.get(0)).collect()
}

/// A connection to `config` and the task driving it (it ends once the client is dropped),
/// panicking with a hint when the server is down.
async fn connect(
    config: &Config,
) -> (
    tokio_postgres::Client,
    tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
) {
    let (client, connection) = config.connect(NoTls).await.unwrap_or_else(|e| {
        panic!("cannot reach the test PostgreSQL server ({e}); `.ci/run` starts it")
    });
    (client, tokio::spawn(connection))
}

/// Runs each statement of `sql` from a thread of its own, for `Drop`, which cannot await;
/// failures are ignored (a leftover name is harmless, being unique).
fn execute_detached(config: Config, sql: Vec<String>) {
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for cleanup");
        runtime.block_on(async {
            let Ok((client, connection)) = config.connect(NoTls).await else {
                return;
            };
            tokio::spawn(connection);
            // Never wait long for a lock some unfinished test task still holds. N.B. one
            // call per statement: several in one would form a transaction, and DROP
            // DATABASE refuses to run in one.
            let _ = client.batch_execute("SET lock_timeout = '2s'").await;
            for statement in &sql {
                let _ = client.batch_execute(statement).await;
            }
        });
    });
    let _ = thread.join();
}

/// An empty schema in the test database; a store opened on it sees nothing else.
pub struct TestSchema {
    name: String,
}

impl TestSchema {
    /// Creates a schema with a unique name.
    pub async fn create() -> TestSchema {
        let name = unique_name("bpops_test_");
        execute(&server_config(), &format!("CREATE SCHEMA {name}")).await;
        TestSchema { name }
    }

    /// A connection configuration whose `search_path` is this schema.
    pub fn config(&self) -> Config {
        let mut config = server_config();
        config.options(format!("-c search_path={}", self.name));
        config.connect_timeout(Duration::from_secs(5));
        config
    }

    /// Runs `sql` in the schema, as an operator at a `psql` prompt would.
    pub async fn execute(&self, sql: &str) {
        execute(&self.config(), sql).await;
    }

    /// Opens a store on the schema (another call opens another "node" on the same data).
    pub async fn open(&self) -> PgStore {
        PgStore::connect(self.config(), TEST_POOL_SIZE)
            .await
            .expect("opening a store on the test schema")
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        execute_detached(
            server_config(),
            vec![format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name)],
        );
    }
}

/// An empty database on the test server, for tests that start `bpops serve` nodes.
pub struct TestDatabase {
    name: String,
}

impl TestDatabase {
    /// Creates a database with a unique name.
    pub async fn create() -> TestDatabase {
        let name = unique_name("bpops_test_");
        execute(&server_config(), &format!("CREATE DATABASE {name}")).await;
        TestDatabase { name }
    }

    /// Its URL, for `storage.url`.
    pub fn url(&self) -> String {
        let config = server_config();
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("postgres");
        format!("postgres://{user}@{host}:{port}/{}", self.name)
    }

    /// Lets clients connect, or refuses every new connection (even a superuser's) and
    /// ends the open ones: as if the database went away.
    pub async fn set_reachable(&self, reachable: bool) {
        let name = &self.name;
        let sql = if reachable {
            format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")
        } else {
            format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false; {}",
                self.terminate_sessions()
            )
        };
        execute(&server_config(), &sql).await;
    }

    /// Runs `sql` in the database, as an operator at a `psql` prompt would.
    pub async fn execute(&self, sql: &str) {
        execute(&self.config(), sql).await;
    }

    /// The first column, as text, of the rows the query `sql` returns in the database: what
    /// a test reads of the stored state.
    pub async fn column(&self, sql: &str) -> Vec<String> {
        column(&self.config(), sql).await
    }

    fn config(&self) -> Config {
        let mut config = server_config();
        config.dbname(&self.name);
        config
    }

    /// Ends every open connection to the database (as a restart or a network cut would);
    /// new ones are accepted.
    pub async fn cut_connections(&self) {
        execute(&server_config(), &self.terminate_sessions()).await;
    }

    fn terminate_sessions(&self) -> String {
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            self.name
        )
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // N.B. connections are refused first: a node still dying would otherwise
        // reconnect between FORCE ending its sessions and the drop.
        execute_detached(
            server_config(),
            vec![
                format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", self.name),
                format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ],
        );
    }
}
