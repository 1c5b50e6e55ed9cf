//! The log writer on both backends: ingest's rows leave the worker's outcome alone, the
//! worker's outcome replaces ingest's status, a dead letter's mark, the pruning; and, on
//! PostgreSQL, the delivery-id order that keeps ingest's and the worker's transactions from
//! deadlocking.

use std::time::Duration;

use sea_orm::{EntityTrait, QueryOrder, TransactionTrait};

use super::*;
use crate::providers::Provider;
use crate::test_db::TestDb;

/// Long enough for the other transaction to be waiting on a row lock.
const SETTLE: Duration = Duration::from_millis(500);
/// A deadlock fails a transaction after a second; a lock never released, never.
const DONE: Duration = Duration::from_secs(10);

fn message(id: &str) -> QueueMessage {
    QueueMessage {
        delivery_id: id.into(),
        integration_id: "int_1".into(),
        provider: Provider::Stripe,
        event_type: "customer.created".into(),
        idempotency_key: format!("evt_{id}"),
        received_at_ms: 1_000,
        body: Default::default(),
        trace: Default::default(),
    }
}

/// A row as ingest writes it: accepted, no attempt yet, no event type read.
fn received(id: &str) -> webhook_log::Model {
    webhook_log::Model {
        id: id.into(),
        integration_id: "int_1".into(),
        provider: "stripe".into(),
        event_type: None,
        idempotency_key: None,
        status: DeliveryStatus::Accepted.as_str().into(),
        message: "Accepted.".into(),
        attempts: 0,
        received_at: 1_000,
        updated_at: 1_001,
    }
}

fn request(id: &str, body: &[u8], received_at: i64) -> webhook_log_request::Model {
    webhook_log_request::Model {
        delivery_id: id.into(),
        headers: r#"[["content-type","application/json"]]"#.into(),
        body: body.to_vec(),
        body_truncated: false,
        received_at,
    }
}

fn outcome(id: &str, status: DeliveryStatus, text: &str, attempt: u32) -> webhook_log::Model {
    row(&message(id), status, text, attempt)
}

async fn log<C: ConnectionTrait>(db: &C) -> Vec<webhook_log::Model> {
    webhook_log::Entity::find()
        .order_by_asc(webhook_log::Column::Id)
        .all(db)
        .await
        .unwrap()
}

async fn kept<C: ConnectionTrait>(db: &C) -> Vec<webhook_log_request::Model> {
    webhook_log_request::Entity::find()
        .order_by_asc(webhook_log_request::Column::DeliveryId)
        .all(db)
        .await
        .unwrap()
}

/// The worker applied `wh_1` before ingest logged it: ingest's row leaves its outcome, and
/// a request kept once stays as it was.
async fn received_rows_leave_outcomes_and_kept_requests_alone(test: TestDb) {
    let db = &test.db;
    write_outcomes(
        db,
        vec![outcome("wh_1", DeliveryStatus::Processed, "Created.", 1)],
    )
    .await
    .unwrap();
    write_received(
        db,
        vec![received("wh_2"), received("wh_1")],
        vec![
            request("wh_2", b"{\"a\":1}", 1_000),
            request("wh_1", b"", 1_000),
        ],
    )
    .await
    .unwrap();
    let rows = log(db).await;
    let statuses: Vec<(&str, &str, i32)> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.status.as_str(), r.attempts))
        .collect();
    assert_eq!(
        statuses,
        [("wh_1", "processed", 1), ("wh_2", "accepted", 0)]
    );
    assert_eq!(rows.get(1), Some(&received("wh_2")), "NULLs stay NULL");

    write_received(
        db,
        vec![received("wh_2")],
        vec![request("wh_2", b"again", 2_000)],
    )
    .await
    .unwrap();
    assert_eq!(
        kept(db).await,
        [
            request("wh_1", b"", 1_000),
            request("wh_2", b"{\"a\":1}", 1_000)
        ]
    );
    write_received(db, Vec::new(), Vec::new()).await.unwrap();
}

