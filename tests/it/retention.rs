//! Retention at scale on a real PostgreSQL: two million webhook-log rows over forty days,
//! pruned to thirty by dropping whole day partitions, through `inlet prune`.

use std::time::Duration;

use inlet_shared::config::Retention;
use inlet_shared::domain::now_ms;
use inlet_shared::retention::{self, partitions};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::support::{Backend, Process, TestDb};

const DAY_MS: i64 = 86_400_000;
const ROWS: i64 = 2_000_000;

async fn number(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .expect("a row")
        .try_get_by_index(0)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_million_log_rows_over_forty_days_are_pruned_to_thirty_by_whole_days() {
    let test_db = TestDb::new(Backend::Postgres).await;
    let db = Database::connect(&test_db.url).await.unwrap();
    inlet::migrate(&db).await.unwrap();
    let now = now_ms();
    // The day partitions the pruner made ahead of time over those forty days.
    partitions::ensure(&db, "webhook_log", "received_at", now - 40 * DAY_MS, now)
        .await
        .unwrap();
    // Spread evenly over the last forty days, random-looking delivery ids.
    db.execute_unprepared(&format!(
        "INSERT INTO webhook_log (id, integration_id, provider, event_type, idempotency_key, \
         status, message, attempts, received_at, updated_at) \
         SELECT 'wh_' || md5(g::text), 'int_1', 'stripe', 'customer.created', \
         'evt_' || md5(g::text), 'processed', 'Applied.', 1, \
         {now} - (g * {span} / {ROWS}), {now} \
         FROM generate_series(0, {ROWS} - 1) AS g",
        span = 40 * DAY_MS - 1,
    ))
    .await
    .unwrap();
    // As autovacuum would have left the month-old days. (A drop waiting on autovacuum
    // still busy with a freshly filled partition waits for `deadlock_timeout`, 1 s, before
    // PostgreSQL cancels it.)
    db.execute_unprepared("VACUUM ANALYZE webhook_log")
        .await
        .unwrap();
    let cutoff = partitions::day_of(now - 30 * DAY_MS);
    let kept = number(
        &db,
        &format!("SELECT COUNT(*) FROM webhook_log WHERE received_at >= {cutoff}"),
    )
    .await;
    assert!(kept > ROWS * 3 / 4 && kept < ROWS, "{kept}");

    // A dry run names what would go and removes nothing.
    let env = [("INLET_DATABASE_URL", test_db.url.clone())];
    let (code, out) = Process::run(&["prune", "--dry-run", "--output", "json"], &env);
    assert_eq!(code, Some(0), "{out}");
    let lines: serde_json::Value = serde_json::from_str(&out).unwrap();
    let log = lines
        .as_array()
        .and_then(|a| a.iter().find(|l| l["table"] == "webhook_log"))
        .expect("a line for the log")
        .clone();
    assert_eq!(
        log["droppedPartitions"].as_array().map(Vec::len),
        Some(10),
        "{log}"
    );
    assert_eq!(number(&db, "SELECT COUNT(*) FROM webhook_log").await, ROWS);

    let report = retention::prune(&db, &Retention::default(), now, false)
        .await
        .unwrap();
    eprintln!("pruned 2,000,000 rows to {kept} in {:?}", report.took);
    assert_eq!(
        number(&db, "SELECT COUNT(*) FROM webhook_log").await,
        kept,
        "exactly the last thirty whole days stay"
    );
    assert!(number(&db, "SELECT min(received_at) FROM webhook_log").await >= cutoff);
    let removed = report
        .removed
        .iter()
        .find(|r| r.table == "webhook_log")
        .expect("the log lost rows");
    assert_eq!(removed.partitions.len(), 10, "{removed:?}");
    // Partition drops, not row deletes: constant time whatever the rows.
    assert!(
        report.took < Duration::from_secs(1),
        "the prune took {:?}",
        report.took
    );

    // The CLI then finds nothing more to remove.
    let (code, out) = Process::run(&["prune", "--output", "json"], &env);
    assert_eq!(code, Some(0), "{out}");
    let lines: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        lines
            .as_array()
            .is_some_and(|a| a.iter().all(|l| l["removedRows"] == 0)),
        "{lines}"
    );
    db.close().await.unwrap();
}
