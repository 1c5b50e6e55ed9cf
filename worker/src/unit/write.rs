//! What a unit writes: the rows queued by the transaction (contacts, events, Stripe
//! customer links, webhook-log rows), inserted in one multi-row statement per table before
//! the commit (the log rows through the store's one log writer).

use std::collections::HashMap;

use inlet_shared::bulk;
use inlet_shared::contacts;
use inlet_shared::db::entities::{contact, contact_event, stripe_customer};
use inlet_shared::webhook_log;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
};

use super::{Unit, value};

impl Unit {
    /// Queues a recorded event.
    pub fn record_event(&mut self, row: contact_event::ActiveModel) {
        self.events.push(row);
    }

    /// Queues a Stripe customer link (the newest per customer wins) and answers later
    /// lookups with it.
    pub fn link_customer(&mut self, row: stripe_customer::ActiveModel) {
        if let (Some(integration), Some(customer)) =
            (value(&row.integration_id), value(&row.customer_id))
        {
            self.links
                .insert((integration, customer), value(&row.contact_id));
        }
        self.new_links.push(row);
    }

    /// Queues a delivery's webhook-log row and kept request (the newest row per delivery
    /// wins).
    pub fn log(&mut self, outcome: webhook_log::Outcome) {
        self.log.push(outcome);
    }

    /// Writes what was queued and the webhook-log rows, as the transaction's last
    /// statements: call it once, before the commit.
    ///
    /// The log rows go in one statement ([`inlet_shared::webhook_log::write_outcomes`]:
    /// the newest per delivery, in delivery-id order, so two batches never deadlock on
    /// the ids both write). They go last, so the rows stay locked for the shortest time.
    pub async fn finish<C: ConnectionTrait>(&mut self, db: &C) -> Result<(), DbErr> {
        self.flush(db).await?;
        inlet_shared::webhook_log::write_outcomes(db, std::mem::take(&mut self.log)).await
    }

    /// Drops what this transaction queued for a contact about to be deleted (its creation,
    /// events and customer links), so none of it is written; a customer link it queued may
    /// have replaced a stored one, which goes too, as the contact's own links do.
    pub async fn forget<C: ConnectionTrait>(
        &mut self,
        db: &C,
        contact_id: &str,
    ) -> Result<(), DbErr> {
        let of_contact = |c: &sea_orm::ActiveValue<String>| value(c).as_deref() == Some(contact_id);
        self.new_contacts.retain(|id| id != contact_id);
        self.events.retain(|e| !of_contact(&e.contact_id));
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.new_links)
            .into_iter()
            .partition(|l| of_contact(&l.contact_id));
        self.new_links = kept;
        let mut keys = Condition::any();
        for link in &gone {
            if let (Some(integration), Some(customer)) =
                (value(&link.integration_id), value(&link.customer_id))
            {
                keys = keys.add(
                    Condition::all()
                        .add(stripe_customer::Column::IntegrationId.eq(integration))
                        .add(stripe_customer::Column::CustomerId.eq(customer)),
                );
            }
        }
        if !keys.is_empty() {
            stripe_customer::Entity::delete_many()
                .filter(keys)
                .exec(db)
                .await?;
        }
        Ok(())
    }

    /// Writes the changed and new contacts, the events and customer links (one statement
    /// per table), not the log rows ([`Unit::finish`] writes those). Nothing else in the
    /// transaction reads these rows back from the database (lookups are answered from
    /// memory, a deletion drops what is queued), so they are written once, at the end.
    async fn flush<C: ConnectionTrait>(&mut self, db: &C) -> Result<(), DbErr> {
        // Changed contacts first: an address one of them gave up may be a new contact's.
        let saved: Vec<contact::Model> = std::mem::take(&mut self.saved)
            .iter()
            .filter_map(|id| self.contacts.get(id).cloned())
            .collect();
        contacts::save_all(db, saved).await?;
        // New contacts and customer links in key order, as the claims (see `claim_all`):
        // concurrent batches inserting the same keys wait for each other, never deadlock.
        let mut created: Vec<&contact::Model> = std::mem::take(&mut self.new_contacts)
            .iter()
            .filter_map(|id| self.contacts.get(id))
            .collect();
        created.sort_by(|a, b| a.email.cmp(&b.email));
        let created: Vec<contact::ActiveModel> = created
            .into_iter()
            .map(|c| contact::ActiveModel::from(c.clone()))
            .collect();
        let events = std::mem::take(&mut self.events);
        let mut links = newest_per_key(std::mem::take(&mut self.new_links), |l| {
            (value(&l.integration_id), value(&l.customer_id))
        });
        links.sort_by_cached_key(|l| (value(&l.integration_id), value(&l.customer_id)));
        if db.get_database_backend() == DbBackend::Postgres {
            bulk::insert(db, created, "").await?;
            bulk::insert(db, events, "").await?;
            bulk::insert(
                db,
                links,
                "ON CONFLICT (integration_id, customer_id) DO UPDATE \
                 SET contact_id = EXCLUDED.contact_id, updated_at = EXCLUDED.updated_at",
            )
            .await?;
            return Ok(());
        }
        if !created.is_empty() {
            contact::Entity::insert_many(created)
                .exec_without_returning(db)
                .await?;
        }
        if !events.is_empty() {
            contact_event::Entity::insert_many(events)
                .exec_without_returning(db)
                .await?;
        }
        if !links.is_empty() {
            stripe_customer::Entity::insert_many(links)
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
        }
        Ok(())
    }
}

/// Keeps the last row for each key, in the order the keys first came (an upsert statement
/// may not touch one row twice).
fn newest_per_key<T, K: std::hash::Hash + Eq>(rows: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    let mut position: HashMap<K, usize> = HashMap::new();
    let mut out: Vec<T> = Vec::with_capacity(rows.len());
    for row in rows {
        match position.get(&key(&row)) {
            Some(&i) => {
                if let Some(kept) = out.get_mut(i) {
                    *kept = row;
                }
            }
            None => {
                position.insert(key(&row), out.len());
                out.push(row);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::newest_per_key;

    #[test]
    fn newest_per_key_keeps_the_last_row_of_each_key_in_first_seen_order() {
        let rows = vec![("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        assert_eq!(
            newest_per_key(rows, |r| r.0),
            vec![("a", 3), ("b", 5), ("c", 4)]
        );
    }
}
