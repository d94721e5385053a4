//! Operation histories: an event for each transition, written with it (a transition that
//! changes nothing writes nothing), in order, paged, bounded, and swept with the operation.

use bpops_time::Timestamp;

use crate::{
    AccountId, Budget, Decide, Event, HistoryEvent, HistoryQuery, Lease, MAX_EVENTS, NewOperation,
    OperationId, Status, Store, Submitted,
};

use super::applications::new_application;
use super::steps::new_step;
use super::{NODE, T0, account, claim, finish, ms, new_op, requester, submit};

/// The whole history of `id` in `account`, one page.
async fn history(store: &dyn Store, account: &AccountId, id: &OperationId) -> Vec<HistoryEvent> {
    let query = HistoryQuery {
        account: account.clone(),
        id: id.clone(),
        after: 0,
        limit: 1000,
    };
    let page = store.history(&query).await.unwrap();
    assert_eq!(page.next, None);
    page.events
}

/// The events alone, in order.
async fn events(store: &dyn Store, account: &AccountId, id: &OperationId) -> Vec<Event> {
    history(store, account, id)
        .await
        .into_iter()
        .map(|e| e.event)
        .collect()
}

fn claimed(attempt: u32) -> Event {
    Event::Claimed {
        node: NODE.into(),
        attempt,
    }
}

fn finished(status: Status, message: &str) -> Event {
    Event::Finished {
        status,
        message: message.into(),
    }
}

/// An operation submitted through the API, with a client token.
fn submitted_op(account: &AccountId) -> NewOperation {
    NewOperation {
        client_token: Some("tok-1".into()),
        submitted_by: Some(requester()),
        ..new_op(account, Some("i-1"), T0)
    }
}

/// Submit, claim, a retry scheduled, a claim after it, a release, a claim elsewhere, a
/// cancel request and the finish: each writes its event, at its time, numbered from 1.
pub async fn history_records_each_transition_in_order(store: &dyn Store) {
    let acct = account(1);
    let op = submitted_op(&acct);
    submit(store, &op).await;
    claim(store, T0 + ms(1), ms(1000), 10).await;
    assert_eq!(
        store
            .schedule_retry(&op.id, 1, T0 + ms(2), T0 + ms(50), "exit status 3")
            .await
            .unwrap(),
        Lease::Held
    );
    assert!(claim(store, T0 + ms(49), ms(1000), 10).await.is_empty());
    assert_eq!(claim(store, T0 + ms(50), ms(1000), 10).await.len(), 1);
    assert!(store.release(&op.id, 2, T0 + ms(60)).await.unwrap());
    let third = store
        .claim("node-b", T0 + ms(61), ms(1000), Budget::uniform(10))
        .await
        .unwrap();
    assert_eq!(third.operations[0].attempt, 3);
    store
        .cancel(&acct, &op.id, &requester(), "unused", T0 + ms(70))
        .await
        .unwrap();
    assert!(
        store
            .finish(&op.id, 3, &finish(Status::Failure, T0 + ms(80)))
            .await
            .unwrap()
    );

    let written = history(store, &acct, &op.id).await;
    let expected = [
        (
            T0,
            Event::Submitted {
                by: Some(requester()),
                client_token: Some("tok-1".into()),
            },
        ),
        (T0 + ms(1), claimed(1)),
        (
            T0 + ms(2),
            Event::RetryScheduled {
                attempt: 1,
                reason: "exit status 3".into(),
                retry_at: T0 + ms(50),
            },
        ),
        (T0 + ms(50), claimed(2)),
        (T0 + ms(60), Event::Released { attempt: 2 }),
        (
            T0 + ms(61),
            Event::Claimed {
                node: "node-b".into(),
                attempt: 3,
            },
        ),
        (T0 + ms(70), Event::CancelRequested { by: requester() }),
        (T0 + ms(80), finished(Status::Failure, "done")),
    ];
    let expected: Vec<HistoryEvent> = (1..)
        .zip(expected)
        .map(|(seq, (at, event))| HistoryEvent { seq, at, event })
        .collect();
    assert_eq!(written, expected);
}

