//! Handling one delivery: map it, apply its effects and record it as processed in one
//! transaction, then acknowledge. Redeliveries and resent events find the processed row
//! and change nothing.

mod apply;
mod claim;
mod log;
#[cfg(test)]
mod tests;

use inlet_shared::domain::now_ms;
use std::sync::Arc;

use inlet_shared::db::entities::webhook_log::DeliveryStatus;
use inlet_shared::integrations::IntegrationCache;
use inlet_shared::isolate::isolate;
use inlet_shared::metrics::{Metrics, label};
use inlet_shared::providers::Mapping;
use inlet_shared::queue::{Delivery, QueueMessage, RetryPolicy};
use inlet_shared::retry;
use inlet_shared::telemetry::propagation;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, TransactionTrait};
use tracing::Instrument;

use self::log::note;
use crate::error::WorkerError;
use crate::unit::Unit;

pub(crate) use claim::claim_all;

/// How long a delivery is retried in-process before it goes back to the queue.
const IN_PROCESS_RETRY: std::time::Duration = std::time::Duration::from_millis(300);

/// What processing a delivery ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Effects applied; the log message says which.
    Processed(String),
    /// Nothing to apply, and why.
    Ignored(String),
    /// Already applied by an earlier delivery of the same event.
    Duplicate,
}

impl Outcome {
    /// Its status in the webhook log, and the log's message.
    pub(crate) fn logged(&self) -> (DeliveryStatus, &str) {
        match self {
            Self::Processed(text) => (DeliveryStatus::Processed, text),
            Self::Ignored(text) => (DeliveryStatus::Ignored, text),
            Self::Duplicate => (DeliveryStatus::Duplicate, ""),
        }
    }
}

/// Applies deliveries.
pub struct Handler {
    db: DatabaseConnection,
    cache: IntegrationCache,
    retry: RetryPolicy,
    metrics: Arc<Metrics>,
}

