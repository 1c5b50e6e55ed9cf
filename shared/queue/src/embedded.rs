//! Embedded queue: messages are rows of `queue_messages` in Inlet's own database, so a
//! delivery answered 202 is on disk (the insert's commit) before the answer.
//!
//! A consumer claims a batch by setting a lease (`lease_until`, `lease_token`) on ready
//! rows; acknowledging deletes the row. A consumer that dies leaves leases that expire, and
//! the rows are delivered again (effects stay exactly-once through processed deliveries).
//! Waiting consumers are woken at once by publishes in the same process and poll for
//! publishes from other processes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use tokio::sync::{Notify, mpsc, oneshot};

use super::{
    Acker, Attempt, DeadLetterRecord, Delivery, MalformedCause, QueueError, QueueMessage,
    SharedDbErr, UnavailableCause,
};
use crate::db::entities::queue_message::{self, Column, Entity};
use crate::domain::now_ms;
use crate::message::{KeptHeaders, TraceContext};
use crate::providers::Provider;

const WORK: &str = "webhooks";
/// How long a consumer may hold a message before another may take it.
const LEASE: Duration = Duration::from_secs(60);
/// How often an idle consumer looks for messages published by other processes.
const POLL: Duration = Duration::from_millis(250);

fn unavailable(e: DbErr) -> QueueError {
    UnavailableCause::Database(e).into()
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Most requests (publishes, acks) committed together.
const GROUP: usize = 256;
/// Most body bytes in one insert statement.
const GROUP_BYTES: usize = 4 * 1024 * 1024;

type Committed = oneshot::Sender<Result<(), Arc<DbErr>>>;

/// Group commit: requests that arrive while the previous group is being written share the
/// next statement and commit (one transaction, one disk flush, for all of them). Each
/// request is answered with its group's result.
struct Grouped<T> {
    requests: mpsc::Sender<(T, Committed)>,
}

impl<T> Clone for Grouped<T> {
    fn clone(&self) -> Self {
        Self {
            requests: self.requests.clone(),
        }
    }
}

impl<T: Send + 'static> Grouped<T> {
    /// Starts the task that writes groups with `write`.
    fn start<F, Fut>(write: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), DbErr>> + Send,
    {
        let (requests, mut pending) = mpsc::channel::<(T, Committed)>(4 * GROUP);
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(GROUP);
            while pending.recv_many(&mut group, GROUP).await > 0 {
                let (items, waiting): (Vec<T>, Vec<Committed>) = group.drain(..).unzip();
                let result = write(items).await.map_err(Arc::new);
                for committed in waiting {
                    // A request that stopped waiting is gone; its write stands.
                    let _ = committed.send(result.clone());
                }
            }
        });
        Self { requests }
    }

    /// Submits one request; returns once its group committed.
    async fn submit(&self, item: T) -> Result<(), QueueError> {
        let (committed, done) = oneshot::channel();
        self.requests
            .send((item, committed))
            .await
            .map_err(|_| UnavailableCause::Closed)?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(UnavailableCause::Commit(SharedDbErr(e)).into()),
            Err(_) => Err(UnavailableCause::Stopped.into()),
        }
    }
}

/// Inserts rows, in statements of at most [`GROUP_BYTES`] of bodies.
async fn insert_rows(
    db: &DatabaseConnection,
    rows: Vec<queue_message::ActiveModel>,
) -> Result<(), DbErr> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut bytes = 0;
        let mut chunk = Vec::new();
        while let Some(row) =
            rows.next_if(|r| chunk.is_empty() || bytes + body_len(r) <= GROUP_BYTES)
        {
            bytes += body_len(&row);
            chunk.push(row);
        }
        Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

fn body_len(row: &queue_message::ActiveModel) -> usize {
    match &row.body {
        sea_orm::ActiveValue::Set(b) | sea_orm::ActiveValue::Unchanged(b) => b.len(),
        sea_orm::ActiveValue::NotSet => 0,
    }
}

/// The embedded queue (cheap to clone).
#[derive(Clone)]
pub struct EmbeddedQueue {
    db: DatabaseConnection,
    notify: Arc<Notify>,
    publishes: Grouped<queue_message::ActiveModel>,
    acks: Grouped<(i64, String)>,
}

