//! Panic isolation and the attempt limit, in embedded and production mode: a delivery that
//! panics while it is applied dies alone into the dead letters while the rest of its batch
//! applies and the worker keeps consuming; a delivery whose earlier attempts were cut short
//! (its handler dropped it) comes back and, past the attempt limit, is dead-lettered when
//! it is taken, without being tried again; a workflow step that panics fails only its run.

use std::time::Duration;

use futures_util::StreamExt;
use inlet_shared::db::entities::{contact, processed_delivery};
use inlet_shared::isolate::PANIC_MARKER;
use inlet_shared::providers::Provider;
use inlet_shared::providers::samples::{self, Person};
use inlet_shared::queue::{Delivery, RetryPolicy};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);

fn without_worker(mut options: AppOptions, vars: &[(&str, &str)]) -> AppOptions {
    options.worker = false;
    options
        .vars
        .extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    options
}

/// A Supabase integration; returns (id, the generated secret).
async fn supabase(app: &TestApp) -> (String, String) {
    let created = app
        .create_integration(json!({"provider": "supabase", "name": "Supabase test"}))
        .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let secret = created["secretHeader"]["value"]
        .as_str()
        .expect("generated secret")
        .to_owned();
    (id, secret)
}

/// Posts a signed Supabase `auth.users.insert` whose record `change` edits; returns the
/// delivery id.
async fn send_supabase(
    app: &TestApp,
    (id, secret): &(String, String),
    email: &str,
    change: impl FnOnce(&mut Value),
) -> String {
    let now = now_secs();
    let person = Person {
        email,
        first_name: "Sue",
        last_name: "Base",
        id: &uuid::Uuid::new_v4().to_string(),
    };
    let body = samples::sample(Provider::Supabase, "auth.users.insert", &person, now).unwrap();
    let mut body: Value = serde_json::from_str(&body).unwrap();
    change(&mut body["record"]);
    let body = body.to_string();
    let headers = samples::sign(Provider::Supabase, secret, &body, now, "unused").unwrap();
    let headers: Vec<(&str, String)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let (status, answer) = app.post_webhook(id, body.as_bytes(), &headers).await;
    assert_eq!(status, 202, "{answer}");
    answer["id"].as_str().unwrap().to_owned()
}