impl Handler {
    /// A handler writing to `db`, reading integrations from `cache`, retrying per `retry`.
    pub fn new(
        db: DatabaseConnection,
        cache: IntegrationCache,
        metrics: Arc<Metrics>,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            db,
            cache,
            retry,
            metrics,
        }
    }

    /// Processes, then acks, retries later, or dead-letters. Its `delivery` span continues
    /// the trace the message carries: a child of ingest's span for the delivery.
    pub async fn handle(&self, delivery: Delivery) {
        let span = tracing::info_span!(
            "delivery",
            delivery = %delivery.message.delivery_id,
            integration = %delivery.message.integration_id,
            event_type = %delivery.message.event_type,
            attempt = delivery.attempt,
        );
        propagation::continue_trace(&span, &delivery.message.trace);
        self.handle_alone(delivery).instrument(span).await;
    }

    async fn handle_alone(&self, delivery: Delivery) {
        let attempt = delivery.attempt;
        let started = std::time::Instant::now();
        // Brief hiccups (a lock, a lost connection, two workers creating the same contact)
        // are retried here for a moment; longer trouble goes back to the queue with a delay.
        let result =
            retry::retry_transient(IN_PROCESS_RETRY, WorkerError::is_transient, || async {
                isolate(self.process(&delivery.message, attempt)).await?
            })
            .await;
        let error = match result {
            Ok(outcome) => return self.applied(delivery, &outcome, started).await,
            Err(e) => e,
        };
        let reason = error.to_string();
        if error.is_transient() && !self.retry.exhausted(attempt) {
            let delay = retry::jittered(self.retry.delay_after(attempt));
            tracing::warn!(error = %reason, retry_in_ms = delay.as_millis() as u64, "Transient failure; retrying later.");
            let text = format!(
                "Attempt {attempt} failed: {reason}. Retrying in {:.1} s.",
                delay.as_secs_f64()
            );
            self.metrics.retried.inc();
            // Best effort: the database may be what is failing.
            note(
                &self.db,
                &delivery.message,
                DeliveryStatus::Failed,
                &text,
                attempt,
            )
            .await;
            if let Err(e) = delivery.retry_later(delay, &reason).await {
                tracing::warn!(error = %e, "Could not schedule the retry; the delivery will come again.");
            }
            return;
        }
        let reason = if error.is_transient() {
            format!("gave up after {attempt} attempts: {reason}")
        } else {
            reason
        };
        tracing::error!(error = %reason, "Dead-lettering the delivery.");
        self.dead_letter(delivery, &reason).await;
    }

    /// Moves a delivery to the dead letters with `reason`, logging it as `dead`.
    async fn dead_letter(&self, delivery: Delivery, reason: &str) {
        self.metrics.dead_lettered.inc();
        note(
            &self.db,
            &delivery.message,
            DeliveryStatus::Dead,
            &format!("Dead-lettered: {reason}"),
            delivery.attempt,
        )
        .await;
        if let Err(e) = delivery.dead_letter(reason).await {
            tracing::warn!(error = %e, "Could not dead-letter; the delivery will come again.");
        }
    }

    /// Dead-letters, without trying them, the deliveries taken more often than the attempt
    /// limit allows: each failure a worker saw is counted and dead-lettered at the limit by
    /// [`Handler::handle`], so these are deliveries whose attempts were cut short (the
    /// process killed, a connection lost mid-way) — a crash loop that would otherwise
    /// retry forever. Returns the rest.
    async fn past_the_limit(&self, batch: Vec<Delivery>) -> Vec<Delivery> {
        let (over, within): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|d| d.attempt > self.retry.max_attempts);
        for delivery in over {
            let attempt = delivery.attempt;
            let reason = format!(
                "taken {attempt} times, more than the {} attempts allowed, without being \
                 settled (its earlier attempts were cut short: a crash loop?)",
                self.retry.max_attempts
            );
            tracing::error!(delivery = %delivery.message.delivery_id, attempt, "Dead-lettering a delivery past the attempt limit.");
            self.dead_letter(delivery, &reason).await;
        }
        within
    }

    /// Counts an applied delivery and acknowledges it (after its commit).
    async fn applied(&self, delivery: Delivery, outcome: &Outcome, started: std::time::Instant) {
        self.count(&delivery, outcome, started);
        if let Err(e) = delivery.ack().await {
            tracing::warn!(error = %e, "Ack failed; the delivery will come again and be deduplicated.");
        }
    }

    /// Counts an applied delivery.
    fn count(&self, delivery: &Delivery, outcome: &Outcome, started: std::time::Instant) {
        tracing::debug!(?outcome, delivery = %delivery.message.delivery_id, "Applied delivery.");
        let (status, _) = outcome.logged();
        self.metrics
            .processed
            .get_or_create(&label("outcome", status.as_str()))
            .inc();
        self.metrics
            .apply_latency
            .observe(started.elapsed().as_secs_f64());
        let waited = now_ms().saturating_sub(delivery.message.received_at_ms);
        self.metrics
            .end_to_end_latency
            .observe(waited as f64 / 1000.0);
    }

    /// Applies a batch of deliveries in one transaction — one commit (and one disk flush)
    /// for all. The fast path claims every delivery in one statement, reads the batch's
    /// contacts in a few set queries and appends events and log rows in one statement each
    /// (see [`Unit`]). When anything in it fails, the batch is redone with a savepoint per
    /// delivery, so a delivery that fails rolls back alone; a delivery that failed there
    /// goes through [`Handler::handle`] with its retries and dead letters. Acks follow the
    /// commit, one for the batch; the exactly-once guard on every path is the same
    /// processed-delivery row.
    pub async fn handle_batch(&self, batch: Vec<Delivery>) {
        let mut batch = self.past_the_limit(batch).await;
        #[allow(clippy::cast_precision_loss)] // a batch is at most a few thousand
        self.metrics.batch_size.observe(batch.len() as f64);
        if batch.len() <= 1 {
            if let Some(delivery) = batch.pop() {
                self.handle(delivery).await;
            }
            return;
        }
        // One transaction for deliveries of as many traces: a span has one parent, so the
        // batch's span links to each delivery's trace instead (as OpenTelemetry's messaging
        // conventions have batch processing do). A delivery redone alone gets a `delivery`
        // span in its own trace.
        let span = tracing::info_span!("delivery_batch", size = batch.len());
        for delivery in &batch {
            propagation::link(&span, &delivery.message.trace);
        }
        self.apply_batch(batch).instrument(span).await;
    }

    async fn apply_batch(&self, batch: Vec<Delivery>) {
        let started = std::time::Instant::now();
        // A panic anywhere in the fast path fails the set transaction only; the savepoint
        // path then fails the one delivery that panics, and the rest apply.
        let fast = isolate(self.process_batch(&batch))
            .await
            .unwrap_or_else(|p| Err(p.into()));
        let (path, outcomes) = match fast {
            Ok(outcomes) => ("set", outcomes),
            Err(e) => {
                tracing::debug!(error = %e, size = batch.len(), "Batch failed; applying it with a savepoint per delivery.");
                match self.process_batch_savepoints(&batch).await {
                    Ok(outcomes) => ("savepoints", outcomes),
                    Err(e) => {
                        tracing::debug!(error = %e, size = batch.len(), "Batch failed; applying its deliveries one by one.");
                        ("single", vec![None; batch.len()])
                    }
                }
            }
        };
        self.metrics
            .batches
            .get_or_create(&label("path", path))
            .inc();
        let mut again = Vec::new();
        let mut done = Vec::with_capacity(batch.len());
        for (delivery, outcome) in batch.into_iter().zip(outcomes) {
            match outcome {
                Some(outcome) => {
                    self.count(&delivery, &outcome, started);
                    done.push(delivery);
                }
                None => again.push(delivery),
            }
        }
        // One ack for the whole commit (see `Delivery::ack_all`).
        if let Err(e) = Delivery::ack_all(done).await {
            tracing::warn!(error = %e, "Ack failed; the deliveries will come again and be deduplicated.");
        }
        for delivery in again {
            self.handle(delivery).await;
        }
    }

    /// The fast path of a batch: `None` for deliveries that cannot be prepared (they are
    /// redone alone); `Err` when anything failed (nothing of it committed).
    async fn process_batch(&self, batch: &[Delivery]) -> Result<Vec<Option<Outcome>>, WorkerError> {
        let mut prepared = Vec::with_capacity(batch.len());
        for delivery in batch {
            prepared.push(self.prepare(&delivery.message).await.ok());
        }
        let txn = self.db.begin().await?;
        let postgres = txn.get_database_backend() == DbBackend::Postgres;
        if postgres {
            // The batch's reads (`IN` lists) are planned for their values and the tables'
            // current size: a generic plan cached while a table was nearly empty would keep
            // scanning it whole as it grows, until the next ANALYZE.
            txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
                .await?;
        }
        let mut unit = Unit::default();
        let changes = batch.iter().zip(&prepared).filter_map(|(d, p)| match p {
            Some((_, Mapping::Contact(change))) => {
                Some((d.message.integration_id.as_str(), change))
            }
            _ => None,
        });
        unit.preload(&txn, changes).await?;
        if postgres {
            // The writes that follow have one fixed text each (`bulk`), whose generic plan
            // does not depend on the tables' size: planning them again at every execution
            // was 6 % of a drain's CPU.
            txn.execute_unprepared("SET LOCAL plan_cache_mode = auto")
                .await?;
        }
        let ready: Vec<(&QueueMessage, i64)> = batch
            .iter()
            .zip(&prepared)
            .filter_map(|(d, p)| {
                p.as_ref()
                    .map(|(_, mapping)| (&d.message, claim::event_day(&d.message, mapping)))
            })
            .collect();
        let mut claimed = claim_all(&txn, &ready).await?.into_iter();
        let mut outcomes = Vec::with_capacity(batch.len());
        for (delivery, prepared) in batch.iter().zip(prepared) {
            let Some((settings, mapping)) = prepared else {
                outcomes.push(None);
                continue;
            };
            let claimed = claimed.next().unwrap_or(false);
            let outcome = self
                .apply(
                    &txn,
                    &mut unit,
                    &delivery.message,
                    &settings,
                    mapping,
                    claimed,
                    delivery.attempt,
                )
                .await?;
            outcomes.push(Some(outcome));
        }
        unit.finish(&txn).await?;
        txn.commit().await?;
        Ok(outcomes)
    }

    /// The batch's outcomes with a savepoint per delivery, `None` for deliveries to redo
    /// alone; `Err` when the transaction failed (nothing of it committed).
    async fn process_batch_savepoints(
        &self,
        batch: &[Delivery],
    ) -> Result<Vec<Option<Outcome>>, WorkerError> {
        let txn = self.db.begin().await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for delivery in batch {
            let savepoint = txn.begin().await?;
            let mut unit = Unit::default();
            let result = isolate(async {
                let outcome = self
                    .process_in(&savepoint, &mut unit, &delivery.message, delivery.attempt)
                    .await?;
                unit.finish(&savepoint).await?;
                Ok::<_, WorkerError>(outcome)
            })
            .await
            .unwrap_or_else(|p| Err(p.into()));
            match result {
                Ok(outcome) => {
                    savepoint.commit().await?;
                    outcomes.push(Some(outcome));
                }
                Err(e) => {
                    tracing::debug!(error = %e, delivery = %delivery.message.delivery_id, "Failed in a batch; it will be applied alone.");
                    savepoint.rollback().await?;
                    outcomes.push(None);
                }
            }
        }
        txn.commit().await?;
        Ok(outcomes)
    }
}
