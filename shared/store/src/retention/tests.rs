//! Retention on both backends: what each rule removes and keeps, whole days for the
//! partitioned data, partitions dropped rather than rows deleted on PostgreSQL, a dry run
//! that changes nothing, and one pruner at a time.

use std::time::Duration;

use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, Statement};

use super::partitions::{DAY_MS, day_of};
use super::*;
use crate::db::entities::{
    api_idempotency_key, console_session, contact_event, dead_letter, email_send,
    processed_delivery, workflow_run,
};
use crate::test_db::TestDb;

/// Noon of a day, so "n days ago" is never on a day's edge.
const NOW: i64 = 1_796_256_000_000 + DAY_MS / 2;

fn days(n: i64) -> i64 {
    NOW - n * DAY_MS
}

fn retention() -> Retention {
    Retention {
        webhook_log: Some(Duration::from_secs(30 * 86_400)),
        requests: Some(Duration::from_secs(7 * 86_400)),
        dedupe: Some(Duration::from_secs(30 * 86_400)),
        emails: Some(Duration::from_secs(90 * 86_400)),
        dead_letters: Some(Duration::from_secs(30 * 86_400)),
        events: Some(Duration::from_secs(365 * 86_400)),
        workflow_runs: Some(Duration::from_secs(90 * 86_400)),
        interval: Duration::from_secs(600),
    }
}

async fn exec(db: &DatabaseConnection, sql: String) {
    db.execute_unprepared(&sql).await.unwrap();
}

