//! Changing an application after its creation: moving it to another resource group (only
//! from the group the caller was authorized against, and beside a running step), and
//! reconfiguring its variables (only before deployment, merged in the transaction).

use futures_util::future::join_all;
use serde_json::json;

use crate::{
    AccountId, ApplicationPlace, ApplicationQuery, ApplicationStatus, GroupChange, GroupChanged,
    Reconfiguration, Reconfigured, Resource, StepStarted, Store,
};

use super::applications::new_application;
use super::steps::{new_step, validation_end};
use super::{T0, account, claim, key, ms, props};

fn move_to(account: &AccountId, from: Option<&str>, to: &str) -> GroupChange {
    GroupChange {
        account: account.clone(),
        id: "APP1".into(),
        from: from.map(str::to_owned),
        to: to.into(),
        at: T0,
    }
}

fn reconfiguration(account: &AccountId, variables: serde_json::Value, at: u64) -> Reconfiguration {
    Reconfiguration {
        account: account.clone(),
        id: "APP1".into(),
        variables: props(variables),
        updated_at: T0 + ms(at),
    }
}

async fn group_of(store: &dyn Store, account: &AccountId) -> Option<String> {
    store
        .application(account, "APP1")
        .await
        .unwrap()
        .unwrap()
        .resource_group
}

/// A move changes only the group, and only from the group it was authorized against; another
/// account's or a deleted application is not found.
pub async fn a_move_changes_the_group_only_from_the_expected_one(store: &dyn Store) {
    let acct = account(1);
    let mut created = new_application(&acct, "APP1", "web", 0);
    created.application.resource_group = Some("rg-a".into());
    store.create_application(&created).await.unwrap();

    let owner = &acct;
    let change = |from, to| async move {
        store
            .change_resource_group(&move_to(owner, from, to))
            .await
            .unwrap()
    };
    assert_eq!(change(Some("rg-b"), "rg-c").await, GroupChanged::Elsewhere);
    assert_eq!(change(None, "rg-c").await, GroupChanged::Elsewhere);
    assert_eq!(group_of(store, &acct).await.as_deref(), Some("rg-a"));

    assert_eq!(change(Some("rg-a"), "rg-b").await, GroupChanged::Moved);
    let mut expected = created.application.clone();
    expected.resource_group = Some("rg-b".into());
    assert_eq!(
        store.application(&acct, "APP1").await.unwrap(),
        Some(expected),
        "nothing but the group changes"
    );
    let in_b = ApplicationQuery {
        resource_group: Some("rg-b".into()),
        ..ApplicationQuery::all(acct.clone())
    };
    assert_eq!(
        store.list_applications(&in_b).await.unwrap().applications[0].id,
        "APP1"
    );
    assert_eq!(change(Some("rg-b"), "rg-b").await, GroupChanged::Moved);

    assert_eq!(
        store
            .change_resource_group(&move_to(&account(2), Some("rg-b"), "rg-a"))
            .await
            .unwrap(),
        GroupChanged::NotFound
    );
    store.delete_application(&acct, "APP1", T0).await.unwrap();
    assert_eq!(change(Some("rg-b"), "rg-a").await, GroupChanged::NotFound);
}

/// A move while a step runs keeps both: the step ends with its outcome, the application
/// stays in its new group, and its resources are located there at once.
pub async fn a_move_beside_a_running_step_keeps_both(store: &dyn Store) {
    let acct = account(1);
    store
        .create_application(&new_application(&acct, "APP1", "web", 0))
        .await
        .unwrap();
    let deployed = Resource {
        key: key(&acct, "i-1"),
        application: "APP1".into(),
        properties: props(json!({"status": "Running"})),
    };
    store
        .seed_resources(std::slice::from_ref(&deployed))
        .await
        .unwrap();
    let step = new_step(&acct, 1);
    assert_eq!(
        store.start_step(&step, T0).await.unwrap(),
        StepStarted::Started
    );
    let claimed = claim(store, T0 + ms(2), ms(1_000), 10).await;

    assert_eq!(
        store
            .change_resource_group(&move_to(&acct, None, "rg-b"))
            .await
            .unwrap(),
        GroupChanged::Moved
    );
    let located = store
        .located_resource(&deployed.key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        located.application,
        Some(ApplicationPlace {
            resource_group: Some("rg-b".into())
        })
    );

    let end = validation_end(&acct, "", 3);
    assert!(
        store
            .finish(&step.operation.id, claimed[0].attempt, &end)
            .await
            .unwrap()
    );
    let app = store.application(&acct, "APP1").await.unwrap().unwrap();
    assert_eq!(app.status, ApplicationStatus::VerifiedSuccess);
    assert_eq!(app.resource_group.as_deref(), Some("rg-b"));
}

