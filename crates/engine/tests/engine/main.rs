//! Engine behaviour through its public interface, on both backends: every case runs once on
//! SQLite in a temporary directory and once on PostgreSQL in a fresh schema (see
//! [`engine_tests!`]). Time is a manual clock, and the engine is driven step by step with
//! `run_once` except where event-driven wake-ups are what is being tested.

use std::sync::Arc;
use std::time::Duration;

use bpops_catalog::Catalog;
use bpops_engine::{
    CANCELLED_BEFORE_START, CANCELLED_WHILE_RUNNING, Emulation, Engine, EngineError, Settings,
    Submission,
};
use bpops_store::{
    AccountId, Budget, Cancelled, Operation, OperationId, Pool, Resource, ResourceKey, Status,
    Store,
};
use bpops_store_postgres::testing::TestSchema;
use bpops_store_sqlite::SqliteStore;
use bpops_time::{Clock, ManualClock, Timestamp};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

mod cancelling;
mod retention;
mod running;
mod steps;

use cancelling::*;
use retention::*;
use running::*;
use steps::*;

/// Runs each named case (an `async fn(Backend)`) as one test per backend:
/// `sqlite::<case>` and `postgres::<case>`.
macro_rules! engine_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

engine_tests!(
    a_submitted_operation_runs_once_to_success,
    malformed_requests_are_refused_before_anything_is_stored,
    a_client_token_returns_the_first_operation_for_the_same_parameters,
    results_expire_after_the_retention_and_are_swept,
    the_sweeper_deletes_expired_operations_in_the_background,
    the_sweeper_deletes_audit_records_past_their_own_retention,
    a_client_token_is_remembered_for_the_retention_then_freed,
    operations_on_one_resource_run_one_at_a_time_in_submission_order,
    the_rules_of_the_emulated_cloud_hold_when_operations_run,
    an_operation_without_latency_is_final_when_its_id_is_returned,
    an_operation_without_latency_waits_its_turn_on_a_busy_resource,
    injected_failures_end_in_failure_without_touching_the_inventory,
    an_operation_whose_worker_died_is_taken_over_after_its_lease,
    emulated_operations_run_up_to_their_own_pools_limit,
    workers_are_woken_by_submissions_not_by_polling,
    stopping_answers_waiters_at_once_and_releases_what_outlives_the_grace,
    wait_answers_with_the_current_status_when_time_is_up,
    another_account_never_sees_an_operation,
    cancel_ends_an_init_operation_before_it_runs,
    cancel_stops_a_running_emulated_operation_without_its_effect,
    cancel_reaches_a_running_attempt_through_its_lease_renewal,
    a_cancelled_operation_whose_worker_died_ends_when_next_claimed,
    cancel_of_a_final_operation_changes_nothing_and_expired_ones_are_unknown,
    list_shows_the_operations_within_retention_newest_first,
    an_operation_acts_only_in_its_target_application,
    a_step_runs_once_as_an_operation_and_moves_its_application,
    a_step_whose_worker_died_is_taken_over_and_ends_once,
    steps_cannot_be_submitted_as_operations,
    a_deploy_resumed_by_a_new_attempt_creates_no_resource_twice,
    a_release_deletes_what_a_deploy_created,
    an_injected_failure_of_every_resource_deploys_nothing,
    resources_failing_one_by_one_leave_deploys_and_releases_partial,
);

/// Which store a case runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Keeps a test's database alive (a temporary directory, a schema), and removes it
/// afterwards.
type Guard = Box<dyn std::any::Any>;

async fn open(backend: Backend) -> (Arc<dyn Store>, Guard) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteStore::open(&dir.path().join("bpops.db")).unwrap();
            (Arc::new(store), Box::new(dir))
        }
        Backend::Postgres => {
            let schema = TestSchema::create().await;
            (Arc::new(schema.open().await), Box::new(schema))
        }
    }
}

const ACCOUNT: &str = "1000000000000001";
const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// Settings under which every operation queues for the workers, even those that could be
/// decided as they are stored, so a test can step through the queue with `run_once`.
fn queued() -> Settings {
    Settings {
        decide_at_submit: false,
        ..Settings::default()
    }
}

/// [`queued`], with a lease of 30 s: for cases where a worker dies holding one.
fn leased() -> Settings {
    Settings {
        lease: Duration::from_secs(30),
        ..queued()
    }
}

struct Fixture {
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    _guard: Guard,
}

async fn fixture(backend: Backend, settings: Settings) -> Fixture {
    let (store, guard) = open(backend).await;
    let instance = |id: &str, status: &str| Resource {
        key: instance_key(id),
        application: "APP".into(),
        properties: object(json!({
            "instance_name": "web", "instance_type": "ecs.g7.large", "status": status, "region_id": "cn-hangzhou"
        })),
    };
    store
        .seed_resources(&[instance("i-run", "Running"), instance("i-stop", "Stopped")])
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::new(
        Arc::clone(&store),
        Arc::new(Catalog::builtin()),
        settings,
        clock.clone(),
    );
    Fixture {
        engine,
        store,
        clock,
        _guard: guard,
    }
}

/// The key of an instance of the test account.
fn instance_key(id: &str) -> ResourceKey {
    ResourceKey {
        account: AccountId::new(ACCOUNT),
        service: "ecs".into(),
        id: id.into(),
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

fn submission(operation: &str, attributes: Value) -> Submission {
    Submission {
        account: AccountId::new(ACCOUNT),
        service: "ecs".into(),
        operation: operation.into(),
        attributes: object(attributes),
        application: Some("APP".into()),
        client_token: None,
        submitted_by: None,
    }
}

impl Fixture {
    async fn submit(&self, operation: &str, attributes: Value) -> OperationId {
        self.engine
            .submit(submission(operation, attributes))
            .await
            .unwrap()
    }

    /// Renames `instance`: the simplest operation, used where any operation will do.
    async fn rename(&self, instance: &str, name: &str) -> OperationId {
        self.submit(
            "rename",
            json!({"instanceId": instance, "instance_name": name}),
        )
        .await
    }

    async fn get(&self, id: &OperationId) -> Option<Operation> {
        self.engine.get(&AccountId::new(ACCOUNT), id).await.unwrap()
    }

    async fn status(&self, id: &OperationId) -> Status {
        self.get(id).await.expect("operation exists").status
    }

    /// Claims what is runnable, as a worker that then dies without finishing anything
    /// would; returns how many operations it took.
    async fn claim_and_die(&self) -> usize {
        let now = self.clock.now();
        let claimed = self
            .store
            .claim("node", now, Duration::from_secs(30), Budget::uniform(10))
            .await
            .unwrap();
        claimed.operations.len()
    }
}

fn slow_rename(latency: Duration) -> Settings {
    let mut settings = Settings::default();
    settings.emulation.insert(
        ("ecs".into(), "rename".into()),
        Emulation {
            latency,
            failure_rate: 0.0,
        },
    );
    settings
}