/// Pages follow each other oldest first, without repeating or skipping an event.
pub async fn history_pages_oldest_first(store: &dyn Store) {
    let acct = account(1);
    let op = new_op(&acct, None, T0);
    submit(store, &op).await;
    for attempt in 1..=4u64 {
        let at = T0 + ms(attempt * 1000);
        assert_eq!(claim(store, at, ms(1000), 10).await.len(), 1);
    }
    let mut query = HistoryQuery {
        account: acct.clone(),
        id: op.id.clone(),
        after: 0,
        limit: 2,
    };
    let mut seqs = Vec::new();
    loop {
        let page = store.history(&query).await.unwrap();
        assert!(page.events.len() <= 2);
        seqs.extend(page.events.iter().map(|e| e.seq));
        match page.next {
            Some(next) => query.after = next,
            None => break,
        }
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
}

/// An operation decided at submission is submitted and finished in its one transaction.
pub async fn a_decided_submit_is_submitted_and_finished_at_once(store: &dyn Store) {
    let acct = account(1);
    let op = submitted_op(&acct);
    let decide: Decide = Box::new(|_| finish(Status::Success, T0 + ms(1)));
    let submitted = store
        .submit_decided(&op, Timestamp::EPOCH, decide)
        .await
        .unwrap();
    assert!(matches!(submitted, Submitted::Decided(_)), "{submitted:?}");
    let written = history(store, &acct, &op.id).await;
    assert_eq!(written.len(), 2, "{written:?}");
    assert_eq!(
        (written[1].seq, written[1].at, &written[1].event),
        (2, T0 + ms(1), &finished(Status::Success, "done"))
    );

    let again = NewOperation {
        id: OperationId::random(),
        ..op.clone()
    };
    submit_existing(store, &again).await;
    assert!(history(store, &acct, &again.id).await.is_empty());
    assert_eq!(history(store, &acct, &op.id).await.len(), 2);
}

async fn submit_existing(store: &dyn Store, op: &NewOperation) {
    let submitted = store.submit(op, Timestamp::EPOCH).await.unwrap();
    assert!(
        matches!(submitted, Submitted::Existing { .. }),
        "{submitted:?}"
    );
}

/// A finish, a release or a retry of an attempt that is no longer current writes nothing,
/// to the operation or to its history.
pub async fn a_fenced_out_finish_or_release_writes_no_event(store: &dyn Store) {
    let acct = account(1);
    let op = new_op(&acct, None, T0);
    submit(store, &op).await;
    claim(store, T0, ms(10), 10).await;
    claim(store, T0 + ms(11), ms(989), 10).await;
    let before = history(store, &acct, &op.id).await;
    assert_eq!(before.len(), 3, "submitted and two claims: {before:?}");

    let stale = finish(Status::Success, T0 + ms(12));
    assert!(!store.finish(&op.id, 1, &stale).await.unwrap());
    assert!(!store.release(&op.id, 1, T0 + ms(12)).await.unwrap());
    let retry = store.schedule_retry(&op.id, 1, T0 + ms(12), T0 + ms(99), "late");
    assert_eq!(retry.await.unwrap(), Lease::Lost);
    assert_eq!(history(store, &acct, &op.id).await, before);

    assert!(
        store
            .finish(&op.id, 2, &finish(Status::Success, T0 + ms(13)))
            .await
            .unwrap()
    );
    assert!(!store.finish(&op.id, 2, &stale).await.unwrap(), "final");
    let after = events(store, &acct, &op.id).await;
    assert_eq!(after.len(), 4);
    assert_eq!(after[3], finished(Status::Success, "done"));
}

/// Cancelling records who asked: once for a running operation however often they ask, and
/// with the end for a waiting one; a final one records nothing.
pub async fn cancel_records_who_asked_once(store: &dyn Store) {
    let acct = account(1);
    let waiting = new_op(&acct, Some("i-1"), T0);
    let running = new_op(&acct, None, T0);
    submit(store, &running).await;
    claim(store, T0, ms(1000), 10).await;
    submit(store, &waiting).await;
    let bob = crate::Requester {
        user: None,
        access_key_id: "LTAIroot".into(),
        ..requester()
    };
    for who in [&bob, &requester()] {
        store
            .cancel(&acct, &running.id, who, "unused", T0 + ms(5))
            .await
            .unwrap();
    }
    assert_eq!(
        events(store, &acct, &running.id).await[2..],
        [Event::CancelRequested { by: bob.clone() }]
    );

    store
        .cancel(
            &acct,
            &waiting.id,
            &bob,
            "OperationCancelled: x",
            T0 + ms(6),
        )
        .await
        .unwrap();
    let ended = [
        Event::CancelRequested { by: bob.clone() },
        finished(Status::Failure, "OperationCancelled: x"),
    ];
    assert_eq!(events(store, &acct, &waiting.id).await[1..], ended);
    store
        .cancel(&acct, &waiting.id, &bob, "again", T0 + ms(7))
        .await
        .unwrap();
    assert_eq!(events(store, &acct, &waiting.id).await.len(), 3, "final");
}

/// A lifecycle step's operation starts its history as any submit does.
pub async fn a_step_records_its_submission(store: &dyn Store) {
    let acct = account(1);
    store
        .create_application(&new_application(&acct, "APP1", "web", 0))
        .await
        .unwrap();
    let mut step = new_step(&acct, 1);
    step.operation.submitted_by = Some(requester());
    store.start_step(&step, T0).await.unwrap();
    assert_eq!(
        events(store, &acct, &step.operation.id).await,
        [Event::Submitted {
            by: Some(requester()),
            client_token: None,
        }]
    );
}

/// However often an operation is claimed (a node killed mid-attempt again and again), its
/// history keeps at most `MAX_EVENTS` events before its end, and its end always.
pub async fn history_is_bounded_however_often_an_operation_is_claimed(store: &dyn Store) {
    let acct = account(1);
    let op = new_op(&acct, None, T0);
    submit(store, &op).await;
    let claims = u64::from(MAX_EVENTS) + 5;
    for n in 0..claims {
        assert_eq!(claim(store, T0 + ms(n * 10), ms(10), 10).await.len(), 1);
    }
    let attempt = u32::try_from(claims).unwrap();
    assert!(
        store
            .finish(&op.id, attempt, &finish(Status::Success, T0 + ms(5000)))
            .await
            .unwrap()
    );
    let written = history(store, &acct, &op.id).await;
    assert_eq!(written.len(), MAX_EVENTS as usize + 1);
    assert_eq!(written[written.len() - 2].event, claimed(MAX_EVENTS - 1));
    assert_eq!(
        written.last().unwrap().event,
        finished(Status::Success, "done")
    );
}

/// The sweep deletes an expired operation's history with it, and leaves the others'.
pub async fn sweep_deletes_histories_with_their_operations(store: &dyn Store) {
    let acct = account(1);
    let (old, kept) = (new_op(&acct, None, T0), new_op(&acct, None, T0));
    submit(store, &old).await;
    submit(store, &kept).await;
    claim(store, T0, ms(1000), 10).await;
    for (op, at) in [(&old, T0 + ms(1)), (&kept, T0 + ms(20))] {
        assert!(
            store
                .finish(&op.id, 1, &finish(Status::Success, at))
                .await
                .unwrap()
        );
    }
    assert_eq!(store.sweep(T0 + ms(10), 100).await.unwrap(), 1);
    assert!(history(store, &acct, &old.id).await.is_empty());
    assert_eq!(history(store, &acct, &kept.id).await.len(), 3);
}

/// Another account's operation has no history to show.
pub async fn another_accounts_operation_has_no_history(store: &dyn Store) {
    let op = submitted_op(&account(1));
    submit(store, &op).await;
    assert!(history(store, &account(2), &op.id).await.is_empty());
    assert!(
        history(store, &account(1), &OperationId::random())
            .await
            .is_empty()
    );
    assert_eq!(history(store, &account(1), &op.id).await.len(), 1);
}
