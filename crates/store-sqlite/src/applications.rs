//! The application intents in SQL: each function is one transaction (a savepoint of the
//! writer's group for writes, one snapshot for reads).

use bpops_store::{
    AccountId, Application, ApplicationCreated, ApplicationDeleted, ApplicationEvent,
    ApplicationOrder, ApplicationPage, ApplicationQuery, ApplicationStatus, GroupChange,
    GroupChanged, NewApplication, Notifications, Reconfiguration, Reconfigured, Resource,
    ResourceKey,
};
use bpops_time::Timestamp;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde_json::Value;

use crate::outbox;
use crate::queries::{corrupt, parse_properties};

/// The columns [`from_row`] reads, in its order.
const COLUMNS: &str = "account, id, name, template_id, resource_group, area_id, status, \
    variables, configuration, created_at, updated_at, deploy_percent, error, checklist, \
    price_list";

pub(crate) fn create(
    conn: &mut Connection,
    notifications: Option<&Notifications>,
    new: &NewApplication,
) -> rusqlite::Result<ApplicationCreated> {
    let tx = conn.savepoint()?;
    let app = &new.application;
    let account = app.account.as_str();
    if let Some(token) = &new.client_token {
        let existing: Option<(String, String)> = tx
            .prepare_cached(
                "SELECT id, fingerprint FROM applications
                 WHERE account = ?1 AND client_token = ?2 AND deleted = 0",
            )?
            .query_row(params![account, token], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        if let Some((id, fingerprint)) = existing {
            return Ok(ApplicationCreated::Existing {
                id,
                same_parameters: fingerprint == new.fingerprint,
            });
        }
    }
    if name_in_use(&tx, app)? {
        return Ok(ApplicationCreated::NameInUse);
    }
    insert(&tx, new)?;
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
    )?;
    tx.commit()?;
    Ok(ApplicationCreated::Created)
}

pub(crate) fn seed(conn: &mut Connection, applications: &[Application]) -> rusqlite::Result<()> {
    let tx = conn.savepoint()?;
    for app in applications {
        let held: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM applications WHERE account = ?1 AND id = ?2)",
            )?
            .query_row(params![app.account.as_str(), app.id], |row| row.get(0))?;
        if !held && !name_in_use(&tx, app)? {
            let new = NewApplication {
                application: app.clone(),
                client_token: None,
                fingerprint: String::new(),
            };
            insert(&tx, &new)?;
        }
    }
    tx.commit()
}

pub(crate) fn get(
    conn: &Connection,
    account: &AccountId,
    id: &str,
) -> rusqlite::Result<Option<Application>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM applications WHERE account = ?1 AND id = ?2 AND deleted = 0"
    ))?
    .query_row(params![account.as_str(), id], from_row)
    .optional()
}

