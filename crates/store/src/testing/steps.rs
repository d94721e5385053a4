//! Lifecycle steps: starting one (status check, status move and operation in one
//! transaction, client tokens), the fenced writes of a deploy or release, and ending one
//! with its application's outcome.

use futures_util::future::join_all;
use serde_json::json;

use crate::{
    AccountId, ApplicationOutcome, ApplicationStatus, Effect, Finish, NewStep, Progress, Resource,
    ResourceKey, Status, StepStarted, Store,
};

use super::applications::new_application;
use super::{T0, account, claim, finish, key, list_query, ms, new_op, props};

const FROM_MODIFIED: &[ApplicationStatus] = &[ApplicationStatus::Modified];

/// A step on application `APP1` of `account`, allowed from `Modified` only, to `Verifying`.
pub fn new_step(account: &AccountId, at: u64) -> NewStep {
    let mut operation = new_op(account, None, T0 + ms(at));
    operation.service = "bpstudio".into();
    operation.operation = "validateApplication".into();
    operation.application = Some("APP1".into());
    operation.resource = Some(ResourceKey {
        account: account.clone(),
        service: "application".into(),
        id: "APP1".into(),
    });
    NewStep {
        operation,
        allowed: FROM_MODIFIED,
        status: ApplicationStatus::Verifying,
    }
}

/// The end of [`new_step`]'s validation at `at` ms: `APP1` `Verified_Success` with a
/// passing checklist when `error` is empty, else `Verified_Failure` with `error`.
pub fn validation_end(account: &AccountId, error: &str, at: u64) -> Finish {
    let (status, app_status, result) = if error.is_empty() {
        (
            Status::Success,
            ApplicationStatus::VerifiedSuccess,
            "Success",
        )
    } else {
        (
            Status::Failure,
            ApplicationStatus::VerifiedFailure,
            "Failure",
        )
    };
    let mut end = finish(status, T0 + ms(at));
    end.effect = Some(Effect::Application(ApplicationOutcome {
        account: account.clone(),
        id: "APP1".into(),
        status: app_status,
        error: error.into(),
        checklist: Some(vec![json!({"ResourceName": "web", "Result": result})]),
        price_list: None,
        deploy_percent: None,
        updated_at: T0 + ms(at),
    }));
    end
}

async fn start(store: &dyn Store, step: &NewStep) -> StepStarted {
    store.start_step(step, T0).await.unwrap()
}

