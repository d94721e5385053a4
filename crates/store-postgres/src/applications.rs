//! The application intents in SQL, each one transaction.
//!
//! Creates and seeds of one account take a transaction-scoped advisory lock named after the
//! account, so two nodes creating with one name or one client token at once queue, and the
//! later one finds the first one's application instead of failing on a unique index.

use bpops_store::{
    AccountId, Application, ApplicationCreated, ApplicationDeleted, ApplicationEvent,
    ApplicationOrder, ApplicationPage, ApplicationQuery, ApplicationStatus, GroupChange,
    GroupChanged, NewApplication, Notifications, Reconfiguration, Reconfigured, Resource,
    ResourceKey, Result, StoreError,
};
use bpops_time::Timestamp;
use deadpool_postgres::{GenericClient, Object};
use serde_json::{Map, Value};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::queries::parse_properties;
use crate::{from_pg, outbox};

/// The columns [`from_row`] reads, in its order.
const COLUMNS: &str = "account, id, name, template_id, resource_group, area_id, status, \
    variables, configuration, created_at, updated_at, deploy_percent, error, checklist, \
    price_list";

pub(crate) async fn create(
    client: &mut Object,
    notifications: Option<&Notifications>,
    new: &NewApplication,
) -> Result<ApplicationCreated> {
    let tx = client.transaction().await.map_err(from_pg)?;
    let app = &new.application;
    lock_account(&tx, &app.account).await?;
    if let Some(token) = &new.client_token {
        let existing = tx
            .query_opt(
                "SELECT id, fingerprint FROM applications
                 WHERE account = $1 AND client_token = $2 AND NOT deleted",
                &[&app.account.as_str(), token],
            )
            .await
            .map_err(from_pg)?;
        if let Some(row) = existing {
            let fingerprint: String = row.try_get(1).map_err(from_pg)?;
            return Ok(ApplicationCreated::Existing {
                id: row.try_get(0).map_err(from_pg)?,
                same_parameters: fingerprint == new.fingerprint,
            });
        }
    }
    if name_in_use(&tx, app).await? {
        return Ok(ApplicationCreated::NameInUse);
    }
    insert(&tx, new).await?;
    let created = ApplicationEvent::ApplicationCreated {
        template_id: app.template_id.clone(),
        resource_group: app.resource_group.clone(),
    };
    outbox::enqueue_application(
        &tx,
        notifications,
        &app.account,
        &app.id,
        app.created_at,
        &created,
    )
    .await?;
    tx.commit().await.map_err(from_pg)?;
    Ok(ApplicationCreated::Created)
}

pub(crate) async fn seed(client: &mut Object, applications: &[Application]) -> Result<()> {
    let tx = client.transaction().await.map_err(from_pg)?;
    for app in applications {
        lock_account(&tx, &app.account).await?;
        let held = tx
            .query_opt(
                "SELECT 1 FROM applications WHERE account = $1 AND id = $2",
                &[&app.account.as_str(), &app.id],
            )
            .await
            .map_err(from_pg)?
            .is_some();
        if !held && !name_in_use(&tx, app).await? {
            let new = NewApplication {
                application: app.clone(),
                client_token: None,
                fingerprint: String::new(),
            };
            insert(&tx, &new).await?;
        }
    }
    tx.commit().await.map_err(from_pg)
}

pub(crate) async fn get(
    client: &impl GenericClient,
    account: &AccountId,
    id: &str,
) -> Result<Option<Application>> {
    let stmt = client
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM applications WHERE account = $1 AND id = $2 AND NOT deleted"
        ))
        .await
        .map_err(from_pg)?;
    let row = client
        .query_opt(&stmt, &[&account.as_str(), &id])
        .await
        .map_err(from_pg)?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn list(client: &mut Object, query: &ApplicationQuery) -> Result<ApplicationPage> {
    let statuses: Option<Vec<&str>> = query
        .statuses
        .as_ref()
        .map(|statuses| statuses.iter().map(|s| s.as_str()).collect());
    let (limit, offset) = match query.page {
        Some(page) => (
            Some(i64::from(page.size)),
            i64::from(page.number.saturating_sub(1)) * i64::from(page.size),
        ),
        None => (None, 0),
    };
    let filter = "account = $1 AND NOT deleted
        AND ($2::text IS NULL OR strpos(name, $2) > 0)
        AND ($3::text[] IS NULL OR status = ANY($3))
        AND ($4::text IS NULL OR template_id = $4)
        AND ($5::text IS NULL OR id IN (SELECT r.application FROM resources r
             WHERE r.account = applications.account AND r.id = $5 AND NOT r.deleted))
        AND ($6::text IS NULL OR resource_group = $6)";
    let order = match query.order {
        ApplicationOrder::Updated => "updated_at DESC, id",
        ApplicationOrder::Created => "created_at DESC, id",
    };
    let args: [&(dyn ToSql + Sync); 6] = [
        &query.account.as_str(),
        &query.keyword,
        &statuses,
        &query.template_id,
        &query.resource_id,
        &query.resource_group,
    ];
    // N.B. one snapshot for the page and the count, so the total agrees with the page.
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(from_pg)?;
    let total: i64 = tx
        .query_one(
            &format!("SELECT count(*) FROM applications WHERE {filter}"),
            &args,
        )
        .await
        .map_err(from_pg)?
        .try_get(0)
        .map_err(from_pg)?;
    let mut page_args: Vec<&(dyn ToSql + Sync)> = args.to_vec();
    page_args.extend([&limit as &(dyn ToSql + Sync), &offset]);
    let rows = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM applications WHERE {filter}
                 ORDER BY {order} LIMIT $7 OFFSET $8"
            ),
            &page_args,
        )
        .await
        .map_err(from_pg)?;
    tx.commit().await.map_err(from_pg)?;
    Ok(ApplicationPage {
        applications: rows.iter().map(from_row).collect::<Result<_>>()?,
        total: u64::try_from(total).unwrap_or_default(),
    })
}

