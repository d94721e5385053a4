//! The store conformance suite: every backend runs these cases through
//! [`store_conformance!`](crate::store_conformance), so all backends keep one contract.
//!
//! Each case takes a fresh, empty store and panics on a broken rule. The cases live in one
//! module per subject; this module holds what several subjects share. Test support only:
//! compiled with the `testing` feature, which only test targets enable.

pub mod application_changes;
pub mod applications;
pub mod audit;
pub mod cancel;
pub mod claims;
pub mod decided;
pub mod finish;
pub mod history;
pub mod inventory;
pub mod listing;
pub mod load;
pub mod nonces;
pub mod outbox;
pub mod sessions;
pub mod steps;
pub mod submit;
pub mod submitter;
pub mod sweep;

use std::time::Duration;

use bpops_time::Timestamp;
use serde_json::{Map, Value};
use tokio::sync::broadcast;

use crate::{
    AccountId, Budget, Finish, ListQuery, NewOperation, Operation, OperationId, Pool, Requester,
    Resource, ResourceKey, Status, Store, StoreEvent, Submitted,
};

/// Generates one `#[tokio::test]` per conformance case. `$make` is an expression whose
/// `.await` gives `(Arc<dyn Store>, guard)`; the guard lives as long as the test (for example
/// a temporary directory). The one list of the cases, by subject: a new case is added here.
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@cases $make;
            submit::{
                submit_stores_an_init_operation,
                queue_depth_counts_unfinished_operations,
                operations_are_invisible_to_other_accounts,
                client_token_returns_the_first_operation,
                client_token_of_an_expired_operation_is_free,
                concurrent_submits_with_one_client_token_create_one_operation,
                a_failing_submit_among_concurrent_ones_fails_alone,
            },
            decided::{
                submit_decided_stores_a_final_operation_with_its_effect,
                submit_decided_queues_behind_an_unfinished_operation,
                submit_decided_honours_a_used_client_token,
                concurrent_decided_submits_on_one_resource_decide_in_turn,
            },
            claims::{
                claim_marks_running_and_counts_attempts,
                claim_runs_one_operation_per_resource_in_order,
                claim_takes_over_an_expired_lease_only,
                renew_lease_is_fenced_by_the_attempt,
                release_makes_the_operation_claimable_at_once_and_is_fenced,
                concurrent_workers_claim_each_operation_once_in_resource_order,
                a_claim_takes_at_most_each_pools_budget,
            },
            finish::{
                finish_is_fenced_by_the_attempt,
                finish_commits_effect_with_status,
                submit_and_finish_publish_events,
            },
            cancel::{
                cancel_ends_an_init_operation_at_once,
                cancel_marks_a_running_operation_for_its_worker,
                cancel_leaves_final_operations_alone,
                cancel_finds_nothing_outside_the_account,
            },
            listing::{
                list_pages_newest_first_without_skipping_or_repeating,
                list_pages_stay_stable_under_concurrent_submits,
                list_filters_narrow_the_result,
                list_leaves_out_expired_and_foreign_operations,
            },
            sweep::{
                sweep_deletes_expired_operations_in_batches,
                concurrent_sweeps_delete_each_operation_once,
            },
            history::{
                history_records_each_transition_in_order,
                history_pages_oldest_first,
                a_decided_submit_is_submitted_and_finished_at_once,
                a_fenced_out_finish_or_release_writes_no_event,
                cancel_records_who_asked_once,
                a_step_records_its_submission,
                history_is_bounded_however_often_an_operation_is_claimed,
                sweep_deletes_histories_with_their_operations,
                another_accounts_operation_has_no_history,
            },
            outbox::{
                deliveries_are_written_with_the_events_they_announce,
                only_changes_that_commit_write_deliveries,
                deliveries_go_out_in_order_per_operation,
                a_claim_is_leased_and_settling_is_fenced,
                concurrent_claims_take_each_delivery_once,
                settled_deliveries_show_their_attempts_and_are_swept,
                application_changes_write_deliveries_in_order,
            },
            submitter::{
                the_submitter_is_kept_by_every_submit,
                concurrent_submits_keep_their_own_submitters,
            },
            load::{
                load_stores_final_operations_as_given,
                load_refuses_unfinished_operations_and_stores_nothing,
                loaded_operations_expire_like_finished_ones,
            },
            inventory::{
                seeding_never_overwrites_the_inventory,
                bootstrap_key_is_created_once,
            },
            applications::{
                create_stores_an_application_of_one_account,
                names_are_unique_per_account_until_deleted,
                client_token_returns_the_first_application,
                concurrent_creates_with_one_name_create_one,
                delete_only_in_a_status_that_allows_it,
                list_filters_orders_pages_and_counts,
                seeding_never_overwrites_applications,
                application_resources_are_its_inventory,
                a_resource_is_located_in_its_application,
            },
            application_changes::{
                a_move_changes_the_group_only_from_the_expected_one,
                a_move_beside_a_running_step_keeps_both,
                reconfigure_changes_variables_and_returns_to_modified,
                reconfigure_only_before_deployment,
                concurrent_reconfigurations_keep_every_change,
            },
            steps::{
                a_step_starts_only_from_an_allowed_status,
                a_step_client_token_returns_the_first_step,
                concurrent_steps_on_one_application_start_one,
                a_step_ends_with_its_application_outcome,
                progress_is_fenced_and_creates_a_resource_once,
            },
            audit::{
                audit_records_read_back_newest_first_in_pages,
                audit_filters_narrow_the_result,
                audit_records_are_invisible_to_other_accounts,
                audit_sweep_deletes_old_records_in_batches,
            },
            nonces::{
                a_nonce_is_spent_once_per_key,
                a_nonce_is_remembered_through_the_last_millisecond_of_its_window,
                concurrent_spends_of_one_nonce_find_it_new_once,
            },
            sessions::{
                a_session_is_found_until_it_expires,
                an_ended_session_is_gone,
                creating_a_session_forgets_expired_ones,
            },
        );
    };
    (@cases $make:expr; $($subject:ident::{$($case:ident),* $(,)?}),* $(,)?) => {
        $($(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $make.await;
                $crate::testing::$subject::$case(&*store).await;
            }
        )*)*
    };
}

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// The node the cases claim as.
const NODE: &str = "node-a";