async fn status(store: &dyn Store, account: &AccountId) -> ApplicationStatus {
    store
        .application(account, "APP1")
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn operations(store: &dyn Store, account: &AccountId) -> usize {
    store
        .list(&list_query(account, 100))
        .await
        .unwrap()
        .operations
        .len()
}

/// A step starts only from an allowed status, moving the application and storing its
/// operation; otherwise nothing changes.
pub async fn a_step_starts_only_from_an_allowed_status(store: &dyn Store) {
    let acct = account(1);
    assert_eq!(
        start(store, &new_step(&acct, 0)).await,
        StepStarted::NotFound
    );
    store
        .create_application(&new_application(&acct, "APP1", "web", 0))
        .await
        .unwrap();
    assert_eq!(
        start(store, &new_step(&account(2), 0)).await,
        StepStarted::NotFound,
        "another account's application"
    );
    let first = new_step(&acct, 1);
    assert_eq!(start(store, &first).await, StepStarted::Started);
    assert_eq!(status(store, &acct).await, ApplicationStatus::Verifying);
    let op = store
        .get(&acct, &first.operation.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (op.status, op.application.as_deref()),
        (Status::Init, Some("APP1"))
    );
    assert_eq!(
        start(store, &new_step(&acct, 2)).await,
        StepStarted::Refused(ApplicationStatus::Verifying)
    );
    assert_eq!(operations(store, &acct).await, 1);
}

/// A client token held by a step returns that step, whatever the application's status now.
pub async fn a_step_client_token_returns_the_first_step(store: &dyn Store) {
    let acct = account(1);
    store
        .create_application(&new_application(&acct, "APP1", "web", 0))
        .await
        .unwrap();
    let mut first = new_step(&acct, 1);
    first.operation.client_token = Some("t1".into());
    assert_eq!(start(store, &first).await, StepStarted::Started);
    let mut again = new_step(&acct, 2);
    again.operation.client_token = Some("t1".into());
    assert_eq!(
        start(store, &again).await,
        StepStarted::Existing {
            id: first.operation.id.clone(),
            same_parameters: true
        }
    );
    again.operation.fingerprint = "f2".into();
    assert_eq!(
        start(store, &again).await,
        StepStarted::Existing {
            id: first.operation.id.clone(),
            same_parameters: false
        }
    );
    assert_eq!(operations(store, &acct).await, 1);
}

/// Concurrent steps on one application: one starts, the others find it in progress.
pub async fn concurrent_steps_on_one_application_start_one(store: &dyn Store) {
    let acct = account(1);
    store
        .create_application(&new_application(&acct, "APP1", "web", 0))
        .await
        .unwrap();
    let steps: Vec<NewStep> = (0..8).map(|n| new_step(&acct, n)).collect();
    let started = join_all(steps.iter().map(|step| start(store, step))).await;
    assert_eq!(
        started
            .iter()
            .filter(|s| **s == StepStarted::Started)
            .count(),
        1,
        "{started:?}"
    );
    assert_eq!(operations(store, &acct).await, 1);
}

/// A step's end leaves its application as the outcome says, in the finish's transaction:
/// lists it does not name stay as they were, and a superseded attempt changes nothing.
pub async fn a_step_ends_with_its_application_outcome(store: &dyn Store) {
    let acct = account(1);
    let created = new_application(&acct, "APP1", "web", 0);
    store.create_application(&created).await.unwrap();
    let step = new_step(&acct, 1);
    assert_eq!(start(store, &step).await, StepStarted::Started);
    let claimed = claim(store, T0 + ms(2), ms(1_000), 10).await;
    assert_eq!(claimed.len(), 1);
    let end = validation_end(&acct, "AreaId is unknown", 3);
    assert!(
        !store
            .finish(&step.operation.id, claimed[0].attempt + 1, &end)
            .await
            .unwrap()
    );
    assert_eq!(status(store, &acct).await, ApplicationStatus::Verifying);
    assert!(
        store
            .finish(&step.operation.id, claimed[0].attempt, &end)
            .await
            .unwrap()
    );
    let app = store.application(&acct, "APP1").await.unwrap().unwrap();
    assert_eq!(app.status, ApplicationStatus::VerifiedFailure);
    assert_eq!(app.error, "AreaId is unknown");
    assert_eq!(
        app.checklist,
        vec![json!({"ResourceName": "web", "Result": "Failure"})]
    );
    assert_eq!(app.price_list, created.application.price_list);
    assert_eq!(app.updated_at, T0 + ms(3));
}

/// A deploy's write creates a resource once, only while its attempt is current, and moves
/// the application's `DeployPercent` with it; a release's write deletes one.
pub async fn progress_is_fenced_and_creates_a_resource_once(store: &dyn Store) {
    let acct = account(1);
    store
        .create_application(&new_application(&acct, "APP1", "web", 0))
        .await
        .unwrap();
    let step = new_step(&acct, 1);
    assert_eq!(start(store, &step).await, StepStarted::Started);
    let first = claim(store, T0 + ms(2), ms(1_000), 10).await[0].attempt;
    let created = |name: &str, percent: f64| Progress {
        effect: Effect::Create {
            resource: Resource {
                key: key(&acct, "i-deployed"),
                application: "APP1".into(),
                properties: props(json!({"instance_name": name})),
            },
        },
        application: "APP1".into(),
        deploy_percent: percent,
    };
    let id = &step.operation.id;
    assert!(
        store
            .progress(id, first, &created("web", 50.0))
            .await
            .unwrap()
    );
    let resource = store.resource(&key(&acct, "i-deployed")).await.unwrap();
    assert_eq!(resource.unwrap().properties["instance_name"], "web");
    let app = store.application(&acct, "APP1").await.unwrap().unwrap();
    assert_eq!(app.deploy_percent, 50.0);

    // The attempt's lease ends; its successor creates the same resource again.
    let second = claim(store, T0 + ms(2_000), ms(1_000), 10).await[0].attempt;
    assert!(
        !store
            .progress(id, first, &created("stale", 100.0))
            .await
            .unwrap()
    );
    assert!(
        store
            .progress(id, second, &created("again", 100.0))
            .await
            .unwrap()
    );
    let resource = store.resource(&key(&acct, "i-deployed")).await.unwrap();
    assert_eq!(
        resource.unwrap().properties["instance_name"],
        "web",
        "a present resource is left alone"
    );
    assert_eq!(
        store
            .application_resources(&acct, "APP1")
            .await
            .unwrap()
            .len(),
        1
    );

    let released = Progress {
        effect: Effect::Delete {
            key: key(&acct, "i-deployed"),
        },
        application: "APP1".into(),
        deploy_percent: 0.0,
    };
    assert!(store.progress(id, second, &released).await.unwrap());
    assert_eq!(
        store.resource(&key(&acct, "i-deployed")).await.unwrap(),
        None
    );
    let app = store.application(&acct, "APP1").await.unwrap().unwrap();
    assert_eq!(app.deploy_percent, 0.0);
}
