//! The ingest side of the webhook log, kept off the hot path: the deliveries ingest
//! answers without enqueueing (ignored and rejected ones; an accepted delivery is logged
//! by the worker that applies it). Handlers hand entries to a bounded channel without
//! waiting, and one task writes them in batches.
//!
//! Rejected deliveries need no signature, so what they may write is bounded whoever sends
//! them: their kept request is the headers and the first [`REJECTED_BODY_KEPT`] bytes of the
//! body; at most [`REJECTED_PER_MINUTE`] rows per (integration, reason) per minute are
//! written; and all of them together, whatever the integration or reason, write at most
//! [`REJECTED_BYTES_PER_MINUTE`] (as [`Entry::cost`] counts them) per minute and process. The
//! rest are only counted. Deliveries to unknown integration ids are never written (there is
//! no integration to attach them to; they show in metrics and logs only). When the channel is
//! full (database slower than the traffic), entries are dropped and counted: the log is an
//! aid, while the delivery itself is safe in the queue.
//!
//! Beside each entry, the request is kept for the console (`webhook_log_requests`): headers
//! without signatures, secrets or credentials, and the first [`BODY_KEPT`] bytes of the body
//! of a signed delivery, for `INLET_RETAIN_REQUESTS`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use inlet_shared::db::entities::webhook_log::DeliveryStatus;
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod budget;
mod request;
mod writer;

use budget::RejectionBudget;
pub use budget::{REJECTED_BYTES_PER_MINUTE, REJECTED_PER_MINUTE};
pub use request::{Request, is_shown_header, kept_headers};

/// Bytes of a rejected delivery's body kept: enough to see what was sent.
pub const REJECTED_BODY_KEPT: usize = 4 * 1024;
/// What a row costs beyond its text (row and index headers, the numbers), counted in
/// [`Entry::cost`].
const ROW_OVERHEAD: u64 = 128;
const CHANNEL: usize = 4 * 1024;
/// Bytes of a signed delivery's body kept for the console (the worker keeps as much of
/// an accepted one's).
pub use inlet_shared::webhook_log::BODY_KEPT;

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
    /// Accepted, ignored or rejected.
    pub status: DeliveryStatus,
    /// What the sender was told.
    pub message: String,
    /// When it arrived (epoch ms).
    pub received_at_ms: i64,
    /// The request, when its body was read.
    pub request: Option<Request>,
}

impl Entry {
    /// Bytes it will take in the database, roughly: its text, its request, and a fixed
    /// allowance per row for what is not text.
    pub fn cost(&self) -> u64 {
        let text = self.id.len()
            + self.integration_id.len()
            + self.provider.len()
            + self.event_type.as_ref().map_or(0, String::len)
            + self.idempotency_key.as_ref().map_or(0, String::len)
            + self.status.as_str().len()
            + self.message.len();
        text as u64 + ROW_OVERHEAD + self.request.as_ref().map_or(0, Request::cost)
    }
}

/// Handle to the log writer.
pub struct DeliveryLog {
    tx: mpsc::Sender<Entry>,
    dropped: Arc<AtomicU64>,
    limiter: std::sync::Mutex<RejectionBudget>,
}

impl DeliveryLog {
    /// Starts the writer task; it drains what is queued when `shutdown` is cancelled.
    pub fn spawn(db: DatabaseConnection, shutdown: CancellationToken) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(writer::write_batches(db, rx, dropped.clone(), shutdown));
        Arc::new(Self {
            tx,
            dropped,
            limiter: std::sync::Mutex::new(RejectionBudget::default()),
        })
    }

    /// Queues an entry without waiting.
    pub fn record(&self, entry: Entry) {
        if self.tx.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues a rejected delivery unless its (integration, reason) is over the row cap or
    /// the minute's byte budget is spent.
    pub fn record_rejected(&self, reason: &'static str, entry: Entry) {
        let minute = entry.received_at_ms / 60_000;
        let cost = entry.cost();
        let allowed = match self.limiter.lock() {
            Ok(mut budget) => budget.admit(minute, &entry.integration_id, reason, cost),
            Err(_) => false,
        };
        if allowed {
            self.record(entry);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Entries not written (channel full, over the rejection cap, or lost to a panic).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
