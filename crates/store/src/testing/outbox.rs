//! The notification outbox: deliveries written with the events they announce (and not
//! otherwise), claimed in order per notification and operation under a lease, settled once
//! per attempt, read back with their attempts, and swept once settled.

use std::time::Duration;

use bpops_time::Timestamp;

use crate::{
    AccountId, ApplicationCreated, AttemptRecord, Attempted, Delivery, DeliveryQuery,
    DeliveryState, EventFilter, GroupChange, GroupChanged, NewOperation, Notification,
    Notifications, Reconfiguration, Reconfigured, Settlement, Status, Store,
};

use super::applications::new_application;
use super::{T0, account, claim, finish, ms, new_op, props, requester, submit};

/// The lease the cases claim deliveries with.
const LEASE: Duration = Duration::from_secs(10);

/// `all` wants every event, `finished` only the final ones.
fn notifications() -> Notifications {
    Notifications::new(vec![
        Notification {
            name: "all".into(),
            filter: EventFilter::default(),
        },
        Notification {
            name: "finished".into(),
            filter: EventFilter {
                events: vec!["finished".into()],
                ..EventFilter::default()
            },
        },
    ])
}

fn submitted_op(account: &AccountId) -> NewOperation {
    NewOperation {
        submitted_by: Some(requester()),
        ..new_op(account, None, T0)
    }
}

/// Every delivery matching `query`, followed through its pages.
async fn all(store: &dyn Store, query: DeliveryQuery) -> Vec<Delivery> {
    let mut query = DeliveryQuery { limit: 2, ..query };
    let mut found = Vec::new();
    loop {
        let page = store.deliveries(&query).await.unwrap();
        assert!(page.deliveries.len() <= query.limit);
        found.extend(page.deliveries);
        match page.next {
            Some(after) => query.after = after,
            None => return found,
        }
    }
}

fn kinds(deliveries: &[Delivery], notification: &str) -> Vec<String> {
    deliveries
        .iter()
        .filter(|d| d.notification == notification)
        .map(|d| d.event.clone())
        .collect()
}

fn attempted(d: &Delivery, settlement: Settlement, now: Timestamp) -> Attempted {
    Attempted {
        id: d.id,
        record: Some(AttemptRecord {
            attempt: d.attempts,
            at: now.as_millis(),
            millis: 3,
            http_status: Some(500),
            error: None,
        }),
        attempt: d.attempts,
        settlement,
        now,
    }
}

/// One operation's whole life, with its deliveries written in its transactions.
pub async fn deliveries_are_written_with_the_events_they_announce(store: &dyn Store) {
    store.set_notifications(notifications());
    let a = account(1);
    let op = submitted_op(&a);
    submit(store, &op).await;
    let running = claim(store, T0 + ms(1), LEASE, 10).await;
    assert!(
        store
            .finish(
                &op.id,
                running[0].attempt,
                &finish(Status::Failure, T0 + ms(2))
            )
            .await
            .unwrap()
    );
    let written = all(store, DeliveryQuery::default()).await;
    assert_eq!(kinds(&written, "all"), ["submitted", "claimed", "finished"]);
    assert_eq!(kinds(&written, "finished"), ["finished"]);
    let last = written.last().unwrap();
    assert_eq!(
        (last.state, last.attempts, last.created_at),
        (DeliveryState::Pending, 0, T0 + ms(2))
    );
    assert_eq!(last.operation_id, Some(op.id.to_string()));
    assert_eq!(last.account, a);
    let payload: serde_json::Value = serde_json::from_str(&last.payload).unwrap();
    assert_eq!(payload["status"], "FAILURE");
    assert_eq!(payload["service"], "ecs");
    assert_eq!(payload["event"]["kind"], "finished");
    let trace = requester().trace.unwrap();
    assert!(
        last.traceparent
            .as_deref()
            .is_some_and(|t| t.contains(&trace.trace_id())),
        "a delivery is in the submitter's trace: {:?}",
        last.traceparent
    );
    assert_eq!(store.delivery_backlog().await.unwrap(), 4);
}

/// Without notifications nothing is written, and a fenced-out write adds no delivery.
pub async fn only_changes_that_commit_write_deliveries(store: &dyn Store) {
    let a = account(1);
    let quiet = new_op(&a, None, T0);
    submit(store, &quiet).await;
    assert!(all(store, DeliveryQuery::default()).await.is_empty());

    store.set_notifications(notifications());
    let op = new_op(&a, Some("i-2"), T0);
    submit(store, &op).await;
    let claimed = claim(store, T0 + ms(1), LEASE, 10).await;
    let attempt = claimed.iter().find(|c| c.id == op.id).unwrap().attempt;
    let before = all(store, DeliveryQuery::default()).await.len();
    let stale = finish(Status::Success, T0 + ms(2));
    assert!(!store.finish(&op.id, attempt + 1, &stale).await.unwrap());
    assert!(
        !store
            .release(&op.id, attempt + 1, T0 + ms(2))
            .await
            .unwrap()
    );
    assert_eq!(all(store, DeliveryQuery::default()).await.len(), before);
}

