//! The contact sink: applies a [`ContactChange`] inside the caller's transaction — finds the
//! contact by its key, creates/updates/deletes it under the integration's settings, applies
//! mailing lists, remembers Stripe customer ids, and records the events workflows start from.

use inlet_shared::contacts::{self, Edit, Field};
use inlet_shared::db::entities::{contact, stripe_customer};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::integrations::{EventSettings, OnDelete};
use inlet_shared::messages::TraceContext;
use inlet_shared::providers::{ContactAction, ContactChange, ContactKey, Provider};
use inlet_shared::workflows;

use crate::unit::Unit;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr};

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
    /// The delivery's own trace context (not the span around a batch of them): the
    /// workflow runs it starts record it.
    pub trace: &'a TraceContext,
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

/// Finds the contact a change is about. `Err(reason)` when the key cannot be resolved.
async fn resolve<C: ConnectionTrait>(
    db: &C,
    unit: &mut Unit,
    change: &ContactChange,
    source: &Source<'_>,
) -> Result<Result<Option<contact::Model>, String>, DbErr> {
    Ok(match &change.key {
        ContactKey::Email(email) => Ok(unit.by_email(db, email.as_str()).await?),
        ContactKey::UserId(user_id) => match unit.by_user_id(db, user_id).await? {
            Some(found) => Ok(Some(found)),
            // A contact made earlier from the same address (e.g. a waitlist entry) gets the
            // userId attached.
            None => match &change.email {
                Some(email) => Ok(unit
                    .by_email(db, email.as_str())
                    .await?
                    .filter(|c| c.user_id.is_none())),
                None => Ok(None),
            },
        },
        ContactKey::StripeCustomer(customer) => {
            match unit
                .by_customer(db, source.integration_id, customer)
                .await?
            {
                Ok(found) => Ok(found),
                Err(()) => Err(format!(
                    "Ignored: Stripe customer {customer} is not known yet (no earlier customer, checkout or invoice event named it)."
                )),
            }
        }
    })
}

/// Applies one change inside `db`'s transaction, reading and queueing through `unit`; with
/// the notes of the properties dropped for not matching their declared type.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    unit: &mut Unit,
    change: &ContactChange,
    source: &Source<'_>,
) -> Result<(Applied, Vec<String>), DbErr> {
    let found = match resolve(db, unit, change, source).await? {
        Ok(found) => found,
        Err(reason) => return Ok((Applied::Ignored(reason), Vec::new())),
    };
    // A mapped property of the wrong declared type is dropped, not the delivery: the rest
    // applies and the webhook log says what was left out.
    let (properties, dropped) = unit.declared(db).await?.check_lenient(&change.properties);
    let typed = ContactChange {
        properties,
        ..change.clone()
    };
    let change = &typed;
    let applied = match (change.action, found) {
        (ContactAction::Upsert, Some(existing)) => {
            update(db, unit, existing, change, source).await?
        }
        (ContactAction::Upsert, None) => match &change.email {
            Some(_) => create(db, unit, change, source).await?,
            None => Applied::Ignored(format!(
                "Ignored: no contact matches this {} and it carries no usable email.",
                source.event_type
            )),
        },
        (ContactAction::Delete, Some(existing)) => {
            delete(db, unit, existing, change, source).await?
        }
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
            unit.link_customer(stripe_customer::ActiveModel {
                integration_id: Set(source.integration_id.to_owned()),
                customer_id: Set(customer.clone()),
                contact_id: Set(contact_id.clone()),
                updated_at: Set(now_ms()),
            });
        }
        record_events(db, unit, &contact_id, change, source).await?;
    }
    Ok((applied, dropped))
}

async fn create<C: ConnectionTrait>(
    db: &C,
    unit: &mut Unit,
    change: &ContactChange,
    source: &Source<'_>,
) -> Result<Applied, DbErr> {
    let Some(email) = &change.email else {
        return Ok(Applied::Ignored("Ignored: no usable email.".into()));
    };
    let at = change.occurred_at_ms;
    if let Some(deleted_at) = unit.tombstone(db, change).await? {
        if !contacts::revives(at, deleted_at) {
            return Ok(Applied::Ignored(format!(
                "Ignored: the contact was deleted at {} and this event is not newer.",
                inlet_shared::domain::format_ms(deleted_at)
            )));
        }
        contacts::clear_tombstones(db, email.as_str(), change.user_id.as_deref()).await?;
        unit.tombstones_changed(change);
    }
    // `source` and `userGroup` are set on creation only (SPEC §6.3).
    let edit = Edit {
        user_id: Field::given(change.user_id.clone()),
        source: Field::Set(source.provider.contact_source()),
        user_group: Field::given(source.settings.user_group.clone()),
        properties: change.properties.clone(),
        ..names(change, source)
    };
    let created = edit.created(new_id("c_"), email.as_str().to_owned(), at, now_ms());
    let id = created.id.clone();
    unit.create(created.clone());
    let joined = contacts::apply_lists(db, &id, &source.settings.mailing_lists).await?;
    contact_written(db, unit, &created, true, &joined, source.trace).await?;
    Ok(Applied::Created(id))
}

