//! The classification per code, on errors built by hand where sqlx lets them be built,
//! and on real ones provoked in SQLite and PostgreSQL (a busy database, a serialization
//! failure, a deadlock, a lock timeout, a terminated connection), against the errors that
//! must not be retried (a unique violation, a syntax error).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx;
use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DbErr, IsolationLevel, RuntimeErr,
    TransactionTrait,
};

use super::{is_transient, is_unique_violation, sqlite_code_is_transient, sqlstate_is_transient};
use crate::test_db::TestDb;

/// The driver's code of a database error (SQLSTATE, or SQLite's extended result code).
fn code(err: &DbErr) -> Option<String> {
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
            _ => None,
        },
        _ => None,
    }
}

fn sqlx_err(wrap: fn(RuntimeErr) -> DbErr, e: sqlx::Error) -> DbErr {
    wrap(RuntimeErr::SqlxError(Arc::new(e)))
}

#[test]
fn sqlstates_of_connections_conflicts_resources_and_shutdowns_are_transient() {
    for code in [
        "08000", "08001", "08003", "08004", "08006", "08007", "08P01", // connection
        "40001", "40P01", // serialization failure, deadlock
        "55P03", // lock not available
        "53000", "53100", "53200", "53300", "53400", // insufficient resources
        "57P01", "57P02", "57P03", // admin shutdown, crash shutdown, cannot connect now
    ] {
        assert!(sqlstate_is_transient(code), "{code}");
    }
    for code in [
        "23505", // unique violation
        "23503", // foreign key violation
        "23502", // not null violation
        "42601", // syntax error
        "42P01", // undefined table
        "22P02", // invalid text representation
        "40002", // integrity constraint violation at commit
        "57014", // query canceled (statement timeout)
        "28P01", // invalid password
        "3D000", // database does not exist
        "55000", // object not in prerequisite state
        "",
    ] {
        assert!(!sqlstate_is_transient(code), "{code}");
    }
}

#[test]
fn sqlite_busy_and_locked_are_transient_with_their_extended_codes() {
    // BUSY, BUSY_RECOVERY, BUSY_SNAPSHOT, BUSY_TIMEOUT; LOCKED, LOCKED_SHAREDCACHE,
    // LOCKED_VTAB.
    for code in [5, 261, 517, 773, 6, 262, 518] {
        assert!(sqlite_code_is_transient(code), "{code}");
    }
    // ERROR, CANTOPEN, READONLY, CORRUPT, FULL, CONSTRAINT, CONSTRAINT_UNIQUE,
    // CONSTRAINT_PRIMARYKEY, CONSTRAINT_FOREIGNKEY, READONLY_DBMOVED.
    for code in [1, 14, 8, 11, 13, 19, 2067, 1555, 787, 1032] {
        assert!(!sqlite_code_is_transient(code), "{code}");
    }
}

#[test]
fn sqlx_connection_errors_are_transient_in_every_sea_orm_wrapper() {
    let wrappers: [fn(RuntimeErr) -> DbErr; 3] = [DbErr::Conn, DbErr::Exec, DbErr::Query];
    for wrap in wrappers {
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::TimedOut,
            io::ErrorKind::UnexpectedEof,
        ] {
            let err = sqlx_err(wrap, sqlx::Error::Io(io::Error::from(kind)));
            assert!(is_transient(&err), "{err}");
        }
        let tls = sqlx::Error::Tls(Box::new(io::Error::other("handshake failed")));
        for e in [
            tls,
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
        ] {
            let err = sqlx_err(wrap, e);
            assert!(is_transient(&err), "{err}");
        }
        for e in [
            sqlx::Error::RowNotFound,
            sqlx::Error::Configuration("bad url".into()),
            sqlx::Error::ColumnNotFound("id".into()),
            sqlx::Error::BeginFailed,
        ] {
            let err = sqlx_err(wrap, e);
            assert!(!is_transient(&err), "{err}");
        }
    }
    for acquire in [ConnAcquireErr::Timeout, ConnAcquireErr::ConnectionClosed] {
        assert!(is_transient(&DbErr::ConnectionAcquire(acquire)));
    }
}

