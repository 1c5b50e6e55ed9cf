//! What only PostgreSQL shows: transactions that run at once. Batches claim events, take
//! contacts and write log rows in one order, so concurrent ones wait for each other
//! instead of deadlocking, an older change that waits for a newer one is kept out, and
//! two workers creating the same contact both apply.
//! Each test has a PostgreSQL database of its own (see [`Bench::postgres`]).

use std::time::Duration;

use inlet_shared::db::entities::contact;
use inlet_shared::metrics::label;
use inlet_shared::providers::Provider;
use inlet_shared::queue::QueueMessage;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement, TransactionTrait,
};

use super::claim::concurrent_batches_of_the_same_events_apply_each_once;
use super::{contact_of, customer};
use crate::handler::claim_all;
use crate::test_support::Bench;

/// Long enough for the other transaction to be waiting on a row lock.
const SETTLE: Duration = Duration::from_millis(500);
/// A deadlock fails a transaction after a second; a lock never released, never.
const DONE: Duration = Duration::from_secs(10);

/// How many batches the handler applied on `path` (`set`, `savepoints`, `single`).
fn batches(bench: &Bench, path: &str) -> u64 {
    bench
        .metrics
        .batches
        .get_or_create(&label("path", path))
        .get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_of_the_same_events_apply_each_once_postgres() {
    concurrent_batches_of_the_same_events_apply_each_once(Bench::postgres().await).await;
}

/// Two transactions write the same deliveries' log rows when a delivery comes again while
/// its first batch is still open (a redelivery after a lost ack, to another worker). Here
/// the other transaction has written `wh_1`, uncommitted; the worker's batch holds `wh_2`
/// then `wh_1` (arrival order); then the other writes `wh_2`. The worker takes its log rows
/// in delivery-id order, so it waits for `wh_1` without holding `wh_2`; had it written
/// `wh_2` first, the two would deadlock and PostgreSQL would fail one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_takes_log_rows_in_delivery_id_order() {
    let bench = Bench::postgres().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let with_id = |id: &str, email: &str| QueueMessage {
        delivery_id: id.into(),
        ..customer(
            &stripe,
            "customer.created",
            email,
            ("Ada", "Lovelace"),
            1_000,
        )
    };
    let (second, first) = (
        with_id("wh_2", "two@example.com"),
        with_id("wh_1", "one@example.com"),
    );
    let other_insert = |msg: &QueueMessage| {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO webhook_log (id, integration_id, provider, status, message, attempts, \
             received_at, updated_at) VALUES ($1, $2, 'stripe', 'accepted', 'Accepted.', \
             0, $3, 1) ON CONFLICT (id, received_at) DO NOTHING",
            [
                msg.delivery_id.clone().into(),
                stripe.id.clone().into(),
                msg.received_at_ms.into(),
            ],
        )
    };
    let batch = bench.take(&[&second, &first]).await;
    let holding = bench.db.begin().await.unwrap();
    holding.execute_raw(other_insert(&first)).await.unwrap();

    let worker = bench.handle(batch);
    let other = async {
        tokio::time::sleep(SETTLE).await;
        holding
            .execute_raw(other_insert(&second))
            .await
            .expect("the other insert of wh_2 does not deadlock");
        holding.commit().await.unwrap();
    };
    tokio::time::timeout(DONE, async { tokio::join!(worker, other) })
        .await
        .expect("both transactions end");

    for id in ["wh_1", "wh_2"] {
        assert_eq!(bench.log(id).await.status, "processed", "{id}");
    }
    assert_eq!(batches(&bench, "set"), 1, "the batch was not redone");
    assert_eq!(batches(&bench, "savepoints"), 0);
}

/// Two batches with deliveries of the same events (a resend split across batches) claim
/// them in one order, so the later waits for the earlier instead of deadlocking. Here
/// another batch has claimed `evt_1`, uncommitted; this one claims `evt_2` then `evt_1`
/// (arrival order); then the other claims `evt_2`. Had this one inserted `evt_2` first,
/// each would wait for the other and PostgreSQL would fail one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_of_the_same_events_wait_instead_of_deadlocking() {
    // Their events' day (any but 0, the day of claims made before partitioning).
    const DAY: i64 = 86_400_000;
    let bench = Bench::postgres().await;
    let message = |key: &str, delivery: &str| QueueMessage {
        delivery_id: delivery.into(),
        integration_id: "int_1".into(),
        provider: Provider::Stripe,
        event_type: "customer.created".into(),
        idempotency_key: key.into(),
        received_at_ms: 1,
        body: Default::default(),
        trace: Default::default(),
        kept_headers: None,
    };
    let other = bench.db.begin().await.unwrap();
    let first = message("evt_1", "wh_a1");
    assert_eq!(claim_all(&other, &[(&first, DAY)]).await.unwrap(), [true]);

    let this = async {
        let msgs = [message("evt_2", "wh_b2"), message("evt_1", "wh_b1")];
        let txn = bench.db.begin().await?;
        let claimed = claim_all(&txn, &[(&msgs[0], DAY), (&msgs[1], DAY)]).await?;
        txn.commit().await?;
        Ok::<_, sea_orm::DbErr>(claimed)
    };
    let then = async {
        tokio::time::sleep(SETTLE).await;
        let second = message("evt_2", "wh_a2");
        let claimed = claim_all(&other, &[(&second, DAY)])
            .await
            .expect("the other batch's claim of evt_2 does not deadlock");
        other.commit().await.unwrap();
        claimed
    };
    let (this, then) = tokio::time::timeout(DONE, async { tokio::join!(this, then) })
        .await
        .expect("both transactions end");
    assert_eq!(then, [true]);
    assert_eq!(
        this.expect("this batch's claims commit"),
        [false, false],
        "both events were claimed first by the other"
    );
}

