//! Engine behaviour through its public interface, on both backends: every case runs once on
//! SQLite in a temporary directory and once on PostgreSQL in a fresh schema (see
//! [`engine_tests!`]). Time is a manual clock, and the engine is driven step by step with
//! `run_once` except where event-driven wake-ups are what is being tested.

use std::sync::Arc;
use std::time::Duration;

use bpops_catalog::Catalog;
use bpops_engine::{
    CANCELLED_BEFORE_START, CANCELLED_WHILE_RUNNING, Clock, Emulation, Engine, EngineError,
    ManualClock, Settings, Submission,
};
use bpops_store::{
    AccountId, Cancelled, ListQuery, Operation, OperationId, Resource, ResourceKey, Status, Store,
};
use bpops_store_postgres::testing::TestSchema;
use bpops_store_sqlite::SqliteStore;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

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
    a_client_token_is_remembered_for_the_retention_then_freed,
    operations_on_one_resource_run_one_at_a_time_in_submission_order,
    the_rules_of_the_emulated_cloud_hold_when_operations_run,
    an_operation_without_latency_is_final_when_its_id_is_returned,
    an_operation_without_latency_waits_its_turn_on_a_busy_resource,
    injected_failures_end_in_failure_without_touching_the_inventory,
    an_operation_whose_worker_died_is_taken_over_after_its_lease,
    workers_are_woken_by_submissions_not_by_polling,
    wait_answers_with_the_current_status_when_time_is_up,
    another_account_never_sees_an_operation,
    cancel_ends_an_init_operation_before_it_runs,
    cancel_stops_a_running_emulated_operation_without_its_effect,
    cancel_reaches_a_running_attempt_through_its_lease_renewal,
    a_cancelled_operation_whose_worker_died_ends_when_next_claimed,
    cancel_of_a_final_operation_changes_nothing_and_expired_ones_are_unknown,
    list_shows_the_operations_within_retention_newest_first,
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
const T0: i64 = 1_700_000_000_000;

