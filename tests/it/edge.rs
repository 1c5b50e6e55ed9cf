//! What anonymous clients can do at the public edge, on real services: an unsubscribe link
//! opened by a mail scanner unsubscribes no one, a flood of unsigned deliveries writes a
//! bounded amount, and a body trickled in holds its connection for a bounded time.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use inlet_ingest::source::delivery_log::REJECTED_BYTES_PER_MINUTE;
use inlet_shared::db::entities::{webhook_log, webhook_log_request};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// How long the log writer may take to store a flood's rejections.
const SETTLE: Duration = Duration::from_secs(60);

async fn subscribed(app: &TestApp, email: &str) -> Value {
    app.find_contacts(email).await[0]["subscribed"].clone()
}

async fn resubscribe(app: &TestApp, email: &str) {
    let r = app
        .client
        .put(format!("{}/api/v1/contacts/update", app.address))
        .bearer_auth(&app.api_key)
        .json(&json!({"email": email, "subscribed": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

async fn unsubscribe_link_needs_a_post(options: AppOptions) {
    let app = spawn_app(options).await;
    let email = "reader@example.com";
    let (status, created) = app
        .api_post("/api/v1/contacts/create", json!({"email": email}))
        .await;
    assert_eq!(status, 200, "{created}");
    let link = app
        .services
        .unsubscribe
        .url(&app.address, created["id"].as_str().unwrap());

    // What a mail scanner or a link preview does: open the link, maybe twice.
    for _ in 0..2 {
        let r = app.client.get(&link).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let page = r.text().await.unwrap();
        assert!(page.contains("<form method=\"post\">"), "{page}");
        assert!(page.contains("Unsubscribe?"), "{page}");
    }
    assert_eq!(subscribed(&app, email).await, true, "a GET unsubscribed");

    // A forged token: a clear refusal on both methods, and no change.
    let (kept, last) = link.split_at(link.len() - 1);
    let forged = format!("{kept}{}", if last == "A" { "B" } else { "A" });
    let r = app.client.get(&forged).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().await.unwrap().contains("Link not valid"));
    let r = app.client.post(&forged).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(subscribed(&app, email).await, true);

    // The page's button: a form post to the same address.
    let r = app
        .client
        .post(&link)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("You are unsubscribed"));
    assert_eq!(subscribed(&app, email).await, false);
    // Opening the link again says so, with no button.
    let page = app
        .client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("You are unsubscribed"), "{page}");
    assert!(!page.contains("<form"), "{page}");

    // RFC 8058 one-click, as a mail client sends it (multipart here), with no login.
    resubscribe(&app, email).await;
    let r = app
        .client
        .post(&link)
        .header("Content-Type", "multipart/form-data; boundary=b")
        .body(
            "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n\
             One-Click\r\n--b--\r\n",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(subscribed(&app, email).await, false);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_link_needs_a_post_embedded() {
    unsubscribe_link_needs_a_post(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_link_needs_a_post_production() {
    unsubscribe_link_needs_a_post(AppOptions::production()).await;
}

/// Bytes the test's database takes: the SQLite file and its WAL, or the PostgreSQL database.
async fn database_bytes(app: &TestApp) -> u64 {
    if let Some(rest) = app.db.url.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap();
        return [path.to_owned(), format!("{path}-wal")]
            .iter()
            .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
            .sum();
    }
    let row = app
        .services
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_database_size(current_database())::int8",
        ))
        .await
        .unwrap()
        .unwrap();
    u64::try_from(row.try_get_by_index::<i64>(0).unwrap()).unwrap()
}

/// Rejected rows so far, once the log writer has stopped adding any (no change in a second).
async fn settled_rejections(app: &TestApp) -> usize {
    let last = std::cell::Cell::new(usize::MAX);
    eventually_some(SETTLE, "the rejected rows to stop growing", || async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = webhook_log::Entity::find()
            .filter(webhook_log::Column::Status.eq("rejected"))
            .all(&app.services.db)
            .await
            .unwrap()
            .len();
        (now == last.replace(now)).then_some(now)
    })
    .await
}

async fn unsigned_flood_writes_a_bounded_amount(options: AppOptions) {
    let app = spawn_app(options).await;
    // Known endpoints (deliveries to unknown ids are never written at all).
    let mut integrations = Vec::new();
    for _ in 0..3 {
        integrations.push(app.create_stripe_integration().await);
    }
    // Random, so that no compression (PostgreSQL's TOAST) makes it small.
    let mut pad = vec![0u8; 30 * 1024];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut pad);
    let body = format!(
        "{{\"id\":\"evt_1Flood\",\"type\":\"customer.created\",\"pad\":\"{}\"}}",
        hex::encode(pad)
    );
    let now = now_secs();
    // Every rejection reason a signature check has, so no (integration, reason) is the same
    // for long.
    let signatures: Vec<Option<String>> = vec![
        None,
        Some("not a signature".into()),
        Some(format!("t={},v1={}", now - 3600, "0".repeat(64))),
        Some(format!("t={},v1={}", now + 3600, "0".repeat(64))),
        Some(stripe_signature("whsec_attacker_guess_000000", now, &body)),
    ];
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = database_bytes(&app).await;
    let started = Instant::now();
    let statuses: Vec<u16> = futures_util::stream::iter(0..1200)
        .map(|i| {
            let integration = &integrations[i % integrations.len()];
            let signature = &signatures[(i / integrations.len()) % signatures.len()];
            let mut req = app
                .client
                .post(format!("{}/webhooks/{integration}", app.address))
                .header("Content-Type", "application/json")
                .header("X-Request-Number", i.to_string())
                .body(body.clone());
            if let Some(s) = signature {
                req = req.header("Stripe-Signature", s);
            }
            async move { req.send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let took = started.elapsed();
    assert!(
        statuses.iter().all(|s| *s == 400 || *s == 401),
        "{statuses:?}"
    );
    let rows = settled_rejections(&app).await;
    let grown = database_bytes(&app).await.saturating_sub(before);
    println!("1200 unsigned 60 KB requests in {took:?}: {rows} rejected rows, database +{grown} B");
    assert!(took < Duration::from_secs(60), "the flood took {took:?}");
    assert!(grown <= 4 * 1024 * 1024, "database grew by {grown} bytes");
    assert!(rows > 0, "rejections are still logged");

    // What was kept: short bodies, and no more in all (the flood spans one or two minutes)
    // than two minutes' budget, however the reasons and integrations varied.
    let kept = webhook_log_request::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap();
    assert!(!kept.is_empty());
    let mut bytes = 0;
    for request in &kept {
        assert!(request.body.len() <= 4 * 1024, "{}", request.body.len());
        assert!(request.body_truncated);
        assert!(!request.headers.contains("Stripe-Signature"));
        bytes += request.body.len() + request.headers.len();
    }
    assert!(
        bytes as u64 <= 2 * REJECTED_BYTES_PER_MINUTE,
        "{bytes} bytes of requests kept"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_flood_writes_a_bounded_amount_embedded() {
    unsigned_flood_writes_a_bounded_amount(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_flood_writes_a_bounded_amount_production() {
    unsigned_flood_writes_a_bounded_amount(AppOptions::production()).await;
}

/// What a slow client got: the answer, and when the connection closed (if it did within
/// `wait`).
struct Trickled {
    answer: String,
    closed_after: Option<Duration>,
}

/// Sends `head`, then `piece` of the body every second, until the server closes the
/// connection or `wait` passes.
async fn trickle(app: &TestApp, head: &str, piece: &'static [u8], wait: Duration) -> Trickled {
    let address = app.address.trim_start_matches("http://");
    let stream = TcpStream::connect(address).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    write.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        for _ in 0..1000 {
            if write.write_all(piece).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut closed_after = None;
    let mut buf = [0u8; 4096];
    while let Some(left) = wait.checked_sub(started.elapsed()) {
        match tokio::time::timeout(left, read.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    writer.abort();
    Trickled {
        answer: String::from_utf8_lossy(&answer).into_owned(),
        closed_after,
    }
}

fn post_head(app: &TestApp, path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\n{extra}\r\n",
        app.address.trim_start_matches("http://")
    )
}

fn assert_answered(what: &str, got: &Trickled, status: u16, within: Duration) {
    assert!(
        got.answer.starts_with(&format!("HTTP/1.1 {status}")),
        "{what}: answered {:?}",
        got.answer
    );
    assert!(
        got.answer
            .to_ascii_lowercase()
            .contains("connection: close"),
        "{what}: {:?}",
        got.answer
    );
    let closed = got
        .closed_after
        .unwrap_or_else(|| panic!("{what}: connection still open"));
    assert!(closed <= within, "{what}: closed after {closed:?}");
}

/// At the default limit (10 s): a webhook body trickled a byte a second is cut off well
/// within 15 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_webhook_body_gets_408_within_15_s_by_default() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let integration = app.create_stripe_integration().await;
    let head = post_head(
        &app,
        &format!("/webhooks/{integration}"),
        "Content-Type: application/json\r\nContent-Length: 1000\r\n",
    );
    let got = trickle(&app, &head, b"x", Duration::from_secs(20)).await;
    println!(
        "trickled body: connection closed after {:?}",
        got.closed_after
    );
    assert_answered("webhook", &got, 408, Duration::from_secs(15));
    // The server goes on serving.
    let (status, _) = app.api_get("/api/v1/integrations").await;
    assert_eq!(status, 200);
    app.stop().await;
}

/// Every route that reads a body has the limit (here 1 s): the API's JSON, the console's
/// public sign-in form, chunked bodies; a body nobody reads holds its connection no longer
/// either; and a body that arrives in time is read as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_reading_route_has_the_time_limit() {
    let mut options = AppOptions::embedded_sqlite();
    options
        .vars
        .push(("INLET_BODY_TIMEOUT_MS".into(), "1000".into()));
    let app = spawn_app(options).await;
    let integration = app.create_stripe_integration().await;
    let within = Duration::from_secs(5);
    let sized = "Content-Type: application/json\r\nContent-Length: 1000\r\n";
    let chunked = "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n";
    let one_byte: &[u8] = b"x";
    let one_chunk: &[u8] = b"1\r\nx\r\n";
    let key = format!("Authorization: Bearer {}\r\n", app.api_key);
    let cases = [
        (
            "webhook",
            format!("/webhooks/{integration}"),
            sized.to_owned(),
            one_byte,
            408,
        ),
        (
            "webhook, chunked",
            format!("/webhooks/{integration}"),
            chunked.to_owned(),
            one_chunk,
            408,
        ),
        (
            "API JSON",
            "/api/v1/contacts/create".to_owned(),
            format!("{key}{sized}"),
            one_byte,
            408,
        ),
        (
            "API JSON, chunked",
            "/api/v1/contacts/create".to_owned(),
            format!("{key}{chunked}"),
            one_chunk,
            408,
        ),
        (
            "console sign-in",
            "/console/login".to_owned(),
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n"
                .to_owned(),
            one_byte,
            408,
        ),
        // Answered without reading the body: by the API key check, by a handler that needs
        // none, by the router.
        (
            "API, no key, chunked",
            "/api/v1/contacts/create".to_owned(),
            chunked.to_owned(),
            one_chunk,
            401,
        ),
        (
            "unsubscribe, chunked",
            "/unsubscribe/nope".to_owned(),
            chunked.to_owned(),
            one_chunk,
            404,
        ),
        (
            "unknown path, chunked",
            "/nowhere".to_owned(),
            chunked.to_owned(),
            one_chunk,
            404,
        ),
    ];
    for (what, path, extra, piece, status) in cases {
        let got = trickle(&app, &post_head(&app, &path, &extra), piece, within).await;
        assert_answered(what, &got, status, within);
    }

    // A body that arrives in time is read as usual.
    let (status, created) = app
        .api_post(
            "/api/v1/contacts/create",
            json!({"email": "on.time@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    app.stop().await;
}
