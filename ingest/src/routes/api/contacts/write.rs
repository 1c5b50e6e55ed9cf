//! Finding, creating and updating the contact row an API request names.

use inlet_shared::db::entities::contact;
use inlet_shared::domain::{Email, new_id, now_ms};
use inlet_shared::{contacts, workflows};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect,
};
use serde_json::{Map, Value};

use super::fields::{ContactFields, Field};
use crate::error::ApiError;

/// The contact whose unique `column` (email or user id) holds `value`.
fn contact_with(column: contact::Column, value: &str) -> sea_orm::Select<contact::Entity> {
    contact::Entity::find().filter(column.eq(value))
}

pub(super) async fn find_by<C: ConnectionTrait>(
    db: &C,
    column: contact::Column,
    value: &str,
) -> Result<Option<contact::Model>, ApiError> {
    Ok(contact_with(column, value).one(db).await?)
}

/// [`find_by`], locking the row until the transaction ends (PostgreSQL; SQLite has one
/// writer at a time): an update merges into the row as it is, and a concurrent writer (a
/// worker applying a webhook, another API call) waits instead of being overwritten.
async fn find_for_update<C: ConnectionTrait>(
    db: &C,
    column: contact::Column,
    value: &str,
) -> Result<Option<contact::Model>, ApiError> {
    Ok(contact_with(column, value).lock_exclusive().one(db).await?)
}

pub(super) async fn create_contact<C: ConnectionTrait>(
    db: &C,
    email: &Email,
    f: &ContactFields,
) -> Result<String, ApiError> {
    let now = now_ms();
    let id = new_id("c_");
    let custom: Map<String, Value> = f
        .custom
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let row = contact::ActiveModel {
        id: Set(id.clone()),
        email: Set(email.as_str().to_owned()),
        user_id: Set(f.user_id.value().cloned()),
        first_name: Set(f.first_name.value().cloned()),
        last_name: Set(f.last_name.value().cloned()),
        source: Set(Some(
            f.source
                .value()
                .cloned()
                .unwrap_or_else(|| "API".to_owned()),
        )),
        user_group: Set(f.user_group.value().cloned()),
        subscribed: Set(f.subscribed.unwrap_or(true)),
        properties: Set(Value::Object(custom).to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        last_event_at: Set(now),
    };
    contact::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    let joined = contacts::apply_lists(db, &id, &f.mailing_lists).await?;
    workflows::contact_written(db, &id, true, &joined).await?;
    Ok(id)
}

fn set_text(target: &mut sea_orm::ActiveValue<Option<String>>, field: &Field<String>) {
    match field {
        Field::Absent => {}
        Field::Null => *target = Set(None),
        Field::Set(v) => *target = Set(Some(v.clone())),
    }
}

async fn update_contact<C: ConnectionTrait>(
    db: &C,
    existing: contact::Model,
    f: &ContactFields,
) -> Result<String, ApiError> {
    let id = existing.id.clone();
    let mut properties = match serde_json::from_str::<Value>(&existing.properties) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (key, value) in &f.custom {
        if value.is_null() {
            properties.remove(key);
        } else {
            properties.insert(key.clone(), value.clone());
        }
    }
    let mut row: contact::ActiveModel = existing.clone().into();
    if let Field::Set(email) = &f.email
        && email.as_str() != existing.email
    {
        if find_by(db, contact::Column::Email, email.as_str())
            .await?
            .is_some()
        {
            return Err(ApiError::Conflict(
                "Email or userId is already on your audience.".into(),
            ));
        }
        row.email = Set(email.as_str().to_owned());
    }
    if let Field::Set(user_id) = &f.user_id
        && existing.user_id.as_deref() != Some(user_id.as_str())
    {
        if find_by(db, contact::Column::UserId, user_id)
            .await?
            .is_some()
        {
            return Err(ApiError::Conflict(
                "Email or userId is already on your audience.".into(),
            ));
        }
        row.user_id = Set(Some(user_id.clone()));
    }
    set_text(&mut row.first_name, &f.first_name);
    set_text(&mut row.last_name, &f.last_name);
    set_text(&mut row.source, &f.source);
    set_text(&mut row.user_group, &f.user_group);
    if let Some(subscribed) = f.subscribed {
        row.subscribed = Set(subscribed);
    }
    row.properties = Set(Value::Object(properties).to_string());
    row.updated_at = Set(now_ms());
    row.update(db).await?;
    let joined = contacts::apply_lists(db, &id, &f.mailing_lists).await?;
    workflows::contact_written(db, &id, false, &joined).await?;
    Ok(id)
}

/// Finds the contact for an update or event: by userId first, then by email; creates it
/// when there is none (an email is needed for that).
pub(crate) async fn upsert<C: ConnectionTrait>(
    db: &C,
    f: &ContactFields,
) -> Result<String, ApiError> {
    let by_user = match f.user_id.value() {
        Some(user_id) => find_for_update(db, contact::Column::UserId, user_id).await?,
        None => None,
    };
    let found = match (by_user, f.email.value()) {
        (Some(c), _) => Some(c),
        (None, Some(email)) => find_for_update(db, contact::Column::Email, email.as_str()).await?,
        (None, None) => None,
    };
    match (found, f.email.value()) {
        (Some(existing), _) => update_contact(db, existing, f).await,
        (None, Some(email)) => create_contact(db, email, f).await,
        (None, None) => Err(ApiError::BadRequest(
            "No contact has this userId; an email is needed to create one.".into(),
        )),
    }
}
