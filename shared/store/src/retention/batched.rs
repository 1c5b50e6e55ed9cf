//! Deleting expired rows a bounded batch at a time: each statement its own short
//! transaction, so no other writer waits long (SQLite has one writer; PostgreSQL's hot
//! path inserts beside these rows).

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

/// Rows one statement deletes on SQLite: a few milliseconds of the one writer's time.
const SQLITE_BATCH: u64 = 500;
/// Rows one statement deletes on PostgreSQL.
const POSTGRES_BATCH: u64 = 5000;
/// The pause between two batches, in which other writers go first.
const PAUSE: Duration = Duration::from_millis(2);

/// What expires: rows of `table` whose `column` is before the cutoff, and that also match
/// `also` (SQL over the table's own columns, written by this crate).
#[derive(Debug, Clone)]
pub struct Expiry {
    /// The table (or one partition of it, on PostgreSQL).
    pub table: &'static str,
    /// The time column (epoch ms).
    pub column: &'static str,
    /// A further condition, or `None`.
    pub also: Option<String>,
}

impl Expiry {
    fn condition(&self) -> String {
        match &self.also {
            Some(also) => format!("{} < $1 AND ({also})", self.column),
            None => format!("{} < $1", self.column),
        }
    }
}

/// Counts the rows of `expiry` before `cutoff` (what a dry run reports).
pub async fn count<C: ConnectionTrait>(
    db: &C,
    expiry: &Expiry,
    table: &str,
    cutoff: i64,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM {table} WHERE {}",
        placeholders(backend, &expiry.condition())
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [Value::from(cutoff)],
        ))
        .await?;
    let n: i64 = match row {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes the rows of `expiry` in `table` (the table itself or one of its partitions)
/// before `cutoff`, a batch at a time; returns how many went.
pub async fn delete<C: ConnectionTrait>(
    db: &C,
    expiry: &Expiry,
    table: &str,
    cutoff: i64,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let condition = placeholders(backend, &expiry.condition());
    let (sql, batch) = if backend == DbBackend::Postgres {
        (
            format!(
                "DELETE FROM {table} WHERE ctid = ANY (ARRAY (SELECT ctid FROM {table} \
                 WHERE {condition} LIMIT {POSTGRES_BATCH}))"
            ),
            POSTGRES_BATCH,
        )
    } else {
        (
            format!(
                "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} \
                 WHERE {condition} LIMIT {SQLITE_BATCH})"
            ),
            SQLITE_BATCH,
        )
    };
    let mut removed = 0;
    loop {
        let done = db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql.as_str(),
                [Value::from(cutoff)],
            ))
            .await?
            .rows_affected();
        removed += done;
        if done < batch {
            return Ok(removed);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

/// SQLite numbers its parameters `?1`; PostgreSQL `$1`.
fn placeholders(backend: DbBackend, sql: &str) -> String {
    if backend == DbBackend::Postgres {
        sql.to_owned()
    } else {
        sql.replace("$1", "?1")
    }
}
