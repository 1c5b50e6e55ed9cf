//! Retention: removes what each kind of stored data's retention (`INLET_RETAIN_*`) lets
//! go — the one deleter of expired rows, whichever module writes them (expired signing
//! secrets through their writer, `integrations::prune_expired_secrets`) — and creates the
//! day partitions ahead of time on PostgreSQL.
//!
//! On PostgreSQL the webhook log, the kept requests and the claims are partitioned by day
//! (`partitions`): expiry drops whole partitions, in constant time and without vacuum
//! debt. Everything else, SQLite's tables, and the rows of a partitioned table that sit
//! in its default (or pre-partitioning) partition go in bounded batches (`batched`).
//! Retention of partitioned data is by whole UTC days on both backends: with `30d`, a
//! row goes once its whole day is more than 30 days old.
//!
//! One process prunes at a time: [`prune_elected`] takes a PostgreSQL advisory lock, so N
//! workers prune once.

mod batched;
pub mod partitions;
pub mod stats;

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};

use crate::config::Retention;
use crate::db::entities::email_send::EmailStatus;
use crate::workflows::runs::RunStatus;
use batched::Expiry;
use partitions::{Span, day_of};

/// How long an API idempotency key is remembered (`Idempotency-Key`, as Loops: 24 hours).
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// The advisory lock the pruning process holds ("inletprn").
const PRUNE_LOCK: i64 = 0x696E_6C65_7470_726E;

/// What one table lost (or would lose, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// The table.
    pub table: &'static str,
    /// Whole partitions dropped (PostgreSQL).
    pub partitions: Vec<String>,
    /// Rows removed: counted for batched deletes, PostgreSQL's estimate for partitions.
    pub rows: u64,
}

/// What a prune did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Per table, those that lost anything.
    pub removed: Vec<Removed>,
    /// Partitions created ahead of time.
    pub created: Vec<String>,
    /// How long it took.
    pub took: Duration,
}

/// A table partitioned by day on PostgreSQL.
struct Daily {
    table: &'static str,
    /// The partition key, and SQLite's time column.
    key: &'static str,
    /// Whether the pre-partitioning partition's key is a real time (the claims' is 0:
    /// that partition only goes whole).
    upto_has_times: bool,
    keep: fn(&Retention) -> Option<Duration>,
}

const DAILY: [Daily; 3] = [
    Daily {
        table: "webhook_log",
        key: "received_at",
        upto_has_times: true,
        keep: |r| r.webhook_log,
    },
    Daily {
        table: "webhook_log_requests",
        key: "received_at",
        upto_has_times: true,
        keep: |r| r.requests,
    },
    Daily {
        table: "processed_deliveries",
        key: "event_day",
        upto_has_times: false,
        keep: |r| r.dedupe,
    },
];

