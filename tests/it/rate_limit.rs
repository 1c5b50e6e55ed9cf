//! The REST API's rate limit per API key, Loops-style: the headers on every answer, `429`
//! past the limit with Loops' error shape, a bucket per key, webhooks never limited — and
//! the official SDK's `RateLimitExceededError` path.

use serde_json::Value;

use std::time::Duration;

use crate::support::*;

fn limited_to(per_second: &str) -> AppOptions {
    let mut options = AppOptions::embedded_sqlite();
    options
        .vars
        .push(("INLET_API_RATE_LIMIT".into(), per_second.into()));
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_past_its_limit_gets_429_and_webhooks_are_not_limited() {
    let app = spawn_app(limited_to("5")).await;
    let integration = app.create_stripe_integration().await;
    // A second key, made before the burst: its own bucket.
    let (_, other_key) = inlet_shared::apikeys::create(&app.services.db, "other")
        .await
        .expect("a second key");
    // The integration's creation took a token: start the burst from a full bucket.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;

    let get = |key: String| {
        let request = app
            .client
            .get(format!("{}/api/v1/api-key", app.address))
            .bearer_auth(key);
        async move {
            let r = request.send().await.expect("request");
            let header = |name: &str| {
                r.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u32>().ok())
            };
            let (limit, remaining) = (header("x-ratelimit-limit"), header("x-ratelimit-remaining"));
            let status = r.status().as_u16();
            (
                status,
                limit,
                remaining,
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let mut answers = Vec::new();
    for _ in 0..7 {
        answers.push(get(app.api_key.clone()).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429], "{answers:?}");
    let remaining: Vec<Option<u32>> = answers.iter().map(|a| a.2).collect();
    assert_eq!(
        remaining,
        [
            Some(4),
            Some(3),
            Some(2),
            Some(1),
            Some(0),
            Some(0),
            Some(0)
        ]
    );
    assert!(answers.iter().all(|a| a.1 == Some(5)), "{answers:?}");
    let refused = &answers[5].3;
    assert_eq!(refused["success"], false, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("Rate limit")),
        "{refused}"
    );

    // Another key is not held back by the first one's burst.
    assert_eq!(get(other_key).await.0, 200);
    // Webhook ingest is not limited: twenty signed deliveries in a row are all accepted.
    for n in 0..20 {
        let body = stripe_customer_event(
            &format!("evt_rate_{n}"),
            "customer.created",
            &format!("rate{n}@example.com"),
            "Rate",
            now_secs(),
        );
        let (status, answer) = app.send_stripe(&integration, &body).await;
        assert_eq!(status, 202, "{answer}");
    }
    app.stop().await;
}

/// `inlet serve` as a user starts it, with no rate-limit setting: the SDK meets Loops'
/// default of ten a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_sees_loops_rate_limit_and_recovers() {
    let db = TestDb::new(Backend::Sqlite).await;
    let port = free_port();
    let key = format!("inlet_test_{}", random_suffix());
    let outbox = std::env::temp_dir().join(format!("inlet-test-outbox-{}", random_suffix()));
    let env = vec![
        ("INLET_DATABASE_URL", db.url.clone()),
        ("INLET_LISTEN", format!("127.0.0.1:{port}")),
        ("INLET_BOOTSTRAP_API_KEY", key.clone()),
        ("INLET_OUTBOX_DIR", outbox.display().to_string()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let serve = Process::spawn("serve", &["serve"], &env);
    Remote::new(port, &key)
        .wait_ready(Duration::from_secs(30))
        .await;
    // Readiness was checked without the key: the bucket is full.
    run_sdk_file(
        "ratelimit.test.mjs",
        vec![
            ("INLET_API_ROOT", format!("http://127.0.0.1:{port}/api/")),
            ("INLET_API_KEY", key),
        ],
        1,
    )
    .await;
    assert_eq!(serve.terminate(), Some(0));
}
