//! The four platforms through the whole pipeline on PostgreSQL and RabbitMQ: every event
//! type, the contact lifecycle under both deletion policies, Clerk's waitlist-to-user link,
//! Supabase's table filter, Stripe's customer map, secret rotation, lists and user groups,
//! and settings changed without a restart.

use std::time::Duration;

use inlet_shared::providers::Provider;
use inlet_shared::providers::samples::Person;
use serde_json::{Value, json};

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

fn secret_for(provider: Provider) -> Option<&'static str> {
    match provider {
        Provider::Stripe => Some(STRIPE_SECRET),
        Provider::Clerk => Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
        // Polar's legacy secrets are used as a whole string; this exercises that derivation.
        Provider::Polar => Some("whsec_polar_legacy_secret_for_tests_0123"),
        Provider::Supabase => None,
    }
}

/// Creates an integration; returns (id, the secret to sign with).
async fn connect(app: &TestApp, provider: Provider, events: Value) -> (String, String) {
    let mut body = json!({"provider": provider.as_str(), "name": format!("{provider} test"), "events": events});
    if let Some(secret) = secret_for(provider) {
        body["signingSecrets"] = json!([secret]);
    }
    let created = app.create_integration(body).await;
    let id = created["id"].as_str().expect("id").to_owned();
    let secret = match secret_for(provider) {
        Some(s) => s.to_owned(),
        None => {
            assert_eq!(created["secretHeader"]["name"], "Loops-Secret", "{created}");
            created["secretHeader"]["value"]
                .as_str()
                .expect("generated secret")
                .to_owned()
        }
    };
    (id, secret)
}

fn person<'a>(provider: Provider, email: &'a str, first: &'a str) -> Person<'a> {
    let id = match provider {
        Provider::Stripe => "cus_Lifecycle0001",
        Provider::Clerk => "user_2Lifecycle0001",
        Provider::Polar => "8c1d7e0a-0000-4000-8000-00000000aa01",
        Provider::Supabase => "8c1d7e0a-0000-4000-8000-00000000bb02",
    };
    Person {
        email,
        first_name: first,
        last_name: "Rosen",
        id,
    }
}

/// The create, update and delete event types of a provider.
fn lifecycle_types(provider: Provider) -> [&'static str; 3] {
    match provider {
        Provider::Stripe => ["customer.created", "customer.updated", "customer.deleted"],
        Provider::Clerk => ["user.created", "user.updated", "user.deleted"],
        Provider::Polar => ["customer.created", "customer.updated", "customer.deleted"],
        Provider::Supabase => [
            "auth.users.insert",
            "auth.users.update",
            "auth.users.delete",
        ],
    }
}

