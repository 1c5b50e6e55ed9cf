//! Smaller hardening points: `/metrics` only on the ops listener and read at most once a
//! second, the console cookie's `Secure` flag from the public URL, one event per
//! `Idempotency-Key` under concurrency, and dead-letter replays that page through their
//! matches.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use inlet_shared::db::entities::{api_idempotency_key, contact_event, dead_letter, queue_message};
use inlet_shared::dead_letters::{self, Filter, REPLAY_PAGE, Replay};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::providers::Provider;
use inlet_shared::queue::{DeadLetterRecord, QueueMessage};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::*;

fn without_worker(mut options: AppOptions) -> AppOptions {
    options.worker = false;
    options
}

/// The value of an unlabelled gauge in a scrape.
fn gauge(text: &str, name: &str) -> i64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

async fn get(client: &reqwest::Client, url: String) -> (u16, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn metrics_on_the_ops_listener(options: AppOptions) {
    let app = spawn_app(without_worker(options)).await;
    let client = &app.client;
    // The public listener answers health, never metrics.
    assert_eq!(get(client, format!("{}/metrics", app.address)).await.0, 404);
    assert_eq!(
        get(client, format!("{}/health/ready", app.address)).await.0,
        200
    );

    // An ingest with an ops listener (`INLET_OPS_LISTEN`), on the same services.
    let public = TcpListener::bind("127.0.0.1:0").unwrap();
    let ops = TcpListener::bind("127.0.0.1:0").unwrap();
    let ops_url = format!("http://127.0.0.1:{}", ops.local_addr().unwrap().port());
    let stop = CancellationToken::new();
    let (port, http) =
        inlet::start_ingest_with_ops(&app.services, public, Some(ops), stop.clone()).unwrap();
    assert_eq!(
        get(client, format!("http://127.0.0.1:{port}/metrics"))
            .await
            .0,
        404
    );
    assert_eq!(get(client, format!("{ops_url}/health/ready")).await.0, 200);

    let gate = &app.services.metrics.scrape;
    let before = gate.refreshes();
    let started = Instant::now();
    let (status, first) = get(client, format!("{ops_url}/metrics")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(gauge(&first, "inlet_dead_letters"), 0);
    assert_eq!(gauge(&first, "inlet_queue_depth"), 0);
    assert_eq!(gate.refreshes(), before + 1, "the first scrape reads");

    // A dead letter arrives; 60 scrapes at once within the second answer the last read.
    store_dead_letters(&app, "int_metrics", 1).await;
    let scrapes = (0..60).map(|_| get(client, format!("{ops_url}/metrics")));
    let answers = futures_util::future::join_all(scrapes).await;
    let elapsed = started.elapsed();
    assert!(answers.iter().all(|(status, _)| *status == 200));
    let reads = gate.refreshes() - before;
    assert!(
        reads <= 1 + elapsed.as_secs(),
        "{reads} reads for 61 scrapes in {elapsed:?}"
    );
    if elapsed < Duration::from_secs(1) {
        assert!(
            answers
                .iter()
                .all(|(_, text)| gauge(text, "inlet_dead_letters") == 0),
            "a scrape within the second read again"
        );
    }
    // After the second, the next scrape reads again and sees it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reads_before = gate.refreshes();
    let (_, later) = get(client, format!("{ops_url}/metrics")).await;
    assert_eq!(gauge(&later, "inlet_dead_letters"), 1, "{later}");
    assert_eq!(gate.refreshes(), reads_before + 1);

    stop.cancel();
    http.await.unwrap().unwrap();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_on_the_ops_listener_and_read_at_most_once_a_second() {
    metrics_on_the_ops_listener(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_on_the_ops_listener_and_read_at_most_once_a_second_on_rabbitmq() {
    metrics_on_the_ops_listener(AppOptions::production()).await;
}

async fn one_event_per_idempotency_key(options: AppOptions) {
    let app = spawn_app(options).await;
    let email = "race@example.com";
    let send = |key: &'static str| {
        let request = app
            .client
            .post(format!("{}/api/v1/events/send", app.address))
            .bearer_auth(&app.api_key)
            .header("Idempotency-Key", key)
            .json(&json!({"email": email, "eventName": "checkout"}));
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let answers = futures_util::future::join_all((0..10).map(|_| send("race-1"))).await;
    let won: Vec<_> = answers.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["success"], false, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key race-1 was already used"),
            "{body}"
        );
    }
    let contact = app.find_contacts(email).await.remove(0);
    let events = || async {
        contact_event::Entity::find()
            .filter(contact_event::Column::ContactId.eq(contact["id"].as_str().unwrap()))
            .all(&app.services.db)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(events().await, 1, "one event recorded");

    // Out of the 24-hour window the key is free again, once.
    api_idempotency_key::Entity::update_many()
        .col_expr(
            api_idempotency_key::Column::CreatedAt,
            sea_orm::sea_query::Expr::value(now_ms() - 25 * 60 * 60 * 1000),
        )
        .filter(api_idempotency_key::Column::Key.eq("race-1"))
        .exec(&app.services.db)
        .await
        .unwrap();
    let again = futures_util::future::join_all((0..4).map(|_| send("race-1"))).await;
    let statuses: Vec<u16> = again.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{again:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        3,
        "{again:?}"
    );
    assert_eq!(events().await, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_events_with_one_idempotency_key_record_one_event_on_sqlite() {
    one_event_per_idempotency_key(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_events_with_one_idempotency_key_record_one_event_on_postgres() {
    one_event_per_idempotency_key(AppOptions::embedded_postgres()).await;
}

/// A Stripe delivery of `integration` that failed for good.
fn dead_record(integration: &str, delivery_id: &str) -> DeadLetterRecord {
    DeadLetterRecord {
        message: QueueMessage {
            delivery_id: delivery_id.to_owned(),
            integration_id: integration.to_owned(),
            provider: Provider::Stripe,
            event_type: "customer.created".into(),
            idempotency_key: format!("evt_{delivery_id}"),
            received_at_ms: now_ms(),
            body: b"{}".to_vec().into(),
            trace: Default::default(),
            kept_headers: None,
        },
        error: "gave up".into(),
        attempts: 8,
        first_failed_at_ms: 0,
        last_failed_at_ms: 0,
    }
}

/// Stores `n` dead letters of `integration`; returns their delivery ids.
async fn store_dead_letters(app: &TestApp, integration: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = new_id("wh_");
        dead_letters::store(&app.services.db, &dead_record(integration, &id))
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// How many times each delivery is in the embedded queue.
async fn queued(app: &TestApp) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for m in queue_message::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
    {
        *counts.entry(m.delivery_id).or_insert(0) += 1;
    }
    counts
}

async fn replays_page_by_page(options: AppOptions) {
    let app = spawn_app(without_worker(options)).await;
    let first = store_dead_letters(&app, "int_pages", 10).await;
    store_dead_letters(&app, "int_other", 2).await;
    let filter = Filter {
        integration_id: Some("int_pages".into()),
        ..Filter::default()
    };
    let (db, queue) = (&app.services.db, &app.services.queue);
    let mut replay = Replay::new(db, queue, &filter, 3);
    assert_eq!(replay.next_page().await.unwrap(), Some(3));
    assert_eq!(
        queued(&app).await.len(),
        3,
        "one page replayed before the next is read"
    );

    // While it runs, the three replayed die again (they match again, behind the cursor)
    // and two new ones die (ahead of it).
    let replayed_first: Vec<String> = queued(&app).await.into_keys().collect();
    for id in &replayed_first {
        dead_letters::store(db, &dead_record("int_pages", id))
            .await
            .unwrap();
    }
    let later = store_dead_letters(&app, "int_pages", 2).await;
    let mut pages = vec![3];
    while let Some(n) = replay.next_page().await.unwrap() {
        pages.push(n);
    }
    assert_eq!(pages, vec![3, 3, 3, 3], "pages of at most 3");
    assert_eq!(replay.replayed(), 12);
    let queued = queued(&app).await;
    let expected: Vec<&String> = first.iter().chain(&later).collect();
    assert_eq!(queued.len(), 12, "{queued:?}");
    for id in expected {
        assert_eq!(queued.get(id), Some(&1), "{id} replayed once: {queued:?}");
    }
    // The ones that died again wait for the next replay, which takes exactly them.
    let again = dead_letters::replay(db, queue, &filter).await.unwrap();
    assert_eq!(again, 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_pages_through_a_changing_selection_once_each_on_sqlite() {
    replays_page_by_page(AppOptions::embedded_sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_pages_through_a_changing_selection_once_each_on_postgres() {
    replays_page_by_page(AppOptions::embedded_postgres()).await;
}

/// The API and the CLI replay more than a page of matches, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_api_and_cli_replay_more_than_a_page_each_once() {
    let app = spawn_app(without_worker(AppOptions::embedded_sqlite())).await;
    let total = usize::try_from(2 * REPLAY_PAGE + 7).unwrap();
    let ids = store_dead_letters(&app, "int_many", total).await;
    let (status, answer) = app.api_post("/api/v1/dead-letters/replay", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["replayed"], total, "{answer}");
    let after_api = queued(&app).await;
    assert_eq!(after_api.len(), total);
    assert!(after_api.values().all(|n| *n == 1), "{after_api:?}");

    // They all die again; the CLI replays them all, once more each.
    for id in &ids {
        dead_letters::store(&app.services.db, &dead_record("int_many", id))
            .await
            .unwrap();
    }
    let env = vec![
        ("INLET_DATABASE_URL", app.db.url.clone()),
        ("RUST_LOG", "error".to_owned()),
    ];
    let (code, out) = Process::run(&["dlq", "replay", "--all"], &env);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("Replayed {total} dead letter(s).")),
        "{out}"
    );
    let after_cli = queued(&app).await;
    assert_eq!(after_cli.len(), total);
    assert!(after_cli.values().all(|n| *n == 2), "{after_cli:?}");
    let counts: Vec<i32> = dead_letter::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .iter()
        .map(|d| d.replay_count)
        .collect();
    assert!(counts.iter().all(|c| *c == 2), "{counts:?}");
    app.stop().await;
}

/// The `Set-Cookie` headers of a sign-in by `console`: the sign-in page's, then the session's.
async fn sign_in_cookies(console: &mut Console, key: &str) -> Vec<String> {
    let page = console
        .client
        .get(format!("{}/console/login", console.base))
        .send()
        .await
        .unwrap();
    let login = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    let r = console.login(key).await;
    assert_eq!(r.status().as_u16(), 303);
    let session = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(login.starts_with("inlet_login=") && session.starts_with("inlet_session="));
    vec![login, session]
}

/// `Secure` follows `INLET_PUBLIC_URL`'s scheme, never what the request says: an https public
/// URL behind a TLS-terminating proxy (plain HTTP here) gets it; an http one does not, even
/// when the client claims `X-Forwarded-Proto: https`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secure_cookie_flag_follows_the_public_url() {
    let mut options = AppOptions::embedded_sqlite();
    options.worker = false;
    options.vars = vec![(
        "INLET_PUBLIC_URL".into(),
        "https://inlet.example.com".into(),
    )];
    let app = spawn_app(options).await;
    let mut console = Console::new(&app.address);
    for cookie in sign_in_cookies(&mut console, &app.api_key).await {
        assert!(cookie.contains("; Secure"), "https public URL: {cookie}");
    }
    let csrf = console.csrf("/console").await;
    let (_, _, headers) = console.post("/console/logout", &[("_csrf", &csrf)]).await;
    let cleared = headers["set-cookie"].to_str().unwrap();
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("; Secure"),
        "{cleared}"
    );
    app.stop().await;

    let mut options = AppOptions::embedded_sqlite();
    options.worker = false;
    let app = spawn_app(options).await;
    let mut forwarded = reqwest::header::HeaderMap::new();
    forwarded.insert("x-forwarded-proto", "https".parse().unwrap());
    forwarded.insert("forwarded", "proto=https".parse().unwrap());
    let mut console = Console {
        base: app.address.clone(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(forwarded)
            .build()
            .unwrap(),
        cookie: None,
    };
    for cookie in sign_in_cookies(&mut console, &app.api_key).await {
        assert!(!cookie.contains("Secure"), "http public URL: {cookie}");
    }
    app.stop().await;
}

/// `dlq list` takes a time as a duration ago as well as an RFC 3339 time: a dead letter
/// stored now is dead since an hour ago, not before an hour ago; a word that is neither is
/// refused with both forms named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_times_take_durations_ago() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    dead_letters::store(&app.services.db, &dead_record("int_times", &new_id("wh_")))
        .await
        .unwrap();
    let env = vec![
        ("INLET_DATABASE_URL", app.db.url.clone()),
        ("RUST_LOG", "error".to_owned()),
    ];
    let (code, out) = Process::run(&["dlq", "list", "--since", "1h"], &env);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 dead letter(s)."), "{out}");
    let (code, out) = Process::run(&["dlq", "list", "--until", "1h"], &env);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("No dead letters."), "{out}");
    let (code, out) = Process::run(&["dlq", "list", "--since", "2026-01-01T00:00:00Z"], &env);
    assert!(out.contains("1 dead letter(s)."), "{code:?} {out}");
    let (code, _) = Process::run(&["dlq", "list", "--since", "lately"], &env);
    assert_eq!(code, Some(2), "an unreadable time is a usage error");
    app.stop().await;
}
