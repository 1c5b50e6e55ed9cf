//! Contact writes shared by the worker (webhook effects) and the REST API: mailing-list
//! memberships, recorded events, deletion with a tombstone.

use std::collections::BTreeMap;

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::db::entities::{
    contact, contact_event, contact_list, contact_tombstone, stripe_customer, workflow_run,
};
use crate::domain::now_ms;

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

/// The ids of the lists a contact belongs to.
pub async fn lists_of<C: ConnectionTrait>(db: &C, contact_id: &str) -> Result<Vec<String>, DbErr> {
    Ok(contact_list::Entity::find()
        .filter(contact_list::Column::ContactId.eq(contact_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.list_id)
        .collect())
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

/// Records an event on a contact and starts the workflows it triggers (in the caller's
/// transaction, so both happen exactly once).
pub async fn record_event<C: ConnectionTrait>(
    db: &C,
    contact_id: &str,
    name: &str,
    properties: &serde_json::Map<String, serde_json::Value>,
    occurred_at_ms: i64,
    delivery_id: Option<&str>,
) -> Result<(), DbErr> {
    let row = event_row(contact_id, name, properties, occurred_at_ms, delivery_id);
    contact_event::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    crate::workflows::start(
        db,
        contact_id,
        crate::workflows::Occurrence::Event { name, properties },
    )
    .await?;
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

/// A contact as `contacts/find` shows it: standard fields, its mailing lists as
/// `{listId: true}`, and custom properties at the top level (as Loops does).
pub fn contact_json(c: &contact::Model, lists: &[String]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let Ok(serde_json::Value::Object(custom)) =
        serde_json::from_str::<serde_json::Value>(&c.properties)
    {
        out.extend(custom);
    }
    let standard = serde_json::json!({
        "id": c.id,
        "email": c.email,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "source": c.source,
        "subscribed": c.subscribed,
        "userGroup": c.user_group,
        "userId": c.user_id,
        "mailingLists": lists.iter().map(|l| (l.clone(), serde_json::Value::Bool(true))).collect::<serde_json::Map<String, serde_json::Value>>(),
    });
    if let serde_json::Value::Object(standard) = standard {
        out.extend(standard);
    }
    serde_json::Value::Object(out)
}
