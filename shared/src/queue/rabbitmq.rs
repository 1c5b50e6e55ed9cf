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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use secrecy::{ExposeSecret, SecretString};

use super::{Acker, DeadLetterRecord, Delivery, QueueError, QueueMessage};

mod properties;

use crate::providers::Provider;
pub use properties::FieldTooLong;
use properties::{message_properties, short};

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
/// Errors carried in headers are cut to this many characters.
const ERROR_CHARS: usize = 1000;

/// Name of the delay queue for `delay`.
pub fn retry_queue(delay: Duration) -> String {
    format!("inlet.retry.{}ms", delay.as_millis())
}

fn unavailable(e: impl std::fmt::Display) -> QueueError {
    QueueError::Unavailable(e.to_string())
}

/// The RabbitMQ queue: a publisher pool plus the URL to open consumers.
pub struct RabbitQueue {
    url: SecretString,
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

async fn open(url: &SecretString) -> Result<Connection, QueueError> {
    let connect = Connection::connect(url.expose_secret(), ConnectionProperties::default());
    tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| QueueError::Unavailable("timed out connecting to RabbitMQ".into()))?
        .map_err(unavailable)
}

fn quorum_args(dead_letter_exchange: Option<&str>) -> FieldTable {
    let mut args = FieldTable::default();
    // Quorum: replicated, fsynced before confirming, and counts deliveries.
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    if let Some(dlx) = dead_letter_exchange {
        // Where rejected (unreadable) and over-the-limit messages go.
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(dlx.into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(ROUTING_KEY.into()),
        );
        // Backstop behind the worker's own limit. Set explicitly: RabbitMQ 4 otherwise
        // applies a default limit of its own.
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(BROKER_DELIVERY_LIMIT),
        );
    }
    args
}

/// Declares the exchanges and queues, on a channel of its own. Idempotent: the same
/// declarations at every start.
///
/// A work queue declared by an earlier version with other arguments (at-least-once
/// dead-lettering) is kept as it is, with a warning: a queue's arguments cannot change,
/// and its old ones still work (they only cost throughput). To take the new ones, drain
/// the queue, delete it, and start Inlet again.
pub async fn declare_topology(
    connection: &Connection,
    retry_delays: &[Duration],
) -> Result<(), QueueError> {
    let mut channel = connection.create_channel().await.map_err(unavailable)?;
    let durable_exchange = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let durable_queue = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for exchange in [EXCHANGE, DEAD_LETTERS] {
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Direct,
                durable_exchange,
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
    }
    channel
        .queue_declare(DEAD_LETTERS.into(), durable_queue, quorum_args(None))
        .await
        .map_err(unavailable)?;
    channel
        .queue_bind(
            DEAD_LETTERS.into(),
            DEAD_LETTERS.into(),
            ROUTING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    match channel
        .queue_declare(QUEUE.into(), durable_queue, quorum_args(Some(DEAD_LETTERS)))
        .await
    {
        Ok(_) => {}
        Err(e) if precondition_failed(&e) => {
            // The broker closed the channel; make sure the queue is there on a new one.
            channel = connection.create_channel().await.map_err(unavailable)?;
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            channel
                .queue_declare(QUEUE.into(), passive, FieldTable::default())
                .await
                .map_err(unavailable)?;
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                tracing::warn!(
                    queue = QUEUE,
                    "The work queue exists with other arguments (from an earlier version); it keeps them. Drain and delete it to take the current ones."
                );
            });
        }
        Err(e) => return Err(unavailable(e)),
    }
    channel
        .queue_bind(
            QUEUE.into(),
            EXCHANGE.into(),
            ROUTING_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    channel
        .queue_declare(WORKFLOWS.into(), durable_queue, quorum_args(None))
        .await
        .map_err(unavailable)?;
    channel
        .queue_bind(
            WORKFLOWS.into(),
            EXCHANGE.into(),
            WORKFLOW_KEY.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    for delay in retry_delays {
        let mut args = FieldTable::default();
        // Expired messages go back to the work queue.
        let ttl = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(EXCHANGE.into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(ROUTING_KEY.into()),
        );
        // Classic durable queue: nothing consumes it; persistent messages only wait to expire.
        channel
            .queue_declare(retry_queue(*delay).as_str().into(), durable_queue, args)
            .await
            .map_err(unavailable)?;
    }
    let _ = channel.close(200, "declared".into()).await;
    Ok(())
}

/// Whether the broker refused a declaration as inequivalent to what exists.
fn precondition_failed(error: &lapin::Error) -> bool {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    matches!(
        error.kind(),
        lapin::ErrorKind::ProtocolError(e)
            if *e.kind() == AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED)
    )
}

