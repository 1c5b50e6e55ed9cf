//! One contact service for webhooks and the API: an API write is a change made now, so the
//! ordering guard keeps an older platform event from overwriting it, and an API creation
//! brings back a deleted contact and takes its tombstone away.

use std::time::Duration;

use inlet_shared::db::entities::contact_tombstone;
use serde_json::json;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

/// Sends a Stripe customer event dated `created` and waits for the worker's outcome.
async fn customer_event(
    app: &TestApp,
    integration: &str,
    kind: &str,
    email: &str,
    name: &str,
    created: i64,
) -> String {
    let event_id = format!("evt_{}", random_suffix());
    let body = stripe_customer_event(&event_id, kind, email, name, created);
    let (status, answer) = app.send_stripe(integration, &body).await;
    assert_eq!(status, 202, "{answer}");
    let delivery = answer["id"].as_str().expect("delivery id");
    app.wait_for_outcome(delivery, WAIT).await.message
}

async fn an_api_update_is_not_overwritten_by_an_older_event(options: AppOptions) {
    let app = spawn_app(options).await;
    let stripe = app.create_stripe_integration().await;
    let email = format!("order-{}@example.com", random_suffix());
    let now = now_secs();
    let outcome = customer_event(
        &app,
        &stripe,
        "customer.created",
        &email,
        "Hook One",
        now - 7200,
    )
    .await;
    assert!(outcome.starts_with("Created contact"), "{outcome}");

    let (status, answer) = app
        .api_put(
            "/api/v1/contacts/update",
            json!({"email": email, "firstName": "Api"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    // Newer than the creation, older than the API's update: the update stands.
    let outcome = customer_event(
        &app,
        &stripe,
        "customer.updated",
        &email,
        "Hook Three",
        now - 3600,
    )
    .await;
    assert!(
        outcome.contains("already has a newer change"),
        "an event older than the API update applied: {outcome}"
    );
    let found = app.find_contacts(&email).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["firstName"], "Api", "{found:?}");

    // A platform event newer than the API update applies as usual.
    let outcome = customer_event(
        &app,
        &stripe,
        "customer.updated",
        &email,
        "Hook Four",
        now_secs() + 1,
    )
    .await;
    assert!(outcome.starts_with("Updated contact"), "{outcome}");
    assert_eq!(app.find_contacts(&email).await[0]["firstName"], "Hook");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_update_is_not_overwritten_by_an_older_event_embedded() {
    an_api_update_is_not_overwritten_by_an_older_event(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_update_is_not_overwritten_by_an_older_event_production() {
    an_api_update_is_not_overwritten_by_an_older_event(AppOptions::production()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_creation_brings_a_deleted_contact_back_and_clears_its_tombstone() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let stripe = app.create_stripe_integration().await;
    let email = format!("back-{}@example.com", random_suffix());
    let (status, answer) = app
        .api_post("/api/v1/contacts/create", json!({"email": email}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = app
        .api_post("/api/v1/contacts/delete", json!({"email": email}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(app.count(contact_tombstone::Entity).await, 1);

    // A platform event older than the deletion does not bring it back.
    let outcome = customer_event(
        &app,
        &stripe,
        "customer.created",
        &email,
        "Late Event",
        now_secs() - 60,
    )
    .await;
    assert!(outcome.contains("was deleted at"), "{outcome}");
    assert!(app.find_contacts(&email).await.is_empty());

    // The API's creation is newer than the deletion: the contact is back, its tombstone gone.
    let (status, answer) = app
        .api_post(
            "/api/v1/contacts/create",
            json!({"email": email, "firstName": "Again"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(app.find_contacts(&email).await[0]["firstName"], "Again");
    assert_eq!(
        app.count(contact_tombstone::Entity).await,
        0,
        "the tombstone outlived the contact's return"
    );
    app.stop().await;
}
