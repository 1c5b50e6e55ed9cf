//! Worker reliability against real PostgreSQL and RabbitMQ, with workers as real processes:
//! SIGKILL and SIGTERM mid-burst, competing workers, a database outage (through a proxy the
//! test cuts), dead letters and their replay, poison messages, the ordering guard, batches,
//! and the work queue's own settlement. The helpers here are the ones those share.

mod batches;
mod cluster;
mod dead_letters;
mod ordering;
mod processes;
mod queue;
mod tls;

use std::time::Duration;

use futures_util::StreamExt;
use inlet_shared::db::entities::{contact, contact_event, processed_delivery};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);

/// Sends `n` signed customer.created events (distinct customers) with 32 in flight; every
/// one must be answered 202.
async fn send_burst(app: &TestApp, integration: &str, prefix: &str, n: usize) {
    let now = now_secs();
    let results: Vec<u16> = futures_util::stream::iter(0..n)
        .map(|i| {
            let body = stripe_customer_event(
                &format!("evt_{prefix}{i:05}"),
                "customer.created",
                &format!("{prefix}{i:05}@example.com"),
                "Bur St",
                now,
            );
            async move { app.send_stripe(integration, &body).await.0 }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let refused = results.iter().filter(|s| **s != 202).count();
    assert_eq!(refused, 0, "{refused} of {n} deliveries were not accepted");
}

async fn processed(app: &TestApp) -> u64 {
    app.count(processed_delivery::Entity).await
}

/// Every delivery of the burst applied exactly once: one processed row, one contact and one
/// recorded event each.
async fn assert_exactly_once(app: &TestApp, n: usize) {
    eventually(
        Duration::from_secs(120),
        "every delivery processed",
        || async { processed(app).await >= n as u64 },
    )
    .await;
    // Give any duplicate work a moment to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(processed(app).await, n as u64, "processed deliveries");
    assert_eq!(app.count(contact::Entity).await, n as u64, "contacts");
    assert_eq!(
        app.count(contact_event::Entity).await,
        n as u64,
        "recorded events"
    );
}

fn worker_env(app: &TestApp, database_url: &str, vhost: &TestVhost) -> Vec<(&'static str, String)> {
    let _ = app;
    vec![
        ("INLET_DATABASE_URL", database_url.to_owned()),
        ("INLET_DATABASE_POOL", "4".into()),
        ("INLET_AMQP_URL", vhost.amqp_url.clone()),
        ("INLET_WORKER_CONCURRENCY", "8".into()),
        ("INLET_PREFETCH", "32".into()),
        ("INLET_RETRY_DELAYS_MS", "300,600".into()),
        ("INLET_MAX_ATTEMPTS", "6".into()),
        ("INLET_LOG_FORMAT", "json".into()),
        ("RUST_LOG", "error".into()),
    ]
}

/// Ingest in-process, no worker: workers run as processes.
async fn ingest_only() -> (TestApp, std::sync::Arc<TestVhost>) {
    let vhost = TestVhost::new().await;
    let mut options = AppOptions::production();
    options.worker = false;
    options.vhost = Some(vhost.clone());
    options
        .vars
        .push(("INLET_RETRY_DELAYS_MS".into(), "300,600".into()));
    (spawn_app(options).await, vhost)
}
