//! The shared conformance suite, each case in a fresh schema, and what only several nodes
//! on one database can show.

use std::sync::Arc;
use std::time::Duration;

use bpops_store::nonces::NonceSpend;
use bpops_store::{AccountId, Budget, NewOperation, OperationId, Store, StoreError, StoreEvent};
use bpops_time::Timestamp;
use futures_util::future::join_all;

use crate::PgStore;
use crate::testing::TestSchema;

async fn fresh() -> (Arc<dyn Store>, TestSchema) {
    let schema = TestSchema::create().await;
    (Arc::new(schema.open().await), schema)
}

bpops_store::store_conformance!(fresh());

/// Each way a row can be unreadable on PostgreSQL (its columns are typed): an id that is not
/// one, and an attempt out of range.
#[tokio::test]
async fn an_unreadable_row_is_set_aside_and_the_others_run() {
    for corruption in ["id = 'not an id'", "attempt = -2"] {
        let schema = TestSchema::create().await;
        let store = schema.open().await;
        let corrupt = async |id: &OperationId| {
            schema
                .execute(&format!(
                    "UPDATE operations SET {corruption} WHERE id = '{id}'"
                ))
                .await;
        };
        bpops_store::testing::claims::an_unreadable_row_is_set_aside_and_the_others_run(
            &store, corrupt,
        )
        .await;
    }
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn new_op(created_at: i64) -> NewOperation {
    bpops_store::testing::new_op(&AccountId::new("1"), None, at(created_at))
}

#[tokio::test]
async fn another_node_hears_submits_and_finishes() {
    let schema = TestSchema::create().await;
    let (a, b) = (schema.open().await, schema.open().await);
    let mut heard = b.subscribe();
    let op = new_op(0);
    a.submit(&op, at(0)).await.unwrap();
    let claimed = a
        .claim(
            "test-node",
            at(0),
            Duration::from_millis(60_000),
            Budget::uniform(1),
        )
        .await
        .unwrap()
        .operations;
    let finish = bpops_store::Finish {
        status: bpops_store::Status::Success,
        message: String::new(),
        arguments: "{}".into(),
        finished_at: at(1),
        effect: None,
    };
    assert!(a.finish(&op.id, claimed[0].attempt, &finish).await.unwrap());
    let events = tokio::time::timeout(Duration::from_secs(10), async {
        vec![heard.recv().await.unwrap(), heard.recv().await.unwrap()]
    })
    .await
    .expect("node b hears node a's commits");
    assert_eq!(
        events,
        vec![StoreEvent::Submitted, StoreEvent::Finished(op.id)]
    );
}

#[tokio::test]
async fn nodes_starting_at_once_apply_each_migration_once() {
    let schema = TestSchema::create().await;
    let (a, b, c) = tokio::join!(schema.open(), schema.open(), schema.open());
    drop((b, c));
    let client = a.client().await.unwrap();
    let versions: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    let expected = crate::migrate::MIGRATIONS.len() as i64;
    assert_eq!(versions, expected, "each migration applied once");
}

#[tokio::test]
async fn opening_keeps_the_leases_of_other_nodes() {
    let schema = TestSchema::create().await;
    let first = schema.open().await;
    first.submit(&new_op(0), at(0)).await.unwrap();
    assert_eq!(
        first
            .claim(
                "test-node",
                at(0),
                Duration::from_millis(60_000),
                Budget::uniform(10)
            )
            .await
            .unwrap()
            .operations
            .len(),
        1
    );
    let second = schema.open().await;
    assert!(
        second
            .claim(
                "test-node",
                at(1),
                Duration::from_millis(59_999),
                Budget::uniform(10)
            )
            .await
            .unwrap()
            .operations
            .is_empty(),
        "the first node may still be running it"
    );
    assert_eq!(
        second
            .claim(
                "test-node",
                at(60_001),
                Duration::from_millis(29_999),
                Budget::uniform(10)
            )
            .await
            .unwrap()
            .operations
            .len(),
        1
    );
}

/// Issue 11, item 7: PostgreSQL's disk-full error (SQLSTATE 53100) is a full store, which
/// the API answers as unavailable and says why, not a server bug.
#[tokio::test]
async fn a_full_disk_is_a_full_store() {
    let schema = TestSchema::create().await;
    let store = schema.open().await;
    let client = store.client().await.unwrap();
    let e = client
        .batch_execute("DO $$ BEGIN RAISE EXCEPTION 'no space' USING ERRCODE = 'disk_full'; END $$")
        .await
        .unwrap_err();
    assert!(
        matches!(crate::from_pg(e), StoreError::Full(_)),
        "53100 is a full store"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    // Nothing listens on port 1.
    match PgStore::open("postgres://postgres@127.0.0.1:1/test", 1).await {
        Err(StoreError::Unavailable(_)) => {}
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("opened a store on a closed port"),
    }
}

#[tokio::test]
async fn a_broken_listening_connection_reconnects_and_says_events_were_missed() {
    let schema = TestSchema::create().await;
    let (a, b) = (schema.open().await, schema.open().await);
    let mut heard = b.subscribe();
    // End the listening connections of this schema's stores, as a database restart would.
    let admin = a.client().await.unwrap();
    let ended: i64 = admin
        .query_one(
            "SELECT count(*) FROM (
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = $1 AND query = $2) AS t",
            &[
                &crate::listener::LISTENER_NAME,
                &format!("LISTEN \"{}\"", b.channel),
            ],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ended, 2, "both stores listen");

    let missed = tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .expect("the listener reconnects")
        .unwrap();
    assert_eq!(missed, StoreEvent::Missed);
    let op = new_op(0);
    a.submit(&op, at(0)).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .expect("events flow again")
        .unwrap();
    assert_eq!(event, StoreEvent::Submitted);
}

#[tokio::test]
async fn a_nonce_is_spent_once_across_nodes_until_it_expires() {
    let schema = TestSchema::create().await;
    let (a, b) = (schema.open().await, schema.open().await);
    assert!(
        a.spend_nonce(&NonceSpend::new("key", "n1", at(1_000)), at(0))
            .await
            .unwrap()
    );
    assert!(
        !b.spend_nonce(&NonceSpend::new("key", "n1", at(1_010)), at(10))
            .await
            .unwrap(),
        "seen by the other node"
    );
    assert!(
        b.spend_nonce(&NonceSpend::new("other-key", "n1", at(1_010)), at(10))
            .await
            .unwrap(),
        "nonces are per key"
    );
    // Once expired, a spend forgets it, and the nonce is good again.
    assert!(
        b.spend_nonce(&NonceSpend::new("key", "n2", at(3_000)), at(2_000))
            .await
            .unwrap()
    );
    assert!(
        a.spend_nonce(&NonceSpend::new("key", "n1", at(3_001)), at(2_001))
            .await
            .unwrap()
    );
}

/// A nonce PostgreSQL cannot store fails alone, not the other spends of its group.
#[tokio::test]
async fn a_nonce_the_database_refuses_fails_alone_among_concurrent_spends() {
    let schema = TestSchema::create().await;
    let store = schema.open().await;
    let mut nonces: Vec<String> = (0..30).map(|n| format!("n{n}")).collect();
    nonces[11] = "a NUL \0 byte".to_owned();
    let spends: Vec<NonceSpend> = nonces
        .iter()
        .map(|n| NonceSpend::new("key", n, at(1_000)))
        .collect();
    let spent = join_all(spends.iter().map(|spend| store.spend_nonce(spend, at(0)))).await;
    for (n, spent) in spent.into_iter().enumerate() {
        match n {
            11 => assert!(spent.is_err(), "{spent:?}"),
            _ => assert!(spent.unwrap(), "nonce {n} is new"),
        }
    }
}

#[tokio::test]
async fn only_nonce_spends_commit_without_waiting_for_the_disk() {
    let schema = TestSchema::create().await;
    let store = schema.open().await;
    let setting = |pool: &deadpool_postgres::Pool| {
        let pool = pool.clone();
        async move {
            let client = crate::get(&pool).await.unwrap();
            let row = client.query_one("SHOW synchronous_commit", &[]).await;
            row.unwrap().get::<_, String>(0)
        }
    };
    assert_eq!(setting(&store.pool).await, "on", "operations are durable");
    assert_eq!(setting(&store.unsynced).await, "off");
    // The schema of the test's connection options is kept alongside.
    assert!(
        store
            .spend_nonce(&NonceSpend::new("k", "n", at(1)), at(0))
            .await
            .unwrap()
    );
    assert!(
        !store
            .spend_nonce(&NonceSpend::new("k", "n", at(1)), at(0))
            .await
            .unwrap()
    );
}

/// Two nodes deliver one outbox: each due delivery is claimed by one node only, and the
/// delivery behind a claimed one waits for it whichever node asks.
#[tokio::test]
async fn two_nodes_share_the_outbox_in_order() {
    use bpops_store::{
        Attempted, DeliveryQuery, EventFilter, Notification, Notifications, Settlement,
    };
    let schema = TestSchema::create().await;
    let (first, second) = (schema.open().await, schema.open().await);
    let all = || {
        Notifications::new(vec![Notification {
            name: "all".into(),
            filter: EventFilter::default(),
        }])
    };
    first.set_notifications(all());
    second.set_notifications(all());
    let lease = Duration::from_secs(10);
    for _ in 0..10 {
        first.submit(&new_op(0), at(0)).await.unwrap();
    }
    // Each operation is claimed too: a second delivery behind each first one.
    let claimed = second
        .claim("node-b", at(0), lease, Budget::uniform(100))
        .await
        .unwrap();
    assert_eq!(claimed.operations.len(), 10);

    let (a, b) = tokio::join!(
        first.claim_deliveries(at(1), lease, 100),
        second.claim_deliveries(at(1), lease, 100)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut ids: Vec<u64> = a.iter().chain(&b).map(|d| d.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), a.len() + b.len(), "no delivery claimed twice");
    assert!(
        a.iter().chain(&b).all(|d| d.event == "submitted"),
        "a claimed event waits behind its submitted one"
    );
    let rest = second.claim_deliveries(at(2), lease, 100).await.unwrap();
    assert_eq!(ids.len() + rest.len(), 10, "every head is claimed once");
    for d in a.iter().chain(&b).chain(&rest) {
        let settled = Attempted {
            id: d.id,
            record: None,
            attempt: d.attempts,
            settlement: Settlement::Delivered,
            now: at(3),
        };
        assert!(first.settle_delivery(&settled).await.unwrap());
    }
    let next = second.claim_deliveries(at(3), lease, 100).await.unwrap();
    assert_eq!(next.len(), 10);
    assert!(next.iter().all(|d| d.event == "claimed"));
    let listed = first
        .deliveries(&DeliveryQuery {
            limit: 100,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.deliveries.len(), 20);
}
