//! The worker's own test bench: a migrated database (SQLite in memory, or a PostgreSQL
//! database of the test's own for what only PostgreSQL does), an integration with its
//! settings, and deliveries made as ingest makes them — a provider's sample, signed,
//! verified and enveloped — then queued and taken from the embedded queue, so the tests
//! drive the handler and the runner through the entry points production uses.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use inlet_migrations::{Migrator, MigratorTrait};
use inlet_shared::db::entities::{contact, contact_event, integration, queue_message, webhook_log};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::email::{Mailer, RenderLimits, UnsubscribeKey};
use inlet_shared::integrations::{EventSettings, EventSettingsMap, IntegrationCache, secrets};
use inlet_shared::metrics::Metrics;
use inlet_shared::providers::Provider;
use inlet_shared::providers::samples::{self, Person};
use inlet_shared::queue::embedded::EmbeddedQueue;
use inlet_shared::queue::{Delivery, Queue, QueueMessage, RetryPolicy};
use inlet_shared::sealed::Vault;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder,
};

use crate::Handler;
use crate::workflows::{Runner, RunnerSettings};

/// Attempts a delivery gets before the dead letters, in these tests.
pub(crate) const MAX_ATTEMPTS: u32 = 3;

/// The signing secret of every test integration (Stripe, Clerk and Polar accept it).
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn pg_admin_url() -> String {
    std::env::var("INLET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A PostgreSQL database of one test's own, dropped with it.
struct PostgresDb {
    name: String,
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        // Drop cannot await: the drop runs on a runtime of its own.
        let name = std::mem::take(&mut self.name);
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(admin) = Database::connect(pg_admin_url()).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// A migrated database, the embedded queue in it, and a handler applying its deliveries.
pub(crate) struct Bench {
    pub(crate) db: DatabaseConnection,
    pub(crate) queue: EmbeddedQueue,
    pub(crate) cache: IntegrationCache,
    /// Seals the bench's secrets under a key of its own.
    pub(crate) vault: Vault,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) handler: Handler,
    // Last: the database is dropped after the connections that use it.
    _postgres: Option<PostgresDb>,
}

impl Bench {
    /// On a fresh SQLite database in memory (one connection, as Inlet opens SQLite).
    pub(crate) async fn sqlite() -> Self {
        let db = inlet_shared::db::connect("sqlite::memory:", 1)
            .await
            .unwrap();
        Self::on(db, None).await
    }

    /// On a fresh PostgreSQL database (`INLET_TEST_POSTGRES_URL`, by default the local
    /// server), with a pool wide enough for concurrent transactions.
    pub(crate) async fn postgres() -> Self {
        let admin = Database::connect(pg_admin_url()).await.expect(
            "PostgreSQL is required at 127.0.0.1:5432 (set INLET_TEST_POSTGRES_URL); is it running?",
        );
        let name = format!("inlet_worker_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let _ = admin.close().await;
        let guard = PostgresDb { name: name.clone() };
        let base = pg_admin_url();
        let (prefix, _) = base.rsplit_once('/').expect("a database URL");
        let db = inlet_shared::db::connect(&format!("{prefix}/{name}"), 8)
            .await
            .unwrap();
        Self::on(db, Some(guard)).await
    }

    async fn on(db: DatabaseConnection, postgres: Option<PostgresDb>) -> Self {
        Migrator::up(&db, None).await.unwrap();
        let vault = Vault::ephemeral();
        let cache = IntegrationCache::load(db.clone(), vault.clone())
            .await
            .unwrap();
        let metrics = Metrics::new();
        let retry = RetryPolicy {
            delays: vec![Duration::from_millis(10)],
            max_attempts: MAX_ATTEMPTS,
        };
        Self {
            queue: EmbeddedQueue::new(db.clone()),
            handler: Handler::new(db.clone(), cache.clone(), metrics.clone(), retry),
            db,
            cache,
            vault,
            metrics,
            _postgres: postgres,
        }
    }

    /// A new integration of `provider`, with `settings` for some event types (the rest
    /// default), known to the handler's cache.
    pub(crate) async fn integration(
        &self,
        provider: Provider,
        settings: &[(&str, EventSettings)],
    ) -> Integration {
        let id = new_id("int_");
        let events: EventSettingsMap = settings
            .iter()
            .map(|(t, s)| ((*t).to_owned(), s.clone()))
            .collect();
        let now = now_ms();
        integration::Entity::insert(integration::ActiveModel {
            id: Set(id.clone()),
            provider: Set(provider.as_str().to_owned()),
            name: Set(format!("{} test", provider.display_name())),
            events: Set(serde_json::to_string(&events).unwrap()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&self.db)
        .await
        .unwrap();
        secrets::add(&self.db, &self.vault, &id, SECRET, now, None)
            .await
            .unwrap();
        self.cache.reload().await.unwrap();
        Integration {
            id,
            provider,
            cache: self.cache.clone(),
        }
    }

    /// Queues `messages` in order and takes them back as deliveries (their attempt counted
    /// by the queue), in the same order.
    pub(crate) async fn take(&self, messages: &[&QueueMessage]) -> Vec<Delivery> {
        self.publish(messages).await;
        self.consume(messages).await
    }

    /// Queues `messages`, in order.
    pub(crate) async fn publish(&self, messages: &[&QueueMessage]) {
        for message in messages {
            self.queue.publish(message).await.unwrap();
        }
    }

    /// Takes the queued `messages` as deliveries, in the order they were queued (nothing
    /// else may be ready in the queue).
    pub(crate) async fn consume(&self, messages: &[&QueueMessage]) -> Vec<Delivery> {
        let prefetch = u16::try_from(messages.len().max(1)).unwrap();
        let mut consumer = Queue::Embedded(self.queue.clone())
            .consume(prefetch)
            .await
            .unwrap();
        let mut taken = Vec::with_capacity(messages.len());
        while taken.len() < messages.len() {
            let next = tokio::time::timeout(Duration::from_secs(10), consumer.next())
                .await
                .expect("a delivery in time")
                .expect("not cancelled")
                .expect("no queue error");
            taken.push(next);
        }
        let ids = |ds: &[Delivery]| -> Vec<String> {
            ds.iter().map(|d| d.message.delivery_id.clone()).collect()
        };
        let expected: Vec<String> = messages.iter().map(|m| m.delivery_id.clone()).collect();
        assert_eq!(ids(&taken), expected, "taken in the order queued");
        taken
    }

    /// Applies `messages` as one batch, through the handler.
    pub(crate) async fn apply(&self, messages: &[&QueueMessage]) {
        let batch = self.take(messages).await;
        self.handle(batch).await;
    }

    /// Hands `batch` to the handler as the consumer loop does. Boxed: the handler's future
    /// is large, and a test's own, holding several, would overflow a test thread's stack.
    pub(crate) async fn handle(&self, batch: Vec<Delivery>) {
        Box::pin(self.handler.handle_batch(batch)).await;
    }

    /// Applies each message in a batch of its own, in order.
    pub(crate) async fn apply_each(&self, messages: &[&QueueMessage]) {
        for message in messages {
            self.apply(&[message]).await;
        }
    }

    /// Makes the queue count `attempts` earlier takes of a queued delivery (attempts cut
    /// short: the process died holding it).
    pub(crate) async fn set_attempts(&self, delivery_id: &str, attempts: u32) {
        queue_message::Entity::update_many()
            .col_expr(
                queue_message::Column::Attempts,
                Expr::value(i32::try_from(attempts).unwrap()),
            )
            .filter(queue_message::Column::DeliveryId.eq(delivery_id))
            .exec(&self.db)
            .await
            .unwrap();
    }

    /// The contact with this address, if any.
    pub(crate) async fn contact(&self, email: &str) -> Option<contact::Model> {
        contact::Entity::find()
            .filter(contact::Column::Email.eq(email))
            .one(&self.db)
            .await
            .unwrap()
    }

    /// The events recorded on a contact, oldest first.
    pub(crate) async fn events(&self, contact_id: &str) -> Vec<String> {
        contact_event::Entity::find()
            .filter(contact_event::Column::ContactId.eq(contact_id))
            .order_by_asc(contact_event::Column::OccurredAt)
            .order_by_asc(contact_event::Column::Id)
            .all(&self.db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_name)
            .collect()
    }

    /// A delivery's row in the webhook log.
    pub(crate) async fn log(&self, delivery_id: &str) -> webhook_log::Model {
        webhook_log::Entity::find_by_id(delivery_id.to_owned())
            .one(&self.db)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no webhook-log row for {delivery_id}"))
    }

    /// How many rows a table holds.
    pub(crate) async fn count<E: EntityTrait>(&self, _table: E) -> u64
    where
        E::Model: Sync,
    {
        E::find().count(&self.db).await.unwrap()
    }
}

/// A directory of `.eml` files standing in for the SMTP server, removed when dropped.
pub(crate) struct Outbox {
    pub(crate) dir: PathBuf,
}

impl Outbox {
    pub(crate) fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "inlet-worker-outbox-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    /// The emails written so far.
    pub(crate) fn sent(&self) -> usize {
        std::fs::read_dir(&self.dir).map_or(0, Iterator::count)
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Bench {
    /// A workflow runner on this database, sending into `outbox`.
    pub(crate) async fn runner(&self, outbox: &Outbox) -> Runner {
        Runner::new(
            self.db.clone(),
            Mailer::new(None, outbox.dir.clone()).unwrap(),
            UnsubscribeKey::load_or_create(&self.db, &self.vault)
                .await
                .unwrap(),
            self.metrics.clone(),
            RunnerSettings {
                public_url: "http://inlet.test".into(),
                from: "Inlet <inlet@example.com>".parse().unwrap(),
                retry: RetryPolicy {
                    delays: vec![Duration::from_millis(10)],
                    max_attempts: MAX_ATTEMPTS,
                },
                render_limits: RenderLimits::default(),
            },
        )
    }
}

/// A test integration: builds its deliveries.
pub(crate) struct Integration {
    pub(crate) id: String,
    provider: Provider,
    cache: IntegrationCache,
}

/// Who a delivery is about.
pub(crate) fn person<'a>(email: &'a str, name: (&'a str, &'a str), id: &'a str) -> Person<'a> {
    Person {
        email,
        first_name: name.0,
        last_name: name.1,
        id,
    }
}

impl Integration {
    /// A delivery of the provider's sample `event_type` about `who`, happening at
    /// `at_secs` (platform time): signed as the platform signs it, verified against the
    /// integration's keys and enveloped as ingest does before queueing it.
    pub(crate) fn delivery(
        &self,
        event_type: &str,
        who: &Person<'_>,
        at_secs: i64,
    ) -> QueueMessage {
        let provider = self.provider;
        let body = samples::sample(provider, event_type, who, at_secs)
            .unwrap_or_else(|| panic!("no {provider:?} sample of {event_type}"));
        let now_secs = now_ms() / 1000;
        let signed = samples::sign(provider, SECRET, &body, now_secs, &new_id("msg_")).unwrap();
        let headers: Vec<(&str, &str)> = signed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let runtime = self.cache.get(&self.id).expect("the integration is cached");
        provider
            .verify(
                runtime.keys_at(now_ms()),
                &headers,
                body.as_bytes(),
                now_secs,
                300,
            )
            .unwrap();
        let envelope = provider.envelope(&headers, body.as_bytes()).unwrap();
        assert_eq!(envelope.ignore, None);
        QueueMessage {
            delivery_id: new_id("wh_"),
            integration_id: self.id.clone(),
            provider,
            event_type: envelope.event_type,
            idempotency_key: envelope.idempotency_key,
            received_at_ms: now_ms(),
            body: body.into(),
            trace: Default::default(),
            kept_headers: None,
        }
    }
}

/// Another delivery of the same event (the platform sending it again): same body and
/// idempotency key, a delivery id of its own.
pub(crate) fn resend(message: &QueueMessage) -> QueueMessage {
    QueueMessage {
        delivery_id: new_id("wh_"),
        ..message.clone()
    }
}
