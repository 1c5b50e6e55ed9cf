//! Worker reliability against real PostgreSQL and RabbitMQ, with workers as real processes:
//! SIGKILL and SIGTERM mid-burst, competing workers, a database outage (through a proxy the
//! test cuts), dead letters and their replay, poison messages, and the ordering guard.

use std::time::Duration;

use futures_util::StreamExt;
use inlet_shared::db::entities::{contact, contact_event, dead_letter, processed_delivery};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use crate::helpers::*;
use crate::processes::Process;
use crate::proxy::TcpProxy;

const WAIT: Duration = Duration::from_secs(30);
const BURST: usize = 2000;

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

async fn wait_for_dead_letter(app: &TestApp, delivery_id: &str) -> dead_letter::Model {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let found = dead_letter::Entity::find()
            .filter(dead_letter::Column::DeliveryId.eq(delivery_id))
            .one(&app.services.db)
            .await
            .unwrap();
        if let Some(found) = found {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{delivery_id} was not dead-lettered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_killed_mid_burst_then_replaced_applies_every_event_once() {
    let (app, vhost) = ingest_only().await;
    let integration = app.create_stripe_integration().await;
    send_burst(&app, &integration, "kill", BURST).await;
    let env = worker_env(&app, &app.db.url, &vhost);
    let first = Process::spawn("worker", &["worker"], &env);
    eventually(WAIT, "the first worker to be busy", || async {
        processed(&app).await >= 200
    })
    .await;
    first.kill();
    let done_before = processed(&app).await;
    assert!(
        done_before < BURST as u64,
        "the kill came after the burst was done; nothing was proven"
    );
    let second = Process::spawn("worker", &["worker"], &env);
    assert_exactly_once(&app, BURST).await;
    assert_eq!(second.terminate(), Some(0));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_on_one_queue_apply_every_event_once() {
    let (app, vhost) = ingest_only().await;
    let integration = app.create_stripe_integration().await;
    let env = worker_env(&app, &app.db.url, &vhost);
    let workers: Vec<Process> = (0..3)
        .map(|_| Process::spawn("worker", &["worker"], &env))
        .collect();
    send_burst(&app, &integration, "three", BURST).await;
    assert_exactly_once(&app, BURST).await;
    for worker in workers {
        assert_eq!(worker.terminate(), Some(0));
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_burst_exits_zero_and_loses_nothing() {
    let (app, vhost) = ingest_only().await;
    let integration = app.create_stripe_integration().await;
    send_burst(&app, &integration, "term", BURST).await;
    let env = worker_env(&app, &app.db.url, &vhost);
    let first = Process::spawn("worker", &["worker"], &env);
    eventually(WAIT, "the worker to be busy", || async {
        processed(&app).await >= 200
    })
    .await;
    assert_eq!(first.terminate(), Some(0), "exit code after SIGTERM");
    assert!(
        processed(&app).await < BURST as u64,
        "SIGTERM came after the burst was done; nothing was proven"
    );
    let second = Process::spawn("worker", &["worker"], &env);
    assert_exactly_once(&app, BURST).await;
    assert_eq!(second.terminate(), Some(0));
    app.stop().await;
}

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
    let dead = wait_for_dead_letter(&app, &long).await;
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
    let dead = wait_for_dead_letter(&app, &id).await;
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
async fn older_events_never_overwrite_newer_ones_nor_resurrect_deleted_contacts() {
    let app = spawn_app(AppOptions::production()).await;
    let created = app
        .create_integration(
            json!({"provider": "stripe", "name": "Order", "signingSecrets": [STRIPE_SECRET],
            "events": {"customer.deleted": {"onDelete": "delete"}}}),
        )
        .await;
    let integration = created["id"].as_str().unwrap().to_owned();
    let t0 = now_secs() - 100;
    let email = "order@example.com";
    let send = |n: u32, kind: &'static str, name: &'static str, at: i64| {
        let body = stripe_customer_event(&format!("evt_1Order{n}"), kind, email, name, at);
        let app = &app;
        let integration = integration.clone();
        async move {
            let (status, answer) = app.send_stripe(&integration, &body).await;
            assert_eq!(status, 202, "{answer}");
            app.wait_for_outcome(answer["id"].as_str().unwrap(), WAIT)
                .await
        }
    };
    send(1, "customer.created", "Ada First", t0).await;
    send(2, "customer.updated", "Ada Newest", t0 + 20).await;
    let late = send(3, "customer.updated", "Ada Older", t0 + 10).await;
    assert!(late.message.contains("newer change"), "{}", late.message);
    assert_eq!(app.find_contacts(email).await[0]["lastName"], "Newest");

    send(4, "customer.deleted", "Ada Newest", t0 + 30).await;
    assert!(app.find_contacts(email).await.is_empty(), "deleted");
    let stale = send(5, "customer.updated", "Ada Stale", t0 + 25).await;
    assert_eq!(stale.status, "ignored");
    assert!(stale.message.contains("deleted"), "{}", stale.message);
    assert!(
        app.find_contacts(email).await.is_empty(),
        "a stale event must not resurrect the contact"
    );

    send(6, "customer.created", "Ada Again", t0 + 40).await;
    assert_eq!(
        app.find_contacts(email).await[0]["lastName"],
        "Again",
        "a newer creation brings it back"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_queue_declares_its_delivery_limit_and_dead_letter_target() {
    let vhost = TestVhost::new().await;
    let mut options = AppOptions::production();
    options.vhost = Some(vhost.clone());
    let app = spawn_app(options).await;
    let url = format!(
        "http://guest:guest@127.0.0.1:15672/api/queues/{}/inlet.webhooks",
        vhost.name
    );
    let queue: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let args = &queue["arguments"];
    assert_eq!(args["x-queue-type"], "quorum");
    // The broker's limit is a backstop behind the consumer's own (see the next test).
    assert_eq!(
        args["x-delivery-limit"],
        inlet_shared::queue::rabbitmq::BROKER_DELIVERY_LIMIT
    );
    assert_eq!(args["x-dead-letter-exchange"], "inlet.dead-letters");
    assert_eq!(queue["durable"], true);
    app.stop().await;
}

/// A message that keeps coming back without being settled (a worker dying on it, again and
/// again) is moved to the dead letters by the consumer, with a publisher confirm before the
/// ack, once it has been given back `DELIVERY_LIMIT` times; it is not handed out again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_given_back_too_often_goes_to_the_dead_letters() {
    use inlet_shared::queue::rabbitmq::DELIVERY_LIMIT;
    let vhost = TestVhost::new().await;
    let queue = test_queue(&vhost).await;
    publish_test_messages(&queue, 1..=1).await;
    let mut consumer = queue.consume(4).await.unwrap();
    let limit = u32::try_from(DELIVERY_LIMIT).unwrap();
    for returned in 0..limit {
        let delivery = next(&mut consumer).await;
        assert_eq!(delivery.message.delivery_id, "wh_ack1");
        assert_eq!(
            delivery.attempt,
            returned + 1,
            "redeliveries count as attempts"
        );
        delivery.release().await.unwrap();
    }
    let again = tokio::time::timeout(Duration::from_millis(700), consumer.next()).await;
    assert!(again.is_err(), "handed out after {limit} returns");
    consumer.close().await;

    let mut dead = queue
        .consume_dead_letters()
        .await
        .unwrap()
        .expect("RabbitMQ");
    let letter = tokio::time::timeout(Duration::from_secs(10), dead.next())
        .await
        .expect("a dead letter")
        .expect("not cancelled")
        .expect("readable");
    assert_eq!(letter.record.message.delivery_id, "wh_ack1");
    assert_eq!(letter.record.attempts, limit + 1);
    assert!(
        letter
            .record
            .error
            .contains(&format!("redelivered {limit} times")),
        "{}",
        letter.record.error
    );
    letter.ack().await.unwrap();
    assert_eq!(queue.depth().await.unwrap(), 0);
}

/// A work queue an earlier version declared with at-least-once dead-lettering cannot take
/// the current arguments (a queue's arguments never change). Inlet keeps it as it is:
/// publishing and consuming work, and the queue still has its old arguments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_queue_declared_by_an_earlier_version_is_kept() {
    let vhost = TestVhost::new().await;
    let url = format!(
        "{}/api/queues/{}/inlet.webhooks",
        rabbit_management(),
        vhost.name
    );
    let client = reqwest::Client::new();
    let created = client
        .put(&url)
        .json(&json!({
            "durable": true,
            "arguments": {
                "x-queue-type": "quorum",
                "x-dead-letter-exchange": "inlet.dead-letters",
                "x-dead-letter-routing-key": "webhook",
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
                "x-delivery-limit": 20
            }
        }))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());

    let queue = test_queue(&vhost).await;
    publish_test_messages(&queue, 1..=2).await;
    let mut consumer = queue.consume(4).await.unwrap();
    let first = next(&mut consumer).await;
    let second = next(&mut consumer).await;
    assert_eq!(
        [&first.message.delivery_id, &second.message.delivery_id],
        ["wh_ack1", "wh_ack2"]
    );
    inlet_shared::queue::Delivery::ack_all(vec![first, second])
        .await
        .unwrap();
    consumer.close().await;
    assert_eq!(queue.depth().await.unwrap(), 0);

    let kept: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(kept["arguments"]["x-dead-letter-strategy"], "at-least-once");
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
    let dead = wait_for_dead_letter(&app, answer["id"].as_str().unwrap()).await;
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

/// A backlog is applied in batches (one transaction each, a savepoint per delivery): a
/// poison delivery in the middle of one dies alone, at once, and the rest of its batch —
/// including a resend of an event already in the batch — applies exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_delivery_in_a_batch_dies_alone_and_the_rest_applies_once() {
    let (app, vhost) = ingest_only().await;
    let integration = app.create_stripe_integration().await;
    send_burst(&app, &integration, "before", 40).await;
    let poison = json!({"id": "evt_1PoisonBatch", "object": "event", "type": "customer.created", "created": now_secs(),
        "data": {"object": {"id": "cus_PoisonBatch", "object": "customer", "email": 12345, "name": "Poi Son"}}})
    .to_string();
    let (status, answer) = app.send_stripe(&integration, &poison).await;
    assert_eq!(status, 202, "{answer}");
    let poison_id = answer["id"].as_str().unwrap().to_owned();
    // The same event as one already queued: a duplicate inside the backlog.
    let again = stripe_customer_event(
        "evt_before00007",
        "customer.created",
        "before00007@example.com",
        "Bur St",
        now_secs(),
    );
    assert_eq!(app.send_stripe(&integration, &again).await.0, 202);
    send_burst(&app, &integration, "after", 40).await;

    // The worker starts on the whole backlog, so its deliveries arrive together.
    let env = worker_env(&app, &app.db.url, &vhost);
    let worker = Process::spawn("worker", &["worker"], &env);
    assert_exactly_once(&app, 80).await;
    let dead = wait_for_dead_letter(&app, &poison_id).await;
    assert_eq!(dead.attempts, 1, "dead at once, not retried");
    assert_eq!(worker.terminate(), Some(0));
    let (_, duplicates) = app.api_get("/api/v1/webhook-events?status=duplicate").await;
    assert_eq!(
        duplicates["data"].as_array().unwrap().len(),
        1,
        "{duplicates}"
    );
    app.stop().await;
}

/// `INLET_WORKER_BATCH` bounds a transaction: with batches of at most 2, every one of a
/// backlog of 20 deliveries goes in a transaction of at most 2 (with the default, the
/// worker starting on the whole backlog takes most of it in one), and applies once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_applies_at_most_its_batch_size_per_transaction() {
    let (app, vhost) = ingest_only().await;
    let integration = app.create_stripe_integration().await;
    send_burst(&app, &integration, "bounded", 20).await;
    let port = crate::processes::free_port();
    let mut env = worker_env(&app, &app.db.url, &vhost);
    env.retain(|(k, _)| !matches!(*k, "INLET_WORKER_LISTEN" | "INLET_WORKER_CONCURRENCY"));
    env.push(("INLET_WORKER_BATCH", "2".into()));
    env.push(("INLET_WORKER_CONCURRENCY", "1".into()));
    env.push(("INLET_WORKER_LISTEN", format!("127.0.0.1:{port}")));
    let worker = Process::spawn("worker", &["worker"], &env);
    assert_exactly_once(&app, 20).await;
    let metrics = worker_metrics(port).await;
    // The batch-size histogram: every delivery counted, none in a batch over 2.
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in:\n{metrics}"))
    };
    let deliveries = value("inlet_worker_batch_size_sum");
    let batches = value("inlet_worker_batch_size_count");
    let at_most_two = value("inlet_worker_batch_size_bucket{le=\"2.0\"}");
    assert_eq!(deliveries, 20.0, "{metrics}");
    assert_eq!(at_most_two, batches, "a batch over 2:\n{metrics}");
    assert_eq!(worker.terminate(), Some(0));
    app.stop().await;
}

/// A backlog where deliveries depend on earlier ones of the same batch — an update after
/// a create, a subscription found through the customer id a create just linked, a stale
/// update, a deletion and a resurrection attempt, a duplicate — ends exactly as applying
/// them one at a time would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sees_its_own_earlier_writes() {
    use inlet_shared::providers::Provider;
    use inlet_shared::providers::samples::Person;
    let (app, vhost) = ingest_only().await;
    let created = app
        .create_integration(
            json!({"provider": "stripe", "name": "batch", "signingSecrets": [STRIPE_SECRET],
            "events": {"customer.deleted": {"onDelete": "delete"}}}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let t = now_secs() - 100;
    let person = |email, first_name, last_name, id| Person {
        email,
        first_name,
        last_name,
        id,
    };
    let ann = |last| person("ann@example.com", "Ann", last, "cus_BatchAnn");
    let bob = |last| person("bob@example.com", "Bob", last, "cus_BatchBob");
    let cy = |last| person("cy@example.com", "Cy", last, "cus_BatchCy");
    let mut sent = Vec::new();
    for (event_type, who, at) in [
        ("customer.created", ann("One"), t),
        ("customer.updated", ann("Three"), t + 3),
        ("customer.updated", ann("Late"), t + 2),
        ("customer.subscription.created", ann("Three"), t + 4),
        ("customer.created", bob("New"), t + 5),
        ("customer.updated", bob("Old"), t + 3),
        ("customer.created", cy("One"), t),
        ("customer.deleted", cy("One"), t + 1),
        ("customer.created", cy("Again"), t),
        ("customer.created", cy("Back"), t + 2),
    ] {
        let (status, answer) = app
            .send_sample(&id, Provider::Stripe, STRIPE_SECRET, event_type, &who, at)
            .await;
        assert_eq!(status, 202, "{answer}");
        sent.push(answer["id"].as_str().unwrap().to_owned());
    }
    let dave = stripe_customer_event(
        "evt_BatchDave",
        "customer.created",
        "dave@example.com",
        "Dave Twice",
        t,
    );
    for _ in 0..2 {
        let (status, answer) = app.send_stripe(&id, &dave).await;
        assert_eq!(status, 202, "{answer}");
        sent.push(answer["id"].as_str().unwrap().to_owned());
    }

    // One transaction at a time, so the outcome cannot depend on how the backlog splits.
    let mut env = worker_env(&app, &app.db.url, &vhost);
    env.retain(|(k, _)| *k != "INLET_WORKER_CONCURRENCY" && *k != "INLET_PREFETCH");
    env.push(("INLET_WORKER_CONCURRENCY", "1".into()));
    env.push(("INLET_PREFETCH", "64".into()));
    let outcomes = apply_in_set_batches(&app, &env, &sent).await;
    let statuses: Vec<&str> = outcomes.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        [
            "processed",
            "processed",
            "processed",
            "processed",
            "processed",
            "processed",
            "processed",
            "processed",
            "ignored",
            "processed",
            "processed",
            "duplicate"
        ],
        "{outcomes:#?}"
    );
    assert!(outcomes[2].1.contains("newer change"), "{outcomes:#?}");
    assert!(outcomes[5].1.contains("newer change"), "{outcomes:#?}");
    assert!(outcomes[8].1.contains("was deleted"), "{outcomes:#?}");

    let ann = app.wait_for_contact("ann@example.com", WAIT).await;
    assert_eq!(
        ann["lastName"], "Three",
        "the update after the create applied, the older one after it did not"
    );
    let names = app.contact_event_names(ann["id"].as_str().unwrap()).await;
    assert_eq!(
        names,
        [
            "stripe:customer.created",
            "stripe:customer.updated",
            "stripe:customer.updated",
            "stripe:customer.subscription.created"
        ],
        "the subscription found Ann through the customer id linked in the same batch"
    );
    let bob = app.wait_for_contact("bob@example.com", WAIT).await;
    assert_eq!(bob["lastName"], "New", "the older update changed nothing");
    let cy = app.wait_for_contact("cy@example.com", WAIT).await;
    assert_eq!(
        cy["lastName"], "Back",
        "only the newer create brought Cy back"
    );
    assert_eq!(
        app.contact_event_names(cy["id"].as_str().unwrap()).await,
        ["stripe:customer.created"],
        "the deleted contact's events went with it"
    );
    assert_eq!(app.find_contacts("dave@example.com").await.len(), 1);
    assert_eq!(processed(&app).await, 11, "one claim per distinct event");

    // A later batch reads the customer links the first one committed: subscriptions name
    // only the customer id, so each is found through its stored link (or is not known).
    let nobody = person("nobody@example.com", "No", "Body", "cus_BatchNobody");
    let mut later = Vec::new();
    for who in [
        person("ann@example.com", "Ann", "Three", "cus_BatchAnn"),
        person("bob@example.com", "Bob", "New", "cus_BatchBob"),
        nobody,
    ] {
        let (status, answer) = app
            .send_sample(
                &id,
                Provider::Stripe,
                STRIPE_SECRET,
                "customer.subscription.paused",
                &who,
                t + 6,
            )
            .await;
        assert_eq!(status, 202, "{answer}");
        later.push(answer["id"].as_str().unwrap().to_owned());
    }
    let outcomes = apply_in_set_batches(&app, &env, &later).await;
    let statuses: Vec<&str> = outcomes.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["processed", "processed", "ignored"],
        "{outcomes:#?}"
    );
    assert!(outcomes[2].1.contains("not known yet"), "{outcomes:#?}");
    for (email, contact) in [("ann@example.com", &ann), ("bob@example.com", &bob)] {
        let names = app
            .contact_event_names(contact["id"].as_str().unwrap())
            .await;
        assert_eq!(
            names.last().map(String::as_str),
            Some("stripe:customer.subscription.paused"),
            "{email}: {names:?}"
        );
    }
    app.stop().await;
}

/// Acks after a batch's commit go to RabbitMQ as one `multiple` ack, but never over a
/// delivery still in hand: here the first delivery is given back (requeued) after the two
/// after it were acked, and it comes again; the two acked ones never do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_ack_never_covers_an_earlier_delivery_still_in_hand() {
    use inlet_shared::queue::Delivery;
    let vhost = TestVhost::new().await;
    let queue = test_queue(&vhost).await;
    publish_test_messages(&queue, 1..=3).await;
    let mut consumer = queue.consume(100).await.unwrap();
    let first = next(&mut consumer).await;
    let second = next(&mut consumer).await;
    let third = next(&mut consumer).await;
    assert_eq!(first.message.delivery_id, "wh_ack1");
    Delivery::ack_all(vec![second, third]).await.unwrap();
    // Had the ack of the batch covered the first delivery too, giving it back would fail
    // (the broker no longer knows its tag) and it would be lost.
    first.release().await.unwrap();
    let again = next(&mut consumer).await;
    assert_eq!(again.message.delivery_id, "wh_ack1");
    assert!(again.attempt >= 1);
    again.ack().await.unwrap();
    consumer.close().await;

    // Everything was settled: a new consumer gets nothing.
    let mut consumer = queue.consume(10).await.unwrap();
    let extra = tokio::time::timeout(Duration::from_millis(700), consumer.next()).await;
    assert!(extra.is_err(), "an acked delivery came again");
    consumer.close().await;
}

