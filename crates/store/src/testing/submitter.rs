//! The submitter of an operation (who, from where, in which trace) is kept in its row,
//! written by the submit that stores it, whichever way it is stored, and read back with it.

use futures_util::future::join_all;

use crate::{AccountId, Decide, NewOperation, Operation, Requester, Status, Store, Submitted};

use super::applications::new_application;
use super::steps::new_step;
use super::{T0, account, claim, finish, list_query, ms, new_op, requester, submit};

/// `n`'s requester: a root key (no user) in a trace of its own.
fn root_requester(n: u8) -> Requester {
    Requester {
        user: None,
        access_key_id: format!("LTAIroot{n}"),
        source_ip: "10.0.0.7".into(),
        request_id: format!("REQ-{n}"),
        trace: format!("00-{n:032x}-{n:016x}-00").parse().ok(),
    }
}

/// What `get`, `list` and `claim` read of `op`'s submitter.
async fn read_back(store: &dyn Store, account: &AccountId, op: &NewOperation) -> Operation {
    let got = store.get(account, &op.id).await.unwrap().unwrap();
    assert_eq!(got.submitted_by, op.submitted_by, "get of {}", op.id);
    let listed = store.list(&list_query(account, 1000)).await.unwrap();
    let item = listed.operations.iter().find(|o| o.id == op.id).unwrap();
    assert_eq!(item.submitted_by, op.submitted_by, "list of {}", op.id);
    got
}

/// Queued, decided at submission, a lifecycle step, and submitted without a requester: each
/// reads back with the submitter it was stored with, as does the claim of a queued one.
pub async fn the_submitter_is_kept_by_every_submit(store: &dyn Store) {
    let acct = account(1);
    let queued = NewOperation {
        submitted_by: Some(requester()),
        ..new_op(&acct, Some("i-1"), T0)
    };
    submit(store, &queued).await;
    read_back(store, &acct, &queued).await;
    let claimed = claim(store, T0 + ms(1), ms(1000), 10).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].submitted_by, queued.submitted_by);
    assert_eq!(claimed[0].trace(), requester().trace.as_ref());

    let decided = NewOperation {
        submitted_by: Some(root_requester(2)),
        ..new_op(&acct, Some("i-2"), T0 + ms(2))
    };
    let decide: Decide = Box::new(|_| finish(Status::Success, T0 + ms(2)));
    let answer = store.submit_decided(&decided, T0, decide).await.unwrap();
    assert!(matches!(answer, Submitted::Decided(_)), "{answer:?}");
    let got = read_back(store, &acct, &decided).await;
    assert_eq!(got.trace(), root_requester(2).trace.as_ref());

    store
        .create_application(&new_application(&acct, "APP1", "web", 0))
        .await
        .unwrap();
    let mut step = new_step(&acct, 3);
    step.operation.submitted_by = Some(root_requester(3));
    store.start_step(&step, T0).await.unwrap();
    read_back(store, &acct, &step.operation).await;

    let anonymous = new_op(&acct, None, T0 + ms(4));
    submit(store, &anonymous).await;
    let got = read_back(store, &acct, &anonymous).await;
    assert_eq!(got.trace(), None);
}

/// Submits stored together (a backend may group concurrent ones in one transaction) each
/// keep their own submitter.
pub async fn concurrent_submits_keep_their_own_submitters(store: &dyn Store) {
    let acct = account(1);
    let ops: Vec<NewOperation> = (1..=40u8)
        .map(|n| NewOperation {
            submitted_by: (n % 4 != 0).then(|| root_requester(n)),
            ..new_op(&acct, None, T0 + ms(u64::from(n)))
        })
        .collect();
    let answers = join_all(ops.iter().map(|op| store.submit(op, T0))).await;
    for answer in answers {
        assert_eq!(answer.unwrap(), Submitted::Created);
    }
    for op in &ops {
        read_back(store, &acct, op).await;
    }
}