pub(crate) fn list(
    conn: &Connection,
    query: &ApplicationQuery,
) -> rusqlite::Result<ApplicationPage> {
    let mut filter = String::from("account = ? AND deleted = 0");
    let mut args = vec![Sql::Text(query.account.as_str().to_owned())];
    if let Some(keyword) = &query.keyword {
        filter.push_str(" AND instr(name, ?) > 0");
        args.push(Sql::Text(keyword.clone()));
    }
    if let Some(statuses) = &query.statuses {
        let marks = vec!["?"; statuses.len()].join(", ");
        filter.push_str(&format!(" AND status IN ({marks})"));
        args.extend(statuses.iter().map(|s| Sql::Text(s.as_str().to_owned())));
    }
    if let Some(template) = &query.template_id {
        filter.push_str(" AND template_id = ?");
        args.push(Sql::Text(template.clone()));
    }
    if let Some(resource) = &query.resource_id {
        filter.push_str(
            " AND id IN (SELECT r.application FROM resources r
                         WHERE r.account = applications.account AND r.id = ? AND r.deleted = 0)",
        );
        args.push(Sql::Text(resource.clone()));
    }
    if let Some(group) = &query.resource_group {
        filter.push_str(" AND resource_group = ?");
        args.push(Sql::Text(group.clone()));
    }
    let order = match query.order {
        ApplicationOrder::Updated => "updated_at DESC, id",
        ApplicationOrder::Created => "created_at DESC, id",
    };
    let (limit, offset) = match query.page {
        Some(page) => (
            i64::from(page.size),
            i64::from(page.number.saturating_sub(1)) * i64::from(page.size),
        ),
        None => (-1, 0),
    };
    // N.B. one snapshot for the page and the count, so the total agrees with the page.
    let tx = conn.unchecked_transaction()?;
    let total: i64 = tx.query_row(
        &format!("SELECT count(*) FROM applications WHERE {filter}"),
        params_from_iter(&args),
        |row| row.get(0),
    )?;
    let mut page_args = args;
    page_args.extend([Sql::Integer(limit), Sql::Integer(offset)]);
    let applications = tx
        .prepare(&format!(
            "SELECT {COLUMNS} FROM applications WHERE {filter} ORDER BY {order} LIMIT ? OFFSET ?"
        ))?
        .query_map(params_from_iter(&page_args), from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.finish()?;
    Ok(ApplicationPage {
        applications,
        total: u64::try_from(total).unwrap_or_default(),
    })
}

pub(crate) fn delete(
    conn: &mut Connection,
    notifications: Option<&Notifications>,
    account: &AccountId,
    id: &str,
    now: Timestamp,
) -> rusqlite::Result<ApplicationDeleted> {
    let tx = conn.savepoint()?;
    let status: Option<String> = tx
        .prepare_cached(
            "SELECT status FROM applications WHERE account = ?1 AND id = ?2 AND deleted = 0",
        )?
        .query_row(params![account.as_str(), id], |row| row.get(0))
        .optional()?;
    let Some(status) = status else {
        return Ok(ApplicationDeleted::NotFound);
    };
    let status = parse_status(0, &status)?;
    if !status.deletable() {
        return Ok(ApplicationDeleted::Refused(status));
    }
    tx.execute(
        "UPDATE applications SET deleted = 1 WHERE account = ?1 AND id = ?2",
        params![account.as_str(), id],
    )?;
    let deleted = ApplicationEvent::ApplicationDeleted;
    outbox::enqueue_application(&tx, notifications, account, id, now, &deleted)?;
    tx.commit()?;
    Ok(ApplicationDeleted::Deleted)
}

pub(crate) fn change_group(
    conn: &mut Connection,
    notifications: Option<&Notifications>,
    change: &GroupChange,
) -> rusqlite::Result<GroupChanged> {
    let tx = conn.savepoint()?;
    let account = change.account.as_str();
    let group: Option<Option<String>> = tx
        .prepare_cached(
            "SELECT resource_group FROM applications
             WHERE account = ?1 AND id = ?2 AND deleted = 0",
        )?
        .query_row(params![account, change.id], |row| row.get(0))
        .optional()?;
    let Some(group) = group else {
        return Ok(GroupChanged::NotFound);
    };
    if group != change.from {
        return Ok(GroupChanged::Elsewhere);
    }
    tx.execute(
        "UPDATE applications SET resource_group = ?1 WHERE account = ?2 AND id = ?3",
        params![change.to, account, change.id],
    )?;
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
    )?;
    tx.commit()?;
    Ok(GroupChanged::Moved)
}