/// The consumer's next delivery, within 10 s.
async fn next(consumer: &mut inlet_shared::queue::Consumer) -> inlet_shared::queue::Delivery {
    tokio::time::timeout(Duration::from_secs(10), consumer.next())
        .await
        .expect("a delivery")
        .expect("not cancelled")
        .expect("no error")
}

/// Runs a worker (with `env`) until these deliveries have outcomes, and returns them
/// (status, message) in order. Every batch must have taken the set path: the in-memory
/// view answered each later delivery (a stale view would have failed the set path into
/// the savepoint one).
async fn apply_in_set_batches(
    app: &TestApp,
    env: &[(&'static str, String)],
    deliveries: &[String],
) -> Vec<(String, String)> {
    let port = crate::processes::free_port();
    let mut env = env.to_vec();
    env.retain(|(k, _)| *k != "INLET_WORKER_LISTEN");
    env.push(("INLET_WORKER_LISTEN", format!("127.0.0.1:{port}")));
    let worker = Process::spawn("worker", &["worker"], &env);
    let mut outcomes = Vec::new();
    for delivery in deliveries {
        let row = app.wait_for_outcome(delivery, WAIT).await;
        outcomes.push((row.status, row.message));
    }
    let metrics = worker_metrics(port).await;
    assert!(
        metrics.contains("inlet_worker_batches_total{path=\"set\"}")
            && !metrics.contains("path=\"savepoints\"")
            && !metrics.contains("path=\"single\""),
        "{metrics}"
    );
    assert_eq!(worker.terminate(), Some(0));
    outcomes
}

/// The metrics of a worker serving them on `port` (`INLET_WORKER_LISTEN`).
async fn worker_metrics(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Acks held back behind a slow delivery count against the prefetch: once three quarters
/// of it wait (or the holder has been in hand for 100 ms), they go one by one, so the
/// broker keeps pushing. Here the prefetch is 4 and the first delivery is held while three
/// are acked behind it: the fifth and sixth still arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_delivery_does_not_stop_the_broker_pushing() {
    use inlet_shared::queue::Delivery;
    let vhost = TestVhost::new().await;
    let queue = test_queue(&vhost).await;
    publish_test_messages(&queue, 1..=6).await;
    let mut consumer = queue.consume(4).await.unwrap();
    let slow = next(&mut consumer).await;
    let mut others = Vec::new();
    for _ in 0..3 {
        others.push(next(&mut consumer).await);
    }
    Delivery::ack_all(others).await.unwrap();
    let fifth = next(&mut consumer).await;
    let sixth = next(&mut consumer).await;
    assert_eq!(
        [&fifth.message.delivery_id, &sixth.message.delivery_id],
        ["wh_ack5", "wh_ack6"]
    );
    Delivery::ack_all(vec![fifth, sixth, slow]).await.unwrap();
    consumer.close().await;
    let mut consumer = queue.consume(10).await.unwrap();
    let extra = tokio::time::timeout(Duration::from_millis(700), consumer.next()).await;
    assert!(extra.is_err(), "an acked delivery came again");
    consumer.close().await;
}

/// A RabbitMQ queue on the test's vhost.
async fn test_queue(vhost: &TestVhost) -> inlet_shared::queue::Queue {
    use inlet_shared::queue::rabbitmq::RabbitQueue;
    inlet_shared::queue::Queue::Rabbit(
        RabbitQueue::connect(vhost.amqp_url.clone().into(), vec![Duration::from_secs(1)])
            .await
            .expect("RabbitMQ is required at 127.0.0.1:5672"),
    )
}

/// Publishes messages `wh_ack{n}` for these n, in order.
async fn publish_test_messages(
    queue: &inlet_shared::queue::Queue,
    ns: std::ops::RangeInclusive<u32>,
) {
    for n in ns {
        queue
            .publish(&inlet_shared::queue::QueueMessage {
                delivery_id: format!("wh_ack{n}"),
                integration_id: "int_ack".into(),
                provider: inlet_shared::providers::Provider::Stripe,
                event_type: "customer.created".into(),
                idempotency_key: format!("evt_ack{n}"),
                received_at_ms: 0,
                body: b"{}".to_vec().into(),
            })
            .await
            .unwrap();
    }
}
