//! The contact sink: applies a [`ContactChange`] inside the caller's transaction.

use inlet_shared::db::entities::contact;
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::integrations::EventSettings;
use inlet_shared::providers::{ContactAction, ContactChange, Provider};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};

/// What applying a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A new contact.
    Created(String),
    /// An existing contact changed.
    Updated(String),
    /// The contact already holds a newer change: nothing overwritten (SPEC §6.2).
    Stale(String),
    /// Nothing to match the change to.
    NoMatch,
}

impl Applied {
    /// A sentence for the webhook log.
    pub fn describe(&self) -> String {
        match self {
            Self::Created(id) => format!("Created contact {id}."),
            Self::Updated(id) => format!("Updated contact {id}."),
            Self::Stale(id) => format!("Skipped: contact {id} already has a newer change."),
            Self::NoMatch => "Ignored: no contact matches this event.".to_owned(),
        }
    }
}

/// Creates or updates the contact the change is about.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    change: &ContactChange,
    settings: &EventSettings,
    provider: Provider,
) -> Result<Applied, DbErr> {
    match change.action {
        ContactAction::Upsert => upsert(db, change, settings, provider).await,
    }
}

async fn upsert<C: ConnectionTrait>(
    db: &C,
    change: &ContactChange,
    settings: &EventSettings,
    provider: Provider,
) -> Result<Applied, DbErr> {
    let Some(email) = &change.email else {
        return Ok(Applied::NoMatch);
    };
    let now = now_ms();
    let existing = contact::Entity::find()
        .filter(contact::Column::Email.eq(email.as_str()))
        .one(db)
        .await?;
    match existing {
        Some(found) => {
            // Equal timestamps apply: Stripe's one-second resolution often gives a create and
            // an update the same `created`.
            if change.occurred_at_ms < found.last_event_at {
                return Ok(Applied::Stale(found.id));
            }
            let id = found.id.clone();
            let mut row: contact::ActiveModel = found.into();
            if settings.update_names {
                if let Some(first) = &change.first_name {
                    row.first_name = Set(Some(first.clone()));
                }
                if let Some(last) = &change.last_name {
                    row.last_name = Set(Some(last.clone()));
                }
            }
            row.last_event_at = Set(change.occurred_at_ms);
            row.updated_at = Set(now);
            row.update(db).await?;
            Ok(Applied::Updated(id))
        }
        None => {
            let id = new_id("c_");
            let (first_name, last_name) = if settings.update_names {
                (change.first_name.clone(), change.last_name.clone())
            } else {
                (None, None)
            };
            let row = contact::ActiveModel {
                id: Set(id.clone()),
                email: Set(email.as_str().to_owned()),
                user_id: Set(None),
                first_name: Set(first_name),
                last_name: Set(last_name),
                source: Set(Some(provider.contact_source())),
                user_group: Set(settings.user_group.clone()),
                subscribed: Set(true),
                properties: Set("{}".to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
                last_event_at: Set(change.occurred_at_ms),
            };
            contact::Entity::insert(row)
                .exec_without_returning(db)
                .await?;
            Ok(Applied::Created(id))
        }
    }
}
