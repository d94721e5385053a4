//! Applications: creation (unique names, client tokens), reads, listings, deletion, seeding,
//! and the inventory of one application.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;

use crate::{
    AccountId, Application, ApplicationCreated, ApplicationDeleted, ApplicationOrder,
    ApplicationPlace, ApplicationQuery, ApplicationStatus, NewApplication, PageOf, Resource, Store,
};

use super::{T0, account, key, props};

/// A new `Modified` application of `account` named `name`, created `at` ms after `T0`.
pub fn new_application(account: &AccountId, id: &str, name: &str, at: u64) -> NewApplication {
    let created = T0 + Duration::from_millis(at);
    NewApplication {
        application: Application {
            account: account.clone(),
            id: id.into(),
            name: name.into(),
            template_id: "tpl-1".into(),
            resource_group: None,
            area_id: "cn-hangzhou".into(),
            status: ApplicationStatus::Modified,
            variables: props(json!({"instance_type": "ecs.g7.large", "count": 2})),
            configuration: props(json!({"Tag": "x"})),
            created_at: created,
            updated_at: created,
            deploy_percent: 0.0,
            error: String::new(),
            checklist: vec![json!({"ResourceName": "web", "Result": "pass"})],
            price_list: Vec::new(),
        },
        client_token: None,
        fingerprint: "f1".into(),
    }
}

async fn create(store: &dyn Store, new: &NewApplication) -> ApplicationCreated {
    store.create_application(new).await.unwrap()
}

fn ids(applications: &[Application]) -> Vec<&str> {
    applications.iter().map(|a| a.id.as_str()).collect()
}

/// A created application reads back as stored, in its account only.
pub async fn create_stores_an_application_of_one_account(store: &dyn Store) {
    let acct = account(1);
    let new = new_application(&acct, "APP1", "web", 0);
    assert_eq!(create(store, &new).await, ApplicationCreated::Created);
    assert_eq!(
        store.application(&acct, "APP1").await.unwrap(),
        Some(new.application.clone())
    );
    assert_eq!(store.application(&account(2), "APP1").await.unwrap(), None);
    assert_eq!(store.application(&acct, "APP2").await.unwrap(), None);
}

/// A name is unique among an account's applications that are not deleted.
pub async fn names_are_unique_per_account_until_deleted(store: &dyn Store) {
    let acct = account(1);
    assert_eq!(
        create(store, &new_application(&acct, "APP1", "web", 0)).await,
        ApplicationCreated::Created
    );
    assert_eq!(
        create(store, &new_application(&acct, "APP2", "web", 1)).await,
        ApplicationCreated::NameInUse
    );
    assert_eq!(store.application(&acct, "APP2").await.unwrap(), None);
    assert_eq!(
        create(store, &new_application(&account(2), "APP2", "web", 1)).await,
        ApplicationCreated::Created,
        "another account may use the name"
    );
    assert_eq!(
        store.delete_application(&acct, "APP1", T0).await.unwrap(),
        ApplicationDeleted::Deleted
    );
    assert_eq!(
        create(store, &new_application(&acct, "APP3", "web", 2)).await,
        ApplicationCreated::Created,
        "a deleted application's name is free"
    );
}

/// A client token returns the application it created, and says whether the parameters match.
pub async fn client_token_returns_the_first_application(store: &dyn Store) {
    let acct = account(1);
    let mut first = new_application(&acct, "APP1", "web", 0);
    first.client_token = Some("tok".into());
    assert_eq!(create(store, &first).await, ApplicationCreated::Created);

    let mut again = new_application(&acct, "APP2", "web", 1);
    again.client_token = Some("tok".into());
    assert_eq!(
        create(store, &again).await,
        ApplicationCreated::Existing {
            id: "APP1".into(),
            same_parameters: true
        }
    );
    again.fingerprint = "f2".into();
    assert_eq!(
        create(store, &again).await,
        ApplicationCreated::Existing {
            id: "APP1".into(),
            same_parameters: false
        }
    );
    let mut other = new_application(&account(2), "APP2", "web", 1);
    other.client_token = Some("tok".into());
    assert_eq!(
        create(store, &other).await,
        ApplicationCreated::Created,
        "tokens are per account"
    );
    assert_eq!(store.application(&acct, "APP2").await.unwrap(), None);
}