async fn send_customers(app: &TestApp, integration: &str, prefix: &str, n: usize) {
    let now = now_secs();
    let statuses: Vec<u16> = futures_util::stream::iter(0..n)
        .map(|i| {
            let body = stripe_customer_event(
                &format!("evt_{prefix}{i:03}"),
                "customer.created",
                &format!("{prefix}{i:03}@example.com"),
                "Good Customer",
                now,
            );
            async move { app.send_stripe(integration, &body).await.0 }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
}

/// Takes `n` deliveries from the queue, exactly as the worker's consumer hands them out.
async fn take(app: &TestApp, n: usize) -> (inlet_shared::queue::Consumer, Vec<Delivery>) {
    let mut consumer = app.services.queue.consume(512).await.unwrap();
    let mut taken = Vec::with_capacity(n);
    while taken.len() < n {
        let next = tokio::time::timeout(WAIT, consumer.next())
            .await
            .expect("a delivery in time")
            .expect("not cancelled")
            .expect("no queue error");
        taken.push(next);
    }
    (consumer, taken)
}

fn handler(app: &TestApp) -> inlet_worker::Handler {
    inlet_worker::Handler::new(
        app.services.db.clone(),
        app.services.cache.clone(),
        app.services.metrics.clone(),
        RetryPolicy::from_config(&app.services.config),
    )
}

/// Starts the real worker in-process; cancel the token to stop it.
fn start_worker(app: &TestApp) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let worker = inlet::start_worker(&app.services, shutdown.clone()).unwrap();
    (shutdown, worker)
}

async fn poison_in_a_batch(options: AppOptions) {
    let app = spawn_app(without_worker(options, &[])).await;
    let stripe = app.create_stripe_integration().await;
    let supabase = supabase(&app).await;
    send_customers(&app, &stripe, "before", 50).await;
    // Panics while it is mapped (a fault injected in test builds).
    let poison = send_supabase(&app, &supabase, "poison@example.com", |record| {
        record["raw_user_meta_data"]["first_name"] = json!(PANIC_MARKER);
    })
    .await;
    // The value that made the Supabase mapping panic before it parsed timestamps with
    // `time`: now read as no timestamp (the receive time is used), and applied.
    let multibyte = send_supabase(&app, &supabase, "offset@example.com", |record| {
        record["updated_at"] = json!("2024-05-01T12:34:56+1é1");
    })
    .await;
    send_customers(&app, &stripe, "after", 50).await;

    // One batch of all 102, through the worker's handler.
    let (consumer, batch) = take(&app, 102).await;
    handler(&app).handle_batch(batch).await;
    consumer.close().await;
    // The worker keeps consuming afterwards (and archives RabbitMQ's dead letters).
    let (shutdown, worker) = start_worker(&app);

    let dead = app.wait_for_dead_letter(&poison, WAIT).await;
    assert!(
        dead.error
            .contains("panicked at shared/store/src/isolate.rs:")
            && dead.error.contains("fault injected for a test"),
        "{}",
        dead.error
    );
    assert_eq!(dead.attempts, 1, "dead at once, not retried");
    assert!(app.dead_letter_of(&multibyte).await.is_none());
    assert_eq!(
        app.count(processed_delivery::Entity).await,
        101,
        "the rest applied"
    );
    assert_eq!(app.count(contact::Entity).await, 101);
    assert_eq!(app.find_contacts("offset@example.com").await.len(), 1);
    app.wait_for_log_status(&poison, "dead", WAIT).await;
    send_customers(&app, &stripe, "later", 3).await;
    app.wait_for_contact("later002@example.com", WAIT).await;
    shutdown.cancel();
    let _ = worker.await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_delivery_dies_alone_and_its_batch_applies_embedded() {
    poison_in_a_batch(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_delivery_dies_alone_and_its_batch_applies_production() {
    poison_in_a_batch(AppOptions::production()).await;
}

/// A handler that dies holding a delivery (here: the delivery dropped unsettled) gives it
/// back, and each such attempt counts: with at most 2 attempts, the third time it is taken
/// it goes to the dead letters without being applied.
async fn cut_short_attempts_end_in_the_dead_letters(options: AppOptions) {
    let app = spawn_app(without_worker(options, &[("INLET_MAX_ATTEMPTS", "2")])).await;
    let stripe = app.create_stripe_integration().await;
    send_customers(&app, &stripe, "crash", 1).await;
    let (consumer, mut first) = take(&app, 1).await;
    let id = first[0].message.delivery_id.clone();
    drop(first.pop());
    let mut consumer = Some(consumer);
    for attempt in 2..=3 {
        let again = tokio::time::timeout(WAIT, consumer.as_mut().unwrap().next())
            .await
            .expect("given back at once, not after a lease")
            .expect("not cancelled")
            .expect("no queue error");
        assert_eq!(again.message.delivery_id, id);
        assert_eq!(
            again.attempt, attempt,
            "a dropped delivery's attempt counts"
        );
        if attempt == 3 {
            handler(&app).handle_batch(vec![again]).await;
            break;
        }
        drop(again);
    }
    consumer.take().unwrap().close().await;
    let (shutdown, worker) = start_worker(&app);
    let dead = app.wait_for_dead_letter(&id, WAIT).await;
    assert!(dead.error.contains("taken 3 times"), "{}", dead.error);
    assert_eq!(dead.attempts, 3);
    assert_eq!(app.count(contact::Entity).await, 0, "not tried again");
    shutdown.cancel();
    let _ = worker.await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_short_attempts_end_in_the_dead_letters_embedded() {
    cut_short_attempts_end_in_the_dead_letters(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_short_attempts_end_in_the_dead_letters_production() {
    cut_short_attempts_end_in_the_dead_letters(AppOptions::production()).await;
}

/// A workflow step that panics (here: rendering a template that carries the injected
/// fault) fails its run into the dead letters; the runner goes on to the next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_workflow_step_fails_only_its_run() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let mut templates = Vec::new();
    for subject in [PANIC_MARKER, "Welcome"] {
        let (status, created) = app
            .api_post(
                "/api/v1/templates",
                json!({"name": subject, "subject": subject, "html": "<p>Hi</p>"}),
            )
            .await;
        assert_eq!(status, 200, "{created}");
        templates.push(created["id"].as_str().unwrap().to_owned());
    }
    for (name, template) in ["boom", "fine"].iter().zip(&templates) {
        let (status, created) = app
            .api_post(
                "/api/v1/workflows",
                json!({"name": name, "trigger": {"type": "event", "eventName": name},
                       "steps": [{"type": "sendEmail", "templateId": template}]}),
            )
            .await;
        assert_eq!(status, 200, "{created}");
    }
    for event in ["boom", "fine"] {
        let (status, answer) = app
            .api_post(
                "/api/v1/events/send",
                json!({"email": format!("{event}@example.com"), "eventName": event}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    eventually(WAIT, "the other run's email sent", || async {
        let (_, sent) = app.api_get("/api/v1/emails?email=fine@example.com").await;
        sent[0]["status"] == "sent"
    })
    .await;
    eventually(WAIT, "the panicking run dead-lettered", || async {
        let (_, dead) = app.api_get("/api/v1/dead-letters").await;
        dead.as_array().is_some_and(|d| {
            d.iter().any(|l| {
                l["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("panicked at") && e.contains("fault injected"))
            })
        })
    })
    .await;
    let (_, emails) = app.api_get("/api/v1/emails?email=boom@example.com").await;
    let emails = emails.as_array().cloned().unwrap_or_default();
    assert!(emails.iter().all(|e| e["status"] != "queued"), "{emails:?}");
    app.stop().await;
}
