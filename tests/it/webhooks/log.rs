//! The webhook log: pages and filters, rejections capped, and `INLET_KEEP_REQUESTS` deciding
//! which requests are kept.

use std::time::Duration;

use super::WAIT;
use crate::support::*;

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
    let cap = inlet_ingest::source::delivery_log::REJECTED_PER_MINUTE as usize;
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

/// Ingest writes nothing for an accepted delivery: until a worker applies it, it is in the
/// queue, counted by the log's `queued` and on the console's deliveries page, and absent
/// from the log. The worker then writes its row and its kept request (the headers the
/// message carried, without the signature, and the body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_delivery_waits_in_the_queue_until_the_worker_logs_it() {
    use inlet_shared::db::entities::webhook_log_request;
    use sea_orm::EntityTrait;
    let ingest = spawn_app(AppOptions {
        worker: false,
        ..AppOptions::production()
    })
    .await;
    let integration = ingest.create_stripe_integration().await;
    let body = stripe_customer_event(
        "evt_1Waits",
        "customer.created",
        "waits@example.com",
        "Wai Ting",
        now_secs(),
    );
    let (status, answer) = ingest.send_stripe(&integration, &body).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let queued = || async {
        let (status, page) = ingest.api_get("/api/v1/webhook-events").await;
        assert_eq!(status, 200, "{page}");
        page
    };
    // RabbitMQ counts a published message within moments.
    eventually(WAIT, "the delivery counted as queued", || async {
        queued().await["queued"] == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let page = queued().await;
    assert_eq!(page["data"], serde_json::json!([]), "not in the log yet");
    let mut console = Console::new(&ingest.address);
    console.login(&ingest.api_key).await;
    let (status, html, _) = console.get("/console/deliveries").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("1 accepted delivery is waiting in the queue"),
        "{html}"
    );

    let worker = spawn_app(AppOptions {
        db: Some(ingest.db.clone()),
        vhost: ingest.vhost.clone(),
        ..AppOptions::production()
    })
    .await;
    worker.wait_for_log_status(&id, "processed", WAIT).await;
    let kept = webhook_log_request::Entity::find_by_id(id)
        .one(&ingest.services.db)
        .await
        .unwrap()
        .expect("the worker kept the request");
    assert_eq!(kept.body, body.as_bytes(), "the body as signed");
    assert!(!kept.body_truncated);
    let headers: Vec<(String, String)> = serde_json::from_str(&kept.headers).unwrap();
    let names: Vec<String> = headers.iter().map(|(n, _)| n.to_lowercase()).collect();
    assert!(names.contains(&"content-type".to_owned()), "{names:?}");
    assert!(!names.contains(&"stripe-signature".to_owned()), "{names:?}");
    eventually(WAIT, "nothing queued", || async {
        queued().await["queued"] == 0
    })
    .await;
    let (_, html, _) = console.get("/console/deliveries").await;
    assert!(
        html.contains("No accepted delivery is waiting for a worker."),
        "{html}"
    );
    worker.stop().await;
    ingest.stop().await;
}
