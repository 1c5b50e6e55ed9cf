//! The log writer on both backends: ingest's rows written once, the worker's rows and kept
//! requests from its messages (the newest outcome wins), a dead letter's mark; and, on
//! PostgreSQL, the delivery-id order that keeps two workers' transactions
//! from deadlocking.

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
        kept_headers: None,
    }
}

/// A row as ingest writes it: ignored, no attempt, no event type read.
fn received(id: &str) -> webhook_log::Model {
    webhook_log::Model {
        id: id.into(),
        integration_id: "int_1".into(),
        provider: "stripe".into(),
        event_type: None,
        idempotency_key: None,
        status: DeliveryStatus::Ignored.as_str().into(),
        message: "Ignored.".into(),
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

fn outcome(id: &str, status: DeliveryStatus, text: &str, attempt: u32) -> Outcome {
    super::outcome(&message(id), status, text, attempt)
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

/// Ingest's rows (of deliveries it did not enqueue) and their requests are written once.
async fn received_rows_and_kept_requests_are_written_once(test: TestDb) {
    let db = &test.db;
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
    assert_eq!(
        rows,
        [received("wh_1"), received("wh_2")],
        "NULLs stay NULL"
    );

    let again = webhook_log::Model {
        status: DeliveryStatus::Rejected.as_str().into(),
        ..received("wh_2")
    };
    // Every write of a delivery carries its one time of receipt (the partition key).
    write_received(db, vec![again], vec![request("wh_2", b"again", 1_000)])
        .await
        .unwrap();
    assert_eq!(log(db).await, rows);
    assert_eq!(
        kept(db).await,
        [
            request("wh_1", b"", 1_000),
            request("wh_2", b"{\"a\":1}", 1_000)
        ]
    );
    write_received(db, Vec::new(), Vec::new()).await.unwrap();
}

/// The worker writes an accepted delivery's row and, from its message, the kept request:
/// the newest outcome of a delivery wins, its request is written once, and a dead letter's
/// mark updates the row or writes it when no attempt had.
async fn outcomes_write_the_row_and_the_kept_request(test: TestDb) {
    let db = &test.db;
    let kept_message = |id: &str, body: &'static [u8]| QueueMessage {
        body: body.to_vec().into(),
        kept_headers: Some(crate::messages::KeptHeaders::new([(
            "content-type",
            "application/json",
        )])),
        ..message(id)
    };
    let first = kept_message("wh_1", b"{\"a\":1}");
    let txn = db.begin().await.unwrap();
    write_outcomes(
        &txn,
        vec![
            super::outcome(&first, DeliveryStatus::Failed, "Attempt 1 failed.", 1),
            outcome("wh_2", DeliveryStatus::Duplicate, "Duplicate.", 1),
            super::outcome(&first, DeliveryStatus::Processed, "Created.", 2),
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
    assert_eq!(wh_1.received_at, 1_000);
    assert_eq!(rows.get(1).map(|r| r.status.as_str()), Some("duplicate"));
    assert_eq!(kept(db).await, [request("wh_1", b"{\"a\":1}", 1_000)]);

    // A later attempt carries the request again; the first one kept stays.
    note(
        db,
        super::outcome(
            &kept_message("wh_1", b"later"),
            DeliveryStatus::Failed,
            "Attempt 3 failed.",
            3,
        ),
    )
    .await;
    assert_eq!(kept(db).await, [request("wh_1", b"{\"a\":1}", 1_000)]);
    mark_dead(db, &first, "gave up after 3 attempts", 4)
        .await
        .unwrap();
    mark_dead(db, &message("wh_3"), "unreadable", 1)
        .await
        .unwrap();
    let rows = log(db).await;
    let summary: Vec<(&str, &str, &str, i32)> = rows
        .iter()
        .map(|r| {
            (
                r.id.as_str(),
                r.status.as_str(),
                r.message.as_str(),
                r.attempts,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("wh_1", "dead", "Dead-lettered: gave up after 3 attempts", 4),
            ("wh_2", "duplicate", "Duplicate.", 1),
            ("wh_3", "dead", "Dead-lettered: unreadable", 1),
        ]
    );
}

#[tokio::test]
async fn received_rows_and_kept_requests_are_written_once_sqlite() {
    received_rows_and_kept_requests_are_written_once(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn received_rows_and_kept_requests_are_written_once_postgres() {
    received_rows_and_kept_requests_are_written_once(TestDb::postgres().await).await;
}

#[tokio::test]
async fn outcomes_write_the_row_and_the_kept_request_sqlite() {
    outcomes_write_the_row_and_the_kept_request(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn outcomes_write_the_row_and_the_kept_request_postgres() {
    outcomes_write_the_row_and_the_kept_request(TestDb::postgres().await).await;
}

/// Two batches write the same deliveries (a redelivery after a lost ack): one holds `wh_1`,
/// uncommitted; the other writes the outcomes of `wh_1` and `wh_2`, given in either order;
/// then the first writes `wh_2`. Rows go in id order, so the second waits for `wh_1`
/// without holding `wh_2`; taking `wh_2` first, each would wait for the other and
/// PostgreSQL would fail one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_batches_take_their_rows_in_one_order() {
    for given in [["wh_2", "wh_1"], ["wh_1", "wh_2"]] {
        let test = TestDb::postgres().await;
        let db = &test.db;
        let holding = db.begin().await.unwrap();
        write_outcomes(
            &holding,
            vec![outcome("wh_1", DeliveryStatus::Processed, "Created.", 1)],
        )
        .await
        .unwrap();
        let other = async {
            let txn = db.begin().await?;
            let outcomes = given
                .iter()
                .map(|id| outcome(id, DeliveryStatus::Duplicate, "Duplicate.", 2))
                .collect();
            write_outcomes(&txn, outcomes).await?;
            txn.commit().await
        };
        let then = async {
            tokio::time::sleep(SETTLE).await;
            write_outcomes(
                &holding,
                vec![outcome("wh_2", DeliveryStatus::Processed, "Created.", 1)],
            )
            .await
            .expect("the first batch's write of wh_2 does not deadlock");
            holding.commit().await.unwrap();
        };
        let (other, ()) = tokio::time::timeout(DONE, async { tokio::join!(other, then) })
            .await
            .expect("both transactions end");
        other.expect("the second batch does not deadlock");
        let statuses: Vec<String> = log(db).await.into_iter().map(|r| r.status).collect();
        assert_eq!(statuses, ["duplicate", "duplicate"], "the later batch wins");
    }
}

#[test]
fn a_row_carries_the_message_and_its_outcome() {
    let row = outcome("wh_1", DeliveryStatus::Failed, "Attempt 3 failed.", 3).row;
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
    let most = outcome("wh_1", DeliveryStatus::Dead, "", u32::MAX);
    assert_eq!(most.row.attempts, i32::MAX);
    assert_eq!(most.request, None, "no kept headers, no kept request");
}

/// The kept request has the message's headers and at most [`BODY_KEPT`] bytes of its body.
#[test]
fn a_kept_request_has_the_first_bytes_of_the_body() {
    let kept = |len: usize| {
        let msg = QueueMessage {
            body: vec![b'x'; len].into(),
            kept_headers: Some(crate::messages::KeptHeaders::new([(
                "user-agent",
                "Stripe",
            )])),
            ..message("wh_1")
        };
        super::outcome(&msg, DeliveryStatus::Processed, "", 1)
            .request
            .unwrap()
    };
    let whole = kept(BODY_KEPT);
    assert_eq!((whole.body.len(), whole.body_truncated), (BODY_KEPT, false));
    assert_eq!(whole.headers, r#"[["user-agent","Stripe"]]"#);
    let cut = kept(BODY_KEPT + 1);
    assert_eq!((cut.body.len(), cut.body_truncated), (BODY_KEPT, true));
}
