//! A contact's lifecycle on each platform, created, updated and deleted under both deletion
//! policies, and every supported event type accepted and applied.

use inlet_shared::providers::Provider;
use serde_json::json;

use super::{WAIT, connect, lifecycle_types, person, send_and_wait};
use crate::support::*;

async fn lifecycle(provider: Provider, on_delete: &str) {
    let app = spawn_app(AppOptions::production()).await;
    let [create, update, delete] = lifecycle_types(provider);
    let (id, secret) = connect(&app, provider, json!({ delete: {"onDelete": on_delete} })).await;
    let email = format!("lifecycle-{}@example.com", provider.as_str());
    // Platform times in the recent past, one second apart (Supabase stamps a DELETE with
    // the time it is received, which must come after the update's time).
    let now = now_secs() - 10;

    send_and_wait(
        &app,
        &id,
        provider,
        &secret,
        create,
        &person(provider, &email, "Jenny"),
        now,
    )
    .await;
    let contact = app.wait_for_contact(&email, WAIT).await;
    assert_eq!(contact["firstName"], "Jenny");
    assert_eq!(
        contact["source"],
        format!("{} webhook", provider.display_name())
    );
    if matches!(provider, Provider::Clerk | Provider::Supabase) {
        assert_eq!(
            contact["userId"],
            person(provider, &email, "").id,
            "matched by user id"
        );
    }

    send_and_wait(
        &app,
        &id,
        provider,
        &secret,
        update,
        &person(provider, &email, "Jenna"),
        now + 1,
    )
    .await;
    let contact = app.find_contacts(&email).await.remove(0);
    assert_eq!(contact["firstName"], "Jenna", "update applied");

    send_and_wait(
        &app,
        &id,
        provider,
        &secret,
        delete,
        &person(provider, &email, "Jenna"),
        now + 2,
    )
    .await;
    let found = app.find_contacts(&email).await;
    match on_delete {
        "unsubscribe" => {
            assert_eq!(found.len(), 1, "unsubscribe keeps the contact");
            assert_eq!(found[0]["subscribed"], false);
        }
        _ => assert!(found.is_empty(), "delete removes the contact: {found:?}"),
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_contact_lifecycle_under_both_policies() {
    lifecycle(Provider::Stripe, "unsubscribe").await;
    lifecycle(Provider::Stripe, "delete").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clerk_contact_lifecycle_under_both_policies() {
    lifecycle(Provider::Clerk, "unsubscribe").await;
    lifecycle(Provider::Clerk, "delete").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polar_contact_lifecycle_under_both_policies() {
    lifecycle(Provider::Polar, "unsubscribe").await;
    lifecycle(Provider::Polar, "delete").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supabase_contact_lifecycle_under_both_policies() {
    lifecycle(Provider::Supabase, "unsubscribe").await;
    lifecycle(Provider::Supabase, "delete").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_supported_event_type_is_accepted_and_applied() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let now = now_secs();
    for provider in Provider::ALL {
        let (id, secret) = connect(&app, provider, json!({})).await;
        let email = format!("all-{}@example.com", provider.as_str());
        let who = person(provider, &email, "Ada");
        // The contact's creation first (so it exists and Stripe learns the customer id),
        // its deletion last.
        let [create, _, delete] = lifecycle_types(provider);
        let mut types: Vec<&str> = provider.supported_events().to_vec();
        types.sort_by_key(|t| match *t {
            t if t == create => 0,
            t if t == delete => 2,
            _ => 1,
        });
        for event_type in types {
            let message = send_and_wait(&app, &id, provider, &secret, event_type, &who, now).await;
            assert!(!message.is_empty(), "{provider}:{event_type}");
        }
        let contact = app.find_contacts(&email).await;
        assert_eq!(contact.len(), 1, "{provider}: one contact for all events");
        let names = app
            .contact_event_names(contact[0]["id"].as_str().expect("id"))
            .await;
        for event_type in provider.supported_events() {
            let name = format!("{}:{event_type}", provider.as_str());
            assert!(
                names.contains(&name),
                "{name} not recorded; recorded: {names:?}"
            );
        }
    }
    app.stop().await;
}
