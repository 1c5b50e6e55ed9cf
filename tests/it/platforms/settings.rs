//! An integration's settings: signing secrets rotated and removed, the user group and mailing
//! lists applied as configured, and changes taking effect without a restart.

use inlet_shared::providers::Provider;
use inlet_shared::providers::samples::Person;
use serde_json::{Value, json};

use super::{connect, send_and_wait};
use crate::support::*;

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