pub(crate) async fn delete(
    client: &mut Object,
    notifications: Option<&Notifications>,
    account: &AccountId,
    id: &str,
    now: Timestamp,
) -> Result<ApplicationDeleted> {
    let tx = client.transaction().await.map_err(from_pg)?;
    let row = tx
        .query_opt(
            "SELECT status FROM applications
             WHERE account = $1 AND id = $2 AND NOT deleted FOR UPDATE",
            &[&account.as_str(), &id],
        )
        .await
        .map_err(from_pg)?;
    let Some(row) = row else {
        return Ok(ApplicationDeleted::NotFound);
    };
    let status = parse_status(row.try_get(0).map_err(from_pg)?)?;
    if !status.deletable() {
        return Ok(ApplicationDeleted::Refused(status));
    }
    tx.execute(
        "UPDATE applications SET deleted = TRUE WHERE account = $1 AND id = $2",
        &[&account.as_str(), &id],
    )
    .await
    .map_err(from_pg)?;
    let deleted = ApplicationEvent::ApplicationDeleted;
    outbox::enqueue_application(&tx, notifications, account, id, now, &deleted).await?;
    tx.commit().await.map_err(from_pg)?;
    Ok(ApplicationDeleted::Deleted)
}

pub(crate) async fn change_group(
    client: &mut Object,
    notifications: Option<&Notifications>,
    change: &GroupChange,
) -> Result<GroupChanged> {
    let tx = client.transaction().await.map_err(from_pg)?;
    let account = change.account.as_str();
    let row = tx
        .query_opt(
            "SELECT resource_group FROM applications
             WHERE account = $1 AND id = $2 AND NOT deleted FOR UPDATE",
            &[&account, &change.id],
        )
        .await
        .map_err(from_pg)?;
    let Some(row) = row else {
        return Ok(GroupChanged::NotFound);
    };
    let group: Option<String> = row.try_get(0).map_err(from_pg)?;
    if group != change.from {
        return Ok(GroupChanged::Elsewhere);
    }
    tx.execute(
        "UPDATE applications SET resource_group = $1 WHERE account = $2 AND id = $3",
        &[&change.to, &account, &change.id],
    )
    .await
    .map_err(from_pg)?;
    let moved = ApplicationEvent::ResourceGroupChanged {
        from: group,
        to: change.to.clone(),
    };
    outbox::enqueue_application(
        &tx,
        notifications,
        &change.account,
        &change.id,
        change.at,
        &moved,
    )
    .await?;
    tx.commit().await.map_err(from_pg)?;
    Ok(GroupChanged::Moved)
}

pub(crate) async fn reconfigure(
    client: &mut Object,
    notifications: Option<&Notifications>,
    change: &Reconfiguration,
) -> Result<Reconfigured> {
    let tx = client.transaction().await.map_err(from_pg)?;
    let account = change.account.as_str();
    let row = tx
        .query_opt(
            "SELECT status, variables FROM applications
             WHERE account = $1 AND id = $2 AND NOT deleted FOR UPDATE",
            &[&account, &change.id],
        )
        .await
        .map_err(from_pg)?;
    let Some(row) = row else {
        return Ok(Reconfigured::NotFound);
    };
    let status = parse_status(row.try_get(0).map_err(from_pg)?)?;
    if !status.reconfigurable() {
        return Ok(Reconfigured::Refused(status));
    }
    let mut variables = parse_object(row.try_get(1).map_err(from_pg)?)?;
    variables.extend(change.variables.clone());
    tx.execute(
        "UPDATE applications SET variables = $1, status = $2, error = '', checklist = '[]',
             price_list = '[]', updated_at = $3
         WHERE account = $4 AND id = $5",
        &[
            &Value::Object(variables).to_string(),
            &ApplicationStatus::Modified.as_str(),
            &change.updated_at.as_millis(),
            &account,
            &change.id,
        ],
    )
    .await
    .map_err(from_pg)?;
    let event = change.event();
    outbox::enqueue_application(
        &tx,
        notifications,
        &change.account,
        &change.id,
        change.updated_at,
        &event,
    )
    .await?;
    tx.commit().await.map_err(from_pg)?;
    Ok(Reconfigured::Reconfigured)
}

