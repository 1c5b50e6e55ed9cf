//! The ingest side of the webhook log, kept off the hot path: handlers hand entries to a
//! bounded channel without waiting, and one task writes them in batches.
//!
//! Rejected deliveries are capped so an attacker cannot fill the database: at most
//! [`REJECTED_PER_MINUTE`] rows per (integration, reason) per minute are written (the rest are
//! only counted), and deliveries to unknown integration ids are never written (there is no
//! integration to attach them to; they show in metrics and logs only). When the channel is
//! full (database slower than the traffic), entries are dropped and counted: the log is an
//! aid, while the delivery itself is safe in the queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use inlet_shared::db::entities::webhook_log;
use inlet_shared::domain::now_ms;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Rows per (integration, rejection reason) per minute.
pub const REJECTED_PER_MINUTE: u32 = 60;
const CHANNEL: usize = 16 * 1024;
const BATCH: usize = 500;

/// One delivery as ingest saw it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Delivery id (`wh_…`).
    pub id: String,
    /// The integration.
    pub integration_id: String,
    /// Its provider.
    pub provider: &'static str,
    /// Event type, when the body was read that far.
    pub event_type: Option<String>,
    /// Idempotency key, when known.
    pub idempotency_key: Option<String>,
    /// `accepted`, `ignored` or `rejected`.
    pub status: &'static str,
    /// What the sender was told.
    pub message: String,
    /// When it arrived (epoch ms).
    pub received_at_ms: i64,
}

/// Rejections written per (integration, reason): the minute counted and how many so far.
type RejectionCounts = HashMap<(String, &'static str), (i64, u32)>;

/// Handle to the log writer.
pub struct DeliveryLog {
    tx: mpsc::Sender<Entry>,
    dropped: AtomicU64,
    limiter: std::sync::Mutex<RejectionCounts>,
}

impl DeliveryLog {
    /// Starts the writer task; it drains what is queued when `shutdown` is cancelled.
    pub fn spawn(db: DatabaseConnection, shutdown: CancellationToken) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(write_batches(db, rx, shutdown));
        Arc::new(Self {
            tx,
            dropped: AtomicU64::new(0),
            limiter: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Queues an entry without waiting.
    pub fn record(&self, entry: Entry) {
        if self.tx.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues a rejected delivery unless its (integration, reason) is over the cap.
    pub fn record_rejected(&self, reason: &'static str, entry: Entry) {
        let minute = entry.received_at_ms / 60_000;
        let allowed = match self.limiter.lock() {
            Ok(mut limiter) => {
                if limiter.len() > 10_000 {
                    limiter.retain(|_, (m, _)| *m == minute);
                }
                let slot = limiter
                    .entry((entry.integration_id.clone(), reason))
                    .or_insert((minute, 0));
                if slot.0 != minute {
                    *slot = (minute, 0);
                }
                slot.1 += 1;
                slot.1 <= REJECTED_PER_MINUTE
            }
            Err(_) => false,
        };
        if allowed {
            self.record(entry);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Entries not written (channel full or over the rejection cap).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn write_batches(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Entry>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let received = tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => n,
            () = shutdown.cancelled() => {
                rx.close();
                while rx.recv_many(&mut batch, BATCH).await > 0 {
                    write(&db, &mut batch).await;
                }
                return;
            }
        };
        if received == 0 {
            return;
        }
        write(&db, &mut batch).await;
    }
}

async fn write(db: &DatabaseConnection, batch: &mut Vec<Entry>) {
    let now = now_ms();
    let rows = batch.drain(..).map(|e| webhook_log::ActiveModel {
        id: Set(e.id),
        integration_id: Set(e.integration_id),
        provider: Set(e.provider.to_owned()),
        event_type: Set(e.event_type),
        idempotency_key: Set(e.idempotency_key),
        status: Set(e.status.to_owned()),
        message: Set(e.message),
        attempts: Set(0),
        received_at: Set(e.received_at_ms),
        updated_at: Set(now),
    });
    // The worker may have written the row already (processed): its outcome wins.
    let result = webhook_log::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(webhook_log::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "Could not write webhook log entries.");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
