//! The ingest side of the webhook log, kept off the hot path: handlers hand entries to a
//! bounded channel without waiting, and one task writes them in batches.
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
//! of a signed delivery, for [`REQUEST_RETENTION_MS`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use inlet_shared::db::entities::{webhook_log, webhook_log_request};
use inlet_shared::domain::now_ms;
use inlet_shared::providers::Headers;
use sea_orm::sea_query::ArrayType;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, Statement, TransactionTrait, Value,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod budget;

use budget::RejectionBudget;
pub use budget::{REJECTED_BYTES_PER_MINUTE, REJECTED_PER_MINUTE};

/// Bytes of a rejected delivery's body kept: enough to see what was sent.
pub const REJECTED_BODY_KEPT: usize = 4 * 1024;
/// What a row costs beyond its text (row and index headers, the numbers), counted in
/// [`Entry::cost`].
const ROW_OVERHEAD: u64 = 128;
const CHANNEL: usize = 4 * 1024;
const BATCH: usize = 1000;
/// How long the writer waits for more entries after the first of a batch.
const LINGER: Duration = Duration::from_millis(50);
/// Bytes of a signed delivery's body kept for the console.
pub const BODY_KEPT: usize = 64 * 1024;
/// How long requests are kept for the console (the log entry itself stays).
pub const REQUEST_RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// How often old requests are pruned.
const PRUNE_EVERY_MS: i64 = 10 * 60 * 1000;

/// Parts of a header name that mark a signature, a secret or a credential: such headers are
/// never stored.
const SECRET_HEADER_PARTS: [&str; 7] = [
    "signature",
    "secret",
    "auth",
    "cookie",
    "token",
    "key",
    "password",
];

/// Whether a header may be stored and shown (not a signature, secret or credential).
pub fn is_shown_header(name: &str) -> bool {
    // Compared in place, ignoring case: this runs for every header of every delivery.
    let name = name.as_bytes();
    !SECRET_HEADER_PARTS.iter().any(|part| {
        name.windows(part.len())
            .any(|w| w.eq_ignore_ascii_case(part.as_bytes()))
    })
}

/// The request of a delivery, as the console shows it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Headers, already without signatures and secrets ([`is_shown_header`]).
    pub headers: Vec<(String, String)>,
    /// The body as received, or its first bytes.
    pub body: bytes::Bytes,
    /// Whether `body` is only the first bytes.
    pub truncated: bool,
}

impl Request {
    /// Keeps the headers that [`is_shown_header`] allows, and the first `keep` bytes of the
    /// body.
    pub fn new(headers: &dyn Headers, body: bytes::Bytes, keep: usize) -> Self {
        let mut kept = Vec::new();
        headers.for_each(&mut |name, value| {
            if is_shown_header(name) {
                kept.push((name.to_owned(), value.to_owned()));
            }
        });
        let truncated = body.len() > keep;
        // A cut body is copied: a slice would hold the whole received buffer (up to
        // `INLET_MAX_BODY_BYTES`) while the entry waits in the channel.
        let body = if truncated {
            bytes::Bytes::copy_from_slice(body.get(..keep).unwrap_or_default())
        } else {
            body
        };
        Self {
            headers: kept,
            body,
            truncated,
        }
    }

    /// Bytes it will take in the database (its headers are stored as JSON pairs).
    fn cost(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len() + 8)
            .sum();
        (headers + self.body.len()) as u64 + ROW_OVERHEAD
    }
}

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
            + self.status.len()
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
        tokio::spawn(write_batches(db, rx, dropped.clone(), shutdown));
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

