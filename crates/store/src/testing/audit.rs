//! The audit trail: batches appended in one go, read back newest first a page at a time,
//! filtered, per account, and swept by retention.

use bpops_time::Timestamp;

use crate::{AccountId, AuditQuery, AuditRecord, SUCCESS, Store};

use super::{T0, account, ms};

/// A verified, successful request of `account` at `time`: any record will do for the cases
/// here and for backends' own tests.
pub fn audit_record(account: &AccountId, time: Timestamp, request_id: &str) -> AuditRecord {
    AuditRecord {
        time,
        request_id: request_id.to_owned(),
        account: Some(account.clone()),
        user: Some("root".to_owned()),
        access_key_id: Some("LTAIroot".to_owned()),
        verified: true,
        source_ip: "127.0.0.1".to_owned(),
        action: "ListServices".to_owned(),
        code: SUCCESS.to_owned(),
        http_status: 200,
        application: None,
        operation_id: None,
        resource: Some(format!("acs:bpstudio::{account}:bpstudiovirtual/*")),
        parameters: "{}".to_owned(),
    }
}

/// The request ids of every page of `query`, followed to the end.
async fn all_pages(store: &dyn Store, mut query: AuditQuery) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    loop {
        let page = store.lookup_audit(&query).await.unwrap();
        assert!(page.records.len() <= query.limit);
        pages.push(page.records.into_iter().map(|r| r.request_id).collect());
        match page.next {
            Some(next) => query.after = Some(next),
            None => return pages,
        }
    }
}

/// A batch is stored as given, every field, and read back newest first (records of one
/// millisecond in the order they were stored, the later first), a page at a time without
/// repeating or skipping one.
pub async fn audit_records_read_back_newest_first_in_pages(store: &dyn Store) {
    let acct = account(1);
    let mut unverified = audit_record(&acct, T0, "R-unverified");
    unverified.user = None;
    unverified.verified = false;
    unverified.code = "SignatureDoesNotMatch".to_owned();
    unverified.http_status = 400;
    unverified.application = Some("APP-WEB".to_owned());
    unverified.operation_id = Some("op-1".to_owned());
    unverified.resource = None;
    unverified.parameters = r#"{"Action":"GetApplication"}"#.to_owned();
    store
        .record_audit(std::slice::from_ref(&unverified))
        .await
        .unwrap();
    let page = store
        .lookup_audit(&AuditQuery::all(acct.clone(), 10))
        .await
        .unwrap();
    assert_eq!(page.records, vec![unverified], "every field round-trips");
    assert_eq!(page.next, None);

    // Two records per millisecond, stored in two batches.
    let batch = |range: std::ops::Range<u64>| {
        range
            .map(|i| audit_record(&acct, T0 + ms(1 + i / 2), &format!("R{i:02}")))
            .collect::<Vec<_>>()
    };
    store.record_audit(&batch(0..10)).await.unwrap();
    store.record_audit(&batch(10..25)).await.unwrap();
    let pages = all_pages(store, AuditQuery::all(acct.clone(), 10)).await;
    assert_eq!(pages.len(), 3);
    let ids: Vec<String> = pages.concat();
    let mut expected: Vec<String> = (0..25).rev().map(|i| format!("R{i:02}")).collect();
    expected.push("R-unverified".to_owned());
    assert_eq!(ids, expected);
    store.record_audit(&[]).await.unwrap();
}

