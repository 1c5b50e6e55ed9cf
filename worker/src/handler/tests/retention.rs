//! The dedupe window across a prune: a duplicate of an event inside the window is still
//! recognised, one of an event older than the window is applied as new (its claim went
//! with its day). The window counts from the event's own time, not its receipt.

use inlet_shared::config::Retention;
use inlet_shared::domain::now_ms;
use inlet_shared::providers::Provider;
use inlet_shared::retention;

use super::customer;
use crate::test_support::{Bench, resend};

const DAY_SECS: i64 = 86_400;

async fn the_window_outlives_a_prune(bench: Bench) {
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let now = now_ms() / 1000;
    // Both received now; one event is two days old, the other forty.
    let recent = customer(
        &stripe,
        "customer.created",
        "ada@example.com",
        ("Ada", "L"),
        now - 2 * DAY_SECS,
    );
    let old = customer(
        &stripe,
        "customer.created",
        "bob@example.com",
        ("Bob", "B"),
        now - 40 * DAY_SECS,
    );
    bench.apply(&[&recent, &old]).await;
    assert_eq!(bench.log(&recent.delivery_id).await.status, "processed");
    assert_eq!(bench.log(&old.delivery_id).await.status, "processed");

    let report = retention::prune(&bench.db, &Retention::default(), now_ms(), false)
        .await
        .unwrap();
    let claims = report
        .removed
        .iter()
        .find(|r| r.table == "processed_deliveries")
        .map_or(0, |r| r.rows);
    assert_eq!(
        claims, 1,
        "the forty-day-old event's claim went: {:?}",
        report.removed
    );

    let (recent_again, old_again) = (resend(&recent), resend(&old));
    bench.apply(&[&recent_again, &old_again]).await;
    assert_eq!(
        bench.log(&recent_again.delivery_id).await.status,
        "duplicate",
        "inside the window: still recognised"
    );
    assert_ne!(
        bench.log(&old_again.delivery_id).await.status,
        "duplicate",
        "older than the window: treated as new"
    );
}

#[tokio::test]
async fn the_window_outlives_a_prune_sqlite() {
    the_window_outlives_a_prune(Bench::sqlite().await).await;
}

#[tokio::test]
async fn the_window_outlives_a_prune_postgres() {
    the_window_outlives_a_prune(Bench::postgres().await).await;
}

/// A claim made before the claims were partitioned (migration 0014 kept it with
/// `event_day` 0) still makes a later delivery of its event a duplicate.
#[tokio::test]
async fn a_claim_from_before_partitioning_still_counts() {
    use sea_orm::ConnectionTrait;
    let bench = Bench::postgres().await;
    let stripe = bench.integration(Provider::Stripe, &[]).await;
    let event = customer(
        &stripe,
        "customer.created",
        "ada@example.com",
        ("Ada", "L"),
        now_ms() / 1000,
    );
    bench
        .db
        .execute_unprepared(&format!(
            "INSERT INTO processed_deliveries (integration_id, idempotency_key, delivery_id, \
             processed_at, event_day) VALUES ('{}', '{}', 'wh_before', 1, 0)",
            event.integration_id, event.idempotency_key
        ))
        .await
        .unwrap();
    bench.apply(&[&event]).await;
    let row = bench.log(&event.delivery_id).await;
    assert_eq!(row.status, "duplicate");
    assert!(row.message.contains("wh_before"), "{}", row.message);
}