/// Creates racing with one name (and one token) store one application.
pub async fn concurrent_creates_with_one_name_create_one(store: &dyn Store) {
    let acct = account(1);
    let news: Vec<NewApplication> = (0..8)
        .map(|n| {
            let mut new = new_application(&acct, &format!("APP{n}"), "web", n);
            new.client_token = Some("tok".into());
            new
        })
        .collect();
    let results = join_all(news.iter().map(|new| store.create_application(new))).await;
    let results: Vec<ApplicationCreated> = results.into_iter().map(Result::unwrap).collect();
    let created = results
        .iter()
        .filter(|r| **r == ApplicationCreated::Created)
        .count();
    assert_eq!(created, 1, "{results:?}");
    let page = store
        .list_applications(&ApplicationQuery::all(acct.clone()))
        .await
        .unwrap();
    assert_eq!(page.total, 1);
}

/// Only an application in a status that allows it is deleted; afterwards it is gone.
pub async fn delete_only_in_a_status_that_allows_it(store: &dyn Store) {
    let acct = account(1);
    create(store, &new_application(&acct, "APP1", "one", 0)).await;
    let mut deployed = new_application(&acct, "APP2", "two", 1);
    deployed.application.status = ApplicationStatus::DeployedSuccess;
    create(store, &deployed).await;

    assert_eq!(
        store.delete_application(&acct, "APP2", T0).await.unwrap(),
        ApplicationDeleted::Refused(ApplicationStatus::DeployedSuccess)
    );
    assert!(store.application(&acct, "APP2").await.unwrap().is_some());
    assert_eq!(
        store
            .delete_application(&account(2), "APP1", T0)
            .await
            .unwrap(),
        ApplicationDeleted::NotFound
    );
    assert_eq!(
        store.delete_application(&acct, "APP1", T0).await.unwrap(),
        ApplicationDeleted::Deleted
    );
    assert_eq!(store.application(&acct, "APP1").await.unwrap(), None);
    assert_eq!(
        store.delete_application(&acct, "APP1", T0).await.unwrap(),
        ApplicationDeleted::NotFound
    );
    let page = store
        .list_applications(&ApplicationQuery::all(acct.clone()))
        .await
        .unwrap();
    assert_eq!(ids(&page.applications), ["APP2"]);
}

/// Listings filter, order, page and count an account's applications.
pub async fn list_filters_orders_pages_and_counts(store: &dyn Store) {
    let acct = account(1);
    for (n, (id, name)) in [("A1", "web-prod"), ("A2", "web-test"), ("A3", "db")]
        .into_iter()
        .enumerate()
    {
        let mut new = new_application(&acct, id, name, n as u64);
        // Updated in the reverse order of creation.
        new.application.updated_at = T0 + Duration::from_millis(100 - n as u64);
        if id == "A3" {
            new.application.template_id = "tpl-2".into();
            new.application.resource_group = Some("rg".into());
            new.application.status = ApplicationStatus::DeployedSuccess;
        }
        create(store, &new).await;
    }
    create(store, &new_application(&account(2), "B1", "web-other", 5)).await;
    store
        .seed_resources(&[Resource {
            key: key(&acct, "i-a2"),
            application: "A2".into(),
            properties: props(json!({"status": "Running"})),
        }])
        .await
        .unwrap();

    let list = |query: ApplicationQuery| async move {
        let page = store.list_applications(&query).await.unwrap();
        (ids(&page.applications).join(","), page.total)
    };
    let all = ApplicationQuery::all(acct.clone());
    assert_eq!(list(all.clone()).await, ("A3,A2,A1".into(), 3));
    let by_update = ApplicationQuery {
        order: ApplicationOrder::Updated,
        ..all.clone()
    };
    assert_eq!(list(by_update).await, ("A1,A2,A3".into(), 3));
    let keyword = ApplicationQuery {
        keyword: Some("web".into()),
        ..all.clone()
    };
    assert_eq!(list(keyword).await, ("A2,A1".into(), 2));
    let status = ApplicationQuery {
        statuses: Some(vec![ApplicationStatus::DeployedSuccess]),
        ..all.clone()
    };
    assert_eq!(list(status).await, ("A3".into(), 1));
    let template = ApplicationQuery {
        template_id: Some("tpl-1".into()),
        ..all.clone()
    };
    assert_eq!(list(template).await, ("A2,A1".into(), 2));
    let group = ApplicationQuery {
        resource_group: Some("rg".into()),
        ..all.clone()
    };
    assert_eq!(list(group).await, ("A3".into(), 1));
    let resource = ApplicationQuery {
        resource_id: Some("i-a2".into()),
        ..all.clone()
    };
    assert_eq!(list(resource).await, ("A2".into(), 1));
    let page = |number| ApplicationQuery {
        page: Some(PageOf { number, size: 2 }),
        ..all.clone()
    };
    assert_eq!(list(page(1)).await, ("A3,A2".into(), 3));
    assert_eq!(list(page(2)).await, ("A1".into(), 3));
    assert_eq!(list(page(3)).await, (String::new(), 3));
}

