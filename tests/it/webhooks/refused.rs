//! Refused requests: bad deliveries get the SPEC §4 answers and write nothing, and the API
//! wants a valid key and valid integrations.

use inlet_shared::db::entities::{contact, processed_delivery};
use serde_json::{Value, json};

use super::WAIT;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deliveries_get_spec_answers_and_write_nothing() {
    let mut options = AppOptions::production();
    options
        .vars
        .push(("INLET_MAX_BODY_BYTES".into(), "4096".into()));
    let app = spawn_app(options).await;
    let integration = app.create_stripe_integration().await;
    let now = now_secs();
    let body = stripe_customer_event(
        "evt_1Bad",
        "customer.created",
        "bad@example.com",
        "Mallory",
        now,
    );
    let valid = stripe_signature(STRIPE_SECRET, now, &body);
    let wrong_secret = stripe_signature("whsec_not_the_right_secret_123", now, &body);
    let stale = stripe_signature(STRIPE_SECRET, now - 301, &body);
    let future = stripe_signature(STRIPE_SECRET, now + 301, &body);
    let not_json = "{ this is not json";
    let not_json_sig = stripe_signature(STRIPE_SECRET, now, not_json);
    let not_event = r#"{"hello":"world"}"#;
    let not_event_sig = stripe_signature(STRIPE_SECRET, now, not_event);
    let huge = format!(r#"{{"id":"evt_1Huge","pad":"{}"}}"#, "x".repeat(5000));
    let huge_sig = stripe_signature(STRIPE_SECRET, now, &huge);
    let unknown = "int_00000000000000000000000000000000";

    // (case, integration, body, headers, expected status, expected message prefix)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Vec<(&'a str, String)>,
        u16,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "wrong secret",
            integration.as_str(),
            body.as_str(),
            vec![("Stripe-Signature", wrong_secret)],
            401,
            "Signature verification failed: no signature matched.",
        ),
        (
            "tampered body",
            integration.as_str(),
            &body[..body.len() - 1],
            vec![("Stripe-Signature", valid.clone())],
            401,
            "Signature verification failed: no signature matched.",
        ),
        (
            "stale timestamp",
            integration.as_str(),
            body.as_str(),
            vec![("Stripe-Signature", stale)],
            401,
            "Signature verification failed: timestamp outside the tolerance window.",
        ),
        (
            "future timestamp",
            integration.as_str(),
            body.as_str(),
            vec![("Stripe-Signature", future)],
            401,
            "Signature verification failed: timestamp outside the tolerance window.",
        ),
        (
            "missing header",
            integration.as_str(),
            body.as_str(),
            vec![],
            400,
            "Missing Stripe-Signature header.",
        ),
        (
            "malformed header",
            integration.as_str(),
            body.as_str(),
            vec![("Stripe-Signature", "v1=abc".into())],
            400,
            "Malformed Stripe-Signature header.",
        ),
        (
            "unknown integration",
            unknown,
            body.as_str(),
            vec![("Stripe-Signature", valid.clone())],
            404,
            "No integration with this id.",
        ),
        (
            "oversized body",
            integration.as_str(),
            huge.as_str(),
            vec![("Stripe-Signature", huge_sig)],
            413,
            "Payload too large.",
        ),
        (
            "invalid JSON after a valid signature",
            integration.as_str(),
            not_json,
            vec![("Stripe-Signature", not_json_sig)],
            400,
            "Body is not a Stripe event: ",
        ),
        (
            "not an event after a valid signature",
            integration.as_str(),
            not_event,
            vec![("Stripe-Signature", not_event_sig)],
            400,
            "Body is not a Stripe event: ",
        ),
    ];
    for (name, target, payload, headers, status, message) in cases {
        let (got, answer) = app.post_webhook(target, payload.as_bytes(), &headers).await;
        assert_eq!(got, status, "{name}: {answer}");
        assert_eq!(answer["success"], false, "{name}: {answer}");
        let text = answer["message"].as_str().unwrap_or_default();
        assert!(
            text.starts_with(message),
            "{name}: {text:?} does not start with {message:?}"
        );
        assert!(!text.contains(STRIPE_SECRET), "{name}: secret leaked");
    }
    // The path itself: no id, a longer path, and a method other than POST.
    for (name, target, status) in [
        ("no integration id", "", 404),
        (
            "a path below an integration",
            &format!("{integration}/x"),
            404,
        ),
    ] {
        let (got, answer) = app.post_webhook(target, body.as_bytes(), &[]).await;
        assert_eq!(got, status, "{name}: {answer}");
        assert_eq!(answer["success"], false, "{name}: {answer}");
    }
    let r = app
        .client
        .get(format!("{}/webhooks/{integration}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405, "GET on a webhook source");
    assert_eq!(r.json::<Value>().await.unwrap()["success"], false);
    // The valid delivery goes through afterwards, proving the cases above were refused for
    // their own reason; then nothing but that one delivery was written.
    let (status, answer) = app.send_stripe(&integration, &body).await;
    assert_eq!(status, 202, "{answer}");
    app.wait_for_contact("bad@example.com", WAIT).await;
    assert_eq!(app.count(contact::Entity).await, 1);
    assert_eq!(app.count(processed_delivery::Entity).await, 1);
    // Every refused delivery to a known integration is in the log as rejected, with what the
    // sender was told; the unknown integration's is not (nothing to attach it to).
    eventually(WAIT, "rejected deliveries logged", || async {
        app.api_get("/api/v1/webhook-events?status=rejected")
            .await
            .1["data"]
            .as_array()
            .map(Vec::len)
            == Some(9)
    })
    .await;
    let (_, log) = app
        .api_get("/api/v1/webhook-events?status=rejected&limit=200")
        .await;
    let messages: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert!(messages.contains(&"Payload too large."), "{messages:?}");
    assert!(
        messages.contains(&"Missing Stripe-Signature header."),
        "{messages:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_routes_need_a_valid_key() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    for (key, what) in [(None, "no key"), (Some("inlet_wrong"), "wrong key")] {
        for path in [
            "/api/v1/integrations",
            "/api/v1/contacts/find?email=a@example.com",
        ] {
            let mut req = app.client.get(format!("{}{path}", app.address));
            if let Some(k) = key {
                req = req.bearer_auth(k);
            }
            let r = req.send().await.expect("request");
            assert_eq!(r.status().as_u16(), 401, "{what} {path}");
            let body: serde_json::Value = r.json().await.expect("json");
            assert_eq!(
                body,
                json!({"success": false, "message": "Invalid API key"})
            );
        }
    }
    let (status, _) = app.api_get("/api/v1/integrations").await;
    assert_eq!(status, 200);
    let (status, answer) = app.api_get("/api/v1/contacts/find").await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = app
        .api_post(
            "/api/v1/integrations",
            json!({"provider": "stripe", "name": "x", "signingSecrets": ["sk_live_nope"]}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("signingSecrets[0]"),
        "{answer}"
    );
    let (status, answer) = app
        .api_post(
            "/api/v1/integrations",
            json!({"provider": "paypal", "name": "x", "signingSecrets": ["whsec_x123456"]}),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    app.stop().await;
}
