//! The tables that grow with traffic become range-partitioned by day on PostgreSQL, so
//! retention drops whole partitions (constant time, no vacuum debt) instead of deleting rows.
//!
//! `webhook_log` and `webhook_log_requests` are partitioned by `received_at`; the claims
//! (`processed_deliveries`) by a new column, `event_day`: the UTC day (epoch ms of its
//! midnight) of the event's own time, which every delivery of one event shares, so the
//! claim's key `(integration_id, idempotency_key, event_day)` still finds a duplicate in
//! the one partition it would go to. The day partitions are created ahead of time by the
//! store (`retention::partitions`), not here: a `DEFAULT` partition takes any row whose
//! day has none, so no insert ever fails for want of one.
//!
//! An existing table with rows is kept whole as the partition of everything before
//! tomorrow (`<table>_upto_<yyyymmdd>`), without copying a row; retention empties it in
//! bounded batches and drops it once its range has expired. Its claims carry `event_day`
//! 0 (their events' days are unknown): the worker also looks there while it exists. An
//! empty table is simply replaced.
//!
//! SQLite has no partitions: the claims gain `event_day` (the day each was processed, for
//! the rows already there), and the time columns retention deletes by are indexed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const DAY_MS: i64 = 86_400_000;

/// One table this migration partitions.
struct Partitioned {
    table: &'static str,
    /// The partition key.
    key: &'static str,
    /// The primary key's columns before the partition key.
    primary: &'static str,
    /// Secondary indexes of the partitioned table: name and columns.
    indexes: &'static [(&'static str, &'static str)],
}

const TABLES: [Partitioned; 3] = [
    Partitioned {
        table: "webhook_log",
        key: "received_at",
        primary: "id",
        indexes: &[("idx_webhook_log_integration", "integration_id, received_at")],
    },
    Partitioned {
        table: "webhook_log_requests",
        key: "received_at",
        primary: "delivery_id",
        indexes: &[],
    },
    Partitioned {
        table: "processed_deliveries",
        key: "event_day",
        primary: "integration_id, idempotency_key",
        indexes: &[],
    },
];

/// SQLite indexes by which retention finds expired rows.
const SQLITE_INDEXES: [(&str, &str, &str); 2] = [
    ("idx_webhook_log_received", "webhook_log", "received_at"),
    (
        "idx_processed_deliveries_day",
        "processed_deliveries",
        "event_day",
    ),
];

/// Indexes on both backends for the tables retention deletes from in batches.
const INDEXES: [(&str, &str, &str); 4] = [
    ("idx_email_sends_created", "email_sends", "created_at"),
    ("idx_dead_letters_dead", "dead_letters", "dead_at"),
    (
        "idx_console_sessions_expires",
        "console_sessions",
        "expires_at",
    ),
    (
        "idx_api_idempotency_keys_created",
        "api_idempotency_keys",
        "created_at",
    ),
];

async fn run(db: &SchemaManager<'_>, sql: String) -> Result<(), DbErr> {
    db.get_connection()
        .execute_unprepared(&sql)
        .await
        .map(|_| ())
}

/// Midnight (UTC, epoch ms) of the day after the database's `now()`.
async fn tomorrow(db: &SchemaManager<'_>) -> Result<i64, DbErr> {
    let row = db
        .get_connection()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT (floor(extract(epoch FROM now()) * 1000))::bigint AS now",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("now() returned no row".into()))?;
    let now: i64 = row.try_get("", "now")?;
    Ok((now.div_euclid(DAY_MS) + 1) * DAY_MS)
}

/// `yyyymmdd` of a UTC midnight in epoch ms.
fn day_name(midnight_ms: i64) -> Result<String, DbErr> {
    let day = time::OffsetDateTime::from_unix_timestamp(midnight_ms.div_euclid(1000))
        .map_err(|e| DbErr::Custom(format!("day out of range: {e}")))?
        .date();
    Ok(format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    ))
}

async fn has_rows(db: &SchemaManager<'_>, table: &str) -> Result<bool, DbErr> {
    let row = db
        .get_connection()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT EXISTS (SELECT 1 FROM {table}) AS any"),
        ))
        .await?;
    match row {
        Some(row) => row.try_get("", "any"),
        None => Ok(false),
    }
}

