//! Dead letters in the database: stored when a delivery fails for good (directly in embedded
//! mode; archived from the broker's dead-letter queue in production) or a workflow run's step
//! does (the store's `dead_letters` holds every write), listed, and replayed — deliveries through the normal
//! queue, where the processed-delivery record keeps effects exactly-once.

use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

use crate::db::entities::dead_letter::{self, DeadLetterKind};
use crate::providers::Provider;
use crate::queue::{Queue, QueueError, QueueMessage};
/// Every write to the dead-letters table (in the store, beside the other writers).
pub use inlet_store::dead_letters as write;
use inlet_store::dead_letters::{mark_replayed, unmark_replayed};
pub use inlet_store::dead_letters::{store, store_run};

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

/// How many dead letters of one integration and event type match a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCount {
    /// The integration (a workflow's id for a workflow run's dead letter).
    pub integration_id: String,
    /// The event type.
    pub event_type: String,
    /// How many match.
    pub count: u64,
}

/// [`count`] per integration and event type, the largest first: what a replay of `filter`
/// would put back, counted by the database with the same selection.
pub async fn count_by_integration_and_type(
    db: &DatabaseConnection,
    filter: &Filter,
) -> Result<Vec<GroupCount>, DbErr> {
    let rows: Vec<(String, String, i64)> = dead_letter::Entity::find()
        .select_only()
        .column(dead_letter::Column::IntegrationId)
        .column(dead_letter::Column::EventType)
        .column_as(dead_letter::Column::Id.count(), "count")
        .filter(filter.condition())
        .group_by(dead_letter::Column::IntegrationId)
        .group_by(dead_letter::Column::EventType)
        .into_tuple()
        .all(db)
        .await?;
    let mut groups: Vec<GroupCount> = rows
        .into_iter()
        .map(|(integration_id, event_type, count)| GroupCount {
            integration_id,
            event_type,
            count: u64::try_from(count).unwrap_or(0),
        })
        .collect();
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.integration_id.cmp(&b.integration_id))
            .then_with(|| a.event_type.cmp(&b.event_type))
    });
    Ok(groups)
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
    if row.kind() == DeadLetterKind::WorkflowRun {
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
        trace: Default::default(),
        kept_headers: None,
    };
    // Mark first, publish second: if the publish fails the mark is undone, and a crash in
    // between leaves it marked but not queued (visible with --include-replayed), never
    // queued twice.
    if !mark_replayed(db, row).await? {
        return Ok(false); // replayed concurrently by someone else
    }
    if let Err(source) = queue.publish(&message).await {
        unmark_replayed(db, row).await?;
        return Err(ReplayError::Queue {
            replayed: 0,
            source,
        });
    }
    Ok(true)
}

/// Replays a failed workflow run: marks the dead letter and makes the run's failed step due
/// again, in one transaction. The send guard (one email per run and step) still holds, so
/// an email that did go out is not sent twice.
async fn replay_run(db: &DatabaseConnection, row: &dead_letter::Model) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    if !mark_replayed(&txn, row).await? {
        return Ok(false);
    }
    let resumed = crate::workflows::runs::resume(&txn, &row.delivery_id).await?;
    if !resumed {
        tracing::warn!(dead_letter = %row.id, "The workflow run of this dead letter no longer exists.");
    }
    txn.commit().await?;
    Ok(resumed)
}
