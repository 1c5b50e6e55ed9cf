//! The ordering guard: an event older than what a contact holds changes nothing, and an
//! older event never brings a deleted contact back.

use serde_json::json;

use super::WAIT;
use crate::support::*;

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