#[test]
fn a_protocol_error_is_transient_only_while_connecting() {
    // What sqlx reports when a proxy accepts the socket and closes it at once.
    let closed = || sqlx::Error::Protocol("unexpected response from SSLRequest: 0x00".into());
    assert!(is_transient(&sqlx_err(DbErr::Conn, closed())));
    assert!(!is_transient(&sqlx_err(DbErr::Exec, closed())));
    assert!(!is_transient(&sqlx_err(DbErr::Query, closed())));
}

#[test]
fn errors_sea_orm_makes_itself_are_not_transient() {
    for err in [
        DbErr::Conn(RuntimeErr::Internal("Disconnected".into())),
        DbErr::Exec(RuntimeErr::Internal("connection closed".into())),
        DbErr::Query(RuntimeErr::Internal("database is locked".into())),
        DbErr::Custom("connection timed out".into()),
        DbErr::RecordNotFound("busy".into()),
        DbErr::RecordNotUpdated,
    ] {
        // Their words are no longer read.
        assert!(!is_transient(&err), "{err}");
    }
}

/// A SQLite database file of its own, removed (with its WAL files) when dropped.
struct SqliteFile(std::path::PathBuf);

impl SqliteFile {
    fn new() -> Self {
        let name = format!("inlet-transient-{}.db", uuid::Uuid::new_v4().simple());
        Self(std::env::temp_dir().join(name))
    }

    /// A connection as Inlet opens one, that reports a lock at once instead of waiting.
    async fn connect(&self) -> DatabaseConnection {
        let db = crate::db::connect(&format!("sqlite://{}?mode=rwc", self.0.display()), 1)
            .await
            .unwrap();
        db.execute_unprepared("PRAGMA busy_timeout = 0")
            .await
            .unwrap();
        db
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

#[tokio::test]
async fn sqlite_busy_from_another_writer_is_transient_and_a_constraint_is_not() {
    let file = SqliteFile::new();
    let (a, b) = (file.connect().await, file.connect().await);
    a.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
        .await
        .unwrap();
    a.execute_unprepared("INSERT INTO t VALUES (1, 0)")
        .await
        .unwrap();

    // Another writer holds the write lock: SQLITE_BUSY.
    let writer = a.begin().await.unwrap();
    writer
        .execute_unprepared("UPDATE t SET v = 1 WHERE id = 1")
        .await
        .unwrap();
    let busy = b
        .execute_unprepared("UPDATE t SET v = 2 WHERE id = 1")
        .await
        .unwrap_err();
    assert_eq!(code(&busy).as_deref(), Some("5"), "{busy}");
    assert!(is_transient(&busy), "{busy}");
    writer.commit().await.unwrap();

    // A read snapshot that another writer moved past cannot become a write:
    // SQLITE_BUSY_SNAPSHOT, an extended code of BUSY.
    let reader = b.begin().await.unwrap();
    reader
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT v FROM t WHERE id = 1",
        ))
        .await
        .unwrap();
    a.execute_unprepared("UPDATE t SET v = 3 WHERE id = 1")
        .await
        .unwrap();
    let snapshot = reader
        .execute_unprepared("UPDATE t SET v = 4 WHERE id = 1")
        .await
        .unwrap_err();
    assert_eq!(code(&snapshot).as_deref(), Some("517"), "{snapshot}");
    assert!(is_transient(&snapshot), "{snapshot}");
    reader.rollback().await.unwrap();

    let unique = a
        .execute_unprepared("INSERT INTO t VALUES (1, 0)")
        .await
        .unwrap_err();
    assert!(!is_transient(&unique), "{unique}");
    assert!(is_unique_violation(&unique), "{unique}");
    let syntax = a.execute_unprepared("SELEC 1").await.unwrap_err();
    assert!(!is_transient(&syntax), "{syntax}");
    assert!(!is_unique_violation(&syntax), "{syntax}");
    assert!(!is_unique_violation(&busy), "{busy}");
}

/// How long the lock-timeout test waits for a lock before PostgreSQL gives up.
const LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '100ms'";

async fn postgres_table() -> TestDb {
    let test = TestDb::postgres().await;
    test.db
        .execute_unprepared(
            "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL); \
             INSERT INTO t VALUES (1, 0), (2, 0)",
        )
        .await
        .unwrap();
    test
}