impl EmbeddedQueue {
    /// A queue in `db` (the migrations create its table). Starts the tasks that commit
    /// publishes and acks in groups; call inside a Tokio runtime.
    pub fn new(db: DatabaseConnection) -> Self {
        let notify = Arc::new(Notify::new());
        let publishes = {
            let (db, notify) = (db.clone(), notify.clone());
            Grouped::start(move |rows| {
                let (db, notify) = (db.clone(), notify.clone());
                async move {
                    insert_rows(&db, rows).await?;
                    notify.notify_one();
                    Ok(())
                }
            })
        };
        let acks = {
            let db = db.clone();
            Grouped::start(move |leases: Vec<(i64, String)>| {
                let db = db.clone();
                async move {
                    let mut any = Condition::any();
                    for (id, token) in leases {
                        any = any.add(
                            Condition::all()
                                .add(Column::Id.eq(id))
                                .add(Column::LeaseToken.eq(token)),
                        );
                    }
                    Entity::delete_many().filter(any).exec(&db).await?;
                    Ok(())
                }
            })
        };
        Self {
            db,
            notify,
            publishes,
            acks,
        }
    }

    /// Inserts the message; returns once the insert committed (with the other publishes
    /// of its group).
    pub async fn publish(&self, message: &QueueMessage) -> Result<(), QueueError> {
        let now = now_ms();
        let row = queue_message::ActiveModel {
            queue: Set(WORK.to_owned()),
            delivery_id: Set(message.delivery_id.clone()),
            integration_id: Set(message.integration_id.clone()),
            provider: Set(message.provider.as_str().to_owned()),
            event_type: Set(message.event_type.clone()),
            idempotency_key: Set(message.idempotency_key.clone()),
            received_at: Set(message.received_at_ms),
            body: Set(message.body.to_vec()),
            attempts: Set(0),
            available_at: Set(now),
            lease_until: Set(None),
            lease_token: Set(None),
            traceparent: Set(message.trace.traceparent.clone()),
            tracestate: Set(message.trace.tracestate.clone()),
            kept_headers: Set(message
                .kept_headers
                .as_ref()
                .map(|k| k.as_json().to_owned())),
            ..Default::default()
        };
        self.publishes.submit(row).await
    }

    /// A consumer that claims up to `prefetch` messages at a time.
    pub fn consumer(&self, prefetch: u16) -> EmbeddedConsumer {
        EmbeddedConsumer {
            queue: self.clone(),
            batch: u64::from(Ord::max(prefetch, 1)),
            buffer: VecDeque::new(),
        }
    }

    /// Readiness: the database answers.
    pub async fn check(&self) -> Result<(), QueueError> {
        self.db.ping().await.map_err(unavailable)
    }

    /// Messages in the work queue (ready or leased).
    pub async fn depth(&self) -> Result<u64, QueueError> {
        Entity::find()
            .filter(Column::Queue.eq(WORK))
            .count(&self.db)
            .await
            .map_err(unavailable)
    }

    async fn claim(&self, limit: u64) -> Result<Vec<Delivery>, QueueError> {
        let now = now_ms();
        let token = uuid::Uuid::new_v4().simple().to_string();
        let ready = || {
            Condition::all()
                .add(Column::Queue.eq(WORK))
                .add(Column::AvailableAt.lte(now))
                .add(
                    Condition::any()
                        .add(Column::LeaseUntil.is_null())
                        .add(Column::LeaseUntil.lt(now)),
                )
        };
        let candidates = Query::select()
            .column(Column::Id)
            .from(Entity)
            .cond_where(ready())
            .order_by(Column::Id, Order::Asc)
            .limit(limit)
            .to_owned();
        // The ready condition is repeated on the row itself, so two consumers racing for
        // the same rows each get a row at most once (the loser's re-check fails).
        let claimed = Entity::update_many()
            .col_expr(Column::LeaseUntil, Expr::value(now + millis(LEASE)))
            .col_expr(Column::LeaseToken, Expr::value(token.clone()))
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .filter(Column::Id.in_subquery(candidates))
            .filter(ready())
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        if claimed.rows_affected == 0 {
            return Ok(Vec::new());
        }
        let rows = Entity::find()
            .filter(Column::LeaseToken.eq(token.clone()))
            .order_by_asc(Column::Id)
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        rows.into_iter()
            .map(|row| {
                let provider = Provider::parse(&row.provider).ok_or_else(|| {
                    QueueError::from(MalformedCause::UnknownProvider(row.provider.clone()))
                })?;
                // Every claim is an attempt: retries and crashed consumers' leases alike.
                let attempt = Ord::max(u32::try_from(row.attempts).unwrap_or(1), 1);
                Ok(Delivery {
                    message: QueueMessage {
                        delivery_id: row.delivery_id,
                        integration_id: row.integration_id,
                        provider,
                        event_type: row.event_type,
                        idempotency_key: row.idempotency_key,
                        received_at_ms: row.received_at,
                        body: row.body.into(),
                        trace: TraceContext {
                            traceparent: row.traceparent,
                            tracestate: row.tracestate,
                        },
                        kept_headers: row.kept_headers.as_deref().and_then(KeptHeaders::from_json),
                    },
                    attempt,
                    first_failed_at_ms: row.first_failed_at,
                    acker: Some(Acker::Embedded(Lease {
                        queue: self.clone(),
                        id: row.id,
                        token: token.clone(),
                    })),
                })
            })
            .collect()
    }
}

