//! RabbitMQ backend (lapin).
//!
//! Topology, declared idempotently by [`declare_topology`] at every start:
//! - `inlet.webhooks` — durable direct exchange that ingest publishes to.
//! - `inlet.webhooks` — quorum queue bound to it with routing key `webhook`: replicated and
//!   fsynced before the publisher confirm. A message redelivered [`DELIVERY_LIMIT`] times
//!   (a crash loop) is moved to the dead letters by the worker itself, with a publisher
//!   confirm before the ack; the broker's own delivery limit and dead-letter target are a
//!   backstop at twice that.
//! - `inlet.retry.<ms>` — one durable queue per retry delay, without consumers: a message
//!   parked there expires after the delay (per-message expiration adds jitter) and is
//!   dead-lettered back to `inlet.webhooks`, so a retry never blocks a worker.
//! - `inlet.workflows` — quorum queue (routing key `workflow`) of workflow steps that are
//!   due; the run's state stays in the database, so a lost or repeated step message is
//!   harmless (the run's lease token decides who executes it).
//! - `inlet.dead-letters` — durable exchange and quorum queue that receive deliveries that
//!   failed for good (with their error) and messages redelivered past the delivery limit;
//!   workers archive them in the database, where they are listed and replayed.
//!
//! Publishing uses a small pool of confirm-mode channels on one connection; a broken
//! connection is rebuilt on the next publish (at most one attempt per second, so a down
//! broker answers 503 quickly instead of stacking reconnects).
//!
//! A cluster is named by its nodes' URLs, comma-separated. Every connection (publishers,
//! each consumer, reconnects) tries them in turn, starting from the node that answered last,
//! so a dead node costs one refused connection, not an outage. With several nodes the
//! quorum queues are declared with as many replicas as nodes are named and their leaders
//! spread over the nodes (`balanced`); a publisher confirm then means a majority of them
//! has the message.
//!
//! `amqps://` URLs connect over TLS (rustls): the broker's certificate must chain to a
//! webpki root or to the extra CA of [`AmqpTls`], which may also carry a client
//! certificate for brokers that require one. `amqp://` URLs ignore it.
//!
//! This module holds the connection and the publisher pool; the rest is split by what it
//! does: `topology` (declarations), `publish`, `consume` (the work queue), `settle`
//! (batched acks), `jobs` (workflow steps), `dead_letters`, the header codec
//! (`properties` to publish, `decode` to read), and `tls` (the TLS files).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use lapin::options::{
    BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};
use secrecy::{ExposeSecret, SecretString};

use super::{QueueError, UnavailableCause};

mod consume;
mod dead_letters;
mod decode;
mod jobs;
mod properties;
mod publish;
mod settle;
mod tls;
mod topology;

pub use consume::RabbitConsumer;
pub use dead_letters::{DeadLetter, DeadLetterConsumer};
pub use jobs::{JobConsumer, JobDelivery};
pub use properties::FieldTooLong;
pub(super) use settle::{RabbitAcker, Settlements, ack, requeue};
pub use tls::{AmqpTls, AmqpTlsError, TlsFile, is_tls_failure};
pub use topology::{Replication, declare_topology, retry_queue};

/// Exchange ingest publishes deliveries to.
pub const EXCHANGE: &str = "inlet.webhooks";
/// Work queue the workers consume.
pub const QUEUE: &str = "inlet.webhooks";
/// Routing key of deliveries.
pub const ROUTING_KEY: &str = "webhook";
/// Queue of due workflow steps (routing key `workflow` on the same exchange).
pub const WORKFLOWS: &str = "inlet.workflows";
/// Routing key of workflow steps.
pub const WORKFLOW_KEY: &str = "workflow";
/// Dead-letter exchange and queue.
pub const DEAD_LETTERS: &str = "inlet.dead-letters";
/// Redeliveries of one message (`x-delivery-count`: taken and given back, or in hand when
/// a worker died) after which the worker moves it to the dead letters instead of trying
/// it again. Failures the worker sees are retried and dead-lettered by their own attempt
/// count; this catches crash loops.
pub const DELIVERY_LIMIT: i64 = 20;
/// The broker's own delivery limit on the work queue, a backstop behind the worker's.
///
/// The worker dead-letters at [`DELIVERY_LIMIT`] with a publisher confirm, so nothing is
/// lost on the way. The broker's dead-lettering past this limit is at-most-once (its
/// default), on purpose: `x-dead-letter-strategy: at-least-once`, and the
/// `x-overflow: reject-publish` it requires, cost RabbitMQ about a fifth of ingest's
/// throughput on every publish (docs/performance.md) to protect only this backstop.
pub const BROKER_DELIVERY_LIMIT: i64 = 2 * DELIVERY_LIMIT;