/// The worker's outcome replaces ingest's status, message and attempts (the newest of a
/// delivery's rows wins) and keeps what ingest saw.
async fn outcomes_replace_the_status_newest_per_delivery(test: TestDb) {
    let db = &test.db;
    let ingest = webhook_log::Model {
        event_type: Some("customer.created".into()),
        received_at: 900,
        ..received("wh_1")
    };
    write_received(db, vec![ingest], Vec::new()).await.unwrap();
    let txn = db.begin().await.unwrap();
    write_outcomes(
        &txn,
        vec![
            outcome("wh_1", DeliveryStatus::Failed, "Attempt 1 failed.", 1),
            outcome("wh_2", DeliveryStatus::Duplicate, "Duplicate.", 1),
            outcome("wh_1", DeliveryStatus::Processed, "Created.", 2),
        ],
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let rows = log(db).await;
    let wh_1 = rows.first().unwrap();
    assert_eq!(
        (wh_1.status.as_str(), wh_1.message.as_str(), wh_1.attempts),
        ("processed", "Created.", 2)
    );
    assert_eq!(wh_1.received_at, 900, "what ingest saw stays");
    assert_eq!(rows.get(1).map(|r| r.status.as_str()), Some("duplicate"));

    note(
        db,
        outcome("wh_2", DeliveryStatus::Failed, "Attempt 2 failed.", 2),
    )
    .await;
    mark_dead(db, "wh_1", "gave up after 2 attempts", 3)
        .await
        .unwrap();
    let rows = log(db).await;
    let summary: Vec<(&str, &str, i32)> = rows
        .iter()
        .map(|r| (r.status.as_str(), r.message.as_str(), r.attempts))
        .collect();
    assert_eq!(
        summary,
        [
            ("dead", "Dead-lettered: gave up after 2 attempts", 3),
            ("failed", "Attempt 2 failed.", 2)
        ]
    );
}

/// Requests received before the cut go; newer ones and every log row stay.
async fn pruning_takes_old_requests_only(test: TestDb) {
    let db = &test.db;
    write_received(
        db,
        vec![received("wh_1"), received("wh_2")],
        vec![request("wh_1", b"old", 100), request("wh_2", b"new", 200)],
    )
    .await
    .unwrap();
    assert_eq!(prune_requests(db, 200).await.unwrap(), 1);
    assert_eq!(kept(db).await, [request("wh_2", b"new", 200)]);
    assert_eq!(log(db).await.len(), 2);
}

#[tokio::test]
async fn received_rows_leave_outcomes_and_kept_requests_alone_sqlite() {
    received_rows_leave_outcomes_and_kept_requests_alone(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn received_rows_leave_outcomes_and_kept_requests_alone_postgres() {
    received_rows_leave_outcomes_and_kept_requests_alone(TestDb::postgres().await).await;
}

#[tokio::test]
async fn outcomes_replace_the_status_newest_per_delivery_sqlite() {
    outcomes_replace_the_status_newest_per_delivery(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn outcomes_replace_the_status_newest_per_delivery_postgres() {
    outcomes_replace_the_status_newest_per_delivery(TestDb::postgres().await).await;
}

#[tokio::test]
async fn pruning_takes_old_requests_only_sqlite() {
    pruning_takes_old_requests_only(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn pruning_takes_old_requests_only_postgres() {
    pruning_takes_old_requests_only(TestDb::postgres().await).await;
}

/// A worker's transaction holds `wh_1`, uncommitted; ingest writes `wh_2` and `wh_1` (given
/// in that order); then the worker writes `wh_2`. Ingest takes its rows in id order, so it
/// waits for `wh_1` without holding `wh_2`; in the order given, each would wait for the
/// other and PostgreSQL would fail one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_takes_its_rows_in_the_order_the_worker_does() {
    let test = TestDb::postgres().await;
    let db = &test.db;
    let worker = db.begin().await.unwrap();
    write_outcomes(
        &worker,
        vec![outcome("wh_1", DeliveryStatus::Processed, "Created.", 1)],
    )
    .await
    .unwrap();
    let ingest = write_received(db, vec![received("wh_2"), received("wh_1")], Vec::new());
    let then = async {
        tokio::time::sleep(SETTLE).await;
        write_outcomes(
            &worker,
            vec![outcome("wh_2", DeliveryStatus::Processed, "Created.", 1)],
        )
        .await
        .expect("the worker's write of wh_2 does not deadlock");
        worker.commit().await.unwrap();
    };
    let (ingest, ()) = tokio::time::timeout(DONE, async { tokio::join!(ingest, then) })
        .await
        .expect("both transactions end");
    ingest.expect("ingest's batch does not deadlock");
    let statuses: Vec<String> = log(db).await.into_iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        ["processed", "processed"],
        "the worker's outcome wins"
    );
}

/// The other way round: ingest's transaction holds `wh_1`; the worker writes the outcomes
/// of `wh_2` and `wh_1` (arrival order); then ingest inserts `wh_2`. The worker takes them in
/// id order, so it waits for `wh_1` without holding `wh_2`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_takes_its_rows_in_the_order_ingest_does() {
    let test = TestDb::postgres().await;
    let db = &test.db;
    let ingest_row = |id: &str| vec![webhook_log::ActiveModel::from(received(id))];
    let ingest = db.begin().await.unwrap();
    bulk::insert(&ingest, ingest_row("wh_1"), RECEIVED)
        .await
        .unwrap();
    let worker = async {
        let txn = db.begin().await?;
        write_outcomes(
            &txn,
            vec![
                outcome("wh_2", DeliveryStatus::Processed, "Created.", 1),
                outcome("wh_1", DeliveryStatus::Processed, "Created.", 1),
            ],
        )
        .await?;
        txn.commit().await
    };
    let then = async {
        tokio::time::sleep(SETTLE).await;
        bulk::insert(&ingest, ingest_row("wh_2"), RECEIVED)
            .await
            .expect("ingest's insert of wh_2 does not deadlock");
        ingest.commit().await.unwrap();
    };
    let (worker, ()) = tokio::time::timeout(DONE, async { tokio::join!(worker, then) })
        .await
        .expect("both transactions end");
    worker.expect("the worker's outcomes do not deadlock");
    let statuses: Vec<String> = log(db).await.into_iter().map(|r| r.status).collect();
    assert_eq!(statuses, ["processed", "processed"]);
}

#[test]
fn a_row_carries_the_message_and_its_outcome() {
    let row = outcome("wh_1", DeliveryStatus::Failed, "Attempt 3 failed.", 3);
    assert_eq!(
        (
            row.id.as_str(),
            row.provider.as_str(),
            row.event_type.as_deref(),
            row.idempotency_key.as_deref(),
            row.status.as_str(),
            row.attempts,
            row.received_at,
        ),
        (
            "wh_1",
            "stripe",
            Some("customer.created"),
            Some("evt_wh_1"),
            "failed",
            3,
            1_000
        )
    );
    let most = super::row(&message("wh_1"), DeliveryStatus::Dead, "", u32::MAX);
    assert_eq!(most.attempts, i32::MAX);
}
