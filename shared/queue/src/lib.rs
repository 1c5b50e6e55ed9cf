//! The delivery queue: one interface, two backends.
//!
//! - [`rabbitmq`]: production. Durable exchange, quorum queue, persistent messages,
//!   publisher confirms; a nack, a returned message or a channel error is a failure.
//! - [`embedded`]: a durable queue inside the database (SQLite by default), so an accepted
//!   event survives a restart without any server.
//!
//! Both hand out [`Delivery`]s that the worker acknowledges only after its commit.

pub mod embedded;
mod error;
pub mod rabbitmq;

/// The message types, plain data in `inlet-core` so the store can write dead letters
/// without depending on a queue.
pub use inlet_core::messages as message;
use inlet_core::{domain, providers};
use inlet_store::db;

use std::time::Duration;

pub use error::{MalformedCause, QueueError, RefusedReason, SharedDbErr, UnavailableCause};
pub use message::{DeadLetterRecord, QueueMessage, StepJob};

/// When failed deliveries are tried again, and when they go to the dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before attempt n + 1 after attempt n failed is `delays[n - 1]` (the last one
    /// repeats).
    pub delays: Vec<Duration>,
    /// Attempts before the dead letters.
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// The configured policy (`INLET_RETRY_DELAYS_MS`, `INLET_MAX_ATTEMPTS`): the one place
    /// the settings become a policy, so deliveries and workflow steps retry alike.
    pub fn from_config(config: &inlet_core::config::Config) -> Self {
        Self {
            delays: config.retry_delays.clone(),
            max_attempts: config.max_attempts,
        }
    }

    /// The wait after `attempt` (1-based) failed.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let i = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.delays
            .get(i)
            .or(self.delays.last())
            .copied()
            .unwrap_or(Duration::from_secs(10))
    }

    /// True when `attempt` was the last one allowed.
    pub fn exhausted(&self, attempt: u32) -> bool {
        attempt >= self.max_attempts
    }
}

/// The queue, whichever backend is configured.
#[derive(Clone)]
pub enum Queue {
    /// RabbitMQ through lapin.
    Rabbit(std::sync::Arc<rabbitmq::RabbitQueue>),
    /// The database-backed embedded queue.
    Embedded(embedded::EmbeddedQueue),
}

impl Queue {
    /// Publishes durably: returns only once the broker confirmed (or the row committed).
    pub async fn publish(&self, message: &QueueMessage) -> Result<(), QueueError> {
        match self {
            Queue::Rabbit(q) => q.publish(message).await,
            Queue::Embedded(q) => q.publish(message).await,
        }
    }

    /// RabbitMQ only: consumes the broker's dead-letter queue, so workers can archive dead
    /// letters in the database (where they are listed and replayed).
    pub async fn consume_dead_letters(
        &self,
    ) -> Result<Option<rabbitmq::DeadLetterConsumer>, QueueError> {
        match self {
            Queue::Rabbit(q) => q.consume_dead_letters().await.map(Some),
            Queue::Embedded(_) => Ok(None),
        }
    }

    /// Starts consuming with at most `prefetch` unacknowledged messages.
    pub async fn consume(&self, prefetch: u16) -> Result<Consumer, QueueError> {
        match self {
            Queue::Rabbit(q) => q
                .consume(prefetch)
                .await
                .map(|c| Consumer::Rabbit(Box::new(c))),
            Queue::Embedded(q) => Ok(Consumer::Embedded(q.consumer(prefetch))),
        }
    }

    /// Readiness: can the queue be reached right now?
    pub async fn check(&self) -> Result<(), QueueError> {
        match self {
            Queue::Rabbit(q) => q.check().await,
            Queue::Embedded(q) => q.check().await,
        }
    }

    /// Messages waiting (ready, not yet taken), for metrics and tests.
    pub async fn depth(&self) -> Result<u64, QueueError> {
        match self {
            Queue::Rabbit(q) => q.depth().await,
            Queue::Embedded(q) => q.depth().await,
        }
    }
}

/// A stream of deliveries from either backend.
pub enum Consumer {
    /// From RabbitMQ.
    Rabbit(Box<rabbitmq::RabbitConsumer>),
    /// From the embedded queue.
    Embedded(embedded::EmbeddedConsumer),
}

impl Consumer {
    /// The next delivery; `None` when the consumer was cancelled by the broker. An error means
    /// the connection broke: consume again to reconnect.
    pub async fn next(&mut self) -> Option<Result<Delivery, QueueError>> {
        match self {
            Consumer::Rabbit(c) => c.next().await,
            Consumer::Embedded(c) => c.next().await,
        }
    }

    /// Whether deliveries arrive by themselves (RabbitMQ pushes them, up to the prefetch)
    /// rather than with [`Consumer::next`]'s claims (the embedded queue): only then does a
    /// moment's wait fill a batch.
    pub fn is_pushed(&self) -> bool {
        matches!(self, Consumer::Rabbit(_))
    }

    /// A delivery that is already here, without waiting (or `None`); for filling a batch
    /// from what the broker has pushed or the last claim brought.
    pub fn try_next(&mut self) -> Option<Delivery> {
        match self {
            Consumer::Rabbit(c) => c.try_next(),
            Consumer::Embedded(c) => c.try_next(),
        }
    }

    /// Stops consuming and gives back messages taken but not handed out, so another
    /// consumer gets them at once (RabbitMQ does this itself when the channel closes).
    pub async fn close(self) {
        match self {
            Consumer::Rabbit(c) => c.close().await,
            Consumer::Embedded(c) => c.close().await,
        }
    }
}

