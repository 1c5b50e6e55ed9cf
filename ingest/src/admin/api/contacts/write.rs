//! Finding, creating and updating the contact row an API request names, through the
//! contact service (`inlet_shared::contacts`) the webhooks use too.

use inlet_shared::contacts::{self, Edit};
use inlet_shared::db::entities::contact;
use inlet_shared::domain::{Email, format_ms, new_id, now_ms};
use inlet_shared::telemetry::propagation;
use inlet_shared::workflows;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

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

/// The edit a request's fields make: every field it names, `null` clearing one.
fn edit_of(f: &ContactFields) -> Edit {
    Edit {
        email: None,
        user_id: f.user_id.clone(),
        first_name: f.first_name.clone(),
        last_name: f.last_name.clone(),
        source: f.source.clone(),
        user_group: f.user_group.clone(),
        subscribed: f.subscribed,
        properties: f.custom.clone(),
    }
}

/// Creates the contact at `email`. A request is timed when it arrives, so it is newer than
/// any deletion it follows and clears the tombstone — unless a platform dated that deletion
/// in the future, when the contact stays deleted and the caller hears why.
pub(super) async fn create_contact<C: ConnectionTrait>(
    db: &C,
    email: &Email,
    f: &ContactFields,
) -> Result<contact::Model, ApiError> {
    let now = now_ms();
    let user_id = f.user_id.value().map(String::as_str);
    if let Some(deleted_at) = contacts::deleted_at(db, email.as_str(), user_id).await? {
        if !contacts::revives(now, deleted_at) {
            return Err(ApiError::Conflict(format!(
                "This contact was deleted by an event dated {}, later than now; it cannot be created again before then.",
                format_ms(deleted_at)
            )));
        }
        contacts::clear_tombstones(db, email.as_str(), user_id).await?;
    }
    let edit = Edit {
        source: match &f.source {
            Field::Set(source) => Field::Set(source.clone()),
            Field::Absent | Field::Null => Field::Set("API".to_owned()),
        },
        ..edit_of(f)
    };
    let created = edit.created(new_id("c_"), email.as_str().to_owned(), now, now);
    contacts::insert(db, &created).await?;
    let joined = contacts::apply_lists(db, &created.id, &f.mailing_lists).await?;
    workflows::contact_written(db, &created, true, &joined, &propagation::current()).await?;
    Ok(created)
}

/// Updates `existing` (read under its row lock) with the request's fields. A request is a
/// change made now: the contact's last change moves to now, so a platform event older than
/// the request does not overwrite what it set.
async fn update_contact<C: ConnectionTrait>(
    db: &C,
    existing: contact::Model,
    f: &ContactFields,
) -> Result<contact::Model, ApiError> {
    let mut edit = edit_of(f);
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
        edit.email = Some(email.as_str().to_owned());
    }
    if let Field::Set(user_id) = &f.user_id
        && existing.user_id.as_deref() != Some(user_id.as_str())
        && find_by(db, contact::Column::UserId, user_id)
            .await?
            .is_some()
    {
        return Err(ApiError::Conflict(
            "Email or userId is already on your audience.".into(),
        ));
    }
    if f.user_id == Field::Null {
        // The userId is how the contact is found; a request does not clear it.
        edit.user_id = Field::Absent;
    }
    let now = now_ms();
    let after = edit.merged(&existing, now, now);
    contacts::save(db, &existing, &after).await?;
    let joined = contacts::apply_lists(db, &after.id, &f.mailing_lists).await?;
    workflows::contact_written(db, &after, false, &joined, &propagation::current()).await?;
    Ok(after)
}

/// Finds the contact for an update or event: by userId first, then by email; creates it
/// when there is none (an email is needed for that).
pub(crate) async fn upsert<C: ConnectionTrait>(
    db: &C,
    f: &ContactFields,
) -> Result<contact::Model, ApiError> {
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