/// Log rows, kept requests and claims one per day for 40 days (day 0 is today), and rows
/// of every batched rule on both sides of its cutoff.
async fn seed(db: &DatabaseConnection) {
    for n in 0..40 {
        let at = days(n);
        exec(
            db,
            format!(
                "INSERT INTO webhook_log (id, integration_id, provider, status, message, \
                 attempts, received_at, updated_at) \
                 VALUES ('wh_{n}', 'int_1', 'stripe', 'processed', '', 1, {at}, {at})"
            ),
        )
        .await;
        exec(
            db,
            format!(
                "INSERT INTO webhook_log_requests (delivery_id, headers, body, body_truncated, \
                 received_at) VALUES ('wh_{n}', '[]', X'00', false, {at})"
            )
            .replace(
                "X'00'",
                if db.get_database_backend() == DbBackend::Postgres {
                    "'\\x00'::bytea"
                } else {
                    "X'00'"
                },
            ),
        )
        .await;
        processed_delivery::Entity::insert(processed_delivery::ActiveModel {
            integration_id: Set("int_1".into()),
            idempotency_key: Set(format!("evt_{n}")),
            delivery_id: Set(format!("wh_{n}")),
            processed_at: Set(at),
            event_day: Set(day_of(at)),
        })
        .exec_without_returning(db)
        .await
        .unwrap();
    }
    for (id, status, at) in [
        ("sent_old", EmailStatus::Sent, days(91)),
        ("failed_old", EmailStatus::Failed, days(91)),
        ("queued_old", EmailStatus::Queued, days(91)),
        ("suppressed_old", EmailStatus::Suppressed, days(91)),
        ("sent_new", EmailStatus::Sent, days(89)),
    ] {
        email_send::Entity::insert(email_send::ActiveModel {
            id: Set(id.into()),
            run_id: Set(format!("run_{id}")),
            step: Set(0),
            workflow_id: Set("wf_1".into()),
            template_id: Set("tpl_1".into()),
            contact_id: Set("c_1".into()),
            to_email: Set("a@example.com".into()),
            subject: Set("Hi".into()),
            status: Set(status.as_str().into()),
            error: Set(None),
            attempts: Set(1),
            created_at: Set(at),
            sent_at: Set(None),
        })
        .exec_without_returning(db)
        .await
        .unwrap();
    }
    for (id, replayed) in [
        ("dl_replayed_old", Some(days(31))),
        ("dl_replayed_new", Some(days(29))),
        ("dl_unresolved_old", None),
    ] {
        dead_letter::Entity::insert(dead_letter::ActiveModel {
            id: Set(id.into()),
            delivery_id: Set(format!("wh_{id}")),
            integration_id: Set("int_1".into()),
            provider: Set("stripe".into()),
            event_type: Set("customer.created".into()),
            idempotency_key: Set(format!("evt_{id}")),
            received_at: Set(days(100)),
            body: Set(Vec::new()),
            error: Set("failed".into()),
            attempts: Set(8),
            first_failed_at: Set(days(100)),
            last_failed_at: Set(days(100)),
            dead_at: Set(days(100)),
            replayed_at: Set(replayed),
            replay_count: Set(i32::from(replayed.is_some())),
        })
        .exec_without_returning(db)
        .await
        .unwrap();
    }
    for (name, at) in [("ev_old", days(366)), ("ev_new", days(364))] {
        contact_event::Entity::insert(contact_event::ActiveModel {
            contact_id: Set("c_1".into()),
            event_name: Set(name.into()),
            properties: Set("{}".into()),
            occurred_at: Set(at),
            delivery_id: Set(None),
            created_at: Set(at),
            ..Default::default()
        })
        .exec_without_returning(db)
        .await
        .unwrap();
    }
    for (id, status, at) in [
        ("run_completed_old", RunStatus::Completed, days(91)),
        ("run_cancelled_old", RunStatus::Cancelled, days(91)),
        ("run_failed_old", RunStatus::Failed, days(91)),
        ("run_pending_old", RunStatus::Pending, days(91)),
        ("run_completed_new", RunStatus::Completed, days(89)),
    ] {
        workflow_run::Entity::insert(workflow_run::ActiveModel {
            id: Set(id.into()),
            workflow_id: Set("wf_1".into()),
            contact_id: Set("c_1".into()),
            event_name: Set("signup".into()),
            event_properties: Set("{}".into()),
            step: Set(0),
            status: Set(status.as_str().into()),
            next_at: Set(at),
            lease_until: Set(None),
            lease_token: Set(None),
            attempts: Set(0),
            first_failed_at: Set(None),
            last_error: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
            traceparent: Set(None),
            tracestate: Set(None),
            wait_until: Set(None),
        })
        .exec_without_returning(db)
        .await
        .unwrap();
        // Each run passed its trigger node (seq 0) when it started.
        exec(
            db,
            format!(
                "INSERT INTO workflow_run_nodes (run_id, node_seq, workflow_id, passed_at) \
                 VALUES ('{id}', 0, 'wf_1', {at})"
            ),
        )
        .await;
    }
    for (id, expires) in [("s_gone", NOW - 1), ("s_open", NOW + 1)] {
        console_session::Entity::insert(console_session::ActiveModel {
            id: Set(id.into()),
            api_key_id: Set("key_1".into()),
            created_at: Set(NOW - DAY_MS),
            expires_at: Set(expires),
        })
        .exec_without_returning(db)
        .await
        .unwrap();
    }
    for (email, at) in [("old@example.com", days(31)), ("new@example.com", days(29))] {
        exec(
            db,
            format!(
                "INSERT INTO suppression_removals (email, removed_at) VALUES ('{email}', {at})"
            ),
        )
        .await;
    }
    for (key, at) in [
        ("k_old", NOW - IDEMPOTENCY_WINDOW_MS - 1),
        ("k_new", NOW - 1),
    ] {
        api_idempotency_key::Entity::insert(api_idempotency_key::ActiveModel {
            key: Set(key.into()),
            created_at: Set(at),
        })
        .exec_without_returning(db)
        .await
        .unwrap();
    }
}

async fn ids(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    let mut ids: Vec<String> = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    ids.sort();
    ids
}