/// Settings under which every operation queues for the workers, even those that could be
/// decided as they are stored, so a test can step through the queue with `run_once`.
fn queued() -> Settings {
    Settings {
        decide_at_submit: false,
        ..Settings::default()
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
        key: ResourceKey {
            account: AccountId::new(ACCOUNT),
            service: "ecs".into(),
            id: id.into(),
        },
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
}

async fn a_submitted_operation_runs_once_to_success(backend: Backend) {
    let f = fixture(backend, queued()).await;
    let id = f
        .submit(
            "addTags",
            json!({"instanceId": "i-run", "tags": {"env": "prod"}}),
        )
        .await;
    assert_eq!(f.status(&id).await, Status::Init);

    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    let op = f.get(&id).await.unwrap();
    assert_eq!(op.status, Status::Success);
    assert_eq!(
        serde_json::from_str::<Value>(&op.arguments).unwrap(),
        json!({"tagMap": {"env": ["i-run"]}})
    );
    assert_eq!(op.attempt, 1);

    assert_eq!(
        f.engine.run_once().await.unwrap(),
        0,
        "a final operation never runs again"
    );
    assert_eq!(f.get(&id).await.unwrap(), op);
}

async fn malformed_requests_are_refused_before_anything_is_stored(backend: Backend) {
    let f = fixture(backend, Settings::default()).await;
    let mut unknown_service = submission("rename", json!({}));
    unknown_service.service = "rds".into();
    assert!(
        matches!(f.engine.submit(unknown_service).await, Err(EngineError::UnknownService(s)) if s == "rds")
    );
    assert!(matches!(
        f.engine.submit(submission("reboot", json!({}))).await,
        Err(EngineError::UnknownOperation { operation, .. }) if operation == "reboot"
    ));
    match f
        .engine
        .submit(submission("rename", json!({"instanceId": "i-run"})))
        .await
    {
        Err(EngineError::InvalidAttribute(e)) => assert_eq!(e.field, "instance_name"),
        other => panic!("expected InvalidAttribute, got {other:?}"),
    }
    match f
        .engine
        .submit(submission(
            "rename",
            json!({"instanceId": "i-run", "instance_name": 7}),
        ))
        .await
    {
        Err(EngineError::InvalidAttribute(e)) => assert_eq!(e.field, "instance_name"),
        other => panic!("expected InvalidAttribute, got {other:?}"),
    }
    assert_eq!(f.engine.run_once().await.unwrap(), 0, "nothing was stored");
}

async fn a_client_token_returns_the_first_operation_for_the_same_parameters(backend: Backend) {
    let f = fixture(backend, Settings::default()).await;
    let tokened = |name: &str| Submission {
        client_token: Some("token-1".into()),
        ..submission(
            "rename",
            json!({"instanceId": "i-run", "instance_name": name}),
        )
    };
    let first = f.engine.submit(tokened("alpha")).await.unwrap();
    assert_eq!(f.engine.submit(tokened("alpha")).await.unwrap(), first);
    assert!(matches!(
        f.engine.submit(tokened("beta")).await,
        Err(EngineError::IdempotentParameterMismatch)
    ));

    let other_account = Submission {
        account: AccountId::new("2000000000000002"),
        ..tokened("alpha")
    };
    assert_ne!(
        f.engine.submit(other_account).await.unwrap(),
        first,
        "tokens are per account"
    );
}

async fn results_expire_after_the_retention_and_are_swept(backend: Backend) {
    let settings = Settings {
        retention: Duration::from_secs(60),
        ..queued()
    };
    let f = fixture(backend, settings).await;
    let id = f.rename("i-run", "alpha").await;

    f.clock.advance(Duration::from_secs(3600));
    assert!(
        f.get(&id).await.is_some(),
        "a pending operation never expires"
    );
    f.engine.run_once().await.unwrap();

    f.clock.advance(Duration::from_secs(59));
    assert_eq!(f.status(&id).await, Status::Success, "within the retention");
    f.clock.advance(Duration::from_secs(2));
    assert!(
        f.get(&id).await.is_none(),
        "hidden at read time once expired"
    );
    assert!(
        f.store
            .get(&AccountId::new(ACCOUNT), &id)
            .await
            .unwrap()
            .is_some(),
        "not swept yet"
    );
}

async fn the_sweeper_deletes_expired_operations_in_the_background(backend: Backend) {
    let settings = Settings {
        retention: Duration::from_millis(100),
        ..Settings::default()
    };
    let f = fixture(backend, settings).await;
    let id = f.rename("i-run", "alpha").await;
    f.engine.run_once().await.unwrap();
    f.clock.advance(Duration::from_secs(1));

    let shutdown = CancellationToken::new();
    let tasks = f.engine.start(shutdown.clone());
    let account = AccountId::new(ACCOUNT);
    let mut swept = false;
    for _ in 0..100 {
        if f.store.get(&account, &id).await.unwrap().is_none() {
            swept = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    tasks.join_all().await;
    assert!(swept, "the sweeper removed the expired operation");
}

async fn a_client_token_is_remembered_for_the_retention_then_freed(backend: Backend) {
    let settings = Settings {
        retention: Duration::from_secs(60),
        ..Settings::default()
    };
    let f = fixture(backend, settings).await;
    let tokened = Submission {
        client_token: Some("t".into()),
        ..submission(
            "rename",
            json!({"instanceId": "i-run", "instance_name": "alpha"}),
        )
    };
    let first = f.engine.submit(tokened.clone()).await.unwrap();
    f.engine.run_once().await.unwrap();
    f.clock.advance(Duration::from_secs(59));
    assert_eq!(f.engine.submit(tokened.clone()).await.unwrap(), first);
    f.clock.advance(Duration::from_secs(2));
    assert_ne!(f.engine.submit(tokened).await.unwrap(), first);
}

async fn operations_on_one_resource_run_one_at_a_time_in_submission_order(backend: Backend) {
    let f = fixture(backend, queued()).await;
    // Stop, change type, start: only correct in this order.
    let stop = f
        .submit(
            "modifyInstanceType",
            json!({"instanceId": "i-run", "change_type": "modify_status", "status": "Stopped"}),
        )
        .await;
    let resize = f.submit("modifyInstanceType", json!({"instanceId": "i-run", "change_type": "modify_instance_type", "instance_type": "ecs.g7.xlarge"})).await;
    let start = f
        .submit(
            "modifyInstanceType",
            json!({"instanceId": "i-run", "change_type": "modify_status", "status": "Running"}),
        )
        .await;
    let elsewhere = f.rename("i-stop", "other").await;

    assert_eq!(f.engine.run_once().await.unwrap(), 2, "one per resource");
    assert_eq!(f.status(&stop).await, Status::Success);
    assert_eq!(f.status(&elsewhere).await, Status::Success);
    assert_eq!(f.status(&resize).await, Status::Init);
    assert_eq!(f.status(&start).await, Status::Init);

    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    assert_eq!(f.status(&resize).await, Status::Success);
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    assert_eq!(f.status(&start).await, Status::Success);

    let key = ResourceKey {
        account: AccountId::new(ACCOUNT),
        service: "ecs".into(),
        id: "i-run".into(),
    };
    let instance = f.store.resource(&key).await.unwrap().unwrap();
    assert_eq!(instance.properties["instance_type"], "ecs.g7.xlarge");
    assert_eq!(instance.properties["status"], "Running");
}

async fn the_rules_of_the_emulated_cloud_hold_when_operations_run(backend: Backend) {
    // Decided as they are stored, and run by the workers: the same rules either way.
    for settings in [Settings::default(), queued()] {
        emulated_cloud_rules(backend, settings).await;
    }
}

async fn emulated_cloud_rules(backend: Backend, settings: Settings) {
    let f = fixture(backend, settings).await;
    let resize_running = f.submit("modifyInstanceType", json!({"instanceId": "i-run", "change_type": "modify_instance_type", "instance_type": "ecs.g7.xlarge"})).await;
    let restart_stopped = f
        .submit(
            "modifyInstanceType",
            json!({"instanceId": "i-stop", "change_type": "modify_status", "status": "Restart"}),
        )
        .await;
    f.engine.run_once().await.unwrap();
    for id in [&resize_running, &restart_stopped] {
        let op = f.get(id).await.unwrap();
        assert_eq!(op.status, Status::Failure);
        assert!(
            op.message.starts_with("IncorrectInstanceStatus: "),
            "{}",
            op.message
        );
    }

    let delete = f.submit("ecsDelete", json!({"instanceId": "i-stop"})).await;
    let rename_deleted = f.rename("i-stop", "ghost").await;
    let missing = f.rename("i-never", "ghost").await;
    while f.engine.run_once().await.unwrap() > 0 {}
    assert_eq!(f.status(&delete).await, Status::Success);
    for id in [&rename_deleted, &missing] {
        let op = f.get(id).await.unwrap();
        assert_eq!(op.status, Status::Failure);
        assert!(
            op.message.starts_with("InstanceNotFound: "),
            "{}",
            op.message
        );
    }
}

async fn an_operation_without_latency_is_final_when_its_id_is_returned(backend: Backend) {
    let f = fixture(backend, Settings::default()).await;
    let id = f
        .submit(
            "addTags",
            json!({"instanceId": "i-run", "tags": {"env": "prod"}}),
        )
        .await;
    let op = f.get(&id).await.expect("stored");
    assert_eq!((op.status, op.attempt), (Status::Success, 1));
    assert_eq!(
        serde_json::from_str::<Value>(&op.arguments).unwrap(),
        json!({"tagMap": {"env": ["i-run"]}})
    );
    let stored = f.store.get(&AccountId::new(ACCOUNT), &id).await.unwrap();
    assert_eq!(stored, Some(op), "the store holds what readers see");
    assert_eq!(f.engine.run_once().await.unwrap(), 0, "nothing left to run");
    let key = ResourceKey {
        account: AccountId::new(ACCOUNT),
        service: "ecs".into(),
        id: "i-run".into(),
    };
    let instance = f.store.resource(&key).await.unwrap().unwrap();
    assert_eq!(instance.properties["tags"], json!({"env": "prod"}));
}

async fn an_operation_without_latency_waits_its_turn_on_a_busy_resource(backend: Backend) {
    let f = fixture(backend, slow_rename(Duration::from_millis(20))).await;
    let slow = f.rename("i-run", "first").await;
    let tags = json!({"instanceId": "i-run", "tags": {"env": "prod"}});
    let queued = f.submit("addTags", tags.clone()).await;
    assert_eq!(f.status(&queued).await, Status::Init, "behind the rename");
    let elsewhere = f
        .submit(
            "addTags",
            json!({"instanceId": "i-stop", "tags": {"a": "b"}}),
        )
        .await;
    assert_eq!(
        f.status(&elsewhere).await,
        Status::Success,
        "another resource is free"
    );

    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    assert_eq!(f.status(&slow).await, Status::Success);
    assert_eq!(f.status(&queued).await, Status::Init);
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    assert_eq!(f.status(&queued).await, Status::Success);
    // The queue has drained: the next one is decided at once again.
    assert_eq!(
        f.status(&f.submit("addTags", tags).await).await,
        Status::Success
    );
}

async fn injected_failures_end_in_failure_without_touching_the_inventory(backend: Backend) {
    let mut settings = Settings::default();
    settings.emulation.insert(
        ("ecs".into(), "rename".into()),
        Emulation {
            latency: Duration::ZERO,
            failure_rate: 1.0,
        },
    );
    let f = fixture(backend, settings).await;
    let id = f.rename("i-run", "renamed").await;
    f.engine.run_once().await.unwrap();
    let op = f.get(&id).await.unwrap();
    assert_eq!(op.status, Status::Failure);
    assert!(
        op.message.starts_with("InjectedFailure: "),
        "{}",
        op.message
    );
    let key = ResourceKey {
        account: AccountId::new(ACCOUNT),
        service: "ecs".into(),
        id: "i-run".into(),
    };
    assert_eq!(
        f.store.resource(&key).await.unwrap().unwrap().properties["instance_name"],
        "web"
    );
}

async fn an_operation_whose_worker_died_is_taken_over_after_its_lease(backend: Backend) {
    let f = fixture(
        backend,
        Settings {
            lease: Duration::from_secs(30),
            ..queued()
        },
    )
    .await;
    let id = f.rename("i-run", "alpha").await;
    // A worker claims it and dies without finishing.
    let now = f.clock.now_ms();
    assert_eq!(f.store.claim(now, now + 30_000, 10).await.unwrap().len(), 1);

    assert_eq!(
        f.engine.run_once().await.unwrap(),
        0,
        "the lease still holds"
    );
    f.clock.advance(Duration::from_secs(31));
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    let op = f.get(&id).await.unwrap();
    assert_eq!((op.status, op.attempt), (Status::Success, 2));
}

async fn workers_are_woken_by_submissions_not_by_polling(backend: Backend) {
    // With a fallback poll of an hour, only the submit event can start the operation.
    let settings = Settings {
        fallback_poll: Duration::from_secs(3600),
        ..queued()
    };
    let f = fixture(backend, settings).await;
    let shutdown = CancellationToken::new();
    let tasks = f.engine.start(shutdown.clone());
    tokio::time::sleep(Duration::from_millis(50)).await; // the dispatcher is now idle

    let account = AccountId::new(ACCOUNT);
    for name in ["one", "two", "three"] {
        let id = f.rename("i-run", name).await;
        let op = f
            .engine
            .wait(&account, &id, Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(op.status, Status::Success, "{name}");
    }
    shutdown.cancel();
    tasks.join_all().await;
}

async fn wait_answers_with_the_current_status_when_time_is_up(backend: Backend) {
    let mut settings = Settings::default();
    settings.emulation.insert(
        ("ecs".into(), "rename".into()),
        Emulation {
            latency: Duration::from_secs(5),
            failure_rate: 0.0,
        },
    );
    let f = fixture(backend, settings).await;
    let shutdown = CancellationToken::new();
    let tasks = f.engine.start(shutdown.clone());

    let id = f.rename("i-run", "slow").await;
    let op = f
        .engine
        .wait(&AccountId::new(ACCOUNT), &id, Duration::from_millis(100))
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(op.status, Status::Init | Status::Running),
        "{:?}",
        op.status
    );
    shutdown.cancel();
    tasks.join_all().await;
}

async fn another_account_never_sees_an_operation(backend: Backend) {
    let f = fixture(backend, Settings::default()).await;
    let id = f.rename("i-run", "alpha").await;
    let stranger = AccountId::new("2000000000000002");
    assert!(f.engine.get(&stranger, &id).await.unwrap().is_none());
    assert!(
        f.engine
            .wait(&stranger, &id, Duration::from_millis(10))
            .await
            .unwrap()
            .is_none()
    );

    // Its operations on an instance id that exists only in the first account find nothing.
    let foreign = Submission {
        account: stranger.clone(),
        application: None,
        ..submission(
            "rename",
            json!({"instanceId": "i-run", "instance_name": "xx"}),
        )
    };
    let foreign_id = f.engine.submit(foreign).await.unwrap();
    while f.engine.run_once().await.unwrap() > 0 {}
    let op = f.engine.get(&stranger, &foreign_id).await.unwrap().unwrap();
    assert!(
        op.message.starts_with("InstanceNotFound: "),
        "{}",
        op.message
    );
}

/// Several nodes on one PostgreSQL database: node A has no workers, node B runs what A
/// accepts, and A's waiter learns of the result from B's commit. With a fallback poll of an
/// hour, only events through the database can make this happen.
#[tokio::test]
async fn postgres_an_operation_submitted_on_one_node_and_run_on_another_wakes_its_waiter() {
    let schema = TestSchema::create().await;
    let node = |concurrency: usize, store: Arc<dyn Store>| {
        let settings = Settings {
            concurrency,
            fallback_poll: Duration::from_secs(3600),
            ..queued()
        };
        Engine::new(
            store,
            Arc::new(Catalog::builtin()),
            settings,
            Arc::new(bpops_engine::SystemClock),
        )
    };
    let store_a: Arc<dyn Store> = Arc::new(schema.open().await);
    let store_b: Arc<dyn Store> = Arc::new(schema.open().await);
    store_a
        .seed_resources(&[Resource {
            key: ResourceKey {
                account: AccountId::new(ACCOUNT),
                service: "ecs".into(),
                id: "i-run".into(),
            },
            application: "APP".into(),
            properties: object(json!({"instance_name": "web", "status": "Running"})),
        }])
        .await
        .unwrap();
    let (a, b) = (node(0, store_a), node(4, store_b));
    let shutdown = CancellationToken::new();
    let tasks = [a.start(shutdown.clone()), b.start(shutdown.clone())];
    tokio::time::sleep(Duration::from_millis(50)).await; // both dispatchers are idle

    let account = AccountId::new(ACCOUNT);
    for name in ["one", "two", "three"] {
        let started = std::time::Instant::now();
        let id = a
            .submit(submission(
                "rename",
                json!({"instanceId": "i-run", "instance_name": name}),
            ))
            .await
            .unwrap();
        let op = a
            .wait(&account, &id, Duration::from_secs(10))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(op.status, Status::Success, "{name}");
        eprintln!(
            "submitted on A, run on B, seen on A after {:?}",
            started.elapsed()
        );
    }
    shutdown.cancel();
    for node_tasks in tasks {
        node_tasks.join_all().await;
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

impl Fixture {
    async fn cancel(&self, id: &OperationId) -> Cancelled {
        self.engine
            .cancel(&AccountId::new(ACCOUNT), id, None)
            .await
            .unwrap()
    }

    /// Polls (boundedly) until `id` is `RUNNING`: a worker has claimed it.
    async fn until_running(&self, id: &OperationId) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.status(id).await != Status::Running {
            assert!(tokio::time::Instant::now() < deadline, "never claimed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn instance_name(&self) -> Value {
        let key = ResourceKey {
            account: AccountId::new(ACCOUNT),
            service: "ecs".into(),
            id: "i-run".into(),
        };
        let resource = self.store.resource(&key).await.unwrap().unwrap();
        resource.properties["instance_name"].clone()
    }
}

async fn cancel_ends_an_init_operation_before_it_runs(backend: Backend) {
    let f = fixture(backend, queued()).await;
    let id = f.rename("i-run", "never").await;
    let Cancelled::Ended(op) = f.cancel(&id).await else {
        panic!("an INIT operation ends at once");
    };
    assert_eq!(op.status, Status::Failure);
    assert_eq!(op.message, CANCELLED_BEFORE_START);
    assert!(op.message.starts_with("OperationCancelled"));
    assert_eq!(f.engine.run_once().await.unwrap(), 0, "it never runs");
    assert_eq!(f.instance_name().await, "web");
}

async fn cancel_stops_a_running_emulated_operation_without_its_effect(backend: Backend) {
    let f = fixture(backend, slow_rename(Duration::from_secs(30))).await;
    let id = f.rename("i-run", "renamed").await;
    let engine = Arc::clone(&f.engine);
    let worker = tokio::spawn(async move { engine.run_once().await.unwrap() });
    f.until_running(&id).await;

    let started = tokio::time::Instant::now();
    assert!(matches!(f.cancel(&id).await, Cancelled::Requested(_)));
    assert_eq!(worker.await.unwrap(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped at once, not after its latency"
    );
    let op = f.get(&id).await.unwrap();
    assert_eq!(
        (op.status, op.message.as_str()),
        (Status::Failure, CANCELLED_WHILE_RUNNING)
    );
    assert_eq!(f.instance_name().await, "web", "no effect applied");
}

async fn cancel_reaches_a_running_attempt_through_its_lease_renewal(backend: Backend) {
    // The store is told directly, as by another node whose event this one never gets
    // (`run_once` listens to no events): the renewal, every lease / 3, notices the mark.
    let settings = Settings {
        lease: Duration::from_millis(300),
        ..slow_rename(Duration::from_secs(30))
    };
    let f = fixture(backend, settings).await;
    let id = f.rename("i-run", "renamed").await;
    let engine = Arc::clone(&f.engine);
    let worker = tokio::spawn(async move { engine.run_once().await.unwrap() });
    f.until_running(&id).await;
    let outcome = f
        .store
        .cancel(
            &AccountId::new(ACCOUNT),
            &id,
            None,
            "unused",
            f.clock.now_ms(),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, Cancelled::Requested(_)));
    tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("the renewal stops the attempt")
        .unwrap();
    let op = f.get(&id).await.unwrap();
    assert_eq!(
        (op.status, op.message.as_str()),
        (Status::Failure, CANCELLED_WHILE_RUNNING)
    );
}

async fn a_cancelled_operation_whose_worker_died_ends_when_next_claimed(backend: Backend) {
    let f = fixture(backend, queued()).await;
    let id = f.rename("i-run", "renamed").await;
    // A worker claims it and dies without finishing.
    let now = f.clock.now_ms();
    assert_eq!(f.store.claim(now, now + 30_000, 10).await.unwrap().len(), 1);
    assert!(matches!(f.cancel(&id).await, Cancelled::Requested(_)));
    assert_eq!(f.status(&id).await, Status::Running, "until its lease ends");

    f.clock.advance(Duration::from_secs(31));
    assert_eq!(f.engine.run_once().await.unwrap(), 1);
    let op = f.get(&id).await.unwrap();
    assert_eq!(
        (op.status, op.message.as_str(), op.attempt),
        (Status::Failure, CANCELLED_WHILE_RUNNING, 2)
    );
    assert_eq!(f.instance_name().await, "web", "it did not run again");
}

async fn cancel_of_a_final_operation_changes_nothing_and_expired_ones_are_unknown(
    backend: Backend,
) {
    let f = fixture(backend, queued()).await;
    let id = f.rename("i-run", "done").await;
    f.engine.run_once().await.unwrap();
    let Cancelled::AlreadyFinal(op) = f.cancel(&id).await else {
        panic!("a final operation stays final");
    };
    assert_eq!(op.status, Status::Success);
    assert_eq!(f.status(&id).await, Status::Success);

    f.clock.advance(Duration::from_secs(3601));
    assert_eq!(f.cancel(&id).await, Cancelled::NotFound);
    let stranger = AccountId::new("2000000000000002");
    let other = f.rename("i-run", "other").await;
    assert_eq!(
        f.engine.cancel(&stranger, &other, None).await.unwrap(),
        Cancelled::NotFound
    );
    assert_eq!(f.status(&other).await, Status::Init);
}

async fn list_shows_the_operations_within_retention_newest_first(backend: Backend) {
    let f = fixture(backend, Settings::default()).await;
    let old = f.rename("i-run", "old").await;
    f.engine.run_once().await.unwrap();
    f.clock.advance(Duration::from_secs(1800));
    let new = f.rename("i-run", "new").await;
    let query = ListQuery {
        account: AccountId::new(ACCOUNT),
        status: None,
        service: None,
        operation: None,
        applications: None,
        created_from: None,
        created_before: None,
        expired_before: 0,
        after: None,
        limit: 10,
    };
    let ids = |page: bpops_store::ListPage| page.operations.into_iter().map(|o| o.id).collect();
    let listed: Vec<OperationId> = ids(f.engine.list(query.clone()).await.unwrap());
    assert_eq!(listed, vec![new.clone(), old]);
    f.clock.advance(Duration::from_secs(1801));
    let listed: Vec<OperationId> = ids(f.engine.list(query).await.unwrap());
    assert_eq!(listed, vec![new], "the expired one is gone at once");
}
