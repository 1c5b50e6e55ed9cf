//! The delivery queue: one interface, two backends.
//!
//! - [`rabbitmq`]: production. Durable exchange, quorum queue, persistent messages,
//!   publisher confirms; a nack, a returned message or a channel error is a failure.
//! - [`embedded`]: a durable queue inside the database (SQLite by default), so an accepted
//!   event survives a restart without any server.
//!
//! Both hand out [`Delivery`]s that the worker acknowledges only after its commit.

pub mod embedded;
pub mod rabbitmq;

use std::time::Duration;

use bytes::Bytes;

use crate::providers::Provider;

/// One accepted webhook delivery, as it travels from ingest to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// Id of this delivery (`wh_…`), returned to the sender and used in the webhook log.
    pub delivery_id: String,
    /// The integration it was sent to.
    pub integration_id: String,
    /// The integration's provider.
    pub provider: Provider,
    /// The platform's event type.
    pub event_type: String,
    /// The platform's idempotency key (AMQP `message_id`).
    pub idempotency_key: String,
    /// When ingest received it (epoch ms).
    pub received_at_ms: i64,
    /// The raw, verified body, exactly as signed.
    pub body: Bytes,
}

/// A queue operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The broker or database could not be reached, or the connection broke.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    /// The broker refused the message (publisher-confirm nack or returned as unroutable).
    #[error("queue refused the message: {0}")]
    Refused(String),
    /// A message on the queue could not be read.
    #[error("malformed queue message: {0}")]
    Malformed(String),
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
pub struct Delivery {
    /// The message.
    pub message: QueueMessage,
    /// How many times it was delivered before this one (0 on the first delivery).
    pub redeliveries: u32,
    acker: Acker,
}

enum Acker {
    Rabbit(lapin::Acker),
    Embedded(embedded::Lease),
}

impl Delivery {
    /// Done: removes the message for good. Call only after the effects committed.
    pub async fn ack(self) -> Result<(), QueueError> {
        match self.acker {
            Acker::Rabbit(a) => rabbitmq::ack(&a).await,
            Acker::Embedded(lease) => lease.ack().await,
        }
    }

    /// Gives the message back to be tried again after `delay` (embedded) or at once
    /// (RabbitMQ, whose quorum queue counts deliveries and dead-letters past its limit).
    pub async fn retry_later(self, delay: Duration) -> Result<(), QueueError> {
        match self.acker {
            Acker::Rabbit(a) => rabbitmq::requeue(&a).await,
            Acker::Embedded(lease) => lease.release(delay).await,
        }
    }

    /// Moves the message to the dead letters.
    pub async fn dead_letter(self, reason: &str) -> Result<(), QueueError> {
        match self.acker {
            Acker::Rabbit(a) => rabbitmq::reject(&a).await,
            Acker::Embedded(lease) => lease.dead_letter(reason).await,
        }
    }
}
