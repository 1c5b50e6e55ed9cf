//! Which database errors are worth another try, read from the driver's structured data —
//! SQLSTATE on PostgreSQL, result codes on SQLite, sqlx's own connection errors — and
//! never from an error's text, whose wording changes with versions and server locales.

use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr, SqlErr, SqlxPostgresError, SqlxSqliteError};

#[cfg(test)]
mod tests;

/// True when the database could not be reached, was busy, or gave up on this transaction
/// because of another one (a deadlock, a serialization conflict, a lock wait cut short):
/// the same work may succeed when tried again. A statement the database refuses (syntax,
/// a constraint, a missing table) is not: it would fail again.
pub fn is_transient(err: &DbErr) -> bool {
    match err {
        // The pool had no connection to give within its timeout, or is closing.
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(e)) => sqlx_is_transient(e) || opening_failed(e),
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_is_transient(e)
        }
        // Sea-orm's own `Internal` errors (a closed `DatabaseConnection`, an unsupported
        // URL) and everything else it reports (decoding, missing records) are not the
        // database's state of the moment.
        _ => false,
    }
}

/// True when `err` is a unique-key or primary-key violation (SQLSTATE 23505, SQLite's
/// `SQLITE_CONSTRAINT_UNIQUE` / `_PRIMARYKEY`). Not transient by itself; a caller that
/// inserts a row another transaction may be inserting at the same moment can retry it,
/// as the retry then finds the other's row.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

fn sqlx_is_transient(err: &sqlx::Error) -> bool {
    match err {
        // The connection broke or could not be made (refused, reset, timed out), TLS
        // could not be set up, or the pool timed out or is closing. SQLite's connection
        // runs on a worker thread of its own: when that thread is gone, so is the
        // connection, and the pool opens another.
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(e) => database_error_is_transient(e.as_ref()),
        _ => false,
    }
}

/// A protocol error while a connection was being opened (`DbErr::Conn`): the other end
/// accepted the socket, then closed it or answered with something other than PostgreSQL's
/// handshake. That is a proxy or pooler (PgBouncer, a load balancer, a cloud SQL proxy)
/// whose server is down or restarting; sqlx reports the closed socket as an
/// "unexpected response from SSLRequest". Once the server is back, the handshake works.
fn opening_failed(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Protocol(_))
}

/// Reads the code of the backend that raised `err`: SQLSTATE and SQLite result codes are
/// both digit strings, so the backend is told by the error's type, not by the code.
fn database_error_is_transient(err: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(pg) = err.try_downcast_ref::<SqlxPostgresError>() {
        return sqlstate_is_transient(pg.code());
    }
    if err.try_downcast_ref::<SqlxSqliteError>().is_some() {
        return err
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(sqlite_code_is_transient);
    }
    false
}

/// PostgreSQL's SQLSTATEs (<https://www.postgresql.org/docs/current/errcodes-appendix.html>)
/// that a later try may not meet:
///
/// - class 08, connection exceptions: the connection failed or was lost;
/// - 40001 `serialization_failure` and 40P01 `deadlock_detected`: the server rolled this
///   transaction back so that another could go on; the documented answer is to retry it;
/// - 55P03 `lock_not_available`: a lock wait cut short by `lock_timeout` (an operator may
///   set one on the role or database) or `NOWAIT`; the holder of the lock commits or
///   rolls back, and the retry gets it;
/// - class 53, insufficient resources: too many connections, out of memory, disk full,
///   conditions of the server, not of the statement;
/// - 57P01 `admin_shutdown`, 57P02 `crash_shutdown`, 57P03 `cannot_connect_now`: the
///   server is stopping, restarting or still starting.
///
/// 57014 `query_canceled` (a `statement_timeout`, a cancelled backend) is left out: the
/// same statement on the same data would most likely run as long again.
fn sqlstate_is_transient(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(
            code,
            "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03"
        )
}

/// `SQLITE_BUSY` (<https://www.sqlite.org/rescode.html#busy>): another connection holds a
/// lock on the database file past the busy timeout.
const SQLITE_BUSY: i32 = 5;
/// `SQLITE_LOCKED` (<https://www.sqlite.org/rescode.html#locked>): a conflict inside the
/// same connection or shared cache.
const SQLITE_LOCKED: i32 = 6;

/// `SQLITE_BUSY` and `SQLITE_LOCKED` with their extended codes (`SQLITE_BUSY_SNAPSHOT`,
/// `SQLITE_BUSY_TIMEOUT`, `SQLITE_LOCKED_SHAREDCACHE`…), whose low byte is the primary
/// code. sqlx reports the extended code.
fn sqlite_code_is_transient(code: i32) -> bool {
    matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED)
}