/// Here another worker's transaction has applied a newer change to a contact, uncommitted,
/// when this worker applies an older one, alone or in a batch. The older one must wait for
/// the newer and then be kept out by the ordering guard; had it read the contact before the
/// newer change committed, it would overwrite it (the platform time going back, the newer
/// name lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_change_waits_for_a_concurrent_newer_one_and_is_kept_out() {
    let bench = Bench::postgres().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    for (n, in_a_batch) in [false, true].into_iter().enumerate() {
        let email = format!("ada{n}@example.com");
        let created = customer(
            &stripe,
            "customer.created",
            &email,
            ("Ada", "Lovelace"),
            100,
        );
        bench.apply(&[&created]).await;

        // The newer change (platform time 300 s), as another worker writes it.
        let other = bench.db.begin().await.unwrap();
        other
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE contacts SET last_event_at = 300000, last_name = 'Newer' WHERE email = $1",
                [email.clone().into()],
            ))
            .await
            .unwrap();

        let older = customer(&stripe, "customer.updated", &email, ("Ada", "Older"), 200);
        let company = customer(
            &stripe,
            "customer.created",
            &format!("company{n}@example.com"),
            ("Grace", "Hopper"),
            200,
        );
        let batch = if in_a_batch {
            bench.take(&[&older, &company]).await
        } else {
            bench.take(&[&older]).await
        };
        let worker = bench.handle(batch);
        let newer = async {
            tokio::time::sleep(SETTLE).await;
            other.commit().await.unwrap();
        };
        tokio::time::timeout(DONE, async { tokio::join!(worker, newer) })
            .await
            .expect("both transactions end");

        let row = contact_of(&bench, &email).await;
        assert_eq!(row.last_event_at, 300_000, "in a batch: {in_a_batch}");
        assert_eq!(
            row.last_name.as_deref(),
            Some("Newer"),
            "in a batch: {in_a_batch}"
        );
        let kept = bench.log(&older.delivery_id).await;
        assert!(kept.message.starts_with("Kept contact"), "{}", kept.message);
    }
    let contacts = contact::Entity::find()
        .filter(contact::Column::Email.like("company%"))
        .all(&bench.db)
        .await
        .unwrap();
    assert_eq!(contacts.len(), 1, "the batch's other delivery applied");
}

/// Here another worker's transaction has created the contact, uncommitted, when this one
/// applies an event about the same new person: its insert waits for the other's commit,
/// then fails on the unique email. That failure is retried (not dead-lettered), and the
/// retry finds the contact and applies the event to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_creating_the_same_contact_both_apply() {
    let bench = Bench::postgres().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let email = "ada@example.com";
    let other = bench.db.begin().await.unwrap();
    other
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO contacts (id, email, first_name, subscribed, properties, created_at, \
             updated_at, last_event_at) VALUES ('con_other', $1, 'Other', true, '{}', 1, 1, 1000)",
            [email.into()],
        ))
        .await
        .unwrap();

    let created = customer(&stripe, "customer.created", email, ("Ada", "Lovelace"), 200);
    let batch = bench.take(&[&created]).await;
    let worker = bench.handle(batch);
    let commit = async {
        tokio::time::sleep(SETTLE).await;
        other.commit().await.unwrap();
    };
    tokio::time::timeout(DONE, async { tokio::join!(worker, commit) })
        .await
        .expect("both transactions end");
    let first = bench.log(&created.delivery_id).await;
    assert_eq!(
        first.status, "failed",
        "retried, not dead: {}",
        first.message
    );

    // The retry, once its delay has passed.
    let again = bench.consume(&[&created]).await;
    bench.handle(again).await;
    assert_eq!(bench.log(&created.delivery_id).await.status, "processed");
    let row = contact_of(&bench, email).await;
    assert_eq!(row.id, "con_other", "the one contact");
    assert_eq!(row.first_name.as_deref(), Some("Ada"));
}