/// Each notification's deliveries about one operation go out one at a time, in order; those
/// about other operations do not wait.
pub async fn deliveries_go_out_in_order_per_operation(store: &dyn Store) {
    store.set_notifications(notifications());
    let a = account(1);
    let (first, second) = (new_op(&a, None, T0), new_op(&a, None, T0));
    submit(store, &first).await;
    submit(store, &second).await;
    for op in claim(store, T0 + ms(1), LEASE, 10).await {
        store
            .finish(&op.id, op.attempt, &finish(Status::Success, T0 + ms(2)))
            .await
            .unwrap();
    }
    let now = T0 + ms(3);
    let due = store.claim_deliveries(now, LEASE, 100).await.unwrap();
    let heads: Vec<_> = due
        .iter()
        .map(|d| (d.notification.as_str(), d.event.as_str()))
        .collect();
    assert_eq!(
        heads,
        [
            ("all", "submitted"),
            ("all", "submitted"),
            ("finished", "finished"),
            ("finished", "finished")
        ],
        "only the oldest pending delivery of each pair is due"
    );
    // The first operation's head fails and waits for its retry: the rest of its deliveries
    // wait behind it, the other operation's go on.
    let retry_at = now + ms(1_000);
    for d in &due {
        let settlement = if d.operation_id == Some(first.id.to_string()) && d.notification == "all"
        {
            Settlement::RetryAt(retry_at)
        } else {
            Settlement::Delivered
        };
        assert!(
            store
                .settle_delivery(&attempted(d, settlement, now))
                .await
                .unwrap()
        );
    }
    let next = store.claim_deliveries(now, LEASE, 100).await.unwrap();
    let next: Vec<_> = next
        .iter()
        .map(|d| (d.operation_id.clone(), d.event.as_str()))
        .collect();
    assert_eq!(next, [(Some(second.id.to_string()), "claimed")]);
    let retried = store.claim_deliveries(retry_at, LEASE, 100).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(
        (retried[0].event.as_str(), retried[0].attempts),
        ("submitted", 2)
    );
    assert_eq!(retried[0].operation_id, Some(first.id.to_string()));
}