/// The last day partitions are made ready for at `now`.
fn ahead(now: i64) -> i64 {
    now.saturating_add(partitions::AHEAD_DAYS.saturating_mul(partitions::DAY_MS))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The tables pruned row by row, with the cutoff each takes at `now`.
fn batched_rules(retention: &Retention, now: i64) -> Vec<(Expiry, Option<i64>)> {
    let before = |keep: Option<Duration>| keep.map(|d| now.saturating_sub(millis(d)));
    let finished = EmailStatus::FINISHED
        .map(|s| format!("'{}'", s.as_str()))
        .join(", ");
    // A failed run waits in the dead letters for a replay; a pending one is not done.
    let finished_runs = [RunStatus::Completed, RunStatus::Cancelled]
        .map(|s| format!("'{}'", s.as_str()))
        .join(", ");
    vec![
        (
            Expiry {
                table: "email_sends",
                column: "created_at",
                also: Some(format!("status IN ({finished})")),
            },
            before(retention.emails),
        ),
        (
            Expiry {
                table: "dead_letters",
                column: "replayed_at",
                also: None,
            },
            before(retention.dead_letters),
        ),
        (
            Expiry {
                table: "contact_events",
                column: "created_at",
                also: None,
            },
            before(retention.events),
        ),
        (
            // A run's passed nodes go with it (so before it): a node is passed no later
            // than its run's last update, so `passed_at` is before the cutoff too.
            Expiry {
                table: "workflow_run_nodes",
                column: "passed_at",
                also: Some(format!(
                    "run_id IN (SELECT id FROM workflow_runs WHERE updated_at < $1 \
                     AND status IN ({finished_runs}))"
                )),
            },
            before(retention.workflow_runs),
        ),
        (
            Expiry {
                table: "workflow_runs",
                column: "updated_at",
                also: Some(format!("status IN ({finished_runs})")),
            },
            before(retention.workflow_runs),
        ),
        (
            Expiry {
                table: "console_sessions",
                column: "expires_at",
                also: None,
            },
            Some(now),
        ),
        (
            // Removals count against the quota for 30 days, then mean nothing.
            Expiry {
                table: "suppression_removals",
                column: "removed_at",
                also: None,
            },
            Some(now.saturating_sub(crate::suppressions::QUOTA_WINDOW_MS)),
        ),
        (
            Expiry {
                table: "api_idempotency_keys",
                column: "created_at",
                also: None,
            },
            Some(now.saturating_sub(IDEMPOTENCY_WINDOW_MS)),
        ),
    ]
}

/// Removes what retention lets go at `now` (epoch ms) — or, with `dry_run`, only says what
/// would go — and creates the coming days' partitions.
pub async fn prune(
    db: &DatabaseConnection,
    retention: &Retention,
    now: i64,
    dry_run: bool,
) -> Result<Report, DbErr> {
    let started = Instant::now();
    let mut report = Report::default();
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    for daily in &DAILY {
        let partitioned = postgres && partitions::is_partitioned(db, daily.table).await?;
        if partitioned && !dry_run {
            report
                .created
                .extend(partitions::ensure(db, daily.table, daily.key, now, ahead(now)).await?);
        }
        let Some(keep) = (daily.keep)(retention) else {
            continue;
        };
        let cutoff = day_of(now.saturating_sub(millis(keep)));
        let mut removed = Removed {
            table: daily.table,
            partitions: Vec::new(),
            rows: 0,
        };
        let expiry = Expiry {
            table: daily.table,
            column: daily.key,
            also: None,
        };
        if partitioned {
            for part in partitions::drop_expired(db, daily.table, cutoff, dry_run).await? {
                removed.rows += part.estimated_rows;
                removed.partitions.push(part.name);
            }
            // What the whole-day drops leave: the default partition's expired rows, and
            // the pre-partitioning partition's until its range has expired.
            for part in partitions::list(db, daily.table).await? {
                let batched = match part.span {
                    Span::Default => true,
                    Span::Upto(_) => daily.upto_has_times,
                    Span::Day(_) => false,
                };
                if batched {
                    removed.rows += remove(db, &expiry, &part.name, cutoff, dry_run).await?;
                }
            }
        } else {
            removed.rows += remove(db, &expiry, daily.table, cutoff, dry_run).await?;
        }
        if removed.rows > 0 || !removed.partitions.is_empty() {
            report.removed.push(removed);
        }
    }
    for (expiry, cutoff) in batched_rules(retention, now) {
        let Some(cutoff) = cutoff else { continue };
        let rows = remove(db, &expiry, expiry.table, cutoff, dry_run).await?;
        if rows > 0 {
            report.removed.push(Removed {
                table: expiry.table,
                partitions: Vec::new(),
                rows,
            });
        }
    }
    // Signing secrets past their `expiresAt` no longer verify; their rows go too.
    if !dry_run {
        let rows = crate::integrations::prune_expired_secrets(db, now).await?;
        if rows > 0 {
            report.removed.push(Removed {
                table: "integration_secrets",
                partitions: Vec::new(),
                rows,
            });
        }
    }
    report.took = started.elapsed();
    Ok(report)
}

async fn remove(
    db: &DatabaseConnection,
    expiry: &Expiry,
    table: &str,
    cutoff: i64,
    dry_run: bool,
) -> Result<u64, DbErr> {
    if dry_run {
        batched::count(db, expiry, table, cutoff).await
    } else {
        batched::delete(db, expiry, table, cutoff).await
    }
}

/// [`prune`] unless another process is pruning (PostgreSQL: it holds the advisory lock);
/// `None` when it is. SQLite has one process.
pub async fn prune_elected(
    db: &DatabaseConnection,
    retention: &Retention,
    now: i64,
) -> Result<Option<Report>, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return prune(db, retention, now, false).await.map(Some);
    }
    // Held by a transaction of its own for the whole prune; the prune's statements run
    // on other connections. An idle transaction that has only taken a lock holds no
    // snapshot, so it keeps no row from vacuum.
    let lock = db.begin().await?;
    let row = lock
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT pg_try_advisory_xact_lock({PRUNE_LOCK}) AS won"),
        ))
        .await?;
    let won: bool = match row {
        Some(row) => row.try_get("", "won")?,
        None => false,
    };
    if !won {
        lock.rollback().await?;
        return Ok(None);
    }
    let report = prune(db, retention, now, false).await;
    lock.commit().await?;
    report.map(Some)
}

/// Creates the coming days' partitions (PostgreSQL; nothing on SQLite), as start-up does
/// after the migrations so a fresh database's first rows find theirs.
pub async fn prepare_partitions(db: &DatabaseConnection, now: i64) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for daily in &DAILY {
        if partitions::is_partitioned(db, daily.table).await? {
            partitions::ensure(db, daily.table, daily.key, now, ahead(now)).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
