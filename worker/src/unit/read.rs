//! What a unit reads: the batch's contacts, links, tombstones and triggers loaded up front,
//! and the lookups answered from memory (or, for what is not known yet, the database).

use std::collections::{HashMap, HashSet};

use inlet_shared::contacts::properties::Declared;
use inlet_shared::db::entities::{contact, contact_tombstone, stripe_customer};
use inlet_shared::providers::{ContactChange, ContactKey};
use inlet_shared::workflows::Triggers;
use sea_orm::sea_query::ArrayType;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, Value,
};

use super::Unit;

impl Unit {
    /// Loads, in a few set queries, every contact, tombstone and Stripe customer link the
    /// changes of `integration`s name, and the triggers of the enabled workflows.
    pub async fn preload<'a, C: ConnectionTrait>(
        &mut self,
        db: &C,
        changes: impl IntoIterator<Item = (&'a str, &'a ContactChange)>,
    ) -> Result<(), DbErr> {
        let mut emails = HashSet::new();
        let mut users = HashSet::new();
        let mut customers = HashSet::new();
        for (integration, change) in changes {
            if let Some(email) = &change.email {
                emails.insert(email.as_str().to_owned());
            }
            if let Some(user) = &change.user_id {
                users.insert(user.clone());
            }
            match &change.key {
                ContactKey::Email(email) => {
                    emails.insert(email.as_str().to_owned());
                }
                ContactKey::UserId(user) => {
                    users.insert(user.clone());
                }
                ContactKey::StripeCustomer(customer) => {
                    customers.insert((integration.to_owned(), customer.clone()));
                }
            }
            if let Some(customer) = &change.stripe_customer {
                customers.insert((integration.to_owned(), customer.clone()));
            }
        }
        // The links first: the contacts they point to are locked with the others.
        let mut linked = HashSet::new();
        if !customers.is_empty() {
            let found = read_links(db, &customers).await?;
            for key in &customers {
                self.links.insert(key.clone(), None);
            }
            for link in found {
                let key = (link.integration_id, link.customer_id);
                if customers.contains(&key) {
                    linked.insert(link.contact_id.clone());
                    self.links.insert(key, Some(link.contact_id));
                }
            }
        }
        if !emails.is_empty() || !users.is_empty() || !linked.is_empty() {
            let found = lock_contacts(
                db,
                Condition::any()
                    .add(contact::Column::Email.is_in(emails.iter().cloned()))
                    .add(contact::Column::UserId.is_in(users.iter().cloned()))
                    .add(contact::Column::Id.is_in(linked)),
            )
            .await?;
            for email in &emails {
                self.by_email.insert(email.clone(), None);
            }
            for user in &users {
                self.by_user.insert(user.clone(), None);
            }
            for c in found {
                self.remember(c);
            }
        }
        if !emails.is_empty() || !users.is_empty() {
            self.read_tombstones(db, &emails, &users).await?;
        }
        self.triggers(db).await?;
        Ok(())
    }

    /// Reads, in one query, when contacts with these emails or user ids were last deleted.
    async fn read_tombstones<C: ConnectionTrait>(
        &mut self,
        db: &C,
        emails: &HashSet<String>,
        users: &HashSet<String>,
    ) -> Result<(), DbErr> {
        let tombstones = contact_tombstone::Entity::find()
            .filter(
                Condition::any()
                    .add(contact_tombstone::Column::Email.is_in(emails.iter().cloned()))
                    .add(contact_tombstone::Column::UserId.is_in(users.iter().cloned())),
            )
            .all(db)
            .await?;
        for email in emails {
            let newest = tombstones
                .iter()
                .filter(|t| &t.email == email)
                .map(|t| t.deleted_at)
                .max();
            self.tomb_email.insert(email.clone(), newest);
        }
        for user in users {
            let newest = tombstones
                .iter()
                .filter(|t| t.user_id.as_ref() == Some(user))
                .map(|t| t.deleted_at)
                .max();
            self.tomb_user.insert(user.clone(), newest);
        }
        Ok(())
    }

    /// The contact with this id.
    pub async fn by_id<C: ConnectionTrait>(
        &mut self,
        db: &C,
        id: &str,
    ) -> Result<Option<contact::Model>, DbErr> {
        if let Some(c) = self.contacts.get(id) {
            return Ok(Some(c.clone()));
        }
        let found = lock_contacts(db, contact::Column::Id.eq(id)).await?.pop();
        if let Some(c) = &found {
            self.remember(c.clone());
        }
        Ok(found)
    }

    /// The contact with this email.
    pub async fn by_email<C: ConnectionTrait>(
        &mut self,
        db: &C,
        email: &str,
    ) -> Result<Option<contact::Model>, DbErr> {
        self.by_key(db, contact::Column::Email, email).await
    }

    /// The contact with this user id.
    pub async fn by_user_id<C: ConnectionTrait>(
        &mut self,
        db: &C,
        user: &str,
    ) -> Result<Option<contact::Model>, DbErr> {
        self.by_key(db, contact::Column::UserId, user).await
    }

    /// The contact whose unique `column` (email or user id) holds `value`.
    async fn by_key<C: ConnectionTrait>(
        &mut self,
        db: &C,
        column: contact::Column,
        value: &str,
    ) -> Result<Option<contact::Model>, DbErr> {
        fn index(unit: &mut Unit, column: contact::Column) -> &mut HashMap<String, Option<String>> {
            match column {
                contact::Column::UserId => &mut unit.by_user,
                _ => &mut unit.by_email,
            }
        }
        if let Some(known) = index(self, column).get(value).cloned()
            && let Some(found) = self.known(&known)
        {
            return Ok(found);
        }
        let found = match lock_contacts(db, column.eq(value)).await?.pop() {
            // A contact this transaction changed is written only as it ends: the row read
            // is older than the one in memory, which is the one to answer from.
            Some(stored) => match self.contacts.get(&stored.id) {
                Some(current) => Some(current.clone()).filter(|c| has_key(c, column, value)),
                None => {
                    self.remember(stored.clone());
                    Some(stored)
                }
            },
            None => None,
        };
        if found.is_none() {
            index(self, column).insert(value.to_owned(), None);
        }
        Ok(found)
    }

    /// What an index entry says, when the row it points to is in memory.
    fn known(&self, entry: &Option<String>) -> Option<Option<contact::Model>> {
        match entry {
            None => Some(None),
            Some(id) => self.contacts.get(id).map(|c| Some(c.clone())),
        }
    }

    /// The contact linked to a Stripe customer of an integration; `Err(())` when the
    /// customer is not known.
    pub async fn by_customer<C: ConnectionTrait>(
        &mut self,
        db: &C,
        integration: &str,
        customer: &str,
    ) -> Result<Result<Option<contact::Model>, ()>, DbErr> {
        let key = (integration.to_owned(), customer.to_owned());
        let link = match self.links.get(&key) {
            Some(known) => known.clone(),
            None => {
                let found = stripe_customer::Entity::find()
                    .filter(stripe_customer::Column::IntegrationId.eq(integration))
                    .filter(stripe_customer::Column::CustomerId.eq(customer))
                    .one(db)
                    .await?
                    .map(|l| l.contact_id);
                self.links.insert(key, found.clone());
                found
            }
        };
        match link {
            Some(id) => Ok(Ok(self.by_id(db, &id).await?)),
            None => Ok(Err(())),
        }
    }

    /// When a contact with the change's email or user id was last deleted, if ever.
    pub async fn tombstone<C: ConnectionTrait>(
        &mut self,
        db: &C,
        change: &ContactChange,
    ) -> Result<Option<i64>, DbErr> {
        let email = change.email.as_ref().map(|e| e.as_str().to_owned());
        let user = change.user_id.clone();
        let email_known = email
            .as_ref()
            .is_none_or(|e| self.tomb_email.contains_key(e));
        let user_known = user.as_ref().is_none_or(|u| self.tomb_user.contains_key(u));
        if !(email_known && user_known) {
            let emails: HashSet<String> = email.iter().cloned().collect();
            let users: HashSet<String> = user.iter().cloned().collect();
            self.read_tombstones(db, &emails, &users).await?;
        }
        let by_email = email.and_then(|e| self.tomb_email.get(&e).copied().flatten());
        let by_user = user.and_then(|u| self.tomb_user.get(&u).copied().flatten());
        Ok(by_email.max(by_user))
    }

    /// The triggers of the enabled workflows, read once per unit.
    pub async fn triggers<C: ConnectionTrait>(&mut self, db: &C) -> Result<&Triggers, DbErr> {
        if self.triggers.is_none() {
            self.triggers = Some(Triggers::load(db).await?);
        }
        Ok(self.triggers.get_or_insert_default())
    }

    /// The declared contact properties, read once per unit.
    pub async fn declared<C: ConnectionTrait>(&mut self, db: &C) -> Result<&Declared, DbErr> {
        if self.declared.is_none() {
            self.declared = Some(inlet_shared::contacts::properties::declared(db).await?);
        }
        Ok(self.declared.get_or_insert_default())
    }
}

