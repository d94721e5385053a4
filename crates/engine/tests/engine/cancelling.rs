//! Cancelling operations: before they run, while they run, and after.

use bpops_store::testing::requester;

use super::*;

impl Fixture {
    async fn cancel(&self, id: &OperationId) -> Cancelled {
        self.engine
            .cancel(&AccountId::new(ACCOUNT), id, &requester())
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
        let key = instance_key("i-run");
        let resource = self.store.resource(&key).await.unwrap().unwrap();
        resource.properties["instance_name"].clone()
    }
}

pub(crate) async fn cancel_ends_an_init_operation_before_it_runs(backend: Backend) {
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

pub(crate) async fn cancel_stops_a_running_emulated_operation_without_its_effect(backend: Backend) {
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

pub(crate) async fn cancel_reaches_a_running_attempt_through_its_lease_renewal(backend: Backend) {
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
            &requester(),
            "unused",
            f.clock.now(),
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

pub(crate) async fn a_cancelled_operation_whose_worker_died_ends_when_next_claimed(
    backend: Backend,
) {
    let f = fixture(backend, queued()).await;
    let id = f.rename("i-run", "renamed").await;
    // A worker claims it and dies without finishing.
    assert_eq!(f.claim_and_die().await, 1);
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

pub(crate) async fn cancel_of_a_final_operation_changes_nothing_and_expired_ones_are_unknown(
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
        f.engine
            .cancel(&stranger, &other, &requester())
            .await
            .unwrap(),
        Cancelled::NotFound
    );
    assert_eq!(f.status(&other).await, Status::Init);
}
