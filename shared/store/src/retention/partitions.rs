//! PostgreSQL's day partitions of the tables that grow with traffic (migration 0014): which
//! exist, creating them ahead of time, and dropping those whose whole day has expired.
//!
//! Partitions are named by what they hold — `<table>_d<yyyymmdd>` one UTC day,
//! `<table>_upto_<yyyymmdd>` everything before that day (the table as it was before
//! partitioning), `<table>_default` any row whose day has no partition — and a partition
//! with any other name (an operator's own) is never touched.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait, Value,
};
use time::{Date, Month, OffsetDateTime};

/// One day in epoch milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Days of partitions kept ready after today's, so inserts never reach the default
/// partition while the pruner runs at least once a week.
pub const AHEAD_DAYS: i64 = 7;

/// How long a partition's creation or drop waits for its table's lock before giving up
/// until the next run: queued behind a long query, it would hold up every insert.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '2s'";

/// The advisory lock under which partitions are created ("inletprt").
const CREATE_LOCK: i64 = 0x696E_6C65_7470_7274;

/// What rows a partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// One UTC day, from this midnight (epoch ms).
    Day(i64),
    /// Everything before this midnight.
    Upto(i64),
    /// Rows whose day has no partition.
    Default,
}

/// A partition of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// Its table's name.
    pub name: String,
    /// What it holds.
    pub span: Span,
    /// Rows, as PostgreSQL last estimated them (`reltuples`; 0 before the first analyse).
    pub estimated_rows: u64,
    /// Bytes on disk, indexes and TOAST included.
    pub bytes: u64,
}

/// Midnight (UTC) of the day `ms` falls in.
pub fn day_of(ms: i64) -> i64 {
    ms.saturating_sub(ms.rem_euclid(DAY_MS))
}

/// `yyyymmdd` of the day `midnight_ms` falls in; `None` out of the calendar's range.
pub fn day_name(midnight_ms: i64) -> Option<String> {
    let day = OffsetDateTime::from_unix_timestamp(midnight_ms.div_euclid(1000))
        .ok()?
        .date();
    if !(0..=9999).contains(&day.year()) {
        return None;
    }
    Some(format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    ))
}

/// The midnight a `yyyymmdd` names.
fn parse_day(text: &str) -> Option<i64> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = text.get(..4)?.parse().ok()?;
    let month: u8 = text.get(4..6)?.parse().ok()?;
    let day: u8 = text.get(6..)?.parse().ok()?;
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    let seconds = date.midnight().assume_utc().unix_timestamp();
    seconds.checked_mul(1000)
}

/// What a partition of `table` named `name` holds; `None` for a name Inlet did not give.
pub fn span_of(table: &str, name: &str) -> Option<Span> {
    let rest = name.strip_prefix(table)?.strip_prefix('_')?;
    if rest == "default" {
        return Some(Span::Default);
    }
    if let Some(day) = rest.strip_prefix("upto_") {
        return parse_day(day).map(Span::Upto);
    }
    rest.strip_prefix('d').and_then(parse_day).map(Span::Day)
}

/// The partitions of `table` Inlet named, oldest first (the default last).
pub async fn list<C: ConnectionTrait>(db: &C, table: &str) -> Result<Vec<Partition>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT c.relname::text AS name, greatest(c.reltuples, 0)::bigint AS rows, \
             pg_total_relation_size(c.oid) AS bytes \
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = to_regclass($1)",
            [Value::from(table)],
        ))
        .await?;
    let mut parts = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get("", "name")?;
        let Some(span) = span_of(table, &name) else {
            continue;
        };
        let rows: i64 = row.try_get("", "rows")?;
        let bytes: i64 = row.try_get("", "bytes")?;
        parts.push(Partition {
            name,
            span,
            estimated_rows: u64::try_from(rows).unwrap_or(0),
            bytes: u64::try_from(bytes).unwrap_or(0),
        });
    }
    parts.sort_by_key(|p| match p.span {
        Span::Upto(end) => (0, end),
        Span::Day(start) => (1, start),
        Span::Default => (2, 0),
    });
    Ok(parts)
}

/// Whether `table` is partitioned (PostgreSQL after migration 0014).
pub async fn is_partitioned<C: ConnectionTrait>(db: &C, table: &str) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table \
             WHERE partrelid = to_regclass($1)) AS yes",
            [Value::from(table)],
        ))
        .await?;
    match row {
        Some(row) => row.try_get("", "yes"),
        None => Ok(false),
    }
}