/// A message taken from the queue, held until acknowledged.
///
/// A delivery is always settled: one dropped without an ack, a retry, a dead letter or a
/// release (its handler's task died) is given back to the queue, counted as an attempt, so
/// it neither blocks the consumer (RabbitMQ acks a prefix of tags, which an unsettled tag
/// holds up) nor waits for a lease to expire; past the attempt limit the worker
/// dead-letters it when it comes again.
pub struct Delivery {
    /// The message.
    pub message: QueueMessage,
    /// Which attempt this is (1 on the first delivery; retries and redeliveries count).
    pub attempt: u32,
    /// When an earlier attempt first failed (epoch ms).
    pub first_failed_at_ms: Option<i64>,
    /// `None` once settled.
    acker: Option<Acker>,
}

enum Acker {
    Rabbit(rabbitmq::RabbitAcker),
    Embedded(embedded::Lease),
}

impl Delivery {
    /// Done: removes the message for good. Call only after the effects committed.
    pub async fn ack(self) -> Result<(), QueueError> {
        Self::ack_all(vec![self]).await
    }

    /// Done with all of these (their effects committed): RabbitMQ gets one `multiple` ack
    /// per channel where the deliveries before them are settled too (the rest wait for
    /// those); the embedded queue deletes them in one group commit.
    pub async fn ack_all(deliveries: Vec<Delivery>) -> Result<(), QueueError> {
        let mut channels: Vec<(std::sync::Arc<rabbitmq::Settlements>, Vec<u64>)> = Vec::new();
        let mut leases = Vec::new();
        for mut delivery in deliveries {
            match delivery.acker.take() {
                None => {}
                Some(Acker::Rabbit(a)) => {
                    match channels
                        .iter_mut()
                        .find(|(s, _)| std::sync::Arc::ptr_eq(s, &a.settlements))
                    {
                        Some((_, tags)) => tags.push(a.tag),
                        None => channels.push((a.settlements, vec![a.tag])),
                    }
                }
                Some(Acker::Embedded(lease)) => leases.push(lease.ack()),
            }
        }
        let mut result = Ok(());
        for (settlements, tags) in channels {
            result = result.and(settlements.ack(tags).await);
        }
        for acked in futures_util::future::join_all(leases).await {
            result = result.and(acked);
        }
        result
    }

    /// Puts the message back to be tried again after `delay` without holding a worker:
    /// RabbitMQ parks it in a delay queue that dead-letters it back to the work queue;
    /// the embedded queue makes it available again at `now + delay`.
    pub async fn retry_later(mut self, delay: Duration, error: &str) -> Result<(), QueueError> {
        let now = crate::domain::now_ms();
        let first_failed = self.first_failed_at_ms.unwrap_or(now);
        match self.acker.take() {
            None => Ok(()),
            Some(Acker::Rabbit(a)) => {
                a.queue
                    .retry(&self.message, self.attempt + 1, first_failed, error, delay)
                    .await?;
                a.settlements.alone(a.tag, rabbitmq::ack(&a.acker)).await
            }
            Some(Acker::Embedded(lease)) => {
                lease
                    .release_after_failure(delay, first_failed, error)
                    .await
            }
        }
    }

    /// Moves the message to the dead letters with its last error.
    pub async fn dead_letter(mut self, error: &str) -> Result<(), QueueError> {
        let now = crate::domain::now_ms();
        let record = DeadLetterRecord {
            error: error.to_owned(),
            attempts: self.attempt,
            first_failed_at_ms: self.first_failed_at_ms.unwrap_or(now),
            last_failed_at_ms: now,
            message: self.message.clone(),
        };
        match self.acker.take() {
            None => Ok(()),
            Some(Acker::Rabbit(a)) => {
                a.queue.dead_letter(&record).await?;
                a.settlements.alone(a.tag, rabbitmq::ack(&a.acker)).await
            }
            Some(Acker::Embedded(lease)) => lease.dead_letter(&record).await,
        }
    }

    /// Returns the message to the queue at once, as if it had not been taken (shutdown).
    pub async fn release(mut self) -> Result<(), QueueError> {
        match self.acker.take() {
            None => Ok(()),
            Some(acker) => acker.give_back(Attempt::NotMade).await,
        }
    }
}

/// Whether a message given back was worked on (its attempt counts) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Taken but never started (shutdown): the claim does not count.
    NotMade,
    /// Its handler died while working on it: the claim counts.
    Made,
}

impl Acker {
    /// Returns the message to the queue at once. RabbitMQ counts every return in
    /// `x-delivery-count` whatever `attempt` says; the embedded queue takes back the
    /// claim's attempt when none was made.
    async fn give_back(self, attempt: Attempt) -> Result<(), QueueError> {
        match self {
            Acker::Rabbit(a) => {
                a.settlements
                    .alone(a.tag, rabbitmq::requeue(&a.acker))
                    .await
            }
            Acker::Embedded(lease) => lease.release(Duration::ZERO, attempt).await,
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        let Some(acker) = self.acker.take() else {
            return;
        };
        // Without a runtime (the process is ending) the broker or the lease's expiry gives
        // it back instead.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let delivery_id = self.message.delivery_id.clone();
        tracing::warn!(delivery = %delivery_id, "A delivery was dropped unsettled; giving it back.");
        runtime.spawn(async move {
            if let Err(e) = acker.give_back(Attempt::Made).await {
                tracing::warn!(delivery = %delivery_id, error = %e, "Could not give a dropped delivery back; it comes again later.");
            }
        });
    }
}
