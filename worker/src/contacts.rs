//! The contact sink: applies a [`ContactChange`] inside the caller's transaction — finds the
//! contact by its key, creates/updates/deletes it under the integration's settings, applies
//! mailing lists, remembers Stripe customer ids, and records the events workflows start from.

use inlet_shared::db::entities::{contact, contact_tombstone, stripe_customer};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::integrations::{EventSettings, OnDelete};
use inlet_shared::providers::{ContactAction, ContactChange, ContactKey, Provider};
use inlet_shared::workflows;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter,
};
use serde_json::{Map, Value};

/// Where a change comes from.
pub struct Source<'a> {
    /// The integration that received it.
    pub integration_id: &'a str,
    /// Its provider.
    pub provider: Provider,
    /// The platform event type.
    pub event_type: &'a str,
    /// The delivery (recorded on events).
    pub delivery_id: &'a str,
    /// The integration's settings for this event type.
    pub settings: &'a EventSettings,
}

/// What applying a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A new contact.
    Created(String),
    /// An existing contact changed.
    Updated(String),
    /// The contact already holds a newer change: no field overwritten (SPEC §6.2); the
    /// event is still recorded.
    Stale(String),
    /// A deletion unsubscribed the contact.
    Unsubscribed(String),
    /// A deletion removed the contact.
    Deleted(String),
    /// The event was recorded on the contact; no field changes.
    Recorded(String),
    /// Nothing applied, and why.
    Ignored(String),
}

impl Applied {
    /// A sentence for the webhook log.
    pub fn describe(&self) -> String {
        match self {
            Self::Created(id) => format!("Created contact {id}."),
            Self::Updated(id) => format!("Updated contact {id}."),
            Self::Stale(id) => format!("Kept contact {id}: it already has a newer change."),
            Self::Unsubscribed(id) => format!("Unsubscribed contact {id}."),
            Self::Deleted(id) => format!("Deleted contact {id}."),
            Self::Recorded(id) => format!("Recorded the event on contact {id}."),
            Self::Ignored(reason) => reason.clone(),
        }
    }

    /// False when nothing was applied.
    pub fn applied(&self) -> bool {
        !matches!(self, Self::Ignored(_))
    }
}

async fn find_by<C: ConnectionTrait>(
    db: &C,
    column: contact::Column,
    value: &str,
) -> Result<Option<contact::Model>, DbErr> {
    contact::Entity::find()
        .filter(column.eq(value))
        .one(db)
        .await
}

/// Finds the contact a change is about. `Err(reason)` when the key cannot be resolved.
async fn resolve<C: ConnectionTrait>(
    db: &C,
    change: &ContactChange,
    source: &Source<'_>,
) -> Result<Result<Option<contact::Model>, String>, DbErr> {
    Ok(match &change.key {
        ContactKey::Email(email) => Ok(find_by(db, contact::Column::Email, email.as_str()).await?),
        ContactKey::UserId(user_id) => match find_by(db, contact::Column::UserId, user_id).await? {
            Some(found) => Ok(Some(found)),
            // A contact made earlier from the same address (e.g. a waitlist entry) gets the
            // userId attached.
            None => match &change.email {
                Some(email) => Ok(find_by(db, contact::Column::Email, email.as_str())
                    .await?
                    .filter(|c| c.user_id.is_none())),
                None => Ok(None),
            },
        },
        ContactKey::StripeCustomer(customer) => {
            let known = stripe_customer::Entity::find()
                .filter(stripe_customer::Column::IntegrationId.eq(source.integration_id))
                .filter(stripe_customer::Column::CustomerId.eq(customer.as_str()))
                .one(db)
                .await?;
            match known {
                Some(link) => Ok(contact::Entity::find_by_id(link.contact_id).one(db).await?),
                None => Err(format!(
                    "Ignored: Stripe customer {customer} is not known yet (no earlier customer, checkout or invoice event named it)."
                )),
            }
        }
    })
}