impl RabbitQueue {
    /// Connects, declares the topology (with a delay queue per retry delay) and opens the
    /// publisher pool.
    pub async fn connect(
        url: SecretString,
        retry_delays: Vec<Duration>,
    ) -> Result<Arc<Self>, QueueError> {
        let queue = Self {
            url,
            retry_delays,
            publisher: ArcSwapOption::empty(),
            reconnect: tokio::sync::Mutex::new(None),
        };
        let pool = queue.open_pool().await?;
        queue.publisher.store(Some(pool));
        Ok(Arc::new(queue))
    }

    async fn open_pool(&self) -> Result<Arc<PublisherPool>, QueueError> {
        let connection = open(&self.url).await?;
        declare_topology(&connection, &self.retry_delays).await?;
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
            return Err(QueueError::Unavailable(
                "RabbitMQ is unreachable; reconnecting".into(),
            ));
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

    /// Publishes a persistent, mandatory message and waits for the publisher confirm.
    pub async fn publish(&self, message: &QueueMessage) -> Result<(), QueueError> {
        self.publish_to(EXCHANGE, ROUTING_KEY, message, FieldTable::default(), None)
            .await
    }

    /// Parks a failed message in the delay queue for `delay`; it comes back as `attempt`.
    pub(super) async fn retry(
        &self,
        message: &QueueMessage,
        attempt: u32,
        first_failed_at_ms: i64,
        error: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        // The delay queue whose TTL is the smallest at least `delay`, else the longest.
        let level = self
            .retry_delays
            .iter()
            .copied()
            .filter(|d| *d >= delay)
            .min()
            .or_else(|| self.retry_delays.iter().copied().max())
            .unwrap_or(delay);
        let mut extra = FieldTable::default();
        extra.insert(H_ATTEMPT.into(), AMQPValue::LongLongInt(i64::from(attempt)));
        extra.insert(
            H_FIRST_FAILED.into(),
            AMQPValue::LongLongInt(first_failed_at_ms),
        );
        extra.insert(
            H_ERROR.into(),
            AMQPValue::LongString(truncate(error).into()),
        );
        // The caller's delay is already jittered below the ladder value; messages expire
        // individually (per-message expiration) at most at the queue's TTL.
        let expiration = delay.min(level).as_millis().max(1).to_string();
        self.publish_to("", &retry_queue(level), message, extra, Some(expiration))
            .await
    }

    /// Publishes a delivery that failed for good to the dead-letter queue, with its error.
    pub(super) async fn dead_letter(&self, record: &DeadLetterRecord) -> Result<(), QueueError> {
        let mut extra = FieldTable::default();
        extra.insert(
            H_ATTEMPT.into(),
            AMQPValue::LongLongInt(i64::from(record.attempts)),
        );
        extra.insert(
            H_FIRST_FAILED.into(),
            AMQPValue::LongLongInt(record.first_failed_at_ms),
        );
        extra.insert(
            H_LAST_FAILED.into(),
            AMQPValue::LongLongInt(record.last_failed_at_ms),
        );
        extra.insert(
            H_ERROR.into(),
            AMQPValue::LongString(truncate(&record.error).into()),
        );
        self.publish_to(DEAD_LETTERS, ROUTING_KEY, &record.message, extra, None)
            .await
    }

    async fn publish_to(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &QueueMessage,
        extra: FieldTable,
        expiration: Option<String>,
    ) -> Result<(), QueueError> {
        let properties = message_properties(message, extra, expiration.as_deref())?;
        self.publish_raw(exchange, routing_key, &message.body, properties)
            .await
    }

    /// Publishes a due workflow step to `inlet.workflows` and waits for the confirm.
    pub async fn publish_job(&self, job: &super::StepJob) -> Result<(), QueueError> {
        let body = serde_json::to_vec(job).map_err(|e| QueueError::Malformed(e.to_string()))?;
        let properties = BasicProperties::default().with_message_id(short(
            "message_id",
            &format!("{}:{}", job.run_id, job.step),
        )?);
        self.publish_raw(EXCHANGE, WORKFLOW_KEY, &body, properties)
            .await
    }

    /// Publishes a persistent, mandatory message and waits for the broker's confirm.
    async fn publish_raw(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> Result<(), QueueError> {
        let pool = self.pool().await?;
        let i = pool.next.fetch_add(1, Ordering::Relaxed) % pool.channels.len();
        #[expect(
            clippy::indexing_slicing,
            reason = "a remainder of the pool's length, which is fixed and never zero"
        )]
        let channel = &pool.channels[i];
        let properties = properties
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let exchange = short("exchange", exchange)?;
        let routing_key = short("routing key", routing_key)?;
        let result = async {
            let confirm = channel
                .basic_publish(exchange, routing_key, options, body, properties)
                .await
                .map_err(unavailable)?;
            match confirm.await.map_err(unavailable)? {
                Confirmation::Ack(None) => Ok(()),
                Confirmation::Ack(Some(_)) => {
                    Err(QueueError::Refused("returned as unroutable".into()))
                }
                Confirmation::Nack(_) => Err(QueueError::Refused("negatively acknowledged".into())),
                Confirmation::NotRequested => {
                    Err(QueueError::Refused("publisher confirms are off".into()))
                }
            }
        }
        .await;
        if result.is_err() && !channel.status().connected() {
            // The channel (or its connection) is gone: rebuild the pool on the next publish.
            self.publisher.store(None);
        }
        result
    }

