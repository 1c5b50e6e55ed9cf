//! Hostile but authenticated senders, on PostgreSQL and RabbitMQ: validly signed deliveries
//! carrying values no platform sends get a clear answer, keep what they carry within what
//! the queue and the database hold, and leave the application serving.

use std::time::Duration;

use inlet_shared::db::entities::webhook_log;
use inlet_shared::providers::samples::{self, Person};
use inlet_shared::providers::{MAX_EVENT_TYPE_BYTES, Provider};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);
const CLERK_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

async fn clerk_integration(app: &TestApp) -> String {
    let created = app
        .create_integration(json!({
            "provider": "clerk", "name": "Clerk hostile", "signingSecrets": [CLERK_SECRET]
        }))
        .await;
    created["id"].as_str().expect("id").to_owned()
}

/// Posts `body` signed as Svix signs it, with `message_id` as the `svix-id`.
async fn post_clerk(
    app: &TestApp,
    id: &str,
    body: &str,
    message_id: &str,
) -> (u16, serde_json::Value) {
    let headers =
        samples::sign(Provider::Clerk, CLERK_SECRET, body, now_secs(), message_id).expect("sign");
    let headers: Vec<(&str, String)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    app.post_webhook(id, body.as_bytes(), &headers).await
}

async fn log_row(app: &TestApp, delivery_id: &str) -> webhook_log::Model {
    webhook_log::Entity::find_by_id(delivery_id.to_owned())
        .one(&app.services.db)
        .await
        .expect("query")
        .expect("logged")
}

/// A 400-character `svix-id` is longer than an AMQP `message_id` may be. The delivery is
/// signed, so it is accepted (202) with the id's SHA-256 as its idempotency key: a retry is
/// still a duplicate, and ingest goes on serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_clerk_delivery_with_a_400_character_id_is_accepted_and_ingest_keeps_serving() {
    let app = spawn_app(AppOptions::production()).await;
    let id = clerk_integration(&app).await;
    let who = Person {
        email: "long-id@example.com",
        first_name: "Lon",
        last_name: "Gid",
        id: "user_2LongId0001",
    };
    let body = samples::sample(Provider::Clerk, "user.created", &who, now_secs()).expect("sample");
    let long_id = format!("msg_{}", "L".repeat(396));
    assert_eq!(long_id.len(), 400);

    let (status, answer) = post_clerk(&app, &id, &body, &long_id).await;
    assert_eq!(status, 202, "{answer}");
    let first = answer["id"].as_str().expect("delivery id").to_owned();
    let row = app.wait_for_outcome(&first, WAIT).await;
    assert_eq!(row.status, "processed", "{}", row.message);
    let key = row.idempotency_key.expect("key");
    assert!(key.starts_with("sha256:") && key.len() == 71, "{key}");
    let contact = app.wait_for_contact(who.email, WAIT).await;
    assert_eq!(contact["userId"], who.id);

    // The sender retries the same delivery: the same key, so it changes nothing.
    let (status, answer) = post_clerk(&app, &id, &body, &long_id).await;
    assert_eq!(status, 202, "{answer}");
    let again = app
        .wait_for_outcome(answer["id"].as_str().expect("delivery id"), WAIT)
        .await;
    assert_eq!(again.status, "duplicate", "{}", again.message);
    assert_eq!(again.idempotency_key.as_deref(), Some(key.as_str()));

    // The next ordinary delivery is served as usual.
    let (status, answer) = app
        .send_sample(
            &id,
            Provider::Clerk,
            CLERK_SECRET,
            "user.updated",
            &who,
            now_secs(),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let row = app
        .wait_for_outcome(answer["id"].as_str().expect("delivery id"), WAIT)
        .await;
    assert_eq!(row.status, "processed", "{}", row.message);
    assert!(row.idempotency_key.is_some_and(|k| k.starts_with("msg_")));
    app.stop().await;
}

/// An unsupported event type with a NUL (which PostgreSQL text cannot hold) and 10 000
/// characters is ignored with a 200 like any unsupported type, and logged shortened and
/// printable: its log row, and those written in the same batch, are not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_event_type_is_ignored_and_logged_printable() {
    let app = spawn_app(AppOptions::production()).await;
    let id = clerk_integration(&app).await;
    let hostile = format!("user.\u{0}created{}", "\u{202e}x".repeat(5_000));
    let body = json!({"type": hostile, "object": "event", "data": {"id": "user_1"}}).to_string();
    let (status, answer) = post_clerk(&app, &id, &body, "msg_hostile_type").await;
    assert_eq!(status, 200, "{answer}");
    let message = answer["message"].as_str().expect("message");
    assert!(
        message.starts_with("Ignored: user.\u{fffd}created"),
        "{message}"
    );
    assert!(
        message.ends_with("is not a supported Clerk event."),
        "{message}"
    );
    let ignored = answer["id"].as_str().expect("delivery id").to_owned();

    // An ordinary delivery right after it, likely in the same log batch.
    let who = Person {
        email: "after-hostile@example.com",
        first_name: "Af",
        last_name: "Ter",
        id: "user_2After0001",
    };
    let (status, answer) = app
        .send_sample(
            &id,
            Provider::Clerk,
            CLERK_SECRET,
            "user.created",
            &who,
            now_secs(),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let processed = answer["id"].as_str().expect("delivery id").to_owned();

    app.wait_for_log_status(&ignored, "ignored", WAIT).await;
    let row = log_row(&app, &ignored).await;
    let logged = row.event_type.expect("event type");
    assert!(logged.len() <= MAX_EVENT_TYPE_BYTES, "{}", logged.len());
    assert!(!logged.contains('\u{0}'));
    assert!(
        logged.starts_with("user.\u{fffd}created\u{202e}x"),
        "{logged}"
    );
    assert_eq!(
        app.wait_for_outcome(&processed, WAIT).await.status,
        "processed"
    );
    app.stop().await;
}
