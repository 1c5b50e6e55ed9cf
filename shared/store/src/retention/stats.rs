//! What the tables retention manages hold: rows, bytes and the oldest row's time, for the
//! metrics (`inlet_table_*`) and `inlet prune`.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use super::partitions::{self, Span};

/// One table's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStats {
    /// The table.
    pub table: &'static str,
    /// Rows: counted on SQLite, PostgreSQL's estimate (`reltuples`) there.
    pub rows: u64,
    /// Bytes on disk with indexes; `None` where SQLite cannot tell (no `dbstat`).
    pub bytes: Option<u64>,
    /// Time (epoch ms) of the oldest row; on a partitioned table, the start of the oldest
    /// day that holds any. `None` when empty.
    pub oldest_ms: Option<i64>,
}

/// The tables and the time column that ages their rows.
pub const TABLES: [(&str, &str); 9] = [
    ("webhook_log", "received_at"),
    ("webhook_log_requests", "received_at"),
    ("processed_deliveries", "processed_at"),
    ("email_sends", "created_at"),
    ("dead_letters", "dead_at"),
    ("contact_events", "created_at"),
    ("workflow_runs", "updated_at"),
    ("console_sessions", "created_at"),
    ("api_idempotency_keys", "created_at"),
];

async fn scalar<C: ConnectionTrait>(db: &C, sql: String) -> Result<Option<i64>, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    match row {
        Some(row) => row.try_get("", "v"),
        None => Ok(None),
    }
}

fn unsigned(v: Option<i64>) -> u64 {
    v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

/// Every managed table's size.
pub async fn collect(db: &DatabaseConnection) -> Result<Vec<TableStats>, DbErr> {
    let mut all = Vec::with_capacity(TABLES.len());
    for (table, column) in TABLES {
        let stats = if db.get_database_backend() == DbBackend::Postgres {
            postgres(db, table, column).await?
        } else {
            sqlite(db, table, column).await?
        };
        all.push(stats);
    }
    Ok(all)
}

async fn postgres(
    db: &DatabaseConnection,
    table: &'static str,
    column: &str,
) -> Result<TableStats, DbErr> {
    if !partitions::is_partitioned(db, table).await? {
        let rows = scalar(
            db,
            format!(
                "SELECT greatest(reltuples, 0)::bigint AS v FROM pg_class \
                 WHERE oid = to_regclass('{table}')"
            ),
        )
        .await?;
        let bytes = scalar(
            db,
            format!("SELECT pg_total_relation_size(to_regclass('{table}')) AS v"),
        )
        .await?;
        let oldest = scalar(db, format!("SELECT min({column}) AS v FROM {table}")).await?;
        return Ok(TableStats {
            table,
            rows: unsigned(rows),
            bytes: Some(unsigned(bytes)),
            oldest_ms: oldest,
        });
    }
    let parts = partitions::list(db, table).await?;
    let mut oldest: Option<i64> = None;
    let mut found_day = false;
    for part in &parts {
        let seen = match part.span {
            // Indexed by their time column, or small.
            Span::Default | Span::Upto(_) => {
                scalar(db, format!("SELECT min({column}) AS v FROM {}", part.name)).await?
            }
            Span::Day(start) if !found_day => {
                let any = scalar(
                    db,
                    format!("SELECT 1::bigint AS v FROM {} LIMIT 1", part.name),
                )
                .await?;
                found_day = any.is_some();
                any.map(|_| start)
            }
            Span::Day(_) => None,
        };
        oldest = match (oldest, seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(TableStats {
        table,
        rows: parts.iter().map(|p| p.estimated_rows).sum(),
        bytes: Some(parts.iter().map(|p| p.bytes).sum()),
        oldest_ms: oldest,
    })
}

async fn sqlite(
    db: &DatabaseConnection,
    table: &'static str,
    column: &str,
) -> Result<TableStats, DbErr> {
    let rows = scalar(db, format!("SELECT COUNT(*) AS v FROM {table}")).await?;
    let oldest = scalar(db, format!("SELECT min({column}) AS v FROM {table}")).await?;
    // `dbstat` is an optional SQLite module: without it the size is unknown, not an error.
    let bytes = scalar(
        db,
        format!(
            "SELECT CAST(sum(pgsize) AS INTEGER) AS v FROM dbstat WHERE name = '{table}' \
             OR name IN (SELECT name FROM sqlite_master WHERE tbl_name = '{table}')"
        ),
    )
    .await
    .ok()
    .flatten();
    Ok(TableStats {
        table,
        rows: unsigned(rows),
        bytes: bytes.and_then(|b| u64::try_from(b).ok()),
        oldest_ms: oldest,
    })
}