    async fn consume_queue(
        &self,
        queue: &str,
        prefetch: u16,
    ) -> Result<(Connection, Channel, lapin::Consumer), QueueError> {
        let connection = open(&self.url).await?;
        declare_topology(&connection, &self.retry_delays).await?;
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

    /// Opens a consumer of the work queue on its own connection with `prefetch`
    /// unacknowledged messages.
    pub async fn consume(self: &Arc<Self>, prefetch: u16) -> Result<RabbitConsumer, QueueError> {
        let (connection, channel, inner) = self.consume_queue(QUEUE, prefetch).await?;
        Ok(RabbitConsumer {
            connection,
            settlements: Arc::new(Settlements::new(channel.clone(), prefetch)),
            channel,
            inner,
            queue: self.clone(),
        })
    }

    /// Opens a consumer of due workflow steps.
    pub async fn consume_jobs(&self, prefetch: u16) -> Result<JobConsumer, QueueError> {
        let (connection, channel, inner) = self.consume_queue(WORKFLOWS, prefetch).await?;
        Ok(JobConsumer {
            connection,
            channel,
            inner,
        })
    }

    /// Opens a consumer of the dead-letter queue.
    pub async fn consume_dead_letters(&self) -> Result<DeadLetterConsumer, QueueError> {
        let (connection, channel, inner) = self.consume_queue(DEAD_LETTERS, 32).await?;
        Ok(DeadLetterConsumer {
            _connection: connection,
            _channel: channel,
            inner,
        })
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

/// A RabbitMQ consumer and the connection it lives on.
pub struct RabbitConsumer {
    connection: Connection,
    channel: Channel,
    inner: lapin::Consumer,
    queue: Arc<RabbitQueue>,
    settlements: Arc<Settlements>,
}

/// How a work-queue delivery is settled: through its channel's [`Settlements`].
pub(super) struct RabbitAcker {
    pub(super) acker: lapin::Acker,
    pub(super) tag: u64,
    pub(super) settlements: Arc<Settlements>,
    pub(super) queue: Arc<RabbitQueue>,
}

/// The delivery tags a consumer's channel has handed out and not yet settled, in order.
///
/// Acks go to the broker as one `multiple` ack up to the highest tag below which every
/// delivery handed out is settled: a batch's commit costs one ack frame, not one per
/// delivery. A delivery still being worked on (by another batch, or alone) holds back the
/// acks of the tags after it; they stay unacked, never acked early. A delivery settled any
/// other way (retried, dead-lettered, requeued, rejected) is settled alone first, and only
/// then leaves the set, so a `multiple` ack never covers it. Tags the consumer has not
/// handed out yet are all above every tag handed out, so no ack covers them either.
///
/// Acks held back count against the prefetch: behind one slow delivery (a retry, a lock)
/// they would stop the broker pushing once the prefetch is full. So held-back acks go at
/// once, one ack each (an ack of one tag is always safe), when the delivery holding them
/// has been in hand for [`PATIENCE`], or when three quarters of the prefetch wait. A
/// count alone was not enough: at a quarter or half of the prefetch, eight batches of 64
/// finishing out of order in a drain crossed it often (RabbitMQ used 1.0–1.1 CPU-s for
/// 30,000 events instead of 0.6), and behind a slow delivery at 1,000 req/s even a
/// quarter of 512 is an eighth of a second.
pub(super) struct Settlements {
    channel: Channel,
    /// Held-back acks that are sent one by one rather than wait longer.
    spill: usize,
    /// Tag → when it was handed out, and whether the worker acked it (it then waits for
    /// the tags before it).
    pending: std::sync::Mutex<BTreeMap<u64, Pending>>,
    /// Held while deciding and sending, so `multiple` acks leave in increasing order.
    sending: tokio::sync::Mutex<()>,
}

impl Settlements {
    fn new(channel: Channel, prefetch: u16) -> Self {
        Self {
            channel,
            spill: (usize::from(prefetch) * 3 / 4).max(1),
            pending: std::sync::Mutex::new(BTreeMap::new()),
            sending: tokio::sync::Mutex::new(()),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A delivery handed out.
    fn received(&self, tag: u64) {
        self.pending().insert(
            tag,
            Pending {
                since: Instant::now(),
                acked: false,
            },
        );
    }

    /// Acks these deliveries (their effects committed): sends the `multiple` ack they
    /// complete, if any.
    pub(super) async fn ack(&self, tags: impl IntoIterator<Item = u64>) -> Result<(), QueueError> {
        let _order = self.sending.lock().await;
        let upto = {
            let mut pending = self.pending();
            for tag in tags {
                if let Some(entry) = pending.get_mut(&tag) {
                    entry.acked = true;
                }
            }
            (
                settled_prefix(&mut pending),
                held_back(&mut pending, self.spill, Instant::now()),
            )
        };
        self.send(upto).await
    }

    /// Settles one delivery by itself (`settle` sends its ack, nack or reject), then lets
    /// the acks it held back go.
    pub(super) async fn alone(
        &self,
        tag: u64,
        settle: impl std::future::Future<Output = Result<(), QueueError>>,
    ) -> Result<(), QueueError> {
        let _order = self.sending.lock().await;
        // On failure the tag stays: the channel is broken, and everything unacked on it
        // comes again on the next one.
        settle.await?;
        let upto = {
            let mut pending = self.pending();
            pending.remove(&tag);
            (
                settled_prefix(&mut pending),
                held_back(&mut pending, self.spill, Instant::now()),
            )
        };
        self.send(upto).await
    }

    /// Sends the `multiple` ack up to a tag, and single acks for spilled held-back tags.
    async fn send(&self, (upto, single): (Option<u64>, Vec<u64>)) -> Result<(), QueueError> {
        if let Some(tag) = upto {
            self.channel
                .basic_ack(tag, BasicAckOptions { multiple: true })
                .await
                .map_err(unavailable)?;
        }
        for tag in single {
            self.channel
                .basic_ack(tag, BasicAckOptions { multiple: false })
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }
}

/// How long a delivery in hand may hold back the acks of those after it.
const PATIENCE: Duration = Duration::from_millis(100);

/// A tag handed out and not yet settled.
#[derive(Debug, Clone, Copy)]
struct Pending {
    since: Instant,
    acked: bool,
}

/// Acked tags waiting behind an unsettled one, removed and returned (to be acked one by
/// one) when `spill` or more wait or the oldest unsettled one has been in hand for
/// [`PATIENCE`]; otherwise nothing.
fn held_back(pending: &mut BTreeMap<u64, Pending>, spill: usize, now: Instant) -> Vec<u64> {
    let waiting = pending.values().filter(|p| p.acked).count();
    let oldest = pending.values().find(|p| !p.acked).map(|p| p.since);
    let patient = oldest.is_none_or(|since| now.saturating_duration_since(since) < PATIENCE);
    if waiting == 0 || (waiting < spill && patient) {
        return Vec::new();
    }
    let tags: Vec<u64> = pending
        .iter()
        .filter(|(_, p)| p.acked)
        .map(|(tag, _)| *tag)
        .collect();
    for tag in &tags {
        pending.remove(tag);
    }
    tags
}

/// Removes the acked tags at the front; the highest of them, if any (what one `multiple`
/// ack settles).
fn settled_prefix(pending: &mut BTreeMap<u64, Pending>) -> Option<u64> {
    let mut upto = None;
    while let Some(entry) = pending.first_entry() {
        if !entry.get().acked {
            break;
        }
        upto = Some(*entry.key());
        entry.remove();
    }
    upto
}

impl RabbitConsumer {
    pub(super) async fn next(&mut self) -> Option<Result<Delivery, QueueError>> {
        loop {
            let delivery = match self.inner.next().await? {
                Ok(d) => d,
                Err(e) => return Some(Err(unavailable(e))),
            };
            if let Some(delivery) = self.accept(delivery) {
                return Some(Ok(delivery));
            }
        }
    }

    /// A delivery already received, if any; never waits. (Polling the stream once and
    /// dropping the future loses nothing: lapin buffers deliveries in a channel.)
    pub(super) fn try_next(&mut self) -> Option<Delivery> {
        loop {
            let delivery = match futures_util::FutureExt::now_or_never(self.inner.next()) {
                Some(Some(Ok(d))) => d,
                _ => return None,
            };
            if let Some(delivery) = self.accept(delivery) {
                return Some(delivery);
            }
        }
    }

    /// Decodes a broker delivery; one that is not Inlet's can never be processed, so it is
    /// rejected to the dead letters (and `None` returned).
    fn accept(&self, delivery: lapin::message::Delivery) -> Option<Delivery> {
        let tag = delivery.delivery_tag;
        self.settlements.received(tag);
        match decode(&delivery) {
            Ok(decoded) if i64::from(decoded.redeliveries) >= DELIVERY_LIMIT => {
                self.dead_letter_crash_loop(delivery.acker, tag, decoded);
                None
            }
            Ok(decoded) => {
                // Crash redeliveries (x-delivery-count) count as attempts too.
                let attempt = decoded.attempt.saturating_add(decoded.redeliveries);
                Some(Delivery {
                    message: decoded.message,
                    attempt,
                    first_failed_at_ms: decoded.first_failed_at_ms,
                    acker: Some(Acker::Rabbit(RabbitAcker {
                        acker: delivery.acker,
                        tag,
                        settlements: self.settlements.clone(),
                        queue: self.queue.clone(),
                    })),
                })
            }
            Err(e) => {
                tracing::error!(error = %e, "Dead-lettering an unreadable queue message.");
                let acker = delivery.acker;
                let settlements = self.settlements.clone();
                tokio::spawn(async move {
                    if let Err(e) = settlements.alone(tag, reject(&acker)).await {
                        tracing::warn!(error = %e, "Could not reject an unreadable message; it comes again.");
                    }
                });
                None
            }
        }
    }
}

impl RabbitConsumer {
    /// Moves a message given back [`DELIVERY_LIMIT`] times to the dead letters without
    /// trying it again: publish confirmed first, then the ack. If the publish fails it is
    /// given back once more, to be tried again.
    fn dead_letter_crash_loop(&self, acker: lapin::Acker, tag: u64, decoded: Decoded) {
        let now = crate::domain::now_ms();
        let record = DeadLetterRecord {
            error: format!(
                "redelivered {} times without being settled (crash loop?)",
                decoded.redeliveries
            ),
            attempts: decoded.attempt.saturating_add(decoded.redeliveries),
            first_failed_at_ms: decoded.first_failed_at_ms.unwrap_or(now),
            last_failed_at_ms: now,
            message: decoded.message,
        };
        tracing::error!(
            delivery_id = %record.message.delivery_id,
            redeliveries = decoded.redeliveries,
            "Dead-lettering a delivery that keeps coming back without being settled."
        );
        let queue = self.queue.clone();
        let settlements = self.settlements.clone();
        tokio::spawn(async move {
            let settled = match queue.dead_letter(&record).await {
                Ok(()) => settlements.alone(tag, ack(&acker)).await,
                Err(e) => {
                    tracing::warn!(error = %e, "Could not dead-letter it; giving it back.");
                    settlements.alone(tag, requeue(&acker)).await
                }
            };
            if let Err(e) = settled {
                tracing::warn!(error = %e, "Could not settle it; it comes again.");
            }
        });
    }

    pub(super) async fn close(self) {
        // Unacknowledged messages go back to the queue when the channel closes.
        let _ = self.channel.close(200, "worker stopping".into()).await;
        let _ = self.connection.close(200, "worker stopping".into()).await;
    }
}

fn header_string(table: &FieldTable, key: &str) -> Option<String> {
    match table.inner().get(&ShortString::from(key))? {
        AMQPValue::LongString(s) => String::from_utf8(s.as_bytes().to_vec()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

fn header_int(table: &FieldTable, key: &str) -> Option<i64> {
    match table.inner().get(&ShortString::from(key))? {
        AMQPValue::LongLongInt(v) => Some(*v),
        AMQPValue::LongInt(v) => Some(i64::from(*v)),
        AMQPValue::LongUInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortInt(v) => Some(i64::from(*v)),
        AMQPValue::ShortUInt(v) => Some(i64::from(*v)),
        _ => None,
    }
}

struct Decoded {
    message: QueueMessage,
    attempt: u32,
    redeliveries: u32,
    first_failed_at_ms: Option<i64>,
    last_failed_at_ms: Option<i64>,
    error: Option<String>,
}

fn decode(delivery: &lapin::message::Delivery) -> Result<Decoded, QueueError> {
    let props = &delivery.properties;
    let empty = FieldTable::default();
    let headers = props.headers().as_ref().unwrap_or(&empty);
    let missing = |what: &str| QueueError::Malformed(format!("missing {what}"));
    let provider = header_string(headers, H_PROVIDER).ok_or_else(|| missing(H_PROVIDER))?;
    let message = QueueMessage {
        delivery_id: header_string(headers, H_DELIVERY_ID).ok_or_else(|| missing(H_DELIVERY_ID))?,
        integration_id: header_string(headers, H_INTEGRATION_ID)
            .ok_or_else(|| missing(H_INTEGRATION_ID))?,
        provider: Provider::parse(&provider)
            .ok_or_else(|| QueueError::Malformed(format!("unknown provider {provider}")))?,
        event_type: header_string(headers, H_EVENT_TYPE).ok_or_else(|| missing(H_EVENT_TYPE))?,
        idempotency_key: props
            .message_id()
            .as_ref()
            .map(|m| m.as_str().to_owned())
            .ok_or_else(|| missing("message_id"))?,
        received_at_ms: header_int(headers, H_RECEIVED_AT).ok_or_else(|| missing(H_RECEIVED_AT))?,
        body: bytes::Bytes::copy_from_slice(&delivery.data),
    };
    let count = |key: &str| header_int(headers, key).and_then(|n| u32::try_from(n).ok());
    Ok(Decoded {
        message,
        attempt: count(H_ATTEMPT).unwrap_or(1).max(1),
        // Quorum queues count earlier deliveries of the same message in `x-delivery-count`.
        redeliveries: count("x-delivery-count").unwrap_or(0),
        first_failed_at_ms: header_int(headers, H_FIRST_FAILED),
        last_failed_at_ms: header_int(headers, H_LAST_FAILED),
        error: header_string(headers, H_ERROR),
    })
}

fn truncate(error: &str) -> String {
    error.chars().take(ERROR_CHARS).collect()
}

/// A consumer of due workflow steps.
pub struct JobConsumer {
    connection: Connection,
    channel: Channel,
    inner: lapin::Consumer,
}

/// A workflow step taken from the queue; acknowledge it once it ran (its outcome is in the
/// database either way).
pub struct JobDelivery {
    /// The step.
    pub job: super::StepJob,
    acker: lapin::Acker,
}

impl JobDelivery {
    /// Removes the message.
    pub async fn ack(self) -> Result<(), QueueError> {
        ack(&self.acker).await
    }
}

impl JobConsumer {
    /// The next step; `None` when the broker cancelled the consumer. Unreadable messages are
    /// dropped with an error log (the scheduler re-queues any run whose step is lost).
    pub async fn next(&mut self) -> Option<Result<JobDelivery, QueueError>> {
        loop {
            let delivery = match self.inner.next().await? {
                Ok(d) => d,
                Err(e) => return Some(Err(unavailable(e))),
            };
            match serde_json::from_slice::<super::StepJob>(&delivery.data) {
                Ok(job) => {
                    return Some(Ok(JobDelivery {
                        job,
                        acker: delivery.acker,
                    }));
                }
                Err(e) => {
                    tracing::error!(error = %e, "Dropping an unreadable workflow step message.");
                    if let Err(e) = ack(&delivery.acker).await {
                        return Some(Err(e));
                    }
                }
            }
        }
    }

    /// Stops consuming; unacknowledged steps go back to the queue.
    pub async fn close(self) {
        let _ = self.channel.close(200, "worker stopping".into()).await;
        let _ = self.connection.close(200, "worker stopping".into()).await;
    }
}

/// A consumer of the dead-letter queue.
pub struct DeadLetterConsumer {
    _connection: Connection,
    _channel: Channel,
    inner: lapin::Consumer,
}

/// A dead letter taken from the broker, to be archived and then acknowledged.
pub struct DeadLetter {
    /// What is known of the failure.
    pub record: DeadLetterRecord,
    acker: lapin::Acker,
}

impl DeadLetter {
    /// Acknowledges after the record was stored.
    pub async fn ack(self) -> Result<(), QueueError> {
        ack(&self.acker).await
    }

    /// Gives it back (storing failed; try again later).
    pub async fn requeue(self) -> Result<(), QueueError> {
        requeue(&self.acker).await
    }
}

impl DeadLetterConsumer {
    /// The next dead letter; unreadable messages are dropped with an error log (they are not
    /// Inlet's and cannot be replayed).
    pub async fn next(&mut self) -> Option<Result<DeadLetter, QueueError>> {
        loop {
            let delivery = match self.inner.next().await? {
                Ok(d) => d,
                Err(e) => return Some(Err(unavailable(e))),
            };
            match decode(&delivery) {
                Ok(d) => {
                    let now = crate::domain::now_ms();
                    let has_error = d.error.is_some();
                    let record = DeadLetterRecord {
                        // Without our error header the broker dead-lettered it itself.
                        error: d.error.unwrap_or_else(|| {
                            format!("redelivered more than {BROKER_DELIVERY_LIMIT} times without being acknowledged (crash loop?)")
                        }),
                        // Our header counts the attempts; requeues while archiving do not.
                        attempts: if has_error { d.attempt } else { d.attempt.saturating_add(d.redeliveries) },
                        first_failed_at_ms: d.first_failed_at_ms.unwrap_or(now),
                        last_failed_at_ms: d.last_failed_at_ms.unwrap_or(now),
                        message: d.message,
                    };
                    return Some(Ok(DeadLetter {
                        record,
                        acker: delivery.acker,
                    }));
                }
                Err(e) => {
                    tracing::error!(error = %e, "Dropping an unreadable dead letter.");
                    if let Err(e) = ack(&delivery.acker).await {
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}

pub(super) async fn ack(acker: &lapin::Acker) -> Result<(), QueueError> {
    acker
        .ack(BasicAckOptions::default())
        .await
        .map(|_| ())
        .map_err(unavailable)
}

pub(super) async fn requeue(acker: &lapin::Acker) -> Result<(), QueueError> {
    acker
        .nack(BasicNackOptions {
            requeue: true,
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(unavailable)
}

pub(super) async fn reject(acker: &lapin::Acker) -> Result<(), QueueError> {
    acker
        .nack(BasicNackOptions {
            requeue: false,
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::{PATIENCE, Pending, held_back, settled_prefix};
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    fn pending(entries: &[(u64, bool)], since: Instant) -> BTreeMap<u64, Pending> {
        entries
            .iter()
            .map(|&(tag, acked)| (tag, Pending { since, acked }))
            .collect()
    }

    fn acked(pending: &mut BTreeMap<u64, Pending>, tag: u64) {
        pending.get_mut(&tag).unwrap().acked = true;
    }

    #[test]
    fn a_multiple_ack_covers_only_the_acked_prefix() {
        let now = Instant::now();
        let mut pending = pending(
            &[
                (1, false),
                (2, true),
                (3, true),
                (4, false),
                (5, true),
                (6, false),
            ],
            now,
        );
        // Tag 1 is still being worked on: nothing may be acked.
        assert_eq!(settled_prefix(&mut pending), None);
        assert_eq!(pending.len(), 6);
        acked(&mut pending, 1);
        // 1–3 now; 4 holds back 5.
        assert_eq!(settled_prefix(&mut pending), Some(3));
        assert_eq!(pending.keys().copied().collect::<Vec<_>>(), [4, 5, 6]);
        // 4 settled alone (a retry): it leaves the set, and 5 may go.
        pending.remove(&4);
        assert_eq!(settled_prefix(&mut pending), Some(5));
        assert_eq!(pending.keys().copied().collect::<Vec<_>>(), [6]);
        assert_eq!(settled_prefix(&mut pending), None);
    }

    #[test]
    fn acks_held_back_spill_one_by_one_when_many_wait_or_the_holder_is_slow() {
        let now = Instant::now();
        // Tag 1 is in hand; 2 and 4 are acked behind it, 3 is not.
        let entries = [(1, false), (2, true), (3, false), (4, true)];
        let mut fresh = pending(&entries, now);
        assert_eq!(settled_prefix(&mut fresh), None);
        assert_eq!(
            held_back(&mut fresh, 3, now),
            Vec::<u64>::new(),
            "few, and tag 1 is fresh: they wait"
        );
        assert_eq!(
            held_back(&mut fresh, 2, now),
            [2, 4],
            "as many as the spill"
        );
        assert_eq!(fresh.keys().copied().collect::<Vec<_>>(), [1, 3]);

        let mut slow = pending(&entries, now);
        let later = now + PATIENCE + Duration::from_millis(1);
        assert_eq!(
            held_back(&mut slow, 3, later),
            [2, 4],
            "tag 1 has been in hand too long"
        );
        assert_eq!(
            held_back(&mut slow, 3, later),
            Vec::<u64>::new(),
            "nothing left to spill"
        );
    }
}