pub(crate) fn reconfigure(
    conn: &mut Connection,
    notifications: Option<&Notifications>,
    change: &Reconfiguration,
) -> rusqlite::Result<Reconfigured> {
    let tx = conn.savepoint()?;
    let account = change.account.as_str();
    let row: Option<(String, String)> = tx
        .prepare_cached(
            "SELECT status, variables FROM applications
             WHERE account = ?1 AND id = ?2 AND deleted = 0",
        )?
        .query_row(params![account, change.id], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let Some((status, variables)) = row else {
        return Ok(Reconfigured::NotFound);
    };
    let status = parse_status(0, &status)?;
    if !status.reconfigurable() {
        return Ok(Reconfigured::Refused(status));
    }
    let mut variables = parse_properties(1, variables)?;
    variables.extend(change.variables.clone());
    tx.execute(
        "UPDATE applications SET variables = ?1, status = ?2, error = '', checklist = '[]',
             price_list = '[]', updated_at = ?3
         WHERE account = ?4 AND id = ?5",
        params![
            Value::Object(variables).to_string(),
            ApplicationStatus::Modified.as_str(),
            change.updated_at.as_millis(),
            account,
            change.id
        ],
    )?;
    let event = change.event();
    outbox::enqueue_application(
        &tx,
        notifications,
        &change.account,
        &change.id,
        change.updated_at,
        &event,
    )?;
    tx.commit()?;
    Ok(Reconfigured::Reconfigured)
}

pub(crate) fn resources(
    conn: &Connection,
    account: &AccountId,
    application: &str,
) -> rusqlite::Result<Vec<Resource>> {
    conn.prepare_cached(
        "SELECT service, id, properties FROM resources
         WHERE account = ?1 AND application = ?2 AND deleted = 0 ORDER BY service, id",
    )?
    .query_map(params![account.as_str(), application], |row| {
        Ok(Resource {
            key: ResourceKey {
                account: account.clone(),
                service: row.get(0)?,
                id: row.get(1)?,
            },
            application: application.to_owned(),
            properties: parse_properties(2, row.get(2)?)?,
        })
    })?
    .collect()
}

fn name_in_use(conn: &Connection, app: &Application) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM applications WHERE account = ?1 AND name = ?2 AND deleted = 0)",
    )?
    .query_row(params![app.account.as_str(), app.name], |row| row.get(0))
}

fn insert(conn: &Connection, new: &NewApplication) -> rusqlite::Result<()> {
    let app = &new.application;
    conn.prepare_cached(
        "INSERT INTO applications (account, id, name, template_id, resource_group, area_id,
             status, variables, configuration, created_at, updated_at, deploy_percent, error,
             checklist, price_list, client_token, fingerprint)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(params![
        app.account.as_str(),
        app.id,
        app.name,
        app.template_id,
        app.resource_group,
        app.area_id,
        app.status.as_str(),
        Value::Object(app.variables.clone()).to_string(),
        Value::Object(app.configuration.clone()).to_string(),
        app.created_at.as_millis(),
        app.updated_at.as_millis(),
        app.deploy_percent,
        app.error,
        Value::Array(app.checklist.clone()).to_string(),
        Value::Array(app.price_list.clone()).to_string(),
        new.client_token,
        new.fingerprint,
    ])?;
    Ok(())
}

fn from_row(row: &Row) -> rusqlite::Result<Application> {
    Ok(Application {
        account: AccountId::new(row.get::<_, String>(0)?),
        id: row.get(1)?,
        name: row.get(2)?,
        template_id: row.get(3)?,
        resource_group: row.get(4)?,
        area_id: row.get(5)?,
        status: parse_status(6, &row.get::<_, String>(6)?)?,
        variables: parse_properties(7, row.get(7)?)?,
        configuration: parse_properties(8, row.get(8)?)?,
        created_at: Timestamp::from_millis(row.get(9)?),
        updated_at: Timestamp::from_millis(row.get(10)?),
        deploy_percent: row.get(11)?,
        error: row.get(12)?,
        checklist: parse_list(13, row.get(13)?)?,
        price_list: parse_list(14, row.get(14)?)?,
    })
}

pub(crate) fn parse_status(column: usize, text: &str) -> rusqlite::Result<ApplicationStatus> {
    ApplicationStatus::parse(text)
        .ok_or_else(|| corrupt(column, format!("unknown application status {text:?}")))
}

fn parse_list(column: usize, text: String) -> rusqlite::Result<Vec<Value>> {
    match serde_json::from_str(&text) {
        Ok(Value::Array(items)) => Ok(items),
        _ => Err(corrupt(column, "not a JSON array".to_owned())),
    }
}
