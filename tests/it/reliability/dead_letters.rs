//! Dead letters: a database outage retried and then dead-lettered, poison dead-lettered at
//! once, the embedded queue's delayed retry, and replays that apply a dead letter once.

use std::time::Duration;

use inlet_shared::db::entities::{contact, dead_letter};
use sea_orm::EntityTrait;
use serde_json::json;

use super::{WAIT, ingest_only, processed, worker_env};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_is_retried_and_dead_letters_replay_once() {
    let (app, vhost) = ingest_only().await;
    let integration = app.create_stripe_integration().await;
    let proxy = TcpProxy::start("127.0.0.1:5432").await;
    let proxied = app
        .db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let env = worker_env(&app, &proxied, &vhost);
    let worker = Process::spawn("worker", &["worker"], &env);
    let send = |id: &'static str, email: &'static str| {
        let body = stripe_customer_event(id, "customer.created", email, "Out Age", now_secs());
        let app = &app;
        let integration = integration.clone();
        async move {
            let (status, answer) = app.send_stripe(&integration, &body).await;
            assert_eq!(status, 202, "{answer}");
            answer["id"].as_str().unwrap().to_owned()
        }
    };

    // A short outage: the delivery is retried and applied once the database is back.
    send("evt_1Warmup", "warmup@example.com").await;
    app.wait_for_contact("warmup@example.com", WAIT).await;
    proxy.cut().await;
    let brief = send("evt_1Brief", "brief@example.com").await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.restore();
    app.wait_for_contact("brief@example.com", WAIT).await;
    let row = app.wait_for_outcome(&brief, WAIT).await;
    assert_eq!(row.status, "processed");
    assert!(row.attempts > 1, "it took retries: {row:?}");

    // A long outage: every attempt fails, the delivery is dead-lettered with its error, and
    // stays safe in the broker until the database is back to archive it.
    proxy.cut().await;
    let long = send("evt_1Long", "long@example.com").await;
    // Six attempts with 300/600 ms between them (and brief in-process retries) fit in 7 s.
    tokio::time::sleep(Duration::from_secs(7)).await;
    proxy.restore();
    let dead = app.wait_for_dead_letter(&long, WAIT).await;
    assert_eq!(dead.attempts, 6, "{dead:?}");
    assert!(
        dead.error
            .starts_with("gave up after 6 attempts: database error"),
        "{}",
        dead.error
    );
    assert!(dead.first_failed_at < dead.last_failed_at);
    assert!(app.find_contacts("long@example.com").await.is_empty());
    let (_, listed) = app.api_get("/api/v1/dead-letters").await;
    assert_eq!(listed[0]["deliveryId"], long.as_str(), "{listed}");

    // The cause is fixed: replay applies it, once, and a second replay finds nothing to do.
    let (code, out) = Process::run(&["dlq", "replay", "--id", &long], &env);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Replayed 1 dead letter"), "{out}");
    app.wait_for_contact("long@example.com", WAIT).await;
    let (code, out) = Process::run(&["dlq", "replay", "--all"], &env);
    assert_eq!(code, Some(0));
    assert!(out.contains("Replayed 0 dead letter"), "{out}");
    let (_, out) = Process::run(&["dlq", "list", "--include-replayed"], &env);
    assert!(out.contains(&dead.id) && out.contains("replayed"), "{out}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(processed(&app).await, 3);
    assert_eq!(app.count(contact::Entity).await, 3);
    assert_eq!(worker.terminate(), Some(0));
    app.stop().await;
}

async fn poison_is_dead_lettered_at_once(options: AppOptions) {
    let app = spawn_app(options).await;
    let integration = app.create_stripe_integration().await;
    // Signed and a Stripe event, but `email` is a number: the mapping cannot read it.
    let body = json!({"id": "evt_1Poison", "object": "event", "type": "customer.created", "created": now_secs(),
        "data": {"object": {"id": "cus_Poison", "object": "customer", "email": 12345, "name": "Poi Son"}}})
    .to_string();
    let (status, answer) = app.send_stripe(&integration, &body).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let dead = app.wait_for_dead_letter(&id, WAIT).await;
    assert_eq!(dead.attempts, 1, "dead-lettered at once, not retried");
    assert!(
        dead.error
            .starts_with("Body is not a Stripe event: invalid type"),
        "{}",
        dead.error
    );
    app.wait_for_log_status(&id, "dead", WAIT).await;
    let (_, listed) = app.api_get("/api/v1/dead-letters").await;
    assert_eq!(listed[0]["eventType"], "customer.created");
    assert_eq!(listed[0]["attempts"], 1);

    // A replay goes through the normal path: still poison, so it dies again (no loop).
    let (status, replayed) = app
        .api_post("/api/v1/dead-letters/replay", json!({"ids": [dead.id]}))
        .await;
    assert_eq!(
        (status, replayed["replayed"].as_u64()),
        (200, Some(1)),
        "{replayed}"
    );
    eventually(WAIT, "dead again after the replay", || async {
        dead_letter::Entity::find_by_id(dead.id.clone())
            .one(&app.services.db)
            .await
            .unwrap()
            .is_some_and(|d| d.replayed_at.is_none() && d.dead_at > dead.dead_at)
    })
    .await;
    assert_eq!(app.count(contact::Entity).await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_at_once_rabbitmq() {
    poison_is_dead_lettered_at_once(AppOptions::production()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_message_is_dead_lettered_at_once_embedded() {
    poison_is_dead_lettered_at_once(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_queue_retries_after_a_delay_dead_letters_and_replays_once() {
    let mut options = AppOptions::embedded_sqlite();
    options.worker = false;
    let app = spawn_app(options).await;
    let integration = app.create_stripe_integration().await;
    let body = stripe_customer_event(
        "evt_1EmbeddedRetry",
        "customer.created",
        "embedded@example.com",
        "Em Bed",
        now_secs(),
    );
    let (status, answer) = app.send_stripe(&integration, &body).await;
    assert_eq!(status, 202, "{answer}");

    // Taken, failed: it comes back only after the delay, as attempt 2, with its first failure.
    let mut consumer = app.services.queue.consume(8).await.unwrap();
    let first = consumer.next().await.unwrap().unwrap();
    assert_eq!((first.attempt, first.first_failed_at_ms), (1, None));
    let failed_at = std::time::Instant::now();
    first
        .retry_later(
            Duration::from_millis(800),
            "database error: connection refused",
        )
        .await
        .unwrap();
    let second = consumer.next().await.unwrap().unwrap();
    assert!(
        failed_at.elapsed() >= Duration::from_millis(700),
        "came back after {:?}",
        failed_at.elapsed()
    );
    assert_eq!(second.attempt, 2);
    assert!(second.first_failed_at_ms.is_some());

    // Failed for good: stored with its error and attempts, and gone from the queue.
    second
        .dead_letter("gave up after 2 attempts: database error: connection refused")
        .await
        .unwrap();
    consumer.close().await;
    assert_eq!(app.services.queue.depth().await.unwrap(), 0);
    let dead = app
        .wait_for_dead_letter(answer["id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(dead.attempts, 2);
    assert!(dead.error.contains("connection refused"));
    assert!(app.find_contacts("embedded@example.com").await.is_empty());

    // Replayed with the CLI, applied once by a worker; a second replay finds nothing.
    let env = vec![
        ("INLET_DATABASE_URL", app.db.url.clone()),
        ("RUST_LOG", "error".to_owned()),
    ];
    let (code, out) = Process::run(&["dlq", "replay", "--integration", &integration], &env);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Replayed 1 dead letter"), "{out}");
    let db = app.db.clone();
    app.stop().await;
    let mut options = AppOptions::embedded_sqlite();
    options.db = Some(db);
    let worker = spawn_app(options).await;
    worker.wait_for_contact("embedded@example.com", WAIT).await;
    let (code, out) = Process::run(&["dlq", "replay", "--all"], &env);
    assert_eq!(code, Some(0));
    assert!(out.contains("Replayed 0 dead letter"), "{out}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(processed(&worker).await, 1);
    worker.stop().await;
}