/// Claims messages in batches and hands them out one by one.
pub struct EmbeddedConsumer {
    queue: EmbeddedQueue,
    batch: u64,
    buffer: VecDeque<Delivery>,
}

impl EmbeddedConsumer {
    pub(super) async fn next(&mut self) -> Option<Result<Delivery, QueueError>> {
        loop {
            if let Some(delivery) = self.buffer.pop_front() {
                return Some(Ok(delivery));
            }
            match self.queue.claim(self.batch).await {
                Ok(batch) if !batch.is_empty() => self.buffer.extend(batch),
                Ok(_) => {
                    tokio::select! {
                        () = self.queue.notify.notified() => {}
                        () = tokio::time::sleep(POLL) => {}
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl EmbeddedConsumer {
    pub(super) fn try_next(&mut self) -> Option<Delivery> {
        self.buffer.pop_front()
    }

    pub(super) async fn close(mut self) {
        for delivery in self.buffer.drain(..) {
            if let Err(e) = delivery.release().await {
                tracing::warn!(error = %e, "Could not release a message; its lease will expire.");
            }
        }
    }
}

/// A consumer's hold on one message.
pub(super) struct Lease {
    queue: EmbeddedQueue,
    id: i64,
    token: String,
}

impl Lease {
    fn mine(&self) -> Condition {
        Condition::all()
            .add(Column::Id.eq(self.id))
            .add(Column::LeaseToken.eq(self.token.clone()))
    }

    /// Deletes the message if this lease still holds it; returns once that committed (with
    /// the other acks of its group).
    pub(super) async fn ack(self) -> Result<(), QueueError> {
        self.queue.acks.submit((self.id, self.token)).await
    }

    /// Gives the message back after `delay`; its claim stays counted as an attempt only
    /// when one was made.
    pub(super) async fn release(self, delay: Duration, attempt: Attempt) -> Result<(), QueueError> {
        let attempts = match attempt {
            Attempt::Made => Expr::col(Column::Attempts),
            Attempt::NotMade => Expr::col(Column::Attempts).sub(1),
        };
        Entity::update_many()
            .col_expr(Column::AvailableAt, Expr::value(now_ms() + millis(delay)))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(Column::LeaseToken, Expr::value(Option::<String>::None))
            .col_expr(Column::Attempts, attempts)
            .filter(self.mine())
            .exec(&self.queue.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub(super) async fn release_after_failure(
        self,
        delay: Duration,
        first_failed_at_ms: i64,
        error: &str,
    ) -> Result<(), QueueError> {
        Entity::update_many()
            .col_expr(Column::AvailableAt, Expr::value(now_ms() + millis(delay)))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(Column::LeaseToken, Expr::value(Option::<String>::None))
            .col_expr(Column::FirstFailedAt, Expr::value(first_failed_at_ms))
            .col_expr(
                Column::LastError,
                Expr::value(error.chars().take(1000).collect::<String>()),
            )
            .filter(self.mine())
            .exec(&self.queue.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Stores the dead letter and removes the message in one transaction.
    pub(super) async fn dead_letter(self, record: &DeadLetterRecord) -> Result<(), QueueError> {
        let txn = self.queue.db.begin().await.map_err(unavailable)?;
        inlet_store::dead_letters::store(&txn, record)
            .await
            .map_err(unavailable)?;
        Entity::delete_many()
            .filter(self.mine())
            .exec(&txn)
            .await
            .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)
    }
}