/// Creates the day partitions of `table` (partitioned by `key`) that are missing for the
/// days from `first`'s to `last`'s (epoch ms); returns their names.
pub async fn ensure(
    db: &DatabaseConnection,
    table: &str,
    key: &str,
    first: i64,
    last: i64,
) -> Result<Vec<String>, DbErr> {
    let parts = list(db, table).await?;
    let covered = |day: i64| {
        parts.iter().any(|p| match p.span {
            Span::Day(start) => start == day,
            Span::Upto(end) => day < end,
            Span::Default => false,
        })
    };
    let mut created = Vec::new();
    let mut day = day_of(first);
    while day <= last {
        let this = day;
        day = day.saturating_add(DAY_MS);
        if covered(this) {
            continue;
        }
        let Some(name) = day_name(this).map(|d| format!("{table}_d{d}")) else {
            continue;
        };
        create(db, table, key, &name, this).await?;
        created.push(name);
    }
    Ok(created)
}

/// Creates one day's partition. Rows of that day already in the default partition (the
/// pruner did not run for a week) move into it in the same transaction: PostgreSQL
/// refuses a partition whose rows the default holds.
async fn create(
    db: &DatabaseConnection,
    table: &str,
    key: &str,
    name: &str,
    day: i64,
) -> Result<(), DbErr> {
    let end = day.saturating_add(DAY_MS);
    let txn = db.begin().await?;
    // Processes starting together each create what is missing: one at a time, and the
    // later ones find it made.
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({CREATE_LOCK})"))
        .await?;
    let made = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT to_regclass($1) IS NOT NULL AS made",
            [Value::from(name)],
        ))
        .await?;
    if let Some(row) = made
        && row.try_get::<bool>("", "made")?
    {
        return txn.commit().await;
    }
    txn.execute_unprepared(LOCK_TIMEOUT).await?;
    txn.execute_unprepared(&format!(
        "CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    ))
    .await?;
    txn.execute_unprepared(&format!(
        "WITH moved AS (DELETE FROM {table}_default WHERE {key} >= {day} AND {key} < {end} \
         RETURNING *) INSERT INTO {name} SELECT * FROM moved"
    ))
    .await?;
    txn.execute_unprepared(&format!(
        "ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({day}) TO ({end})"
    ))
    .await?;
    txn.commit().await
}

/// Drops the partitions of `table` holding only rows from before `cutoff` (a midnight);
/// returns them.
pub async fn drop_expired(
    db: &DatabaseConnection,
    table: &str,
    cutoff: i64,
    dry_run: bool,
) -> Result<Vec<Partition>, DbErr> {
    let expired: Vec<Partition> = list(db, table)
        .await?
        .into_iter()
        .filter(|p| match p.span {
            Span::Day(start) => start.saturating_add(DAY_MS) <= cutoff,
            Span::Upto(end) => end <= cutoff,
            Span::Default => false,
        })
        .collect();
    if dry_run {
        return Ok(expired);
    }
    for part in &expired {
        let txn = db.begin().await?;
        txn.execute_unprepared(LOCK_TIMEOUT).await?;
        txn.execute_unprepared(&format!("DROP TABLE {}", part.name))
            .await?;
        txn.commit().await?;
    }
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_reads_partitions() {
        // 2026-12-03T00:00:00Z.
        let day = 1_796_256_000_000;
        assert_eq!(day_name(day).as_deref(), Some("20261203"));
        assert_eq!(
            span_of("webhook_log", "webhook_log_d20261203"),
            Some(Span::Day(day))
        );
        assert_eq!(
            span_of("webhook_log", "webhook_log_upto_20261203"),
            Some(Span::Upto(day))
        );
        assert_eq!(
            span_of("webhook_log", "webhook_log_default"),
            Some(Span::Default)
        );
        // Another table's, an operator's own, an impossible date: none of Inlet's.
        assert_eq!(
            span_of("webhook_log", "webhook_log_requests_d20261203"),
            None
        );
        assert_eq!(span_of("webhook_log", "webhook_log_archive"), None);
        assert_eq!(span_of("webhook_log", "webhook_log_d20261332"), None);
        assert_eq!(day_of(day + DAY_MS - 1), day);
        assert_eq!(day_of(-1), -DAY_MS);
    }

    proptest::proptest! {
        /// Any name is one of Inlet's spans or none, never a panic; a day's own name
        /// reads back as that day.
        #[test]
        fn any_name_reads_or_is_left_alone(name in "\\PC{0,40}", ms in -1i64 << 50..1i64 << 50) {
            let _ = span_of("webhook_log", &name);
            let day = day_of(ms);
            if let Some(text) = day_name(day) {
                proptest::prop_assert_eq!(
                    span_of("t", &format!("t_d{text}")),
                    Some(Span::Day(day))
                );
            }
        }
    }
}