/// Applies one change.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    change: &ContactChange,
    source: &Source<'_>,
) -> Result<Applied, DbErr> {
    let found = match resolve(db, change, source).await? {
        Ok(found) => found,
        Err(reason) => return Ok(Applied::Ignored(reason)),
    };
    let applied = match (change.action, found) {
        (ContactAction::Upsert, Some(existing)) => update(db, existing, change, source).await?,
        (ContactAction::Upsert, None) => match &change.email {
            Some(_) => create(db, change, source).await?,
            None => Applied::Ignored(format!(
                "Ignored: no contact matches this {} and it carries no usable email.",
                source.event_type
            )),
        },
        (ContactAction::Delete, Some(existing)) => delete(db, existing, change, source).await?,
        (ContactAction::Touch, Some(existing)) => Applied::Recorded(existing.id),
        (ContactAction::Delete | ContactAction::Touch, None) => Applied::Ignored(format!(
            "Ignored: no contact matches this {}.",
            source.event_type
        )),
    };
    let contact_id = match &applied {
        Applied::Created(id)
        | Applied::Updated(id)
        | Applied::Stale(id)
        | Applied::Unsubscribed(id)
        | Applied::Recorded(id) => Some(id.clone()),
        Applied::Deleted(_) | Applied::Ignored(_) => None,
    };
    if let Some(contact_id) = contact_id {
        if let Some(customer) = &change.stripe_customer {
            remember_customer(db, source.integration_id, customer, &contact_id).await?;
        }
        record_events(db, &contact_id, change, source).await?;
    }
    Ok(applied)
}

/// The deletion time of a contact deleted earlier with this email or user id, if any.
async fn tombstone<C: ConnectionTrait>(
    db: &C,
    change: &ContactChange,
) -> Result<Option<i64>, DbErr> {
    let mut any = Condition::any();
    if let Some(email) = &change.email {
        any = any.add(contact_tombstone::Column::Email.eq(email.as_str()));
    }
    if let Some(user_id) = &change.user_id {
        any = any.add(contact_tombstone::Column::UserId.eq(user_id.as_str()));
    }
    if any.is_empty() {
        return Ok(None);
    }
    let found = contact_tombstone::Entity::find()
        .filter(any)
        .all(db)
        .await?;
    Ok(found.iter().map(|t| t.deleted_at).max())
}