const PUBLISH_CHANNELS: usize = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

const H_DELIVERY_ID: &str = "x-inlet-delivery-id";
const H_INTEGRATION_ID: &str = "x-inlet-integration-id";
const H_PROVIDER: &str = "x-inlet-provider";
const H_EVENT_TYPE: &str = "x-inlet-event-type";
const H_RECEIVED_AT: &str = "x-inlet-received-at-ms";
const H_ATTEMPT: &str = "x-inlet-attempt";
const H_FIRST_FAILED: &str = "x-inlet-first-failed-at-ms";
const H_LAST_FAILED: &str = "x-inlet-last-failed-at-ms";
const H_ERROR: &str = "x-inlet-error";
/// The request headers the console keeps ([`crate::message::KeptHeaders`]).
const H_KEPT_HEADERS: &str = "x-inlet-kept-headers";
/// Errors carried in headers are cut to this many characters.
const ERROR_CHARS: usize = 1000;

fn unavailable(e: lapin::Error) -> QueueError {
    UnavailableCause::Broker(e).into()
}

/// The RabbitMQ queue: a publisher pool plus the nodes to open consumers on.
pub struct RabbitQueue {
    /// The broker's node URLs (one for a single broker).
    nodes: Vec<SecretString>,
    /// The node that answered last: where the next connection is tried first.
    preferred: AtomicUsize,
    tls: AmqpTls,
    retry_delays: Vec<Duration>,
    publisher: ArcSwapOption<PublisherPool>,
    /// Serializes reconnects; holds the time of the last failed attempt.
    reconnect: tokio::sync::Mutex<Option<Instant>>,
}

struct PublisherPool {
    connection: Connection,
    channels: Vec<Channel>,
    next: AtomicUsize,
}

impl PublisherPool {
    fn healthy(&self) -> bool {
        self.connection.status().connected()
    }
}

/// Opens a connection to one node; `tls` applies to `amqps://` URLs only. With the
/// default [`AmqpTls`] this is exactly lapin's `Connection::connect`.
async fn open_node(url: &SecretString, tls: &AmqpTls) -> Result<Connection, QueueError> {
    let runtime = lapin::runtime::default_runtime().map_err(unavailable)?;
    let connect = Connection::connect_with_config(
        url.expose_secret(),
        ConnectionProperties::default(),
        tls.lapin_config(),
        runtime,
    );
    tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| UnavailableCause::ConnectTimeout)?
        .map_err(unavailable)
}

impl RabbitQueue {
    /// Connects, declares the topology (with a delay queue per retry delay) and opens the
    /// publisher pool. `amqps://` URLs trust the webpki roots only; see
    /// [`RabbitQueue::connect_with_tls`].
    pub async fn connect(
        url: SecretString,
        retry_delays: Vec<Duration>,
    ) -> Result<Arc<Self>, QueueError> {
        Self::connect_with_tls(url, AmqpTls::default(), retry_delays).await
    }

    /// [`RabbitQueue::connect`] with an extra CA and a client certificate for `amqps://`
    /// URLs; every connection (publishers, consumers, reconnects) uses them.
    pub async fn connect_with_tls(
        url: SecretString,
        tls: AmqpTls,
        retry_delays: Vec<Duration>,
    ) -> Result<Arc<Self>, QueueError> {
        let nodes: Vec<SecretString> = inlet_core::config::amqp_nodes(url.expose_secret())
            .into_iter()
            .map(SecretString::from)
            .collect();
        if nodes.is_empty() {
            return Err(UnavailableCause::NoNodes.into());
        }
        let queue = Self {
            nodes,
            preferred: AtomicUsize::new(0),
            tls,
            retry_delays,
            publisher: ArcSwapOption::empty(),
            reconnect: tokio::sync::Mutex::new(None),
        };
        let pool = queue.open_pool().await?;
        queue.publisher.store(Some(pool));
        Ok(Arc::new(queue))
    }

