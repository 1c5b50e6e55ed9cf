//! Every write to a contact and what hangs off it, for webhooks and the API alike: the row
//! itself (inserted, only its changed columns updated, or a batch's rows saved at once),
//! mailing-list memberships,
//! recorded events, tombstones, deletion and the unsubscribe link. The worker batches the
//! same rows through its unit of work; what goes in them follows [`super::edit`].

use std::collections::BTreeMap;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr,
    EntityTrait, QueryFilter,
};

use crate::db::entities::{
    contact, contact_event, contact_list, contact_tombstone, stripe_customer, workflow_run,
    workflow_run_node,
};
use crate::domain::now_ms;
use crate::messages::TraceContext;

/// Subscribes (`true`) or removes (`false`) the contact for each list. Returns the lists
/// the contact newly joined (they start `addedToList` workflows).
pub async fn apply_lists<C: ConnectionTrait>(
    db: &C,
    contact_id: &str,
    lists: &BTreeMap<String, bool>,
) -> Result<Vec<String>, DbErr> {
    let mut joined = Vec::new();
    for (list_id, subscribe) in lists {
        if *subscribe {
            let row = contact_list::ActiveModel {
                contact_id: Set(contact_id.to_owned()),
                list_id: Set(list_id.clone()),
                created_at: Set(now_ms()),
                ..Default::default()
            };
            let inserted = contact_list::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([
                        contact_list::Column::ContactId,
                        contact_list::Column::ListId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            if inserted > 0 {
                joined.push(list_id.clone());
            }
        } else {
            contact_list::Entity::delete_many()
                .filter(contact_list::Column::ContactId.eq(contact_id))
                .filter(contact_list::Column::ListId.eq(list_id.as_str()))
                .exec(db)
                .await?;
        }
    }
    Ok(joined)
}

/// Removes every contact from a mailing list (the list is being deleted).
pub async fn remove_list<C: ConnectionTrait>(db: &C, list_id: &str) -> Result<(), DbErr> {
    contact_list::Entity::delete_many()
        .filter(contact_list::Column::ListId.eq(list_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The row that records an event on a contact.
pub fn event_row(
    contact_id: &str,
    name: &str,
    properties: &serde_json::Map<String, serde_json::Value>,
    occurred_at_ms: i64,
    delivery_id: Option<&str>,
) -> contact_event::ActiveModel {
    contact_event::ActiveModel {
        contact_id: Set(contact_id.to_owned()),
        event_name: Set(name.to_owned()),
        properties: Set(serde_json::Value::Object(properties.clone()).to_string()),
        occurred_at: Set(occurred_at_ms),
        delivery_id: Set(delivery_id.map(str::to_owned)),
        created_at: Set(now_ms()),
        ..Default::default()
    }
}

/// Records an event on a contact, cancels the runs it makes exit and starts the workflows
/// it triggers (in the caller's transaction, so all happen exactly once), their runs
/// continuing `trace`.
pub async fn record_event<C: ConnectionTrait>(
    db: &C,
    contact: &contact::Model,
    name: &str,
    properties: &serde_json::Map<String, serde_json::Value>,
    occurred_at_ms: i64,
    delivery_id: Option<&str>,
    trace: &TraceContext,
) -> Result<(), DbErr> {
    let row = event_row(&contact.id, name, properties, occurred_at_ms, delivery_id);
    contact_event::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    if !name.contains(':') {
        // A custom event: its pattern (platform ones are declared by their provider).
        super::patterns::observe(db, name, properties).await?;
    }
    let triggers = crate::workflows::Triggers::load(db).await?;
    // Runs it ends are cancelled before the runs it starts begin.
    crate::workflows::exit_on_event(db, &triggers, &contact.id, name).await?;
    let occurrence = crate::workflows::Occurrence::Event { name, properties };
    if triggers.matches(&occurrence) {
        crate::workflows::start(db, contact, occurrence, trace).await?;
    }
    Ok(())
}

/// Removes a contact with its memberships, events and Stripe customer links, and leaves a
/// tombstone so an event older than `deleted_at_ms` does not bring it back.
pub async fn delete<C: ConnectionTrait>(
    db: &C,
    existing: &contact::Model,
    deleted_at_ms: i64,
) -> Result<(), DbErr> {
    let id = existing.id.as_str();
    contact_list::Entity::delete_many()
        .filter(contact_list::Column::ContactId.eq(id))
        .exec(db)
        .await?;
    contact_event::Entity::delete_many()
        .filter(contact_event::Column::ContactId.eq(id))
        .exec(db)
        .await?;
    stripe_customer::Entity::delete_many()
        .filter(stripe_customer::Column::ContactId.eq(id))
        .exec(db)
        .await?;
    // Workflows stop for a deleted contact (the log of emails already sent stays).
    // The nodes its runs passed go with them.
    workflow_run_node::Entity::delete_many()
        .filter(
            workflow_run_node::Column::RunId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(workflow_run::Column::Id)
                    .from(workflow_run::Entity)
                    .and_where(workflow_run::Column::ContactId.eq(id))
                    .to_owned(),
            ),
        )
        .exec(db)
        .await?;
    workflow_run::Entity::delete_many()
        .filter(workflow_run::Column::ContactId.eq(id))
        .exec(db)
        .await?;
    contact::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    let tombstone = contact_tombstone::ActiveModel {
        email: Set(existing.email.clone()),
        user_id: Set(existing.user_id.clone()),
        deleted_at: Set(deleted_at_ms),
        ..Default::default()
    };
    contact_tombstone::Entity::insert(tombstone)
        .on_conflict(
            OnConflict::column(contact_tombstone::Column::Email)
                .update_columns([
                    contact_tombstone::Column::UserId,
                    contact_tombstone::Column::DeletedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Inserts a new contact row.
pub async fn insert<C: ConnectionTrait>(db: &C, created: &contact::Model) -> Result<(), DbErr> {
    contact::Entity::insert(contact::ActiveModel::from(created.clone()))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Writes the columns that differ between `before` (the row as stored) and `after`, with
/// its times: a concurrent writer's change to another column is not overwritten.
pub async fn save<C: ConnectionTrait>(
    db: &C,
    before: &contact::Model,
    after: &contact::Model,
) -> Result<(), DbErr> {
    let mut row = contact::ActiveModel::from(before.clone());
    if before.email != after.email {
        row.email = Set(after.email.clone());
    }
    if before.user_id != after.user_id {
        row.user_id = Set(after.user_id.clone());
    }
    if before.first_name != after.first_name {
        row.first_name = Set(after.first_name.clone());
    }
    if before.last_name != after.last_name {
        row.last_name = Set(after.last_name.clone());
    }
    if before.source != after.source {
        row.source = Set(after.source.clone());
    }
    if before.user_group != after.user_group {
        row.user_group = Set(after.user_group.clone());
    }
    if before.subscribed != after.subscribed {
        row.subscribed = Set(after.subscribed);
    }
    if before.properties != after.properties {
        row.properties = Set(after.properties.clone());
    }
    row.last_event_at = Set(after.last_event_at);
    row.updated_at = Set(after.updated_at);
    contact::Entity::update(row).exec(db).await?;
    Ok(())
}

/// Writes stored contacts as a transaction has made them: one statement for all on
/// PostgreSQL (a statement per row on SQLite), in id order. Every column is written, which
/// loses no other writer's change: the caller has held each row's lock since it read it
/// (`FOR UPDATE`; SQLite has one writer). A row deleted meanwhile is not written again.
pub async fn save_all<C: ConnectionTrait>(
    db: &C,
    mut rows: Vec<contact::Model>,
) -> Result<(), DbErr> {
    rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let rows = rows
        .into_iter()
        .map(|row| contact::ActiveModel::from(row).reset_all());
    if db.get_database_backend() == DbBackend::Postgres {
        return crate::bulk::update(db, rows.collect(), contact::Column::Id).await;
    }
    for row in rows {
        match contact::Entity::update(row).exec(db).await {
            Ok(_) | Err(DbErr::RecordNotUpdated) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// When the contact at `email` or with `user_id` was last deleted, if it was.
pub async fn deleted_at<C: ConnectionTrait>(
    db: &C,
    email: &str,
    user_id: Option<&str>,
) -> Result<Option<i64>, DbErr> {
    let mut keys = Condition::any().add(contact_tombstone::Column::Email.eq(email));
    if let Some(user_id) = user_id {
        keys = keys.add(contact_tombstone::Column::UserId.eq(user_id));
    }
    Ok(contact_tombstone::Entity::find()
        .filter(keys)
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.deleted_at)
        .max())
}

/// Removes the tombstones of a contact that came back (by its address or its user id).
pub async fn clear_tombstones<C: ConnectionTrait>(
    db: &C,
    email: &str,
    user_id: Option<&str>,
) -> Result<(), DbErr> {
    let mut keys = Condition::any().add(contact_tombstone::Column::Email.eq(email));
    if let Some(user_id) = user_id {
        keys = keys.add(contact_tombstone::Column::UserId.eq(user_id));
    }
    contact_tombstone::Entity::delete_many()
        .filter(keys)
        .exec(db)
        .await?;
    Ok(())
}

/// Unsubscribes a contact from marketing email (its link was used); false when there is no
/// such contact. Repeating it changes nothing more.
pub async fn unsubscribe<C: ConnectionTrait>(db: &C, contact_id: &str) -> Result<bool, DbErr> {
    let result = contact::Entity::update_many()
        .col_expr(contact::Column::Subscribed, Expr::value(false))
        .col_expr(contact::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(contact::Column::Id.eq(contact_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}
