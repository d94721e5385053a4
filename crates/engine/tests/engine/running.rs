//! Running operations: validation, order per resource, the emulated rules, decisions at
//! submission, failures, lease takeover, wake-ups and waiting.

use super::*;

pub(crate) async fn a_submitted_operation_runs_once_to_success(backend: Backend) {
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

pub(crate) async fn malformed_requests_are_refused_before_anything_is_stored(backend: Backend) {
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

pub(crate) async fn operations_on_one_resource_run_one_at_a_time_in_submission_order(
    backend: Backend,
) {
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

    let key = instance_key("i-run");
    let instance = f.store.resource(&key).await.unwrap().unwrap();
    assert_eq!(instance.properties["instance_type"], "ecs.g7.xlarge");
    assert_eq!(instance.properties["status"], "Running");
}

pub(crate) async fn the_rules_of_the_emulated_cloud_hold_when_operations_run(backend: Backend) {
    // Decided as they are stored, and run by the workers: the same rules either way.
    for settings in [Settings::default(), queued()] {
        emulated_cloud_rules(backend, settings).await;
    }
}

pub(crate) async fn emulated_cloud_rules(backend: Backend, settings: Settings) {
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

pub(crate) async fn an_operation_without_latency_is_final_when_its_id_is_returned(
    backend: Backend,
) {
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
    let key = instance_key("i-run");
    let instance = f.store.resource(&key).await.unwrap().unwrap();
    assert_eq!(instance.properties["tags"], json!({"env": "prod"}));
}

pub(crate) async fn an_operation_without_latency_waits_its_turn_on_a_busy_resource(
    backend: Backend,
) {
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

pub(crate) async fn injected_failures_end_in_failure_without_touching_the_inventory(
    backend: Backend,
) {
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
    let key = instance_key("i-run");
    assert_eq!(
        f.store.resource(&key).await.unwrap().unwrap().properties["instance_name"],
        "web"
    );
}

pub(crate) async fn an_operation_whose_worker_died_is_taken_over_after_its_lease(backend: Backend) {
    let f = fixture(backend, leased()).await;
    let id = f.rename("i-run", "alpha").await;
    // A worker claims it and dies without finishing.
    assert_eq!(f.claim_and_die().await, 1);

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

pub(crate) async fn workers_are_woken_by_submissions_not_by_polling(backend: Backend) {
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

/// Issue 11 item 9: once stopped, the engine answers waits at once, gives the running
/// operation its grace, then releases its lease: it is claimable at once, not after the lease.
pub(crate) async fn stopping_answers_waiters_at_once_and_releases_what_outlives_the_grace(
    backend: Backend,
) {
    let settings = Settings {
        shutdown_grace: Duration::from_millis(300),
        ..slow_rename(Duration::from_secs(60))
    };
    let f = fixture(backend, settings).await;
    let shutdown = CancellationToken::new();
    let tasks = f.engine.start(shutdown.clone());
    let id = f.rename("i-run", "slow").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while f.status(&id).await != Status::Running {
        assert!(std::time::Instant::now() < deadline, "never claimed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let stopped = std::time::Instant::now();
    shutdown.cancel();
    let op = f
        .engine
        .wait(&AccountId::new(ACCOUNT), &id, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(op.status, Status::Running);
    assert!(
        stopped.elapsed() < Duration::from_secs(1),
        "{:?}",
        stopped.elapsed()
    );
    tasks.join_all().await;
    let drained = stopped.elapsed();
    assert!(
        drained >= Duration::from_millis(300) && drained < Duration::from_millis(1300),
        "drained in {drained:?}"
    );

    // The clock has not moved: only a released lease makes it claimable now.
    let now = f.clock.now();
    let claimed = f
        .store
        .claim("node", now, Duration::from_secs(1), Budget::uniform(10))
        .await
        .unwrap()
        .operations;
    assert_eq!(claimed.len(), 1, "released");
    assert_eq!((&claimed[0].id, claimed[0].attempt), (&id, 2));
}

pub(crate) async fn wait_answers_with_the_current_status_when_time_is_up(backend: Backend) {
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

pub(crate) async fn another_account_never_sees_an_operation(backend: Backend) {
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
            concurrency: Budget::uniform(concurrency),
            fallback_poll: Duration::from_secs(3600),
            ..queued()
        };
        Engine::new(
            store,
            Arc::new(Catalog::builtin()),
            settings,
            Arc::new(bpops_time::SystemClock),
        )
    };
    let store_a: Arc<dyn Store> = Arc::new(schema.open().await);
    let store_b: Arc<dyn Store> = Arc::new(schema.open().await);
    store_a
        .seed_resources(&[Resource {
            key: instance_key("i-run"),
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

/// Issue 11, item 6: a store failure while an operation runs is not its verdict. With the
/// inventory's table out of reach (renamed away, directly in the database), a claimed rename
/// waits for the store instead of ending `FAILURE`; once the table is back, it ends
/// `SUCCESS` with its effect.
#[tokio::test]
async fn postgres_a_store_failure_during_a_run_waits_for_the_store() {
    let schema = TestSchema::create().await;
    let store: Arc<dyn Store> = Arc::new(schema.open().await);
    let key = ResourceKey {
        account: AccountId::new(ACCOUNT),
        service: "ecs".into(),
        id: "i-run".into(),
    };
    store
        .seed_resources(&[Resource {
            key: key.clone(),
            application: "APP".into(),
            properties: object(json!({"instance_name": "web", "status": "Running"})),
        }])
        .await
        .unwrap();
    let engine = Engine::new(
        Arc::clone(&store),
        Arc::new(Catalog::builtin()),
        queued(),
        Arc::new(bpops_time::SystemClock),
    );
    let account = AccountId::new(ACCOUNT);
    let id = engine
        .submit(submission(
            "rename",
            json!({"instanceId": "i-run", "instance_name": "renamed"}),
        ))
        .await
        .unwrap();

    schema
        .execute("ALTER TABLE resources RENAME TO resources_away")
        .await;
    let run = tokio::spawn({
        let engine = Arc::clone(&engine);
        async move { engine.run_once().await }
    });
    // Claimed: from here on its run reads the inventory, which is not there.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while engine.get(&account, &id).await.unwrap().unwrap().status == Status::Init {
        assert!(std::time::Instant::now() < deadline, "never claimed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    schema
        .execute("ALTER TABLE resources_away RENAME TO resources")
        .await;

    assert_eq!(run.await.unwrap().unwrap(), 1);
    let op = engine.get(&account, &id).await.unwrap().unwrap();
    assert_eq!(op.status, Status::Success, "{}", op.message);
    let renamed = store.resource(&key).await.unwrap().unwrap();
    assert_eq!(renamed.properties["instance_name"], "renamed");
}

/// Issue 11 item 1: an operation acts in its target's application, whatever the request says,
/// and a run only reaches a resource that is (still) in it.
pub(crate) async fn an_operation_acts_only_in_its_target_application(backend: Backend) {
    let f = fixture(backend, queued()).await;
    let unnamed = Submission {
        application: None,
        ..submission(
            "rename",
            json!({"instanceId": "i-run", "instance_name": "renamed"}),
        )
    };
    let id = f.engine.submit(unnamed).await.unwrap();
    assert_eq!(
        f.get(&id).await.unwrap().application.as_deref(),
        Some("APP")
    );

    let elsewhere = Submission {
        application: Some("APP-OTHER".into()),
        ..submission(
            "rename",
            json!({"instanceId": "i-run", "instance_name": "renamed"}),
        )
    };
    assert!(matches!(
        f.engine.submit(elsewhere).await,
        Err(EngineError::ApplicationMismatch { named, actual }) if named == "APP-OTHER" && actual == "APP"
    ));

    // Targets that do not exist yet: one operation names APP, one names no application.
    let in_app = f.rename("i-late", "named").await;
    let in_none = f
        .engine
        .submit(Submission {
            application: None,
            ..submission(
                "rename",
                json!({"instanceId": "i-late2", "instance_name": "unnamed"}),
            )
        })
        .await
        .unwrap();
    let late = |id: &str| Resource {
        key: instance_key(id),
        application: "APP-OTHER".into(),
        properties: object(json!({"instance_name": "late", "status": "Running"})),
    };
    f.store
        .seed_resources(&[late("i-late"), late("i-late2")])
        .await
        .unwrap();
    while f.engine.run_once().await.unwrap() > 0 {}
    for (id, instance) in [(&in_app, "i-late"), (&in_none, "i-late2")] {
        let op = f.get(id).await.unwrap();
        assert_eq!(op.status, Status::Failure);
        assert!(
            op.message.starts_with("InstanceNotFound: "),
            "{}",
            op.message
        );
        let key = instance_key(instance);
        assert_eq!(f.store.resource(&key).await.unwrap(), Some(late(instance)));
    }
}

/// What waits on a timer is limited by its own pool, not by the others': a node runs as many
/// emulated operations at once as its emulated limit, though every other pool allows one.
pub(crate) async fn emulated_operations_run_up_to_their_own_pools_limit(backend: Backend) {
    const LIMIT: usize = 300;
    const SUBMITTED: usize = 400;
    let mut concurrency = Budget::uniform(1);
    concurrency[Pool::Emulated] = LIMIT;
    let settings = Settings {
        concurrency,
        ..slow_rename(Duration::from_secs(3600))
    };
    let f = fixture(backend, settings).await;
    let instances: Vec<Resource> = (0..SUBMITTED)
        .map(|n| Resource {
            key: instance_key(&format!("i-{n}")),
            application: "APP".into(),
            properties: object(json!({"instance_name": "web", "status": "Running"})),
        })
        .collect();
    f.store.seed_resources(&instances).await.unwrap();
    let shutdown = CancellationToken::new();
    let tasks = f.engine.start(shutdown.clone());

    let names: Vec<String> = (0..SUBMITTED).map(|n| format!("i-{n}")).collect();
    futures_util::future::join_all(names.iter().map(|id| f.rename(id, "renamed"))).await;
    // The manual clock never ends the hour of latency: what runs stays running.
    let limit_reached = async {
        while f.store.queue_depth().await.unwrap().running < LIMIT as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), limit_reached)
        .await
        .expect("the emulated pool fills up");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let depth = f.store.queue_depth().await.unwrap();
    assert_eq!(
        (depth.running, depth.init),
        (LIMIT as u64, (SUBMITTED - LIMIT) as u64),
        "no more than the pool's limit runs"
    );
    shutdown.cancel();
    tasks.join_all().await;
}
