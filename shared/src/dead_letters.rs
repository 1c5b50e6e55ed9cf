//! Dead letters in the database: stored when a delivery fails for good (directly in embedded
//! mode; archived from the broker's dead-letter queue in production), listed, and replayed
//! through the normal queue — where the processed-delivery record keeps effects exactly-once.

use sea_orm::sea_query::Expr;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

use crate::db::entities::{dead_letter, workflow_run};
use crate::domain::{new_id, now_ms};
use crate::providers::Provider;
use crate::queue::{DeadLetterRecord, Queue, QueueError, QueueMessage};

/// Stores (or, for a delivery that died again after a replay, refreshes) a dead letter.
pub async fn store<C: ConnectionTrait>(db: &C, record: &DeadLetterRecord) -> Result<(), DbErr> {
    let m = &record.message;
    let row = dead_letter::ActiveModel {
        id: Set(new_id("dl_")),
        delivery_id: Set(m.delivery_id.clone()),
        integration_id: Set(m.integration_id.clone()),
        provider: Set(m.provider.as_str().to_owned()),
        event_type: Set(m.event_type.clone()),
        idempotency_key: Set(m.idempotency_key.clone()),
        received_at: Set(m.received_at_ms),
        body: Set(m.body.to_vec()),
        error: Set(record.error.clone()),
        attempts: Set(i32::try_from(record.attempts).unwrap_or(i32::MAX)),
        first_failed_at: Set(record.first_failed_at_ms),
        last_failed_at: Set(record.last_failed_at_ms),
        dead_at: Set(now_ms()),
        replayed_at: Set(None),
        replay_count: Set(0),
    };
    dead_letter::Entity::insert(row)
        .on_conflict(
            OnConflict::column(dead_letter::Column::DeliveryId)
                .update_columns([
                    dead_letter::Column::Error,
                    dead_letter::Column::Attempts,
                    dead_letter::Column::LastFailedAt,
                    dead_letter::Column::DeadAt,
                    dead_letter::Column::ReplayedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The `provider` of a dead letter that is a workflow run's failed step (its
/// `integrationId` is the workflow, its `deliveryId` the run).
pub const WORKFLOW: &str = "workflow";

/// Stores a workflow run whose step failed for good (a send the SMTP server keeps refusing,
/// say), so it is listed and replayed like a dead-lettered delivery.
pub async fn store_run<C: ConnectionTrait>(
    db: &C,
    run: &workflow_run::Model,
    error: &str,
    attempts: i32,
) -> Result<(), DbErr> {
    let now = now_ms();
    let body = serde_json::json!({
        "runId": run.id,
        "workflowId": run.workflow_id,
        "contactId": run.contact_id,
        "step": run.step,
    });
    let row = dead_letter::ActiveModel {
        id: Set(new_id("dl_")),
        delivery_id: Set(run.id.clone()),
        integration_id: Set(run.workflow_id.clone()),
        provider: Set(WORKFLOW.to_owned()),
        event_type: Set(run.event_name.clone()),
        idempotency_key: Set(format!("{}:{}", run.id, run.step)),
        received_at: Set(run.created_at),
        body: Set(body.to_string().into_bytes()),
        error: Set(error.to_owned()),
        attempts: Set(attempts),
        first_failed_at: Set(run.first_failed_at.unwrap_or(now)),
        last_failed_at: Set(now),
        dead_at: Set(now),
        replayed_at: Set(None),
        replay_count: Set(0),
    };
    dead_letter::Entity::insert(row)
        .on_conflict(
            OnConflict::column(dead_letter::Column::DeliveryId)
                .update_columns([
                    dead_letter::Column::IdempotencyKey,
                    dead_letter::Column::Body,
                    dead_letter::Column::Error,
                    dead_letter::Column::Attempts,
                    dead_letter::Column::FirstFailedAt,
                    dead_letter::Column::LastFailedAt,
                    dead_letter::Column::DeadAt,
                    dead_letter::Column::ReplayedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Which dead letters to list or replay.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these ids (`dl_…`) or delivery ids (`wh_…`).
    pub ids: Vec<String>,
    /// Only this integration.
    pub integration_id: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// Dead at or after (epoch ms).
    pub since_ms: Option<i64>,
    /// Dead before (epoch ms).
    pub until_ms: Option<i64>,
    /// Include those already replayed (listing only; replay never repeats a replay).
    pub include_replayed: bool,
    /// At most this many (newest first).
    pub limit: Option<u64>,
}

impl Filter {
    fn condition(&self) -> Condition {
        let mut c = Condition::all();
        if !self.ids.is_empty() {
            c = c.add(
                Condition::any()
                    .add(dead_letter::Column::Id.is_in(self.ids.clone()))
                    .add(dead_letter::Column::DeliveryId.is_in(self.ids.clone())),
            );
        }
        if let Some(id) = &self.integration_id {
            c = c.add(dead_letter::Column::IntegrationId.eq(id.as_str()));
        }
        if let Some(t) = &self.event_type {
            c = c.add(dead_letter::Column::EventType.eq(t.as_str()));
        }
        if let Some(since) = self.since_ms {
            c = c.add(dead_letter::Column::DeadAt.gte(since));
        }
        if let Some(until) = self.until_ms {
            c = c.add(dead_letter::Column::DeadAt.lt(until));
        }
        if !self.include_replayed {
            c = c.add(dead_letter::Column::ReplayedAt.is_null());
        }
        c
    }
}

/// Dead letters matching `filter`, newest first.
pub async fn list(
    db: &DatabaseConnection,
    filter: &Filter,
) -> Result<Vec<dead_letter::Model>, DbErr> {
    let mut q = dead_letter::Entity::find()
        .filter(filter.condition())
        .order_by_desc(dead_letter::Column::DeadAt);
    if let Some(limit) = filter.limit {
        q = q.limit(limit);
    }
    q.all(db).await
}

/// How many dead letters match `filter` (its limit aside), counted by the database: a
/// preview of a replay reads no rows.
pub async fn count(db: &DatabaseConnection, filter: &Filter) -> Result<u64, DbErr> {
    dead_letter::Entity::find()
        .filter(filter.condition())
        .count(db)
        .await
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// The queue refused; `replayed` went through before it did.
    #[error("queue error after {replayed} replayed: {source}")]
    Queue {
        /// How many were replayed before the failure.
        replayed: usize,
        /// The queue's error.
        source: QueueError,
    },
}

/// Dead letters a replay reads at once. A replay holds at most one page (bodies included,
/// each at most `INLET_MAX_BODY_BYTES`), whatever the number of matches.
pub const REPLAY_PAGE: u64 = 100;

/// Puts the matching dead letters back on the queue (each once) and marks them replayed,
/// a page of [`REPLAY_PAGE`] at a time. Returns how many were replayed.
pub async fn replay(
    db: &DatabaseConnection,
    queue: &Queue,
    filter: &Filter,
) -> Result<usize, ReplayError> {
    let mut replay = Replay::new(db, queue, filter, REPLAY_PAGE);
    while replay.next_page().await?.is_some() {}
    Ok(replay.replayed())
}

/// A replay under way: it pages through the matching dead letters in id order (keyset, not
/// offsets), replaying each page before it reads the next. Replayed dead letters leave the
/// selection and later ones can enter it; neither moves the cursor, so none is skipped, and
/// one that dies again while the replay runs is behind the cursor and is not replayed twice.
pub struct Replay<'a> {
    db: &'a DatabaseConnection,
    queue: &'a Queue,
    filter: Filter,
    page: u64,
    /// The last id read: the next page starts after it.
    after: Option<String>,
    /// Matches still to read when the filter has a limit.
    left: Option<u64>,
    replayed: usize,
    done: bool,
}

impl<'a> Replay<'a> {
    /// A replay of the dead letters matching `filter` (never those already replayed), read
    /// `page` at a time; `filter.limit` caps how many are read in all.
    pub fn new(db: &'a DatabaseConnection, queue: &'a Queue, filter: &Filter, page: u64) -> Self {
        Self {
            db,
            queue,
            filter: Filter {
                include_replayed: false,
                ..filter.clone()
            },
            page: page.max(1),
            after: None,
            left: filter.limit,
            replayed: 0,
            done: false,
        }
    }

    /// Reads and replays the next page; how many of it were replayed, or `None` once no match
    /// is left.
    pub async fn next_page(&mut self) -> Result<Option<usize>, ReplayError> {
        let size = self.left.map_or(self.page, |left| left.min(self.page));
        if self.done || size == 0 {
            return Ok(None);
        }
        let mut query = dead_letter::Entity::find()
            .filter(self.filter.condition())
            .order_by_asc(dead_letter::Column::Id)
            .limit(size);
        if let Some(after) = &self.after {
            query = query.filter(dead_letter::Column::Id.gt(after.as_str()));
        }
        let rows = query.all(self.db).await?;
        let read = u64::try_from(rows.len()).unwrap_or(u64::MAX);
        self.done = read < size;
        if let Some(left) = &mut self.left {
            *left = left.saturating_sub(read);
        }
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        self.after = Some(last.id.clone());
        let mut replayed = 0;
        for row in &rows {
            match replay_one(self.db, self.queue, row).await {
                Ok(true) => {
                    replayed += 1;
                    self.replayed += 1;
                }
                Ok(false) => {}
                // `replay_one` cannot know the run's count; the error carries it.
                Err(ReplayError::Queue { source, .. }) => {
                    return Err(ReplayError::Queue {
                        replayed: self.replayed,
                        source,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(replayed))
    }

    /// How many this replay has put back so far.
    pub fn replayed(&self) -> usize {
        self.replayed
    }
}

/// Replays one dead letter; false when there was nothing to do (replayed concurrently by
/// someone else, an unknown provider, a workflow run that no longer exists).
async fn replay_one(
    db: &DatabaseConnection,
    queue: &Queue,
    row: &dead_letter::Model,
) -> Result<bool, ReplayError> {
    if row.provider == WORKFLOW {
        return Ok(replay_run(db, row).await?);
    }
    let Some(provider) = Provider::parse(&row.provider) else {
        tracing::warn!(dead_letter = %row.id, "Skipping a dead letter of an unknown provider.");
        return Ok(false);
    };
    let message = QueueMessage {
        delivery_id: row.delivery_id.clone(),
        integration_id: row.integration_id.clone(),
        provider,
        event_type: row.event_type.clone(),
        idempotency_key: row.idempotency_key.clone(),
        received_at_ms: row.received_at,
        body: row.body.clone().into(),
    };
    // Mark first, publish second: if the publish fails the mark is undone, and a crash in
    // between leaves it marked but not queued (visible with --include-replayed), never
    // queued twice.
    if !mark_replayed(db, row).await? {
        return Ok(false); // replayed concurrently by someone else
    }
    if let Err(source) = queue.publish(&message).await {
        dead_letter::Entity::update_many()
            .col_expr(
                dead_letter::Column::ReplayedAt,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                dead_letter::Column::ReplayCount,
                Expr::value(row.replay_count),
            )
            .filter(dead_letter::Column::Id.eq(row.id.as_str()))
            .exec(db)
            .await?;
        return Err(ReplayError::Queue {
            replayed: 0,
            source,
        });
    }
    Ok(true)
}

/// Marks a dead letter replayed unless someone else did first; true when this call did.
async fn mark_replayed<C: ConnectionTrait>(
    db: &C,
    row: &dead_letter::Model,
) -> Result<bool, DbErr> {
    let marked = dead_letter::Entity::update_many()
        .col_expr(dead_letter::Column::ReplayedAt, Expr::value(now_ms()))
        .col_expr(
            dead_letter::Column::ReplayCount,
            Expr::value(row.replay_count.saturating_add(1)),
        )
        .filter(dead_letter::Column::Id.eq(row.id.as_str()))
        .filter(dead_letter::Column::ReplayedAt.is_null())
        .exec(db)
        .await?;
    Ok(marked.rows_affected > 0)
}

/// Replays a failed workflow run: marks the dead letter and makes the run's failed step due
/// again, in one transaction. The send guard (one email per run and step) still holds, so
/// an email that did go out is not sent twice.
async fn replay_run(db: &DatabaseConnection, row: &dead_letter::Model) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    if !mark_replayed(&txn, row).await? {
        return Ok(false);
    }
    let resumed = crate::workflows::resume(&txn, &row.delivery_id).await?;
    if !resumed {
        tracing::warn!(dead_letter = %row.id, "The workflow run of this dead letter no longer exists.");
    }
    txn.commit().await?;
    Ok(resumed)
}