/// A claimed delivery is nobody else's until its lease ends; then a new attempt takes it
/// and the old one can no longer settle it.
pub async fn a_claim_is_leased_and_settling_is_fenced(store: &dyn Store) {
    store.set_notifications(Notifications::new(vec![Notification {
        name: "all".into(),
        filter: EventFilter::default(),
    }]));
    submit(store, &new_op(&account(1), None, T0)).await;
    let first = store.claim_deliveries(T0, LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 1);
    assert!(
        store
            .claim_deliveries(T0 + LEASE - ms(1), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_deliveries(T0 + LEASE, LEASE, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    let late = attempted(&first[0], Settlement::Delivered, T0 + LEASE);
    assert!(!store.settle_delivery(&late).await.unwrap());
    let current = attempted(&again[0], Settlement::Delivered, T0 + LEASE);
    assert!(store.settle_delivery(&current).await.unwrap());
    assert!(
        !store.settle_delivery(&current).await.unwrap(),
        "a settled delivery stays settled"
    );
    assert_eq!(store.delivery_backlog().await.unwrap(), 0);
}

/// Concurrent claims take each due delivery once.
pub async fn concurrent_claims_take_each_delivery_once(store: &dyn Store) {
    store.set_notifications(notifications());
    let a = account(1);
    for _ in 0..20 {
        submit(store, &new_op(&a, None, T0)).await;
    }
    let mut ids: Vec<u64> = Vec::new();
    // N.B. a claim may come back short when a row it chose was taken meanwhile: claiming
    // goes on until nothing is due.
    loop {
        let claims = futures_util::future::join_all(
            (0..4).map(|_| store.claim_deliveries(T0 + ms(1), LEASE, 3)),
        )
        .await;
        let before = ids.len();
        ids.extend(claims.into_iter().flat_map(|c| c.unwrap()).map(|d| d.id));
        if ids.len() == before {
            break;
        }
    }
    let claimed = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), claimed, "no delivery was claimed twice");
    assert_eq!(claimed, 20, "every submitted event's delivery, once");
}

/// Attempts are kept with their delivery, final states are shown, the filters narrow a
/// listing, and settled deliveries are swept after the retention while pending ones stay.
pub async fn settled_deliveries_show_their_attempts_and_are_swept(store: &dyn Store) {
    store.set_notifications(notifications());
    let (a, b) = (account(1), account(2));
    let ours = new_op(&a, None, T0);
    let theirs = new_op(&b, None, T0);
    submit(store, &ours).await;
    submit(store, &theirs).await;
    let due = store.claim_deliveries(T0, LEASE, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    let (mine, other) = if due[0].account == a {
        (&due[0], &due[1])
    } else {
        (&due[1], &due[0])
    };
    store
        .settle_delivery(&attempted(mine, Settlement::RetryAt(T0), T0))
        .await
        .unwrap();
    let mine = store.claim_deliveries(T0, LEASE, 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    store
        .settle_delivery(&attempted(&mine[0], Settlement::Expired, T0 + ms(5)))
        .await
        .unwrap();

    let expired = all(
        store,
        DeliveryQuery {
            account: Some(a.clone()),
            state: Some(DeliveryState::Expired),
            ..DeliveryQuery::default()
        },
    )
    .await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].done_at, Some(T0 + ms(5)));
    let attempts: Vec<u32> = expired[0].log.iter().map(|r| r.attempt).collect();
    assert_eq!(attempts, [1, 2]);
    let by_operation = all(
        store,
        DeliveryQuery {
            operation_id: Some(theirs.id.to_string()),
            notification: Some("all".into()),
            ..DeliveryQuery::default()
        },
    )
    .await;
    assert_eq!(by_operation.len(), 1);
    assert_eq!(by_operation[0].id, other.id);
    assert!(
        all(
            store,
            DeliveryQuery {
                application: Some("elsewhere".into()),
                ..DeliveryQuery::default()
            }
        )
        .await
        .is_empty()
    );

    store.sweep(T0 + ms(6), 100).await.unwrap();
    let left = all(store, DeliveryQuery::default()).await;
    assert_eq!(
        left.len(),
        1,
        "the expired delivery is swept, the pending one kept"
    );
    assert_eq!(left[0].state, DeliveryState::Pending);
}

/// An application's changes that are not operations write deliveries in their transactions,
/// in order, to the notifications that want them (not to those filtering operations); a
/// refused change writes none.
pub async fn application_changes_write_deliveries_in_order(store: &dyn Store) {
    store.set_notifications(Notifications::new(vec![
        Notification {
            name: "apps".into(),
            filter: EventFilter {
                applications: vec!["APP1".into()],
                ..EventFilter::default()
            },
        },
        Notification {
            name: "failures".into(),
            filter: EventFilter {
                statuses: vec![Status::Failure],
                ..EventFilter::default()
            },
        },
    ]));
    let a = account(1);
    let created = store
        .create_application(&new_application(&a, "APP1", "web", 0))
        .await
        .unwrap();
    assert_eq!(created, ApplicationCreated::Created);
    store
        .create_application(&new_application(&a, "APP2", "other", 0))
        .await
        .unwrap();
    let moved = GroupChange {
        account: a.clone(),
        id: "APP1".into(),
        from: None,
        to: "rg-1".into(),
        at: T0 + ms(1),
    };
    assert_eq!(
        store.change_resource_group(&moved).await.unwrap(),
        GroupChanged::Moved
    );
    let stale = GroupChange {
        from: None,
        ..moved.clone()
    };
    assert_eq!(
        store.change_resource_group(&stale).await.unwrap(),
        GroupChanged::Elsewhere
    );
    let reconfigured = Reconfiguration {
        account: a.clone(),
        id: "APP1".into(),
        variables: props(serde_json::json!({"password": "s3cret", "count": 3})),
        updated_at: T0 + ms(2),
    };
    assert_eq!(
        store.reconfigure_application(&reconfigured).await.unwrap(),
        Reconfigured::Reconfigured
    );
    store
        .delete_application(&a, "APP1", T0 + ms(3))
        .await
        .unwrap();

    let written = all(store, DeliveryQuery::default()).await;
    assert_eq!(
        kinds(&written, "apps"),
        [
            "application_created",
            "resource_group_changed",
            "application_reconfigured",
            "application_deleted"
        ]
    );
    assert!(kinds(&written, "failures").is_empty());
    assert!(written.iter().all(|d| d.operation_id.is_none()
        && d.application.as_deref() == Some("APP1")
        && d.account == a));
    let payloads: Vec<serde_json::Value> = written
        .iter()
        .map(|d| serde_json::from_str(&d.payload).unwrap())
        .collect();
    assert_eq!(payloads[1]["event"]["to"], "rg-1");
    assert_eq!(
        payloads[2]["event"]["variables"],
        serde_json::json!(["count", "password"])
    );
    assert!(
        !written[2].payload.contains("s3cret"),
        "a variable's value is never sent"
    );
    assert_eq!(written[3].created_at, T0 + ms(3));
    // One at a time, oldest first, as an operation's are.
    let due = store.claim_deliveries(T0 + ms(4), LEASE, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].event, "application_created");
    let listed = all(
        store,
        DeliveryQuery {
            application: Some("APP1".into()),
            ..DeliveryQuery::default()
        },
    )
    .await;
    assert_eq!(listed.len(), 4);
}