async fn create<C: ConnectionTrait>(
    db: &C,
    change: &ContactChange,
    source: &Source<'_>,
) -> Result<Applied, DbErr> {
    let Some(email) = &change.email else {
        return Ok(Applied::Ignored("Ignored: no usable email.".into()));
    };
    // A deleted contact comes back only through an event newer than its deletion.
    if let Some(deleted_at) = tombstone(db, change).await? {
        if change.occurred_at_ms <= deleted_at {
            return Ok(Applied::Ignored(format!(
                "Ignored: the contact was deleted at {} and this event is not newer.",
                inlet_shared::domain::format_ms(deleted_at)
            )));
        }
        contact_tombstone::Entity::delete_many()
            .filter(contact_tombstone::Column::Email.eq(email.as_str()))
            .exec(db)
            .await?;
    }
    let now = now_ms();
    let id = new_id("c_");
    let names = source.settings.update_names;
    let row = contact::ActiveModel {
        id: Set(id.clone()),
        email: Set(email.as_str().to_owned()),
        user_id: Set(change.user_id.clone()),
        first_name: Set(change.first_name.clone().filter(|_| names)),
        last_name: Set(change.last_name.clone().filter(|_| names)),
        source: Set(Some(source.provider.contact_source())),
        user_group: Set(source.settings.user_group.clone()),
        subscribed: Set(true),
        properties: Set(Value::Object(change.properties.clone()).to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        last_event_at: Set(change.occurred_at_ms),
    };
    contact::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    let joined =
        inlet_shared::contacts::apply_lists(db, &id, &source.settings.mailing_lists).await?;
    workflows::contact_written(db, &id, true, &joined).await?;
    Ok(Applied::Created(id))
}

async fn update<C: ConnectionTrait>(
    db: &C,
    existing: contact::Model,
    change: &ContactChange,
    source: &Source<'_>,
) -> Result<Applied, DbErr> {
    // Equal timestamps apply: Stripe's one-second resolution often gives a create and an
    // update the same `created`.
    if change.occurred_at_ms < existing.last_event_at {
        return Ok(Applied::Stale(existing.id));
    }
    let id = existing.id.clone();
    let mut properties = match serde_json::from_str::<Value>(&existing.properties) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut row: contact::ActiveModel = existing.clone().into();
    if let Some(email) = &change.email
        && email.as_str() != existing.email
        && matches!(change.key, ContactKey::UserId(_))
    {
        // The platform's user changed their address; the userId is the identity.
        row.email = Set(email.as_str().to_owned());
    }
    if existing.user_id.is_none() && change.user_id.is_some() {
        row.user_id = Set(change.user_id.clone());
    }
    if source.settings.update_names {
        if let Some(first) = &change.first_name {
            row.first_name = Set(Some(first.clone()));
        }
        if let Some(last) = &change.last_name {
            row.last_name = Set(Some(last.clone()));
        }
    }
    if !change.properties.is_empty() {
        properties.extend(change.properties.clone());
        row.properties = Set(Value::Object(properties).to_string());
    }
    row.last_event_at = Set(change.occurred_at_ms);
    row.updated_at = Set(now_ms());
    row.update(db).await?;
    let joined =
        inlet_shared::contacts::apply_lists(db, &id, &source.settings.mailing_lists).await?;
    workflows::contact_written(db, &id, false, &joined).await?;
    Ok(Applied::Updated(id))
}

async fn delete<C: ConnectionTrait>(
    db: &C,
    existing: contact::Model,
    change: &ContactChange,
    source: &Source<'_>,
) -> Result<Applied, DbErr> {
    if change.occurred_at_ms < existing.last_event_at {
        return Ok(Applied::Stale(existing.id));
    }
    let id = existing.id.clone();
    match source.settings.on_delete {
        OnDelete::Unsubscribe => {
            let mut row: contact::ActiveModel = existing.into();
            row.subscribed = Set(false);
            row.last_event_at = Set(change.occurred_at_ms);
            row.updated_at = Set(now_ms());
            row.update(db).await?;
            Ok(Applied::Unsubscribed(id))
        }
        OnDelete::Delete => {
            inlet_shared::contacts::delete(db, &existing, change.occurred_at_ms).await?;
            Ok(Applied::Deleted(id))
        }
    }
}

async fn remember_customer<C: ConnectionTrait>(
    db: &C,
    integration_id: &str,
    customer: &str,
    contact_id: &str,
) -> Result<(), DbErr> {
    let row = stripe_customer::ActiveModel {
        integration_id: Set(integration_id.to_owned()),
        customer_id: Set(customer.to_owned()),
        contact_id: Set(contact_id.to_owned()),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    stripe_customer::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                stripe_customer::Column::IntegrationId,
                stripe_customer::Column::CustomerId,
            ])
            .update_columns([
                stripe_customer::Column::ContactId,
                stripe_customer::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Records `{provider}:{type}` (when `triggerEvent`) and the custom event (when set).
async fn record_events<C: ConnectionTrait>(
    db: &C,
    contact_id: &str,
    change: &ContactChange,
    source: &Source<'_>,
) -> Result<(), DbErr> {
    let mut names = Vec::with_capacity(2);
    if source.settings.trigger_event {
        names.push(format!(
            "{}:{}",
            source.provider.as_str(),
            source.event_type
        ));
    }
    if let Some(custom) = &source.settings.custom_event {
        names.push(custom.clone());
    }
    for name in names {
        inlet_shared::contacts::record_event(
            db,
            contact_id,
            &name,
            &change.event_properties,
            change.occurred_at_ms,
            Some(source.delivery_id),
        )
        .await?;
    }
    Ok(())
}