/// The names a change gives, when the integration lets changes set them (`updateNames`).
fn names(change: &ContactChange, source: &Source<'_>) -> Edit {
    if !source.settings.update_names {
        return Edit::default();
    }
    Edit {
        first_name: Field::given(change.first_name.clone()),
        last_name: Field::given(change.last_name.clone()),
        ..Edit::default()
    }
}

async fn update<C: ConnectionTrait>(
    db: &C,
    unit: &mut Unit,
    existing: contact::Model,
    change: &ContactChange,
    source: &Source<'_>,
) -> Result<Applied, DbErr> {
    if contacts::is_stale(change.occurred_at_ms, existing.last_event_at) {
        return Ok(Applied::Stale(existing.id));
    }
    let edit = Edit {
        // The platform's user changed their address; the userId is the identity.
        email: change
            .email
            .as_ref()
            .filter(|_| matches!(change.key, ContactKey::UserId(_)))
            .map(|e| e.as_str().to_owned()),
        // A userId is attached once (to a contact made from the address alone) and never
        // replaced by a webhook.
        user_id: match existing.user_id {
            None => Field::given(change.user_id.clone()),
            Some(_) => Field::Absent,
        },
        properties: change.properties.clone(),
        ..names(change, source)
    };
    let after = edit.merged(&existing, change.occurred_at_ms, now_ms());
    let id = existing.id.clone();
    // Written as the transaction ends, with the batch's other changed contacts.
    unit.updated(&existing, after.clone());
    let joined = contacts::apply_lists(db, &id, &source.settings.mailing_lists).await?;
    contact_written(db, unit, &after, false, &joined, source.trace).await?;
    Ok(Applied::Updated(id))
}

async fn delete<C: ConnectionTrait>(
    db: &C,
    unit: &mut Unit,
    existing: contact::Model,
    change: &ContactChange,
    source: &Source<'_>,
) -> Result<Applied, DbErr> {
    if contacts::is_stale(change.occurred_at_ms, existing.last_event_at) {
        return Ok(Applied::Stale(existing.id));
    }
    let id = existing.id.clone();
    match source.settings.on_delete {
        OnDelete::Unsubscribe => {
            let after = Edit {
                subscribed: Some(false),
                ..Edit::default()
            }
            .merged(&existing, change.occurred_at_ms, now_ms());
            unit.updated(&existing, after);
            Ok(Applied::Unsubscribed(id))
        }
        OnDelete::Delete => {
            // What this transaction queued for the contact goes with it, unwritten.
            unit.forget(db, &existing.id).await?;
            contacts::delete(db, &existing, change.occurred_at_ms).await?;
            unit.deleted(&existing);
            Ok(Applied::Deleted(id))
        }
    }
}

/// Starts the contact triggers of a write (`contactAdded` or `contactUpdated`, then
/// `addedToList` per newly joined list) that some enabled workflow listens to.
async fn contact_written<C: ConnectionTrait>(
    db: &C,
    unit: &mut Unit,
    contact: &contact::Model,
    created: bool,
    joined_lists: &[String],
    trace: &TraceContext,
) -> Result<(), DbErr> {
    let triggers = unit.triggers(db).await?;
    let written = if created {
        workflows::Occurrence::ContactAdded
    } else {
        workflows::Occurrence::ContactUpdated
    };
    let mut due = Vec::new();
    if triggers.matches(&written) {
        due.push(written);
    }
    for list in joined_lists {
        let joined = workflows::Occurrence::AddedToList(list);
        if triggers.matches(&joined) {
            due.push(joined);
        }
    }
    for occurrence in due {
        workflows::start(db, contact, occurrence, trace).await?;
    }
    Ok(())
}

/// Records `{provider}:{type}` (when `triggerEvent`) and the custom event (when set),
/// cancels the runs they make exit, and starts the workflows they trigger.
async fn record_events<C: ConnectionTrait>(
    db: &C,
    unit: &mut Unit,
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
        if !name.contains(':') {
            // A custom event (platform ones are declared by their provider).
            contacts::patterns::observe(db, &name, &change.event_properties).await?;
        }
        unit.record_event(contacts::event_row(
            contact_id,
            &name,
            &change.event_properties,
            change.occurred_at_ms,
            Some(source.delivery_id),
        ));
        // The runs it ends are cancelled in this transaction, before those it starts.
        let triggers = unit.triggers(db).await?;
        workflows::exit_on_event(db, triggers, contact_id, &name).await?;
        let occurrence = workflows::Occurrence::Event {
            name: &name,
            properties: &change.event_properties,
        };
        if triggers.matches(&occurrence)
            && let Some(contact) = unit.contact(contact_id).cloned()
        {
            workflows::start(db, &contact, occurrence, source.trace).await?;
        }
    }
    Ok(())
}