    /// Opens a connection to the first node that answers, from the one that answered last.
    async fn open(&self) -> Result<Connection, QueueError> {
        let count = self.nodes.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut failure = None;
        for k in 0..count {
            let index = (first + k) % count;
            let Some(url) = self.nodes.get(index) else {
                continue;
            };
            match open_node(url, &self.tls).await {
                Ok(connection) => {
                    if index != first {
                        self.preferred.store(index, Ordering::Relaxed);
                        tracing::info!(node = index, "Connected to another RabbitMQ node.");
                    }
                    return Ok(connection);
                }
                Err(e) => {
                    if count > 1 {
                        tracing::warn!(node = index, error = %e, "A RabbitMQ node did not answer; trying the next.");
                    }
                    failure = Some(e);
                }
            }
        }
        Err(failure.unwrap_or_else(|| UnavailableCause::NoNodes.into()))
    }

    /// How the quorum queues are declared for these nodes.
    fn replication(&self) -> Replication {
        Replication {
            nodes: self.nodes.len(),
        }
    }

    async fn open_pool(&self) -> Result<Arc<PublisherPool>, QueueError> {
        let connection = self.open().await?;
        declare_topology(&connection, &self.retry_delays, self.replication()).await?;
        let mut channels = Vec::with_capacity(PUBLISH_CHANNELS);
        for _ in 0..PUBLISH_CHANNELS {
            let channel = connection.create_channel().await.map_err(unavailable)?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(unavailable)?;
            channels.push(channel);
        }
        Ok(Arc::new(PublisherPool {
            connection,
            channels,
            next: AtomicUsize::new(0),
        }))
    }

    async fn pool(&self) -> Result<Arc<PublisherPool>, QueueError> {
        if let Some(pool) = self.publisher.load_full().filter(|p| p.healthy()) {
            return Ok(pool);
        }
        let mut last_failure = self.reconnect.lock().await;
        if let Some(pool) = self.publisher.load_full().filter(|p| p.healthy()) {
            return Ok(pool);
        }
        if last_failure.is_some_and(|t| t.elapsed() < RECONNECT_INTERVAL) {
            return Err(UnavailableCause::Reconnecting.into());
        }
        match self.open_pool().await {
            Ok(pool) => {
                *last_failure = None;
                self.publisher.store(Some(pool.clone()));
                tracing::info!("Reconnected to RabbitMQ.");
                Ok(pool)
            }
            Err(e) => {
                *last_failure = Some(Instant::now());
                Err(e)
            }
        }
    }

    async fn consume_queue(
        &self,
        queue: &str,
        prefetch: u16,
    ) -> Result<(Connection, Channel, lapin::Consumer), QueueError> {
        let connection = self.open().await?;
        declare_topology(&connection, &self.retry_delays, self.replication()).await?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(unavailable)?;
        let tag = format!("inlet-{}", uuid::Uuid::new_v4().simple());
        let inner = channel
            .basic_consume(
                queue.into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        Ok((connection, channel, inner))
    }

    /// Readiness: a healthy publisher connection (reconnecting if needed).
    pub async fn check(&self) -> Result<(), QueueError> {
        self.pool().await.map(|_| ())
    }

    /// Ready messages in the work queue.
    pub async fn depth(&self) -> Result<u64, QueueError> {
        let pool = self.pool().await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let channel = pool
            .connection
            .create_channel()
            .await
            .map_err(unavailable)?;
        let queue = channel
            .queue_declare(QUEUE.into(), passive, FieldTable::default())
            .await
            .map_err(unavailable)?;
        let _ = channel.close(200, "done".into()).await;
        Ok(u64::from(queue.message_count()))
    }
}