/// Each filter narrows the result; the resource filter matches the resource, the application
/// or the operation id; the time range includes its start and excludes its end.
pub async fn audit_filters_narrow_the_result(store: &dyn Store) {
    let acct = account(1);
    let mut records = Vec::new();
    for i in 0..6u64 {
        let mut r = audit_record(&acct, T0 + ms(i * 10), &format!("R{i}"));
        match i {
            1 => r.action = "ExecuteOperationASync".to_owned(),
            2 => {
                r.user = Some("alice".to_owned());
                r.access_key_id = Some("LTAIalice".to_owned());
            }
            3 => {
                r.code = "NoPermission".to_owned();
                r.http_status = 403;
            }
            4 => r.application = Some("APP-DB".to_owned()),
            5 => r.operation_id = Some("op-5".to_owned()),
            _ => {}
        }
        records.push(r);
    }
    store.record_audit(&records).await.unwrap();
    let ids = async |query: AuditQuery| all_pages(store, query).await.concat();
    let all = AuditQuery::all(acct.clone(), 100);
    assert_eq!(
        ids(AuditQuery {
            action: Some("ExecuteOperationASync".into()),
            ..all.clone()
        })
        .await,
        ["R1"]
    );
    assert_eq!(
        ids(AuditQuery {
            user: Some("alice".into()),
            ..all.clone()
        })
        .await,
        ["R2"]
    );
    assert_eq!(
        ids(AuditQuery {
            access_key_id: Some("LTAIalice".into()),
            ..all.clone()
        })
        .await,
        ["R2"]
    );
    assert_eq!(
        ids(AuditQuery {
            code: Some("NoPermission".into()),
            ..all.clone()
        })
        .await,
        ["R3"]
    );
    assert_eq!(
        ids(AuditQuery {
            resource: Some("APP-DB".into()),
            ..all.clone()
        })
        .await,
        ["R4"]
    );
    assert_eq!(
        ids(AuditQuery {
            resource: Some("op-5".into()),
            ..all.clone()
        })
        .await,
        ["R5"]
    );
    assert_eq!(
        ids(AuditQuery {
            resource: Some(format!("acs:bpstudio::{acct}:bpstudiovirtual/*")),
            ..all.clone()
        })
        .await
        .len(),
        6
    );
    assert_eq!(
        ids(AuditQuery {
            from: Some(T0 + ms(10)),
            before: Some(T0 + ms(30)),
            ..all.clone()
        })
        .await,
        ["R2", "R1"]
    );
    assert_eq!(
        ids(AuditQuery {
            code: Some(SUCCESS.into()),
            user: Some("root".into()),
            ..all.clone()
        })
        .await,
        ["R5", "R4", "R1", "R0"]
    );
}

/// An account reads only its own records; a record of no account (an unsigned request, an
/// unknown key) is read by none.
pub async fn audit_records_are_invisible_to_other_accounts(store: &dyn Store) {
    let (a, b) = (account(1), account(2));
    let mut unowned = audit_record(&a, T0, "R-none");
    unowned.account = None;
    unowned.verified = false;
    store
        .record_audit(&[audit_record(&a, T0, "R-a"), unowned])
        .await
        .unwrap();
    let of = async |acct: &AccountId| {
        all_pages(store, AuditQuery::all(acct.clone(), 10))
            .await
            .concat()
    };
    assert_eq!(of(&a).await, ["R-a"]);
    assert!(of(&b).await.is_empty());
}

/// The retention sweep deletes only records older than the cutoff, at most `limit` per call,
/// whatever their account.
pub async fn audit_sweep_deletes_old_records_in_batches(store: &dyn Store) {
    let (a, b) = (account(1), account(2));
    let mut records: Vec<AuditRecord> = (0..5u64)
        .map(|i| {
            audit_record(
                if i % 2 == 0 { &a } else { &b },
                T0 + ms(i),
                &format!("R{i}"),
            )
        })
        .collect();
    records[4].account = None;
    records.push(audit_record(&a, T0 + ms(100), "R-kept"));
    store.record_audit(&records).await.unwrap();

    assert_eq!(store.sweep_audit(T0, 100).await.unwrap(), 0, "exclusive");
    assert_eq!(store.sweep_audit(T0 + ms(100), 3).await.unwrap(), 3);
    assert_eq!(store.sweep_audit(T0 + ms(100), 3).await.unwrap(), 2);
    assert_eq!(store.sweep_audit(T0 + ms(100), 3).await.unwrap(), 0);
    let left = store.lookup_audit(&AuditQuery::all(a, 10)).await.unwrap();
    let ids: Vec<&str> = left.records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["R-kept"]);
}