/// Seeding adds applications never held, and leaves held ones and taken names alone.
pub async fn seeding_never_overwrites_applications(store: &dyn Store) {
    let acct = account(1);
    create(store, &new_application(&acct, "APP1", "web", 0)).await;
    let mut changed = new_application(&acct, "APP1", "renamed", 0).application;
    changed.status = ApplicationStatus::DeployedSuccess;
    let fresh = new_application(&acct, "APP2", "api", 1).application;
    let clash = new_application(&acct, "APP3", "web", 2).application;
    let seeds = [changed, fresh.clone(), clash];
    store.seed_applications(&seeds).await.unwrap();
    store.seed_applications(&seeds).await.unwrap();

    let app1 = store.application(&acct, "APP1").await.unwrap().unwrap();
    assert_eq!(
        (app1.name.as_str(), app1.status),
        ("web", ApplicationStatus::Modified)
    );
    assert_eq!(store.application(&acct, "APP2").await.unwrap(), Some(fresh));
    assert_eq!(store.application(&acct, "APP3").await.unwrap(), None);

    store.delete_application(&acct, "APP2", T0).await.unwrap();
    store.seed_applications(&seeds).await.unwrap();
    assert_eq!(
        store.application(&acct, "APP2").await.unwrap(),
        None,
        "a deleted application stays deleted"
    );
}

/// An application's resources are the inventory's resources in it, not deleted.
pub async fn application_resources_are_its_inventory(store: &dyn Store) {
    let acct = account(1);
    let resource = |account: &AccountId, id: &str, application: &str| Resource {
        key: key(account, id),
        application: application.into(),
        properties: props(json!({"status": "Running"})),
    };
    let mine = [
        resource(&acct, "i-2", "APP1"),
        resource(&acct, "i-1", "APP1"),
    ];
    store
        .seed_resources(&[
            mine[0].clone(),
            mine[1].clone(),
            resource(&acct, "i-3", "APP2"),
            resource(&account(2), "i-4", "APP1"),
        ])
        .await
        .unwrap();
    let held = store.application_resources(&acct, "APP1").await.unwrap();
    assert_eq!(held, [mine[1].clone(), mine[0].clone()]);
    assert!(
        store
            .application_resources(&acct, "APP9")
            .await
            .unwrap()
            .is_empty()
    );
}

/// A resource reads with its application's group in one call; an application that does not
/// exist, or was deleted, is no place, and another account's resource is not there at all.
pub async fn a_resource_is_located_in_its_application(store: &dyn Store) {
    let acct = account(1);
    let mut grouped = new_application(&acct, "APP1", "one", 0);
    grouped.application.resource_group = Some("rg-1".into());
    create(store, &grouped).await;
    create(store, &new_application(&acct, "APP2", "two", 1)).await;
    let resource = |id: &str, application: &str| Resource {
        key: key(&acct, id),
        application: application.into(),
        properties: props(json!({"status": "Running"})),
    };
    let held = [
        resource("i-1", "APP1"),
        resource("i-2", "APP2"),
        resource("i-3", "APP9"),
    ];
    store.seed_resources(&held).await.unwrap();
    let place = |group: Option<&str>| {
        Some(ApplicationPlace {
            resource_group: group.map(str::to_owned),
        })
    };
    let held = &held;
    let located = |i: usize| async move {
        let found = store.located_resource(&held[i].key).await.unwrap().unwrap();
        assert_eq!(found.resource, held[i]);
        found.application
    };
    assert_eq!(located(0).await, place(Some("rg-1")));
    assert_eq!(located(1).await, place(None));
    assert_eq!(located(2).await, None, "no such application");
    store.delete_application(&acct, "APP2", T0).await.unwrap();
    assert_eq!(located(1).await, None, "a deleted application");
    let elsewhere = key(&account(2), "i-1");
    assert_eq!(store.located_resource(&elsewhere).await.unwrap(), None);
}