async fn write_batches(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Entry>,
    dropped: Arc<AtomicU64>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut pruned_at = 0;
    loop {
        let received = tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => n,
            () = shutdown.cancelled() => {
                rx.close();
                while rx.recv_many(&mut batch, BATCH).await > 0 {
                    write_guarded(&db, &mut batch, &dropped).await;
                }
                return;
            }
        };
        if received == 0 {
            return;
        }
        if batch.len() < BATCH {
            // Let a busy stream fill the batch: a few large transactions instead of one
            // small one (and its commit) per handful of deliveries.
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(entry) => batch.push(entry),
                    Err(_) => break,
                }
            }
        }
        write_guarded(&db, &mut batch, &dropped).await;
        let now = now_ms();
        if now - pruned_at >= PRUNE_EVERY_MS {
            pruned_at = now;
            prune(&db, now - REQUEST_RETENTION_MS).await;
        }
    }
}

/// Writes a batch; a panic while writing loses that batch (logged, and counted like
/// entries that could not be queued) but never the writer, which goes on with the next.
async fn write_guarded(db: &DatabaseConnection, batch: &mut Vec<Entry>, dropped: &AtomicU64) {
    use futures_util::FutureExt;
    let size = batch.len();
    let written = std::panic::AssertUnwindSafe(write(db, batch))
        .catch_unwind()
        .await;
    if written.is_err() {
        tracing::error!(
            entries = size,
            "Writing webhook log entries panicked; they are lost."
        );
        dropped.fetch_add(size as u64, Ordering::Relaxed);
        batch.clear();
    }
}

/// Deletes kept requests received before `before`.
async fn prune(db: &DatabaseConnection, before: i64) {
    let result = webhook_log_request::Entity::delete_many()
        .filter(webhook_log_request::Column::ReceivedAt.lt(before))
        .exec(db)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "Could not prune kept webhook requests.");
    }
}

async fn write(db: &DatabaseConnection, batch: &mut Vec<Entry>) {
    // In delivery-id order, as the worker writes its log rows: when a worker applies a
    // delivery before it is logged here, both insert the same ids, and two transactions
    // taking them in different orders can each wait for the other (a deadlock).
    batch.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    if db.get_database_backend() == DbBackend::Postgres {
        if let Err(e) = write_postgres(db, batch).await {
            tracing::warn!(error = %e, "Could not write webhook log entries.");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        batch.clear();
        return;
    }
    let now = now_ms();
    let requests: Vec<webhook_log_request::ActiveModel> = batch
        .iter_mut()
        .filter_map(|e| {
            let request = e.request.take()?;
            Some(webhook_log_request::ActiveModel {
                delivery_id: Set(e.id.clone()),
                headers: Set(
                    serde_json::to_string(&request.headers).unwrap_or_else(|_| "[]".into())
                ),
                body: Set(request.body.to_vec()),
                body_truncated: Set(request.truncated),
                received_at: Set(e.received_at_ms),
            })
        })
        .collect();
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
        return;
    }
    if requests.is_empty() {
        return;
    }
    let result = webhook_log_request::Entity::insert_many(requests)
        .on_conflict(
            OnConflict::column(webhook_log_request::Column::DeliveryId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, "Could not keep webhook requests for the console.");
    }
}