/// `n` milliseconds: the cases' instants are `T0` and spans after it.
fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn account(n: u8) -> AccountId {
    AccountId::new(format!("100000000000000{n}"))
}

fn key(account: &AccountId, id: &str) -> ResourceKey {
    ResourceKey {
        account: account.clone(),
        service: "ecs".into(),
        id: id.into(),
    }
}

/// A new `INIT` operation of `account`, on `resource` of `ecs` when given: any operation will
/// do for the cases here and for backends' own tests.
pub fn new_op(account: &AccountId, resource: Option<&str>, created_at: Timestamp) -> NewOperation {
    NewOperation {
        id: OperationId::random(),
        account: account.clone(),
        service: "ecs".into(),
        operation: "addTags".into(),
        application: Some("APP-WEB".into()),
        resource: resource.map(|r| key(account, r)),
        pool: Pool::Emulated,
        attributes: r#"{"instanceId":"i-1"}"#.into(),
        client_token: None,
        fingerprint: "f1".into(),
        created_at,
        submitted_by: None,
    }
}

/// A caller of the API: any will do for the cases here and for the engine's own tests.
pub fn requester() -> Requester {
    Requester {
        user: Some("alice".into()),
        access_key_id: "LTAIalice".into(),
        source_ip: "127.0.0.1".into(),
        request_id: "REQ-1".into(),
        trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .ok(),
    }
}

fn finish(status: Status, at: Timestamp) -> Finish {
    Finish {
        status,
        message: "done".into(),
        arguments: "{}".into(),
        finished_at: at,
        effect: None,
    }
}

/// Seeds instance `i-1` of `account` with `properties` and returns it.
async fn seed_instance(store: &dyn Store, account: &AccountId, properties: Value) -> Resource {
    let seeded = Resource {
        key: key(account, "i-1"),
        application: "APP-WEB".into(),
        properties: props(properties),
    };
    store
        .seed_resources(std::slice::from_ref(&seeded))
        .await
        .unwrap();
    seeded
}

fn props(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("properties are an object"),
    }
}

/// The operations `store.claim` takes (none of the rows in these cases is unreadable).
async fn claim(store: &dyn Store, now: Timestamp, lease: Duration, limit: usize) -> Vec<Operation> {
    store
        .claim(NODE, now, lease, Budget::uniform(limit))
        .await
        .unwrap()
        .operations
}

async fn submit(store: &dyn Store, op: &NewOperation) {
    assert_eq!(
        store.submit(op, Timestamp::EPOCH).await.unwrap(),
        Submitted::Created
    );
}

/// Waits (boundedly) for an event matching `wanted`, skipping others.
async fn next_event(
    events: &mut broadcast::Receiver<StoreEvent>,
    wanted: impl Fn(&StoreEvent) -> bool,
) {
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(event) if wanted(&event) => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("the event stream closed"),
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no matching event was published");
}

/// A listing of every operation of `account` within no retention, `limit` to a page: any
/// listing will do for the cases here and for the engine's own tests.
pub fn list_query(account: &AccountId, limit: usize) -> ListQuery {
    ListQuery {
        account: account.clone(),
        status: None,
        service: None,
        operation: None,
        applications: None,
        created_from: None,
        created_before: None,
        expired_before: Timestamp::EPOCH,
        after: None,
        limit,
    }
}

/// Every page of `query`, followed to the end, as ids.
async fn all_pages(store: &dyn Store, mut query: ListQuery) -> Vec<Vec<OperationId>> {
    let mut pages = Vec::new();
    loop {
        let page = store.list(&query).await.unwrap();
        assert!(page.operations.len() <= query.limit);
        pages.push(page.operations.into_iter().map(|o| o.id).collect());
        match page.next {
            Some(next) => query.after = Some(next),
            None => return pages,
        }
    }
}