async fn count(db: &DatabaseConnection, table: &str) -> usize {
    ids(db, &format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table}"))
        .await
        .first()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

fn first_days(n: i64, prefix: &str) -> Vec<String> {
    let mut ids: Vec<String> = (0..n).map(|d| format!("{prefix}{d}")).collect();
    ids.sort();
    ids
}

async fn prunes_each_kind_by_its_rule(test: TestDb) {
    let db = &test.db;
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    if postgres {
        // Partitions for the past days, as the pruner made them then.
        for daily in &DAILY {
            partitions::ensure(db, daily.table, daily.key, days(45), NOW)
                .await
                .unwrap();
        }
    }
    seed(db).await;

    let dry = prune(db, &retention(), NOW, true).await.unwrap();
    assert!(!dry.removed.is_empty());
    assert_eq!(
        count(db, "webhook_log").await,
        40,
        "a dry run removes nothing"
    );
    assert_eq!(count(db, "email_sends").await, 5);

    let report = prune(db, &retention(), NOW, false).await.unwrap();
    // Rows from the 30 (7) days before today's, and today's, stay: whole days go.
    assert_eq!(
        ids(db, "SELECT id FROM webhook_log").await,
        first_days(31, "wh_")
    );
    assert_eq!(
        ids(db, "SELECT delivery_id FROM webhook_log_requests").await,
        first_days(8, "wh_")
    );
    assert_eq!(
        ids(db, "SELECT idempotency_key FROM processed_deliveries").await,
        first_days(31, "evt_")
    );
    assert_eq!(
        ids(db, "SELECT id FROM email_sends").await,
        ["queued_old", "sent_new"],
        "finished sends older than 90 days go; a queued one is still being sent"
    );
    assert_eq!(
        ids(db, "SELECT id FROM dead_letters").await,
        ["dl_replayed_new", "dl_unresolved_old"],
        "unresolved dead letters are never pruned"
    );
    assert_eq!(
        ids(db, "SELECT event_name FROM contact_events").await,
        ["ev_new"]
    );
    assert_eq!(
        ids(db, "SELECT id FROM workflow_runs").await,
        ["run_completed_new", "run_failed_old", "run_pending_old"],
        "finished runs older than 90 days go; a pending or failed one stays"
    );
    assert_eq!(
        ids(db, "SELECT run_id FROM workflow_run_nodes").await,
        ["run_completed_new", "run_failed_old", "run_pending_old"],
        "a run's passed nodes go with it, and only with it"
    );
    assert_eq!(ids(db, "SELECT id FROM console_sessions").await, ["s_open"]);
    assert_eq!(
        ids(db, "SELECT email FROM suppression_removals").await,
        ["new@example.com"],
        "removals older than the quota's 30 days go"
    );
    assert_eq!(
        ids(db, "SELECT key FROM api_idempotency_keys").await,
        ["k_new"]
    );
    let log = report
        .removed
        .iter()
        .find(|r| r.table == "webhook_log")
        .expect("the log lost rows");
    if postgres {
        // The days 31–45 went as whole partitions (nine of them held a row each), none
        // row by row: the default partition held nothing.
        assert_eq!(log.partitions.len(), 15, "{:?}", log.partitions);
        let left = partitions::list(db, "webhook_log").await.unwrap();
        assert!(left.iter().all(|p| match p.span {
            partitions::Span::Day(start) => start + DAY_MS > day_of(days(30)),
            _ => true,
        }));
        // The coming week's partitions are ready.
        assert!(
            report
                .created
                .iter()
                .any(|n| n.starts_with("webhook_log_d"))
        );
    } else {
        assert_eq!(log.rows, 9);
    }

    // Nothing more to do at the same time.
    let again = prune(db, &retention(), NOW, false).await.unwrap();
    assert!(again.removed.is_empty(), "{:?}", again.removed);
}

#[tokio::test]
async fn prunes_each_kind_by_its_rule_sqlite() {
    prunes_each_kind_by_its_rule(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn prunes_each_kind_by_its_rule_postgres() {
    prunes_each_kind_by_its_rule(TestDb::postgres().await).await;
}

/// Rows whose day has no partition go to the default one, are deleted from there once
/// expired, and move into their day's partition when it is created.
#[tokio::test]
async fn the_default_partition_catches_rows_and_gives_them_up() {
    let test = TestDb::postgres().await;
    let db = &test.db;
    seed(db).await;
    let default = || count(db, "webhook_log_default");
    assert_eq!(default().await, 40, "no day partition existed");
    let created = partitions::ensure(db, "webhook_log", "received_at", days(2), NOW)
        .await
        .unwrap();
    assert_eq!(created.len(), 3);
    assert_eq!(
        default().await,
        37,
        "today's and two days' rows moved to their partitions"
    );
    assert_eq!(count(db, "webhook_log").await, 40);
    prune(db, &retention(), NOW, false).await.unwrap();
    assert_eq!(
        ids(db, "SELECT id FROM webhook_log").await,
        first_days(31, "wh_")
    );
}

/// Of two processes pruning at once, one prunes and the other does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_prunes_at_a_time() {
    let test = TestDb::postgres().await;
    let db = &test.db;
    let holder = db.begin().await.unwrap();
    holder
        .execute_unprepared(&format!("SELECT pg_advisory_xact_lock({PRUNE_LOCK})"))
        .await
        .unwrap();
    assert!(
        prune_elected(db, &retention(), NOW)
            .await
            .unwrap()
            .is_none(),
        "another process holds the pruner's lock"
    );
    holder.rollback().await.unwrap();
    assert!(
        prune_elected(db, &retention(), NOW)
            .await
            .unwrap()
            .is_some()
    );
}