async fn partition(db: &SchemaManager<'_>, t: &Partitioned, upto: i64) -> Result<(), DbErr> {
    let (table, key, primary) = (t.table, t.key, t.primary);
    let keep = has_rows(db, table).await?;
    let legacy = format!("{table}_upto_{}", day_name(upto)?);
    run(db, format!("ALTER TABLE {table} RENAME TO {legacy}")).await?;
    // Its primary key gains the partition key, as every partition's must.
    run(
        db,
        format!(
            "ALTER TABLE {legacy} DROP CONSTRAINT {table}_pkey, \
             ADD CONSTRAINT {legacy}_pkey PRIMARY KEY ({primary}, {key})"
        ),
    )
    .await?;
    for (index, _) in t.indexes {
        run(
            db,
            format!("ALTER INDEX {index} RENAME TO {legacy}_{index}"),
        )
        .await?;
    }
    run(
        db,
        format!(
            "CREATE TABLE {table} (LIKE {legacy} INCLUDING DEFAULTS) PARTITION BY RANGE ({key})"
        ),
    )
    .await?;
    run(
        db,
        format!("ALTER TABLE {table} ADD PRIMARY KEY ({primary}, {key})"),
    )
    .await?;
    for (index, columns) in t.indexes {
        run(db, format!("CREATE INDEX {index} ON {table} ({columns})")).await?;
    }
    // The default partition is emptied in batches by its time column.
    run(
        db,
        format!("CREATE TABLE {table}_default PARTITION OF {table} DEFAULT"),
    )
    .await?;
    run(
        db,
        format!("CREATE INDEX {table}_default_{key} ON {table}_default ({key})"),
    )
    .await?;
    if keep {
        if key == "received_at" {
            // Retention deletes the old rows in batches before the whole range expires.
            run(
                db,
                format!("CREATE INDEX IF NOT EXISTS {legacy}_{key} ON {legacy} ({key})"),
            )
            .await?;
        }
        run(
            db,
            format!(
                "ALTER TABLE {table} ATTACH PARTITION {legacy} \
                 FOR VALUES FROM (MINVALUE) TO ({upto})"
            ),
        )
        .await?;
    } else {
        run(db, format!("DROP TABLE {legacy}")).await?;
    }
    Ok(())
}

async fn unpartition(db: &SchemaManager<'_>, t: &Partitioned) -> Result<(), DbErr> {
    let (table, key, primary) = (t.table, t.key, t.primary);
    let flat = format!("{table}_flat");
    run(
        db,
        format!("CREATE TABLE {flat} (LIKE {table} INCLUDING DEFAULTS)"),
    )
    .await?;
    run(db, format!("INSERT INTO {flat} SELECT * FROM {table}")).await?;
    run(db, format!("DROP TABLE {table}")).await?;
    run(db, format!("ALTER TABLE {flat} RENAME TO {table}")).await?;
    if key == "event_day" {
        run(db, format!("ALTER TABLE {table} DROP COLUMN event_day")).await?;
        run(
            db,
            format!("ALTER TABLE {table} ADD PRIMARY KEY ({primary})"),
        )
        .await?;
    } else {
        run(
            db,
            format!("ALTER TABLE {table} ADD PRIMARY KEY ({primary})"),
        )
        .await?;
    }
    for (index, columns) in t.indexes {
        run(db, format!("CREATE INDEX {index} ON {table} ({columns})")).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        if postgres {
            run(
                manager,
                "ALTER TABLE processed_deliveries ADD COLUMN event_day BIGINT NOT NULL DEFAULT 0"
                    .into(),
            )
            .await?;
            let upto = tomorrow(manager).await?;
            for table in &TABLES {
                partition(manager, table, upto).await?;
            }
            // New claims always say their day.
            run(
                manager,
                "ALTER TABLE processed_deliveries ALTER COLUMN event_day DROP DEFAULT".into(),
            )
            .await?;
        } else {
            run(
                manager,
                "ALTER TABLE processed_deliveries ADD COLUMN event_day BIGINT NOT NULL DEFAULT 0"
                    .into(),
            )
            .await?;
            run(
                manager,
                format!(
                    "UPDATE processed_deliveries SET event_day = processed_at - processed_at % {DAY_MS}"
                ),
            )
            .await?;
            for (name, table, column) in SQLITE_INDEXES {
                run(
                    manager,
                    format!("CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})"),
                )
                .await?;
            }
        }
        for (name, table, column) in INDEXES {
            run(
                manager,
                format!("CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})"),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _, _) in INDEXES {
            run(manager, format!("DROP INDEX IF EXISTS {name}")).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            for table in &TABLES {
                unpartition(manager, table).await?;
            }
        } else {
            for (name, _, _) in SQLITE_INDEXES {
                run(manager, format!("DROP INDEX IF EXISTS {name}")).await?;
            }
            run(
                manager,
                "ALTER TABLE processed_deliveries DROP COLUMN event_day".into(),
            )
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_days_in_the_civil_calendar() {
        let name = |ms| day_name(ms).ok();
        assert_eq!(name(0).as_deref(), Some("19700101"));
        // 2026-12-03T00:00:00Z and the leap day 2024-02-29.
        assert_eq!(name(1_796_256_000_000).as_deref(), Some("20261203"));
        assert_eq!(name(1_709_164_800_000).as_deref(), Some("20240229"));
    }
}
