//! What stays readable and for how long: retention, the sweeper, client tokens, listing.

use super::*;

pub(crate) async fn a_client_token_returns_the_first_operation_for_the_same_parameters(
    backend: Backend,
) {
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

pub(crate) async fn results_expire_after_the_retention_and_are_swept(backend: Backend) {
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

pub(crate) async fn the_sweeper_deletes_expired_operations_in_the_background(backend: Backend) {
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

pub(crate) async fn the_sweeper_deletes_audit_records_past_their_own_retention(backend: Backend) {
    let settings = Settings {
        retention: Duration::from_millis(100),
        audit_retention: Duration::from_secs(60),
        ..Settings::default()
    };
    let f = fixture(backend, settings).await;
    let account = AccountId::new(ACCOUNT);
    let now = f.clock.now();
    let record = |age: Duration, id: &str| {
        bpops_store::testing::audit::audit_record(&account, now - age, id)
    };
    f.store
        .record_audit(&[
            record(Duration::from_secs(61), "R-old"),
            record(Duration::from_secs(59), "R-kept"),
        ])
        .await
        .unwrap();

    let shutdown = CancellationToken::new();
    let tasks = f.engine.start(shutdown.clone());
    let query = bpops_store::AuditQuery::all(account.clone(), 10);
    let mut left = Vec::new();
    for _ in 0..100 {
        let page = f.store.lookup_audit(&query).await.unwrap();
        left = page.records.into_iter().map(|r| r.request_id).collect();
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    tasks.join_all().await;
    assert_eq!(
        left,
        ["R-kept"],
        "only the record past its retention is swept"
    );
}

pub(crate) async fn a_client_token_is_remembered_for_the_retention_then_freed(backend: Backend) {
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

pub(crate) async fn list_shows_the_operations_within_retention_newest_first(backend: Backend) {
    let f = fixture(backend, Settings::default()).await;
    let old = f.rename("i-run", "old").await;
    f.engine.run_once().await.unwrap();
    f.clock.advance(Duration::from_secs(1800));
    let new = f.rename("i-run", "new").await;
    let query = bpops_store::testing::list_query(&AccountId::new(ACCOUNT), 10);
    let ids = |page: bpops_store::ListPage| page.operations.into_iter().map(|o| o.id).collect();
    let listed: Vec<OperationId> = ids(f.engine.list(query.clone()).await.unwrap());
    assert_eq!(listed, vec![new.clone(), old]);
    f.clock.advance(Duration::from_secs(1801));
    let listed: Vec<OperationId> = ids(f.engine.list(query).await.unwrap());
    assert_eq!(listed, vec![new], "the expired one is gone at once");
}
