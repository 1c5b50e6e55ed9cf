//! `POST /api/v1/integrations/{id}/test-events`: a signed sample taken through the webhook
//! source as a real delivery, answered as the webhook endpoint answers, behind the API key.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(20);

fn path(integration: &str) -> String {
    format!("/api/v1/integrations/{integration}/test-events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_event_goes_the_way_of_a_real_delivery() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let integration = app.create_stripe_integration().await;
    let (status, answer) = app
        .api_post(
            &path(&integration),
            json!({"eventType": "customer.created", "email": "ada.api@example.com",
                "firstName": "Ada", "lastName": "Lovelace"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["success"], true, "{answer}");
    assert_eq!(
        answer["message"], "Accepted customer.created; it will be processed shortly.",
        "{answer}"
    );
    let delivery = answer["id"].as_str().expect("a delivery id");
    assert!(delivery.starts_with("wh_"), "{answer}");
    // Logged as a delivery of the integration, and applied by the worker.
    app.wait_for_log_status(delivery, "processed", WAIT).await;
    let contact = app.wait_for_contact("ada.api@example.com", WAIT).await;
    assert_eq!(contact["firstName"], "Ada", "{contact}");
    assert_eq!(contact["lastName"], "Lovelace", "{contact}");
    assert_eq!(contact["source"], "Stripe webhook", "{contact}");

    // A later test event is newer than the first, so the ordering guard lets it through.
    let (status, answer) = app
        .api_post(
            &path(&integration),
            json!({"eventType": "customer.updated", "email": "ada.api@example.com",
                "firstName": "Augusta", "lastName": "King"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    eventually(Duration::from_secs(20), "the update applied", || async {
        app.find_contacts("ada.api@example.com")
            .await
            .first()
            .is_some_and(|c| c["firstName"] == "Augusta")
    })
    .await;

    // No name given: the sample's own.
    let (status, answer) = app
        .api_post(
            &path(&integration),
            json!({"eventType": "customer.created", "email": "jenny.api@example.com"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_event_is_refused_in_the_api_error_shape() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let integration = app.create_stripe_integration().await;
    let body = json!({"eventType": "customer.created", "email": "x@example.com"});

    let (status, answer) = app.api_post(&path("int_missing"), body.clone()).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(
        answer,
        json!({"success": false, "message": "No integration with this id."})
    );

    let (status, answer) = app
        .api_post(
            &path(&integration),
            json!({"eventType": "user.created", "email": "x@example.com"}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["success"], false);
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.starts_with("eventType: \"user.created\" is not a supported Stripe event."),
        "{message}"
    );
    assert!(
        message.contains("customer.created") && message.contains("invoice.paid"),
        "the supported ones are listed: {message}"
    );

    let (status, answer) = app
        .api_post(
            &path(&integration),
            json!({"eventType": "customer.created", "email": "not an address"}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");

    // Like every /api route, it needs the key.
    let r = app
        .client
        .post(format!("{}{}", app.address, path(&integration)))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["success"], false);
    assert!(app.find_contacts("x@example.com").await.is_empty());
    app.stop().await;
}