/// Whether the contact's unique `column` (email or user id) holds `value`.
fn has_key(c: &contact::Model, column: contact::Column, value: &str) -> bool {
    match column {
        contact::Column::UserId => c.user_id.as_deref() == Some(value),
        _ => c.email == value,
    }
}

/// Reads the contacts matching `filter` and locks them (PostgreSQL; SQLite has one writer
/// at a time), in id order, until the transaction ends.
///
/// Read and written under the lock, a contact cannot change between the ordering guard's
/// check and the write: a concurrent transaction holding a newer change (another worker,
/// or another batch of this one) is waited for, and the row then read is the one it wrote.
/// Read without it, the older change would overwrite the newer one. In id order, two
/// batches locking some of the same contacts take them in one order, so one waits for the
/// other instead of each waiting for the other (a deadlock).
async fn lock_contacts<C: ConnectionTrait>(
    db: &C,
    filter: impl sea_orm::sea_query::IntoCondition,
) -> Result<Vec<contact::Model>, DbErr> {
    contact::Entity::find()
        .filter(filter)
        .order_by_asc(contact::Column::Id)
        .lock_exclusive()
        .all(db)
        .await
}

/// The Stripe customer links with these (integration, customer) keys.
///
/// On PostgreSQL each key is one probe of the unique (integration, customer) index, by a
/// lateral join the planner cannot turn into a scan. The plain `integration = $1 AND
/// customer IN (…)` was planned, while the table had no column statistics yet (young, or
/// growing fast between autovacuum's analyses), as a scan of all of the integration's
/// links filtered by customer: 8 ms a batch at 30,000 links, most of a drain's database
/// time. SQLite's planner uses the index for the plain form.
async fn read_links<C: ConnectionTrait>(
    db: &C,
    keys: &HashSet<(String, String)>,
) -> Result<Vec<stripe_customer::Model>, DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        let (integrations, customers): (Vec<Value>, Vec<Value>) = keys
            .iter()
            .map(|(i, c)| (Value::from(i.clone()), Value::from(c.clone())))
            .unzip();
        let array = |values| Value::Array(ArrayType::String, Some(Box::new(values)));
        return stripe_customer::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT s.* FROM UNNEST($1::text[], $2::text[]) AS k(integration_id, customer_id) \
                 CROSS JOIN LATERAL (SELECT * FROM stripe_customers c \
                   WHERE c.integration_id = k.integration_id AND c.customer_id = k.customer_id \
                   LIMIT 1) AS s",
                [array(integrations), array(customers)],
            ))
            .all(db)
            .await;
    }
    let mut per_integration: HashMap<&str, Vec<&str>> = HashMap::new();
    for (integration, customer) in keys {
        per_integration
            .entry(integration.as_str())
            .or_default()
            .push(customer.as_str());
    }
    let mut any = Condition::any();
    for (integration, customers) in per_integration {
        any = any.add(
            Condition::all()
                .add(stripe_customer::Column::IntegrationId.eq(integration))
                .add(stripe_customer::Column::CustomerId.is_in(customers)),
        );
    }
    stripe_customer::Entity::find().filter(any).all(db).await
}
