//! Claims: an event applies once whichever batches its deliveries come in, also when two
//! batches holding them run at once, and a delivery taken more often than allowed goes to
//! the dead letters without being applied.

use inlet_shared::db::entities::{dead_letter, processed_delivery, queue_message};
use inlet_shared::providers::Provider;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{contact_of, customer};
use crate::test_support::{Bench, MAX_ATTEMPTS, resend};

#[tokio::test]
async fn an_event_delivered_twice_in_one_batch_applies_once() {
    let bench = Bench::sqlite().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let first = customer(
        &stripe,
        "customer.created",
        "ada@example.com",
        ("Ada", "Lovelace"),
        1_000,
    );
    let again = resend(&first);
    bench.apply(&[&first, &again]).await;

    let ada = contact_of(&bench, "ada@example.com").await;
    assert_eq!(bench.events(&ada.id).await, ["stripe:customer.created"]);
    assert_eq!(bench.count(processed_delivery::Entity).await, 1);
    assert_eq!(bench.log(&first.delivery_id).await.status, "processed");
    let duplicate = bench.log(&again.delivery_id).await;
    assert_eq!(duplicate.status, "duplicate");
    assert!(
        duplicate.message.contains(&first.delivery_id),
        "{}",
        duplicate.message
    );
    assert_eq!(bench.count(queue_message::Entity).await, 0, "both acked");
}

/// One delivery queued twice (a replayed dead letter meeting its redelivery, say) and
/// taken in one batch: applied once, and its log row keeps the outcome.
#[tokio::test]
async fn a_delivery_taken_twice_in_one_batch_applies_once() {
    let bench = Bench::sqlite().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let delivery = customer(
        &stripe,
        "customer.created",
        "ada@example.com",
        ("Ada", "Lovelace"),
        1_000,
    );
    bench.apply(&[&delivery, &delivery]).await;

    let ada = contact_of(&bench, "ada@example.com").await;
    assert_eq!(bench.events(&ada.id).await, ["stripe:customer.created"]);
    assert_eq!(bench.log(&delivery.delivery_id).await.status, "processed");
    assert_eq!(bench.count(queue_message::Entity).await, 0, "both acked");
}

#[tokio::test]
async fn an_event_delivered_again_in_later_batches_applies_once() {
    let bench = Bench::sqlite().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let first = customer(
        &stripe,
        "customer.created",
        "ada@example.com",
        ("Ada", "Lovelace"),
        1_000,
    );
    bench.apply(&[&first]).await;
    // Again in a batch with another event (the batch's set path), then alone.
    let grace = customer(
        &stripe,
        "customer.created",
        "grace@example.com",
        ("Grace", "Hopper"),
        1_000,
    );
    let in_batch = resend(&first);
    bench.apply(&[&in_batch, &grace]).await;
    let alone = resend(&first);
    bench.apply(&[&alone]).await;

    let ada = contact_of(&bench, "ada@example.com").await;
    assert_eq!(bench.events(&ada.id).await, ["stripe:customer.created"]);
    let grace_row = contact_of(&bench, "grace@example.com").await;
    assert_eq!(
        bench.events(&grace_row.id).await,
        ["stripe:customer.created"]
    );
    assert_eq!(bench.count(processed_delivery::Entity).await, 2);
    for again in [&in_batch, &alone] {
        assert_eq!(bench.log(&again.delivery_id).await.status, "duplicate");
    }
    assert_eq!(bench.count(queue_message::Entity).await, 0, "all acked");
}

/// Two batches holding deliveries of the same two events, in opposite orders, handled at
/// once: each event applies once, and the other delivery of it is a duplicate.
pub(super) async fn concurrent_batches_of_the_same_events_apply_each_once(bench: Bench) {
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let ada = customer(
        &stripe,
        "customer.created",
        "ada@example.com",
        ("Ada", "Lovelace"),
        1_000,
    );
    let grace = customer(
        &stripe,
        "customer.created",
        "grace@example.com",
        ("Grace", "Hopper"),
        1_000,
    );
    let (ada_again, grace_again) = (resend(&ada), resend(&grace));
    let one = bench.take(&[&ada, &grace]).await;
    let two = bench.take(&[&grace_again, &ada_again]).await;
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        tokio::join!(bench.handle(one), bench.handle(two))
    })
    .await
    .expect("both batches end");

    for email in ["ada@example.com", "grace@example.com"] {
        let row = contact_of(&bench, email).await;
        assert_eq!(
            bench.events(&row.id).await,
            ["stripe:customer.created"],
            "{email}"
        );
    }
    assert_eq!(bench.count(processed_delivery::Entity).await, 2);
    for pair in [[&ada, &ada_again], [&grace, &grace_again]] {
        let mut statuses = Vec::new();
        for delivery in pair {
            statuses.push(bench.log(&delivery.delivery_id).await.status);
        }
        statuses.sort();
        assert_eq!(statuses, ["duplicate", "processed"]);
    }
    assert_eq!(bench.count(queue_message::Entity).await, 0, "all acked");
}

#[tokio::test]
async fn concurrent_batches_of_the_same_events_apply_each_once_sqlite() {
    concurrent_batches_of_the_same_events_apply_each_once(Bench::sqlite().await).await;
}

/// The queue counts every take as an attempt; one taken more often than the limit allows
/// (its earlier attempts cut short by crashes) is dead-lettered without being applied,
/// while one on its last allowed attempt is applied.
#[tokio::test]
async fn a_delivery_past_the_attempt_limit_is_dead_lettered_unapplied() {
    let bench = Bench::sqlite().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let over = customer(
        &stripe,
        "customer.created",
        "over@example.com",
        ("Over", "Limit"),
        1_000,
    );
    let last = customer(
        &stripe,
        "customer.created",
        "last@example.com",
        ("Last", "Chance"),
        1_000,
    );
    bench.publish(&[&over, &last]).await;
    bench.set_attempts(&over.delivery_id, MAX_ATTEMPTS).await;
    bench
        .set_attempts(&last.delivery_id, MAX_ATTEMPTS - 1)
        .await;
    let batch = bench.consume(&[&over, &last]).await;
    let attempts: Vec<u32> = batch.iter().map(|d| d.attempt).collect();
    assert_eq!(attempts, [MAX_ATTEMPTS + 1, MAX_ATTEMPTS]);
    bench.handle(batch).await;

    assert!(bench.contact("over@example.com").await.is_none());
    let dead = dead_letter::Entity::find()
        .filter(dead_letter::Column::DeliveryId.eq(over.delivery_id.as_str()))
        .one(&bench.db)
        .await
        .unwrap()
        .expect("a dead letter");
    assert_eq!(dead.attempts, i32::try_from(MAX_ATTEMPTS + 1).unwrap());
    assert_eq!(bench.log(&over.delivery_id).await.status, "dead");
    let claimed = processed_delivery::Entity::find()
        .filter(processed_delivery::Column::DeliveryId.eq(over.delivery_id.as_str()))
        .one(&bench.db)
        .await
        .unwrap();
    assert!(claimed.is_none(), "not claimed either");

    assert!(bench.contact("last@example.com").await.is_some());
    assert_eq!(bench.log(&last.delivery_id).await.status, "processed");
    assert_eq!(bench.count(dead_letter::Entity).await, 1);
    assert_eq!(bench.count(queue_message::Entity).await, 0, "both settled");
}
