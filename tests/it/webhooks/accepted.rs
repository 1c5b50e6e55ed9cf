//! Accepted deliveries: a signed event becomes a contact, the same delivery twice applies
//! once, and event types that are not supported or are turned off are ignored with a 2xx.

use inlet_shared::db::entities::{contact, processed_delivery, queue_message};
use serde_json::json;

use super::WAIT;
use crate::support::*;

async fn customer_created_becomes_a_contact(options: AppOptions) {
    let app = spawn_app(options).await;
    let integration = app.create_stripe_integration().await;
    let body = stripe_customer_event(
        "evt_1CreatedA",
        "customer.created",
        "Ada.Lovelace@Example.com",
        "Ada King Lovelace",
        now_secs(),
    );
    let (status, answer) = app.send_stripe(&integration, &body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["success"], true);
    assert_eq!(
        answer["message"],
        "Accepted customer.created; it will be processed shortly."
    );
    let delivery_id = answer["id"].as_str().expect("delivery id").to_owned();

    let contact = app.wait_for_contact("ada.lovelace@example.com", WAIT).await;
    assert_eq!(contact["email"], "ada.lovelace@example.com");
    assert_eq!(contact["firstName"], "Ada");
    assert_eq!(contact["lastName"], "King Lovelace");
    assert_eq!(contact["source"], "Stripe webhook");
    assert_eq!(contact["subscribed"], true);
    app.wait_for_log_status(&delivery_id, "processed", WAIT)
        .await;
    assert_eq!(app.count(processed_delivery::Entity).await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_created_becomes_a_contact_embedded_sqlite() {
    customer_created_becomes_a_contact(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_created_becomes_a_contact_embedded_postgres() {
    customer_created_becomes_a_contact(AppOptions::embedded_postgres()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_created_becomes_a_contact_postgres_rabbitmq() {
    customer_created_becomes_a_contact(AppOptions::production()).await;
}

async fn same_delivery_twice_applies_once(options: AppOptions) {
    let app = spawn_app(options).await;
    let integration = app.create_stripe_integration().await;
    let body = stripe_customer_event(
        "evt_1Twice",
        "customer.created",
        "twice@example.com",
        "Grace Hopper",
        now_secs(),
    );
    let (first_status, first) = app.send_stripe(&integration, &body).await;
    let (second_status, second) = app.send_stripe(&integration, &body).await;
    // Both answered like the first: the sender must not retry a duplicate.
    assert_eq!(
        (first_status, second_status),
        (202, 202),
        "{first} {second}"
    );
    let first_id = first["id"].as_str().expect("id").to_owned();
    let second_id = second["id"].as_str().expect("id").to_owned();
    // Workers may take the two in either order: one applies, the other is the duplicate.
    let mut outcomes = vec![
        app.wait_for_outcome(&first_id, WAIT).await.status,
        app.wait_for_outcome(&second_id, WAIT).await.status,
    ];
    outcomes.sort();
    assert_eq!(outcomes, vec!["duplicate", "processed"]);

    assert_eq!(app.find_contacts("twice@example.com").await.len(), 1);
    assert_eq!(app.count(contact::Entity).await, 1);
    assert_eq!(app.count(processed_delivery::Entity).await, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_delivery_twice_applies_once_embedded_sqlite() {
    same_delivery_twice_applies_once(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_delivery_twice_applies_once_postgres_rabbitmq() {
    same_delivery_twice_applies_once(AppOptions::production()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_and_disabled_event_types_are_ignored_with_2xx() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let created = app
        .create_integration(json!({
            "provider": "stripe", "name": "Muted", "signingSecrets": [STRIPE_SECRET],
            "events": {"customer.updated": {"enabled": false}}
        }))
        .await;
    assert_eq!(created["events"]["customer.updated"]["enabled"], false);
    assert_eq!(created["events"]["customer.created"]["enabled"], true);
    let id = created["id"].as_str().expect("id");

    let body = stripe_customer_event(
        "evt_1Off",
        "customer.updated",
        "off@example.com",
        "Off",
        now_secs(),
    );
    let (status, answer) = app.send_stripe(id, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["message"],
        "Ignored: customer.updated is turned off for this integration."
    );

    let body = stripe_customer_event(
        "evt_1Pi",
        "payment_intent.created",
        "pi@example.com",
        "Pi",
        now_secs(),
    );
    let (status, answer) = app.send_stripe(id, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["message"],
        "Ignored: payment_intent.created is not a supported Stripe event."
    );

    assert_eq!(
        app.count(queue_message::Entity).await,
        0,
        "ignored events must not be enqueued"
    );
    app.stop().await;
}