pub(crate) async fn resources(
    client: &impl GenericClient,
    account: &AccountId,
    application: &str,
) -> Result<Vec<Resource>> {
    let rows = client
        .query(
            "SELECT service, id, properties FROM resources
             WHERE account = $1 AND application = $2 AND NOT deleted ORDER BY service, id",
            &[&account.as_str(), &application],
        )
        .await
        .map_err(from_pg)?;
    rows.iter()
        .map(|row| {
            Ok(Resource {
                key: ResourceKey {
                    account: account.clone(),
                    service: row.try_get(0).map_err(from_pg)?,
                    id: row.try_get(1).map_err(from_pg)?,
                },
                application: application.to_owned(),
                properties: parse_properties(row.try_get(2).map_err(from_pg)?)?,
            })
        })
        .collect()
}

async fn lock_account(client: &impl GenericClient, account: &AccountId) -> Result<()> {
    client
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&format!("applications/{account}")],
        )
        .await
        .map_err(from_pg)?;
    Ok(())
}

async fn name_in_use(client: &impl GenericClient, app: &Application) -> Result<bool> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM applications WHERE account = $1 AND name = $2 AND NOT deleted",
            &[&app.account.as_str(), &app.name],
        )
        .await
        .map_err(from_pg)?
        .is_some())
}

async fn insert(client: &impl GenericClient, new: &NewApplication) -> Result<()> {
    let app = &new.application;
    client
        .execute(
            "INSERT INTO applications (account, id, name, template_id, resource_group, area_id,
                 status, variables, configuration, created_at, updated_at, deploy_percent,
                 error, checklist, price_list, client_token, fingerprint)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                 $17)",
            &[
                &app.account.as_str(),
                &app.id,
                &app.name,
                &app.template_id,
                &app.resource_group,
                &app.area_id,
                &app.status.as_str(),
                &Value::Object(app.variables.clone()).to_string(),
                &Value::Object(app.configuration.clone()).to_string(),
                &app.created_at.as_millis(),
                &app.updated_at.as_millis(),
                &app.deploy_percent,
                &app.error,
                &Value::Array(app.checklist.clone()).to_string(),
                &Value::Array(app.price_list.clone()).to_string(),
                &new.client_token,
                &new.fingerprint,
            ],
        )
        .await
        .map_err(from_pg)?;
    Ok(())
}

fn from_row(row: &Row) -> Result<Application> {
    let text = |n: usize| row.try_get::<_, String>(n).map_err(from_pg);
    let millis = |n: usize| row.try_get::<_, i64>(n).map_err(from_pg);
    Ok(Application {
        account: AccountId::new(text(0)?),
        id: text(1)?,
        name: text(2)?,
        template_id: text(3)?,
        resource_group: row.try_get(4).map_err(from_pg)?,
        area_id: text(5)?,
        status: parse_status(text(6)?)?,
        variables: parse_object(text(7)?)?,
        configuration: parse_object(text(8)?)?,
        created_at: Timestamp::from_millis(millis(9)?),
        updated_at: Timestamp::from_millis(millis(10)?),
        deploy_percent: row.try_get(11).map_err(from_pg)?,
        error: text(12)?,
        checklist: parse_list(text(13)?)?,
        price_list: parse_list(text(14)?)?,
    })
}

pub(crate) fn parse_status(text: String) -> Result<ApplicationStatus> {
    ApplicationStatus::parse(&text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown application status {text:?}")))
}

fn parse_object(text: String) -> Result<Map<String, Value>> {
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StoreError::Corrupt(
            "application variables or configuration are not a JSON object".into(),
        )),
    }
}

fn parse_list(text: String) -> Result<Vec<Value>> {
    match serde_json::from_str(&text) {
        Ok(Value::Array(items)) => Ok(items),
        _ => Err(StoreError::Corrupt(
            "an application's checklist or price list is not a JSON array".into(),
        )),
    }
}
