//! The webhook path in-process: signed Stripe events become contacts exactly once, bad input
//! gets the SPEC §4 answers and writes nothing, a lost broker means 503, and the embedded
//! queue keeps accepted events across a restart.

use std::time::Duration;

use inlet_shared::db::entities::{contact, processed_delivery, queue_message};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::proxy::TcpProxy;

const WAIT: Duration = Duration::from_secs(20);

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
async fn webhook_log_pages_filters_and_caps_rejections() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let integration = app.create_stripe_integration().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = stripe_customer_event(
            &format!("evt_1Page{i}"),
            "customer.created",
            &format!("page{i}@example.com"),
            "Pa Ge",
            now_secs(),
        );
        let (status, answer) = app.send_stripe(&integration, &body).await;
        assert_eq!(status, 202);
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        app.wait_for_log_status(id, "processed", WAIT).await;
    }
    let (status, first) = app
        .api_get(&format!(
            "/api/v1/webhook-events?integrationId={integration}&limit=2"
        ))
        .await;
    assert_eq!(status, 200, "{first}");
    let page: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(page, vec![ids[2].as_str(), ids[1].as_str()], "newest first");
    let cursor = first["nextCursor"].as_str().expect("a next page");
    let (_, second) = app
        .api_get(&format!(
            "/api/v1/webhook-events?integrationId={integration}&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(second["data"][0]["id"], ids[0].as_str());
    assert_eq!(second["data"][0]["eventType"], "customer.created");
    assert_eq!(second["data"][0]["idempotencyKey"], "evt_1Page0");
    assert_eq!(second["nextCursor"], serde_json::Value::Null);
    let (status, _) = app.api_get("/api/v1/webhook-events?status=bogus").await;
    assert_eq!(status, 400);

    // A flood of forged deliveries writes at most the cap per minute.
    let cap = inlet_ingest::delivery_log::REJECTED_PER_MINUTE as usize;
    let body = stripe_customer_event(
        "evt_1Forged",
        "customer.created",
        "forged@example.com",
        "For Ged",
        now_secs(),
    );
    let forged = stripe_signature("whsec_attacker_guess_000000", now_secs(), &body);
    for _ in 0..cap + 40 {
        let (status, _) = app
            .post_webhook(
                &integration,
                body.as_bytes(),
                &[("Stripe-Signature", forged.clone())],
            )
            .await;
        assert_eq!(status, 401);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, log) = app
        .api_get("/api/v1/webhook-events?status=rejected&limit=200")
        .await;
    // Count rows per minute of arrival: the cap is per minute, and the flood may straddle two.
    let mut per_minute = std::collections::BTreeMap::<String, usize>::new();
    for row in log["data"].as_array().unwrap() {
        *per_minute
            .entry(row["receivedAt"].as_str().unwrap()[..16].to_owned())
            .or_default() += 1;
    }
    assert!(
        per_minute.values().all(|n| *n <= cap),
        "over the cap: {per_minute:?}"
    );
    if per_minute.len() == 1 {
        assert_eq!(per_minute.values().sum::<usize>(), cap, "{per_minute:?}");
    }
    app.stop().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_answers_503_never_2xx() {
    let vhost = TestVhost::new().await;
    let proxy = TcpProxy::start("127.0.0.1:5672").await;
    let mut options = AppOptions::production();
    options.worker = false;
    options.amqp_url = Some(format!(
        "amqp://guest:guest@127.0.0.1:{}/{}",
        proxy.port, vhost.name
    ));
    options.vhost = Some(vhost.clone());
    let app = spawn_app(options).await;
    let integration = app.create_stripe_integration().await;

    let body = stripe_customer_event(
        "evt_1Before",
        "customer.created",
        "before@example.com",
        "Before",
        now_secs(),
    );
    assert_eq!(app.send_stripe(&integration, &body).await.0, 202);

    proxy.cut().await;
    for i in 0..5 {
        let body = stripe_customer_event(
            &format!("evt_1Cut{i}"),
            "customer.created",
            "cut@example.com",
            "Cut",
            now_secs(),
        );
        let (status, answer) = app.send_stripe(&integration, &body).await;
        assert_eq!(
            status, 503,
            "delivery {i} while the broker is unreachable: {answer}"
        );
        assert_eq!(answer["message"], "Temporarily unavailable; please retry.");
    }
    let (status, ready) = app.api_get("/health/ready").await;
    assert_eq!(status, 503, "{ready}");

    proxy.restore();
    let body = stripe_customer_event(
        "evt_1After",
        "customer.created",
        "after@example.com",
        "After",
        now_secs(),
    );
    let mut status = 0;
    for _ in 0..40 {
        status = app.send_stripe(&integration, &body).await.0;
        if status == 202 {
            break;
        }
        assert_eq!(status, 503);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(
        status, 202,
        "ingest did not reconnect after the broker came back"
    );
    // Exactly the two accepted deliveries are on the queue: nothing answered 503 got in.
    eventually(WAIT, "two messages on the queue", || async {
        vhost
            .queue_messages(inlet_shared::queue::rabbitmq::QUEUE)
            .await
            == 2
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_queue_keeps_an_accepted_event_across_a_restart() {
    let mut options = AppOptions::embedded_sqlite();
    options.worker = false;
    let first = spawn_app(options).await;
    let integration = first.create_stripe_integration().await;
    let body = stripe_customer_event(
        "evt_1Restart",
        "customer.created",
        "restart@example.com",
        "Re Start",
        now_secs(),
    );
    let (status, answer) = first.send_stripe(&integration, &body).await;
    assert_eq!(status, 202, "{answer}");
    let db = first.db.clone();
    assert_eq!(first.count(queue_message::Entity).await, 1);
    assert!(first.find_contacts("restart@example.com").await.is_empty());
    first.stop().await;

    let mut options = AppOptions::embedded_sqlite();
    options.db = Some(db);
    let second = spawn_app(options).await;
    let contact = second.wait_for_contact("restart@example.com", WAIT).await;
    assert_eq!(contact["firstName"], "Re");
    eventually(WAIT, "queue drained", || async {
        second.count(queue_message::Entity).await == 0
    })
    .await;
    second.stop().await;
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

/// `INLET_KEEP_REQUESTS` decides whose requests the console can show: every delivery's,
/// only refused ones', or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_requests_decides_which_requests_are_kept() {
    use inlet_shared::db::entities::{webhook_log, webhook_log_request};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    for (setting, keeps_accepted, keeps_rejected) in [
        ("all", true, true),
        ("rejected", false, true),
        ("none", false, false),
    ] {
        let mut options = AppOptions::embedded_sqlite();
        options
            .vars
            .push(("INLET_KEEP_REQUESTS".into(), setting.into()));
        let app = spawn_app(options).await;
        let integration = app.create_stripe_integration().await;
        let body = stripe_customer_event(
            "evt_KeepRequests",
            "customer.created",
            "keep@example.com",
            "Kee Per",
            now_secs(),
        );
        let (status, answer) = app.send_stripe(&integration, &body).await;
        assert_eq!(status, 202, "{answer}");
        let accepted = answer["id"].as_str().unwrap().to_owned();
        let forged = [("stripe-signature", format!("t={},v1=00", now_secs()))];
        let (status, _) = app
            .post_webhook(&integration, body.as_bytes(), &forged)
            .await;
        assert!(status >= 400, "a forged signature is refused ({status})");
        let db = app.services.db.clone();
        let refused = || {
            let db = db.clone();
            async move {
                webhook_log::Entity::find()
                    .filter(webhook_log::Column::Status.eq("rejected"))
                    .one(&db)
                    .await
                    .unwrap()
                    .map(|r| r.id)
            }
        };
        eventually(WAIT, "the refused delivery logged", || async {
            refused().await.is_some()
        })
        .await;
        let rejected = refused().await.unwrap();
        let kept = |id: String| {
            let db = db.clone();
            async move {
                webhook_log_request::Entity::find_by_id(id)
                    .one(&db)
                    .await
                    .unwrap()
                    .is_some()
            }
        };
        // The log writer stores requests right after the log rows; give it a moment.
        for (id, expected) in [(&accepted, keeps_accepted), (&rejected, keeps_rejected)] {
            if expected {
                eventually(WAIT, "the request kept", || kept(id.clone())).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(kept(accepted).await, keeps_accepted, "{setting}: accepted");
        assert_eq!(kept(rejected).await, keeps_rejected, "{setting}: rejected");
        app.stop().await;
    }
}
