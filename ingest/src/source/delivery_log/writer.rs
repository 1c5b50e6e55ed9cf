//! The one task that writes the queued entries: batches (up to 1,000, waiting 50 ms to
//! fill), one transaction each, through the store's log writer
//! (`inlet_shared::webhook_log`). Old rows go by retention (`inlet_shared::retention`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use inlet_shared::db::entities::{webhook_log as entity, webhook_log_request};
use inlet_shared::domain::now_ms;
use inlet_shared::webhook_log;
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Entry;

const BATCH: usize = 1000;
/// How long the writer waits for more entries after the first of a batch.
const LINGER: Duration = Duration::from_millis(50);

pub(super) async fn write_batches(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Entry>,
    dropped: Arc<AtomicU64>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
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

/// Writes the batch through the store's log writer (one transaction; it takes the rows in
/// delivery-id order, as the worker does) and empties it.
async fn write(db: &DatabaseConnection, batch: &mut Vec<Entry>) {
    let now = now_ms();
    let mut requests = Vec::new();
    let rows = batch
        .drain(..)
        .map(|e| {
            if let Some(request) = e.request {
                requests.push(webhook_log_request::Model {
                    delivery_id: e.id.clone(),
                    headers: serde_json::to_string(&request.headers)
                        .unwrap_or_else(|_| "[]".into()),
                    body: request.body.to_vec(),
                    body_truncated: request.truncated,
                    received_at: e.received_at_ms,
                });
            }
            entity::Model {
                id: e.id,
                integration_id: e.integration_id,
                provider: e.provider.to_owned(),
                event_type: e.event_type,
                idempotency_key: e.idempotency_key,
                status: e.status.as_str().to_owned(),
                message: e.message,
                attempts: 0,
                received_at: e.received_at_ms,
                updated_at: now,
            }
        })
        .collect();
    if let Err(e) = webhook_log::write_received(db, rows, requests).await {
        tracing::warn!(error = %e, "Could not write webhook log entries.");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