#[tokio::test]
async fn postgres_serialization_failure_and_lock_timeout_are_transient() {
    let test = postgres_table().await;
    let db = &test.db;

    // Two SERIALIZABLE transactions: the later writer of a row the earlier changed after
    // the later one's snapshot is rolled back (40001).
    let serializable = || db.begin_with_config(Some(IsolationLevel::Serializable), None);
    let late = serializable().await.unwrap();
    late.execute_unprepared("SELECT v FROM t WHERE id = 1")
        .await
        .unwrap();
    let early = serializable().await.unwrap();
    early
        .execute_unprepared("UPDATE t SET v = 1 WHERE id = 1")
        .await
        .unwrap();
    early.commit().await.unwrap();
    let conflict = late
        .execute_unprepared("UPDATE t SET v = 2 WHERE id = 1")
        .await
        .unwrap_err();
    assert_eq!(code(&conflict).as_deref(), Some("40001"), "{conflict}");
    assert!(is_transient(&conflict), "{conflict}");
    late.rollback().await.unwrap();

    // A row lock held past the waiter's lock_timeout (55P03).
    let holder = db.begin().await.unwrap();
    holder
        .execute_unprepared("UPDATE t SET v = 3 WHERE id = 1")
        .await
        .unwrap();
    let waiter = db.begin().await.unwrap();
    waiter.execute_unprepared(LOCK_TIMEOUT).await.unwrap();
    let timed_out = waiter
        .execute_unprepared("UPDATE t SET v = 4 WHERE id = 1")
        .await
        .unwrap_err();
    assert_eq!(code(&timed_out).as_deref(), Some("55P03"), "{timed_out}");
    assert!(is_transient(&timed_out), "{timed_out}");
    waiter.rollback().await.unwrap();
    holder.rollback().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deadlock_is_transient() {
    let test = postgres_table().await;
    let db = &test.db;
    let (one, two) = (db.begin().await.unwrap(), db.begin().await.unwrap());
    one.execute_unprepared("UPDATE t SET v = 1 WHERE id = 1")
        .await
        .unwrap();
    two.execute_unprepared("UPDATE t SET v = 1 WHERE id = 2")
        .await
        .unwrap();
    // Each now waits for the other's row; PostgreSQL fails one of them (40P01).
    let (a, b) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(
            one.execute_unprepared("UPDATE t SET v = 2 WHERE id = 2"),
            two.execute_unprepared("UPDATE t SET v = 2 WHERE id = 1"),
        )
    })
    .await
    .expect("PostgreSQL breaks the deadlock");
    let deadlock = a.err().or(b.err()).expect("one of them fails");
    assert_eq!(code(&deadlock).as_deref(), Some("40P01"), "{deadlock}");
    assert!(is_transient(&deadlock), "{deadlock}");
}

#[tokio::test]
async fn postgres_lost_connection_is_transient() {
    let test = postgres_table().await;
    let db = &test.db;
    let txn = db.begin().await.unwrap();
    let pid: i32 = txn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_backend_pid() AS pid",
        ))
        .await
        .unwrap()
        .expect("a row")
        .try_get("", "pid")
        .unwrap();
    db.execute_unprepared(&format!("SELECT pg_terminate_backend({pid})"))
        .await
        .unwrap();
    // The server ends the session with 57P01, or the socket is simply gone: either way
    // the connection is lost, and a retry on a new one works.
    let lost = txn.execute_unprepared("SELECT 1").await.unwrap_err();
    assert!(is_transient(&lost), "{lost} ({:?})", code(&lost));
}

#[tokio::test]
async fn postgres_unique_violation_and_syntax_error_are_not_transient() {
    let test = postgres_table().await;
    let db = &test.db;
    let unique = db
        .execute_unprepared("INSERT INTO t VALUES (1, 0)")
        .await
        .unwrap_err();
    assert_eq!(code(&unique).as_deref(), Some("23505"), "{unique}");
    assert!(!is_transient(&unique), "{unique}");
    assert!(is_unique_violation(&unique), "{unique}");
    let syntax = db.execute_unprepared("SELEC 1").await.unwrap_err();
    assert_eq!(code(&syntax).as_deref(), Some("42601"), "{syntax}");
    assert!(!is_transient(&syntax), "{syntax}");
    assert!(!is_unique_violation(&syntax), "{syntax}");
    let missing = db
        .execute_unprepared("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    assert_eq!(code(&missing).as_deref(), Some("42P01"), "{missing}");
    assert!(!is_transient(&missing), "{missing}");
}
