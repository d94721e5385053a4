//! Listing: order, pages, cursors and filters.

use std::collections::HashSet;

use bpops_time::Timestamp;

use crate::{Budget, ListQuery, OperationId, Status, Store};

use super::{NODE, T0, account, all_pages, claim, finish, list_query, ms, new_op, submit};

/// A listing is newest first (submission time, then submission order for equal times), in
/// pages of at most `limit`, each item exactly once; the last page has no cursor.
pub async fn list_pages_newest_first_without_skipping_or_repeating(store: &dyn Store) {
    let acct = account(1);
    let mut ids = Vec::new();
    for i in 0..7 {
        // Pairs share a creation time: the order within them is the submission order.
        let op = new_op(&acct, None, T0 + ms(i / 2));
        submit(store, &op).await;
        ids.push(op.id);
    }
    ids.reverse();
    let pages = all_pages(store, list_query(&acct, 3)).await;
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(pages.concat(), ids);

    let exact = all_pages(store, list_query(&acct, 7)).await;
    assert_eq!(exact, vec![ids.clone()], "no empty trailing page");
    assert_eq!(
        all_pages(store, list_query(&account(3), 5)).await,
        vec![vec![]]
    );
}

/// Operations submitted while a client pages through a listing never make it skip or repeat
/// an item: the cursor is a position in a fixed order, not an offset.
pub async fn list_pages_stay_stable_under_concurrent_submits(store: &dyn Store) {
    let acct = account(1);
    let mut before = Vec::new();
    for i in 0..10 {
        let op = new_op(&acct, None, T0 + ms(i));
        submit(store, &op).await;
        before.push(op.id);
    }
    before.reverse();
    let mut q = list_query(&acct, 3);
    let mut seen = Vec::new();
    let mut late = 0;
    loop {
        // Submits racing with the read of each page: newer ones, and one at an equal time.
        let newer = new_op(&acct, None, T0 + ms(100 + late));
        let same_time = new_op(&acct, None, T0 + ms(5));
        let (page, a, b) = tokio::join!(
            store.list(&q),
            store.submit(&newer, Timestamp::EPOCH),
            store.submit(&same_time, Timestamp::EPOCH)
        );
        a.unwrap();
        b.unwrap();
        late += 1;
        let page = page.unwrap();
        seen.extend(page.operations.into_iter().map(|o| o.id));
        match page.next {
            Some(next) => q.after = Some(next),
            None => break,
        }
    }
    let unique: HashSet<&OperationId> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "an item was repeated: {seen:?}");
    let kept: Vec<OperationId> = seen.into_iter().filter(|id| before.contains(id)).collect();
    assert_eq!(kept, before, "an item was skipped or reordered");
}

/// Each filter narrows the listing to what it names.
pub async fn list_filters_narrow_the_result(store: &dyn Store) {
    let acct = account(1);
    let op = |n: u64, service: &str, operation: &str, application: Option<&str>| {
        let mut op = new_op(&acct, None, T0 + ms(n));
        op.service = service.into();
        op.operation = operation.into();
        op.application = application.map(str::to_owned);
        op
    };
    let a = op(0, "ecs", "addTags", Some("APP-A"));
    let b = op(1, "ecs", "rename", Some("APP-B"));
    let c = op(2, "slb", "modifyListenerAttribute", None);
    let d = op(3, "ecs", "addTags", Some("APP-B"));
    for op in [&a, &b, &c, &d] {
        submit(store, op).await;
    }
    // `a` runs and finishes, `b` runs, `c` and `d` wait.
    let claimed = claim(store, T0, ms(1000), 2).await;
    assert_eq!(claimed.len(), 2);
    assert!(
        store
            .finish(&a.id, 1, &finish(Status::Success, T0 + ms(10)))
            .await
            .unwrap()
    );
    let ids = |q: ListQuery| async move {
        let page = store.list(&q).await.unwrap();
        page.operations
            .into_iter()
            .map(|o| o.id)
            .collect::<Vec<_>>()
    };
    let base = list_query(&acct, 10);
    assert_eq!(
        ids(ListQuery {
            status: Some(Status::Init),
            ..base.clone()
        })
        .await,
        vec![d.id.clone(), c.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            status: Some(Status::Running),
            ..base.clone()
        })
        .await,
        vec![b.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            status: Some(Status::Success),
            ..base.clone()
        })
        .await,
        vec![a.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            service: Some("slb".into()),
            ..base.clone()
        })
        .await,
        vec![c.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            operation: Some("addTags".into()),
            ..base.clone()
        })
        .await,
        vec![d.id.clone(), a.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            applications: Some(vec!["APP-B".into()]),
            ..base.clone()
        })
        .await,
        vec![d.id.clone(), b.id.clone()]
    );
    assert_eq!(
        ids(ListQuery {
            applications: Some(vec!["APP-A".into(), "APP-B".into()]),
            service: Some("ecs".into()),
            operation: Some("addTags".into()),
            ..base.clone()
        })
        .await,
        vec![d.id.clone(), a.id.clone()]
    );
    assert!(
        ids(ListQuery {
            applications: Some(vec![]),
            ..base.clone()
        })
        .await
        .is_empty(),
        "an empty application list matches nothing"
    );
    assert_eq!(
        ids(ListQuery {
            created_from: Some(T0 + ms(1)),
            created_before: Some(T0 + ms(3)),
            ..base.clone()
        })
        .await,
        vec![c.id.clone(), b.id.clone()],
        "from is inclusive, before is exclusive"
    );
}

/// A listing leaves out operations that finished before the cutoff and other accounts'.
pub async fn list_leaves_out_expired_and_foreign_operations(store: &dyn Store) {
    let acct = account(1);
    let old = new_op(&acct, None, T0);
    let pending = new_op(&acct, None, T0 + ms(1));
    let foreign = new_op(&account(2), None, T0 + ms(2));
    for op in [&old, &pending, &foreign] {
        submit(store, op).await;
    }
    store
        .claim(NODE, T0, ms(1000), Budget::uniform(1))
        .await
        .unwrap();
    assert!(
        store
            .finish(&old.id, 1, &finish(Status::Success, T0 + ms(10)))
            .await
            .unwrap()
    );
    let acct = &acct;
    let listed = |expired_before: Timestamp| async move {
        let q = ListQuery {
            expired_before,
            ..list_query(acct, 10)
        };
        let page = store.list(&q).await.unwrap();
        page.operations
            .into_iter()
            .map(|o| o.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(T0 + ms(10)).await,
        vec![pending.id.clone(), old.id.clone()]
    );
    assert_eq!(listed(T0 + ms(11)).await, vec![pending.id.clone()]);
}