/// A reconfiguration gives the named variables new values, keeps the others, and sends the
/// application back to `Modified` with no checklist, price list or error.
pub async fn reconfigure_changes_variables_and_returns_to_modified(store: &dyn Store) {
    let acct = account(1);
    let mut created = new_application(&acct, "APP1", "web", 0);
    created.application.status = ApplicationStatus::ValuatingFailure;
    created.application.error = "no price".into();
    created.application.price_list = vec![json!({"Price": 1})];
    store.create_application(&created).await.unwrap();

    assert_eq!(
        store
            .reconfigure_application(&reconfiguration(&acct, json!({"count": 3}), 5))
            .await
            .unwrap(),
        Reconfigured::Reconfigured
    );
    let app = store.application(&acct, "APP1").await.unwrap().unwrap();
    assert_eq!(
        app.variables,
        props(json!({"instance_type": "ecs.g7.large", "count": 3}))
    );
    assert_eq!(app.status, ApplicationStatus::Modified);
    assert_eq!(
        (
            app.error.as_str(),
            app.checklist.len(),
            app.price_list.len()
        ),
        ("", 0, 0)
    );
    assert_eq!(app.updated_at, T0 + ms(5));
    assert_eq!(app.configuration, created.application.configuration);

    assert_eq!(
        store
            .reconfigure_application(&reconfiguration(&account(2), json!({"count": 4}), 6))
            .await
            .unwrap(),
        Reconfigured::NotFound
    );
}

/// Only an application not deployed yet, with no step running, is reconfigured; otherwise
/// nothing changes.
pub async fn reconfigure_only_before_deployment(store: &dyn Store) {
    let acct = account(1);
    for (n, status) in ApplicationStatus::ALL.into_iter().enumerate() {
        let id = format!("APP{n}");
        let mut created = new_application(&acct, &id, &format!("app-{n}"), 0);
        created.application.status = status;
        store.create_application(&created).await.unwrap();
        let change = Reconfiguration {
            id: id.clone(),
            ..reconfiguration(&acct, json!({"count": 9}), 1)
        };
        let answer = store.reconfigure_application(&change).await.unwrap();
        let app = store.application(&acct, &id).await.unwrap().unwrap();
        if status.reconfigurable() {
            assert_eq!(answer, Reconfigured::Reconfigured, "{status:?}");
            assert_eq!(app.variables["count"], 9);
        } else {
            assert_eq!(answer, Reconfigured::Refused(status));
            assert_eq!(app, created.application, "{status:?} changed");
        }
    }
}

/// Concurrent reconfigurations of different variables keep every change: each merges into
/// what the one before it committed.
pub async fn concurrent_reconfigurations_keep_every_change(store: &dyn Store) {
    let acct = account(1);
    store
        .create_application(&new_application(&acct, "APP1", "web", 0))
        .await
        .unwrap();
    let changes: Vec<Reconfiguration> = (0..8u64)
        .map(|n| {
            let mut variable = serde_json::Map::new();
            variable.insert(format!("v{n}"), json!(n));
            reconfiguration(&acct, serde_json::Value::Object(variable), n + 1)
        })
        .collect();
    let answers = join_all(changes.iter().map(|c| store.reconfigure_application(c))).await;
    for answer in answers {
        assert_eq!(answer.unwrap(), Reconfigured::Reconfigured);
    }
    let app = store.application(&acct, "APP1").await.unwrap().unwrap();
    for n in 0..8u64 {
        assert_eq!(app.variables[&format!("v{n}")], n, "{:?}", app.variables);
    }
    assert_eq!(app.variables["instance_type"], "ecs.g7.large");
}