/// PostgreSQL: the batch as one array per column, unnested by two statements whose text
/// never changes (so they are prepared once per connection, whatever the batch size), in one
/// transaction. A multi-row `VALUES` list would be a new statement, with up to thousands of
/// parameters to parse and plan, for every batch size.
async fn write_postgres(db: &DatabaseConnection, batch: &mut [Entry]) -> Result<(), DbErr> {
    fn array(ty: ArrayType, values: Vec<Value>) -> Value {
        Value::Array(ty, Some(Box::new(values)))
    }
    // An array's elements cannot be NULL here: an absent text travels as '' and is turned
    // back into NULL by `NULLIF` (no event type or idempotency key is ever empty).
    fn text(values: impl Iterator<Item = Option<String>>) -> Value {
        array(
            ArrayType::String,
            values.map(|v| Value::from(v.unwrap_or_default())).collect(),
        )
    }
    let now = now_ms();
    let log = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO webhook_log (id, integration_id, provider, event_type, idempotency_key, \
         status, message, attempts, received_at, updated_at) \
         SELECT id, integration_id, provider, NULLIF(event_type, ''), \
         NULLIF(idempotency_key, ''), status, message, 0, \
         received_at, $9 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
         $7::text[], $8::int8[]) \
         AS t(id, integration_id, provider, event_type, idempotency_key, status, message, \
         received_at) \
         ON CONFLICT (id) DO NOTHING",
        [
            text(batch.iter().map(|e| Some(e.id.clone()))),
            text(batch.iter().map(|e| Some(e.integration_id.clone()))),
            text(batch.iter().map(|e| Some(e.provider.to_owned()))),
            text(batch.iter_mut().map(|e| e.event_type.take())),
            text(batch.iter_mut().map(|e| e.idempotency_key.take())),
            text(batch.iter().map(|e| Some(e.status.to_owned()))),
            text(
                batch
                    .iter_mut()
                    .map(|e| Some(std::mem::take(&mut e.message))),
            ),
            array(
                ArrayType::BigInt,
                batch
                    .iter()
                    .map(|e| Value::from(e.received_at_ms))
                    .collect(),
            ),
            Value::from(now),
        ],
    );
    let kept: Vec<(&Entry, Request)> = batch
        .iter_mut()
        .filter_map(|e| {
            let request = e.request.take()?;
            Some((&*e, request))
        })
        .collect();
    let txn = db.begin().await?;
    // The worker may have written the row already (processed): its outcome wins.
    txn.execute_raw(log).await?;
    if !kept.is_empty() {
        let requests = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO webhook_log_requests (delivery_id, headers, body, body_truncated, \
             received_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::bool[], $5::int8[]) \
             ON CONFLICT (delivery_id) DO NOTHING",
            [
                text(kept.iter().map(|(e, _)| Some(e.id.clone()))),
                text(kept.iter().map(|(_, r)| {
                    Some(serde_json::to_string(&r.headers).unwrap_or_else(|_| "[]".into()))
                })),
                array(
                    ArrayType::Bytes,
                    kept.iter()
                        .map(|(_, r)| Value::from(r.body.to_vec()))
                        .collect(),
                ),
                array(
                    ArrayType::Bool,
                    kept.iter().map(|(_, r)| Value::from(r.truncated)).collect(),
                ),
                array(
                    ArrayType::BigInt,
                    kept.iter()
                        .map(|(e, _)| Value::from(e.received_at_ms))
                        .collect(),
                ),
            ],
        );
        txn.execute_raw(requests).await?;
    }
    txn.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_body_is_copied_and_marked() {
        let body = bytes::Bytes::from(vec![b'x'; 60 * 1024]);
        let request = Request::new(
            &Vec::<(&str, &str)>::new(),
            body.clone(),
            REJECTED_BODY_KEPT,
        );
        assert_eq!(request.body.len(), REJECTED_BODY_KEPT);
        assert!(request.truncated);
        let whole = Request::new(&Vec::<(&str, &str)>::new(), body, BODY_KEPT);
        assert_eq!(whole.body.len(), 60 * 1024);
        assert!(!whole.truncated);
    }

    #[test]
    fn signatures_secrets_and_credentials_are_never_kept() {
        for name in [
            "Stripe-Signature",
            "svix-signature",
            "webhook-signature",
            "Loops-Secret",
            "Inlet-Secret",
            "Authorization",
            "Cookie",
            "X-Api-Key",
            "X-Auth-Token",
        ] {
            assert!(!is_shown_header(name), "{name}");
        }
        for name in [
            "content-type",
            "user-agent",
            "svix-id",
            "svix-timestamp",
            "webhook-id",
        ] {
            assert!(is_shown_header(name), "{name}");
        }
        let request = Request::new(
            &vec![
                ("Stripe-Signature", "t=1,v1=x"),
                ("Content-Type", "application/json"),
            ],
            bytes::Bytes::from_static(b"{}"),
            BODY_KEPT,
        );
        assert_eq!(
            request.headers,
            vec![("Content-Type".to_owned(), "application/json".to_owned())]
        );
    }
}
