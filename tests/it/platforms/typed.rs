//! A platform's mapped contact property of the wrong declared type is dropped, with a note
//! in the webhook log, and the rest of the delivery still applies (on both backends).

use inlet_shared::providers::Provider;
use serde_json::json;

use super::{WAIT, connect, person, send_and_wait};
use crate::support::*;

async fn a_mistyped_mapped_property_is_dropped_not_the_delivery(options: AppOptions) {
    let app = spawn_app(options).await;
    // Polar maps the customer's `external_id` ("user_42") to the property `externalId`.
    let (status, answer) = app
        .api_post(
            "/api/v1/contacts/properties",
            json!({"name": "externalId", "type": "number"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (id, secret) = connect(&app, Provider::Polar, json!({"customer.created": {}})).await;
    let email = "typed-polar@example.com";
    let message = send_and_wait(
        &app,
        &id,
        Provider::Polar,
        &secret,
        "customer.created",
        &person(Provider::Polar, email, "Tia"),
        now_secs() - 10,
    )
    .await;
    assert!(
        message.contains("Dropped a property: externalId must be a number"),
        "{message}"
    );
    assert!(
        !message.contains("user_42"),
        "the log does not quote the value: {message}"
    );
    let contact = app.wait_for_contact(email, WAIT).await;
    assert_eq!(contact["firstName"], "Tia", "the rest applied");
    assert!(contact.get("externalId").is_none(), "{contact}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mistyped_mapped_property_is_dropped_not_the_delivery_postgres() {
    a_mistyped_mapped_property_is_dropped_not_the_delivery(AppOptions::production()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mistyped_mapped_property_is_dropped_not_the_delivery_sqlite() {
    a_mistyped_mapped_property_is_dropped_not_the_delivery(AppOptions::embedded_sqlite()).await;
}
