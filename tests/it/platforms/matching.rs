//! How a platform's records find their contact: Clerk's waitlist entry then user as one
//! contact, Supabase's changes to other tables ignored, and Stripe's subscription events
//! resolved through the customer map.

use inlet_shared::providers::Provider;
use inlet_shared::providers::samples::Person;
use serde_json::{Value, json};

use super::{WAIT, connect, person, send_and_wait};
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clerk_waitlist_entry_then_user_is_one_contact_with_user_id() {
    let app = spawn_app(AppOptions::production()).await;
    let (id, secret) = connect(&app, Provider::Clerk, json!({})).await;
    let email = "waitlisted@example.com";
    let who = person(Provider::Clerk, email, "Wanda");
    let now = now_secs();
    send_and_wait(
        &app,
        &id,
        Provider::Clerk,
        &secret,
        "waitlistEntry.created",
        &who,
        now,
    )
    .await;
    let waiting = app.wait_for_contact(email, WAIT).await;
    assert_eq!(waiting["userId"], Value::Null);
    send_and_wait(
        &app,
        &id,
        Provider::Clerk,
        &secret,
        "user.created",
        &who,
        now + 1,
    )
    .await;
    let found = app.find_contacts(email).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], waiting["id"], "the same contact");
    assert_eq!(found[0]["userId"], who.id);
    let (status, by_user) = app
        .api_get(&format!("/api/v1/contacts/find?userId={}", who.id))
        .await;
    assert_eq!(status, 200);
    assert_eq!(by_user[0]["email"], email);
    // user.deleted carries only the id: it is matched by userId.
    send_and_wait(
        &app,
        &id,
        Provider::Clerk,
        &secret,
        "user.deleted",
        &who,
        now + 2,
    )
    .await;
    assert_eq!(app.find_contacts(email).await[0]["subscribed"], false);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supabase_changes_to_other_tables_are_ignored() {
    let app = spawn_app(AppOptions::production()).await;
    let (id, secret) = connect(&app, Provider::Supabase, json!({})).await;
    let body = json!({"type": "INSERT", "table": "orders", "schema": "public",
        "record": {"id": 1, "email": "orders@example.com"}, "old_record": null})
    .to_string();
    let (status, answer) = app
        .post_webhook(&id, body.as_bytes(), &[("Loops-Secret", secret.clone())])
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["message"],
        "Ignored: only auth.users changes are processed."
    );
    let (status, answer) = app
        .post_webhook(
            &id,
            body.as_bytes(),
            &[("Inlet-Secret", "wrong-secret-value-123".into())],
        )
        .await;
    assert_eq!(status, 401, "{answer}");
    let (status, answer) = app.post_webhook(&id, body.as_bytes(), &[]).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["message"], "Missing Loops-Secret header.");
    assert!(app.find_contacts("orders@example.com").await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_subscription_events_resolve_through_the_customer_map() {
    let app = spawn_app(AppOptions::production()).await;
    let (id, secret) = connect(&app, Provider::Stripe, json!({})).await;
    let now = now_secs();
    let stranger = Person {
        email: "nobody@example.com",
        first_name: "No",
        last_name: "Body",
        id: "cus_Unknown0001",
    };
    let (status, answer) = app
        .send_sample(
            &id,
            Provider::Stripe,
            &secret,
            "customer.subscription.created",
            &stranger,
            now,
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let row = app
        .wait_for_outcome(answer["id"].as_str().expect("id"), WAIT)
        .await;
    assert_eq!(row.status, "ignored");
    assert!(
        row.message.contains("cus_Unknown0001") && row.message.contains("not known"),
        "{}",
        row.message
    );

    let known = Person {
        email: "subscriber@example.com",
        first_name: "Sub",
        last_name: "Scriber",
        id: "cus_Known0001",
    };
    send_and_wait(
        &app,
        &id,
        Provider::Stripe,
        &secret,
        "checkout.session.completed",
        &known,
        now,
    )
    .await;
    send_and_wait(
        &app,
        &id,
        Provider::Stripe,
        &secret,
        "customer.subscription.created",
        &known,
        now,
    )
    .await;
    let contact = app.find_contacts("subscriber@example.com").await.remove(0);
    let names = app
        .contact_event_names(contact["id"].as_str().expect("id"))
        .await;
    assert_eq!(
        names,
        vec![
            "stripe:checkout.session.completed",
            "stripe:customer.subscription.created"
        ]
    );
    app.stop().await;
}
