//! A unit of work: what one transaction has read of contacts and what it will append.
//!
//! A batch of deliveries names its contacts up front, so the worker reads them — by email,
//! user id and Stripe customer, with their tombstones — in a handful of set queries instead
//! of several queries per delivery. Lookups are then answered from memory, and every write
//! the transaction makes to a contact updates that memory, so a later delivery of the same
//! batch sees it (the ordering guard compares against the newest state). Rows that are only
//! ever appended or upserted (recorded events, Stripe customer links, the webhook log), and
//! the changed contacts themselves, are collected and written in one statement each as the
//! transaction ends ([`Unit::finish`]); nothing needs them written earlier: every read of
//! a contact the transaction changed is answered from memory. A unit lives and dies with its transaction: a rollback discards it.

mod read;
mod write;

use std::collections::HashMap;

use inlet_shared::contacts::properties::Declared;
use inlet_shared::db::entities::{contact, contact_event, stripe_customer};
use inlet_shared::providers::ContactChange;
use inlet_shared::webhook_log;
use inlet_shared::workflows::Triggers;

/// What a transaction knows and will append. `None` in a lookup map means "known absent";
/// a key missing from a map means "not known yet" (the database is asked).
#[derive(Default)]
pub struct Unit {
    contacts: HashMap<String, contact::Model>,
    by_email: HashMap<String, Option<String>>,
    by_user: HashMap<String, Option<String>>,
    links: HashMap<(String, String), Option<String>>,
    tomb_email: HashMap<String, Option<i64>>,
    tomb_user: HashMap<String, Option<i64>>,
    triggers: Option<Triggers>,
    declared: Option<Declared>,
    new_contacts: Vec<String>,
    /// Stored contacts this transaction changed: written as they end up, by
    /// [`Unit::finish`] (one statement for all, instead of a round trip each).
    saved: Vec<String>,
    events: Vec<contact_event::ActiveModel>,
    new_links: Vec<stripe_customer::ActiveModel>,
    log: Vec<webhook_log::Outcome>,
}

impl Unit {
    /// Notes a contact row as it now is.
    pub fn remember(&mut self, c: contact::Model) {
        self.by_email.insert(c.email.clone(), Some(c.id.clone()));
        if let Some(user) = &c.user_id {
            self.by_user.insert(user.clone(), Some(c.id.clone()));
        }
        self.contacts.insert(c.id.clone(), c);
    }

    /// Queues a new contact: it is inserted by [`Unit::finish`], with whatever later changes
    /// of the same transaction made to it.
    pub fn create(&mut self, c: contact::Model) {
        self.new_contacts.push(c.id.clone());
        self.remember(c);
    }

    /// The contact as this transaction has made it, if it knows it.
    pub fn contact(&self, id: &str) -> Option<&contact::Model> {
        self.contacts.get(id)
    }

    /// Whether the contact is queued for insertion (not in the database yet).
    pub fn is_new(&self, id: &str) -> bool {
        self.new_contacts.iter().any(|n| n == id)
    }

    /// Notes an updated contact row, to be written by [`Unit::finish`] (a new one is
    /// inserted as it ends up): its old address, if it changed, belongs to nobody now.
    pub fn updated(&mut self, before: &contact::Model, after: contact::Model) {
        if before.email != after.email {
            self.by_email.insert(before.email.clone(), None);
        }
        if !self.is_new(&after.id) && !self.saved.contains(&after.id) {
            self.saved.push(after.id.clone());
        }
        self.remember(after);
    }

    /// Notes a deleted contact: gone under every key, its customer links removed, its
    /// tombstones to be read again.
    pub fn deleted(&mut self, c: &contact::Model) {
        self.contacts.remove(&c.id);
        self.saved.retain(|id| *id != c.id);
        self.by_email.insert(c.email.clone(), None);
        self.tomb_email.remove(&c.email);
        if let Some(user) = &c.user_id {
            self.by_user.insert(user.clone(), None);
            self.tomb_user.remove(user);
        }
        for link in self.links.values_mut() {
            if link.as_deref() == Some(c.id.as_str()) {
                *link = None;
            }
        }
    }

    /// Notes that the tombstones of a change's email and user id were removed (or changed).
    pub fn tombstones_changed(&mut self, change: &ContactChange) {
        if let Some(email) = &change.email {
            self.tomb_email.remove(email.as_str());
        }
        if let Some(user) = &change.user_id {
            self.tomb_user.remove(user);
        }
    }
}

/// A queued column's value (`None` when not set).
fn value<V: Clone + Into<sea_orm::Value>>(v: &sea_orm::ActiveValue<V>) -> Option<V> {
    match v {
        sea_orm::ActiveValue::Set(v) | sea_orm::ActiveValue::Unchanged(v) => Some(v.clone()),
        sea_orm::ActiveValue::NotSet => None,
    }
}

#[cfg(test)]
mod tests;