async fn send_and_wait(
    app: &TestApp,
    id: &str,
    provider: Provider,
    secret: &str,
    event_type: &str,
    who: &Person<'_>,
    now: i64,
) -> String {
    let (status, answer) = app
        .send_sample(id, provider, secret, event_type, who, now)
        .await;
    assert_eq!(status, 202, "{provider}:{event_type}: {answer}");
    let row = app
        .wait_for_outcome(answer["id"].as_str().expect("id"), WAIT)
        .await;
    assert_eq!(
        row.status, "processed",
        "{provider}:{event_type}: {}",
        row.message
    );
    row.message
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_secrets_verify_until_removed() {
    let app = spawn_app(AppOptions::production()).await;
    let (id, old) = connect(&app, Provider::Stripe, json!({})).await;
    let new = "whsec_rotated_new_secret_9876543210";
    let (status, answer) = app
        .api_post(
            &format!("/api/v1/integrations/{id}/secrets"),
            json!({"secret": new}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["secretCount"], 2);
    let now = now_secs();
    for (n, secret) in [old.as_str(), new].into_iter().enumerate() {
        let who = Person {
            email: "rotate@example.com",
            first_name: "Ro",
            last_name: "Tate",
            id: "cus_Rotate01",
        };
        let (status, answer) = app
            .send_sample(
                &id,
                Provider::Stripe,
                secret,
                "customer.updated",
                &who,
                now + n as i64,
            )
            .await;
        assert_eq!(status, 202, "secret {n}: {answer}");
    }
    let response = app
        .client
        .delete(format!(
            "{}/api/v1/integrations/{id}/secrets/0",
            app.address
        ))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .expect("delete secret");
    assert_eq!(response.status().as_u16(), 200);
    let who = Person {
        email: "rotate@example.com",
        first_name: "Ro",
        last_name: "Tate",
        id: "cus_Rotate01",
    };
    let (status, answer) = app
        .send_sample(
            &id,
            Provider::Stripe,
            &old,
            "customer.updated",
            &who,
            now + 3,
        )
        .await;
    assert_eq!(status, 401, "removed secret still verifies: {answer}");
    let (status, _) = app
        .send_sample(
            &id,
            Provider::Stripe,
            new,
            "customer.updated",
            &who,
            now + 4,
        )
        .await;
    assert_eq!(status, 202);
    // The secrets never come back out of the API.
    let (_, listed) = app.api_get(&format!("/api/v1/integrations/{id}")).await;
    assert!(!listed.to_string().contains(new) && !listed.to_string().contains(&old));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_group_and_mailing_lists_apply_as_configured_and_settings_change_live() {
    let app = spawn_app(AppOptions::production()).await;
    let (status, list) = app
        .api_post(
            "/api/v1/lists",
            json!({"name": "Customers", "isPublic": true}),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let list_id = list["id"].as_str().expect("list id").to_owned();
    let (status, lists) = app.api_get("/api/v1/lists").await;
    assert_eq!(status, 200);
    assert_eq!(lists[0]["name"], "Customers");

    let (status, answer) = app
        .api_post(
            "/api/v1/integrations",
            json!({"provider": "stripe", "name": "x", "signingSecrets": [STRIPE_SECRET],
            "events": {"customer.created": {"mailingLists": {"list_missing": true}}}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("list_missing"),
        "{answer}"
    );

    let (id, secret) = connect(&app, Provider::Stripe, json!({
        "customer.created": {"userGroup": "vip", "mailingLists": {list_id.clone(): true}, "customEvent": "signup"}
    }))
    .await;
    let who = Person {
        email: "grouped@example.com",
        first_name: "Gro",
        last_name: "Uped",
        id: "cus_Grouped01",
    };
    let now = now_secs();
    send_and_wait(
        &app,
        &id,
        Provider::Stripe,
        &secret,
        "customer.created",
        &who,
        now,
    )
    .await;
    let contact = app.find_contacts("grouped@example.com").await.remove(0);
    assert_eq!(contact["userGroup"], "vip");
    assert_eq!(contact["mailingLists"], json!({ list_id.clone(): true }));
    let names = app
        .contact_event_names(contact["id"].as_str().expect("id"))
        .await;
    assert_eq!(names, vec!["stripe:customer.created", "signup"]);

    // Turn customer.updated off and names off for created, without restarting anything.
    let (status, patched) = app
        .client
        .patch(format!("{}/api/v1/integrations/{id}", app.address))
        .bearer_auth(&app.api_key)
        .json(&json!({"events": {"customer.updated": {"enabled": false}}}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .expect("patch");
    let patched: Value = patched.json().await.expect("json");
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["events"]["customer.updated"]["enabled"], false);
    assert_eq!(
        patched["events"]["customer.created"]["userGroup"], "vip",
        "other settings kept"
    );
    let (status, answer) = app
        .send_sample(
            &id,
            Provider::Stripe,
            &secret,
            "customer.updated",
            &who,
            now + 1,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["message"],
        "Ignored: customer.updated is turned off for this integration."
    );

    for (body, needle) in [
        (json!({"events": {"invoice.voided": {}}}), "invoice.voided"),
        (
            json!({"events": {"customer.created": {"enabeld": false}}}),
            "enabeld",
        ),
    ] {
        let r = app
            .client
            .patch(format!("{}/api/v1/integrations/{id}", app.address))
            .bearer_auth(&app.api_key)
            .json(&body)
            .send()
            .await
            .expect("patch");
        assert_eq!(r.status().as_u16(), 400);
        let answer: Value = r.json().await.expect("json");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{answer}"
        );
    }

    // Deleting the list removes the memberships; deleting the integration retires its URL.
    let delete = |path: String| {
        let request = app
            .client
            .delete(format!("{}{path}", app.address))
            .bearer_auth(&app.api_key);
        async move { request.send().await.expect("delete").status().as_u16() }
    };
    assert_eq!(delete(format!("/api/v1/lists/{list_id}")).await, 200);
    assert_eq!(delete(format!("/api/v1/lists/{list_id}")).await, 404);
    assert_eq!(
        app.find_contacts("grouped@example.com").await[0]["mailingLists"],
        json!({})
    );
    assert_eq!(delete(format!("/api/v1/integrations/{id}")).await, 200);
    let (status, answer) = app
        .send_sample(
            &id,
            Provider::Stripe,
            &secret,
            "customer.created",
            &who,
            now + 2,
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    app.stop().await;
}
