//! The operator console: sign-in, sessions and CSRF checked over HTTP in-process, and the
//! whole console driven in headless Chromium against a running `inlet serve`.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);

fn location(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("location")
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_key_gets_401_and_no_cookie() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let mut console = Console::new(&app.address);
    for key in ["inlet_wrong", "", "   "] {
        let r = console.login(key).await;
        assert_eq!(r.status().as_u16(), 401, "{key:?}");
        assert!(r.headers().get("set-cookie").is_none());
        assert!(r.text().await.unwrap().contains("not valid"));
    }
    assert!(console.cookie.is_none());

    // A sign-in post that does not come from the sign-in page this browser loaded is refused,
    // right key or not (no login CSRF).
    let (status, html, headers) = console
        .post("/console/login", &[("api_key", app.api_key.as_str())])
        .await;
    assert_eq!(status, 403, "{html}");
    assert!(headers.get("set-cookie").is_none());
    let mut other = Console::new(&app.address);
    let (_, page, _) = other.get("/console/login").await;
    let foreign_token = field(&page, "_csrf");
    other.cookie = Some("inlet_login=00000000000000000000000000000000".into());
    let (status, _, headers) = other
        .post(
            "/console/login",
            &[("api_key", app.api_key.as_str()), ("_csrf", &foreign_token)],
        )
        .await;
    assert_eq!(status, 403);
    assert!(headers.get("set-cookie").is_none());

    let r = console.login(&app.api_key).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(location(r.headers()), "/console");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in [
        "inlet_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
    ] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: no Secure flag");
    assert!(
        !set.contains(&app.api_key),
        "the cookie does not carry the key"
    );
    let (status, html, _) = console.get("/console").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Dashboard"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_without_a_session_redirect_to_sign_in() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let integration = app.create_stripe_integration().await;
    let anonymous = Console::new(&app.address);
    let pages = [
        "/console".to_owned(),
        "/console/integrations".to_owned(),
        "/console/integrations/new?provider=clerk".to_owned(),
        format!("/console/integrations/{integration}"),
        "/console/deliveries".to_owned(),
        "/console/dead-letters".to_owned(),
        "/console/dead-letters/replay".to_owned(),
        "/console/contacts".to_owned(),
        "/console/lists".to_owned(),
        "/console/templates".to_owned(),
        "/console/templates/new".to_owned(),
        "/console/workflows".to_owned(),
        "/console/workflows/new".to_owned(),
        "/console/emails".to_owned(),
    ];
    for page in &pages {
        let (status, _, headers) = anonymous.get(page).await;
        assert_eq!(
            (status, location(&headers)),
            (303, "/console/login"),
            "{page}"
        );
    }
    for path in [
        format!("/console/integrations/{integration}/delete"),
        "/console/dead-letters/replay".to_owned(),
        "/console/logout".to_owned(),
    ] {
        let (status, _, headers) = anonymous.post(&path, &[("_csrf", "x")]).await;
        assert_eq!(
            (status, location(&headers)),
            (303, "/console/login"),
            "{path}"
        );
    }
    // A forged cookie is no session either.
    let mut forged = Console::new(&app.address);
    forged.cookie = Some("inlet_session=a2V5XzEuOTk5OTk5OTk5OTk5OQ.AAAA".into());
    assert_eq!(forged.get("/console").await.0, 303);
    // Sign-in and the assets need none.
    assert_eq!(anonymous.get("/console/login").await.0, 200);
    let (status, css, headers) = anonymous
        .get(&format!(
            "/console/assets/{}/console.css",
            env!("CARGO_PKG_VERSION")
        ))
        .await;
    assert_eq!(status, 200);
    assert!(css.contains("--accent"));
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );

    // Revoking the key signs its sessions out at once.
    let (code, out) = Process::run(
        &["api-key", "create", "--name", "short-lived"],
        &[
            ("INLET_DATABASE_URL", app.db.url.clone()),
            ("RUST_LOG", "error".into()),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let key = out.lines().last().unwrap().trim().to_owned();
    let mut console = Console::new(&app.address);
    assert_eq!(console.login(&key).await.status().as_u16(), 303);
    assert_eq!(console.get("/console/contacts").await.0, 200);
    let id = inlet_shared::apikeys::verify(&app.services.db, &key)
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(
        inlet_shared::apikeys::revoke(&app.services.db, &id)
            .await
            .unwrap()
    );
    let (status, _, headers) = console.get("/console/contacts").await;
    assert_eq!((status, location(&headers)), (303, "/console/login"));

    // Signing out clears the cookie and ends the session: a copy of the cookie kept
    // elsewhere no longer works, while another session of the same key still does.
    let mut console = Console::new(&app.address);
    console.login(&app.api_key).await;
    let mut other = Console::new(&app.address);
    other.login(&app.api_key).await;
    let copy = console.cookie.clone();
    let csrf = console.csrf("/console").await;
    let (status, _, headers) = console.post("/console/logout", &[("_csrf", &csrf)]).await;
    assert_eq!((status, location(&headers)), (303, "/console/login"));
    assert!(
        headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let mut stolen = Console::new(&app.address);
    stolen.cookie = copy;
    let (status, _, headers) = stolen.get("/console").await;
    assert_eq!((status, location(&headers)), (303, "/console/login"));
    assert_eq!(other.get("/console").await.0, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let integration = app.create_stripe_integration().await;
    let (_, before) = app
        .api_get(&format!("/api/v1/integrations/{integration}"))
        .await;
    let mut console = Console::new(&app.address);
    console.login(&app.api_key).await;
    let mut other = Console::new(&app.address);
    other.login(&app.api_key).await;
    let others_token = other.csrf("/console").await;
    let settings = format!("/console/integrations/{integration}/settings");
    let delete = format!("/console/integrations/{integration}/delete");
    let secrets = format!("/console/integrations/{integration}/secrets");
    for token in [None, Some(""), Some("AAAA"), Some(others_token.as_str())] {
        for path in [&settings, &delete, &secrets] {
            let mut form = vec![("secret", "whsec_new_secret_0123456789")];
            if let Some(t) = token {
                form.push(("_csrf", t));
            }
            let (status, html, _) = console.post(path, &form).await;
            assert_eq!(status, 403, "{path} with {token:?}: {html}");
            assert!(html.contains("security token"), "{html}");
        }
    }
    let (status, _, _) = console
        .post(
            "/console/integrations",
            &[
                ("provider", "stripe"),
                ("name", "X"),
                ("secret", "whsec_0123456789"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    let (_, after) = app
        .api_get(&format!("/api/v1/integrations/{integration}"))
        .await;
    assert_eq!(before, after, "nothing changed");
    let (_, all) = app.api_get("/api/v1/integrations").await;
    assert_eq!(all.as_array().unwrap().len(), 1);

    // With its own token the same post goes through.
    let csrf = console
        .csrf(&format!("/console/integrations/{integration}"))
        .await;
    let (status, _, headers) = console
        .post(
            &secrets,
            &[("_csrf", &csrf), ("secret", "whsec_new_secret_0123456789")],
        )
        .await;
    assert_eq!(status, 303);
    assert!(location(&headers).ends_with("?done=secret-added"));
    let (_, after) = app
        .api_get(&format!("/api/v1/integrations/{integration}"))
        .await;
    assert_eq!(after["secretCount"], 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_shows_a_saved_secret() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let mut console = Console::new(&app.address);
    console.login(&app.api_key).await;

    // Stripe: connected with a secret, then rotated to a second one.
    let (_, connect, _) = console
        .get("/console/integrations/new?provider=stripe")
        .await;
    let id = field(&connect, "id");
    let csrf = field(&connect, "_csrf");
    let first = "whsec_console_first_secret_0123";
    let second = "whsec_console_second_secret_0123";
    let (status, html, headers) = console
        .post(
            "/console/integrations",
            &[
                ("_csrf", &csrf),
                ("id", &id),
                ("provider", "stripe"),
                ("name", "Shop"),
                ("secret", first),
            ],
        )
        .await;
    assert_eq!(status, 303, "{html}");
    assert_eq!(
        location(&headers),
        format!("/console/integrations/{id}?done=connected")
    );
    let (status, html, _) = console
        .post(
            &format!("/console/integrations/{id}/secrets"),
            &[("_csrf", &csrf), ("secret", second)],
        )
        .await;
    assert_eq!(status, 303, "{html}");

    // Supabase: the generated header value is shown once, on the answer to the connect form.
    let (_, connect, _) = console
        .get("/console/integrations/new?provider=supabase")
        .await;
    let supabase = field(&connect, "id");
    let (status, once, _) = console
        .post(
            "/console/integrations",
            &[
                ("_csrf", &csrf),
                ("id", &supabase),
                ("provider", "supabase"),
                ("name", "Auth"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{once}");
    assert!(once.contains("Loops-Secret"), "{once}");
    let header_value = {
        let marker = "id=\"header-value\" value=\"";
        let start = once.find(marker).unwrap() + marker.len();
        once[start..].split('"').next().unwrap().to_owned()
    };
    assert!(header_value.len() >= 16, "{header_value}");

    // A delivery, so the log and contact pages have something to show.
    let body = stripe_customer_event(
        "evt_ConsoleSecret",
        "customer.created",
        "sec@example.com",
        "Sec Ret",
        now_secs(),
    );
    let signature = stripe_signature(second, now_secs(), &body);
    let (status, answer) = app
        .post_webhook(&id, body.as_bytes(), &[("Stripe-Signature", signature)])
        .await;
    assert_eq!(status, 202, "{answer}");
    let contact = app.wait_for_contact("sec@example.com", WAIT).await;
    let delivery = answer["id"].as_str().unwrap();
    let supabase_body = json!({"type": "INSERT", "table": "users", "schema": "auth",
        "record": {"id": "0d4f7a52-95a1-4d7c-9d9b-3f4a2b1c0e11", "email": "supa@example.com"}, "old_record": null})
    .to_string();
    let (status, supabase_answer) = app
        .post_webhook(
            &supabase,
            supabase_body.as_bytes(),
            &[("Loops-Secret", header_value.clone())],
        )
        .await;
    assert_eq!(status, 202, "{supabase_answer}");
    let supabase_delivery = supabase_answer["id"].as_str().unwrap();

    let pages = [
        "/console".to_owned(),
        "/console/integrations".to_owned(),
        format!("/console/integrations/{id}"),
        format!("/console/integrations/{supabase}"),
        "/console/deliveries".to_owned(),
        format!("/console/deliveries/{delivery}"),
        format!("/console/deliveries/{supabase_delivery}"),
        "/console/dead-letters".to_owned(),
        "/console/contacts".to_owned(),
        format!("/console/contacts/{}", contact["id"].as_str().unwrap()),
        "/console/lists".to_owned(),
        "/console/templates".to_owned(),
        "/console/workflows".to_owned(),
        "/console/emails".to_owned(),
        format!("/console/assets/{}/console.js", env!("CARGO_PKG_VERSION")),
        format!("/console/assets/{}/console.css", env!("CARGO_PKG_VERSION")),
    ];
    // The kept requests hold no signature either (written off the hot path: wait for both).
    eventually(WAIT, "the kept requests", || async {
        let (_, supabase_html, _) = console
            .get(&format!("/console/deliveries/{supabase_delivery}"))
            .await;
        let (_, stripe_html, _) = console
            .get(&format!("/console/deliveries/{delivery}"))
            .await;
        supabase_html.contains("supa@example.com") && stripe_html.contains("evt_ConsoleSecret")
    })
    .await;
    for page in &pages {
        let (status, html, _) = console.get(page).await;
        assert_eq!(status, 200, "{page}: {html}");
        for secret in [first, second, header_value.as_str(), app.api_key.as_str()] {
            assert!(!html.contains(secret), "{page} shows a secret");
        }
        assert!(!html.to_lowercase().contains("stripe-signature"), "{page}");
        assert!(!html.to_lowercase().contains("loops-secret"), "{page}");
    }
    let (_, html, _) = console
        .get(&format!("/console/deliveries/{delivery}"))
        .await;
    assert!(
        html.contains("evt_ConsoleSecret") && html.contains("content-type"),
        "{html}"
    );
    app.stop().await;
}

/// Puts one delivery in the dead letters the way a worker does after its last attempt:
/// received by ingest (no worker running), taken from the queue, and dead-lettered. Returns
/// the contact email inside it.
async fn prepare_dead_letter(db: std::sync::Arc<TestDb>) -> String {
    let mut options = AppOptions::embedded_sqlite();
    options.db = Some(db);
    options.worker = false;
    let app = spawn_app(options).await;
    let integration = app
        .create_integration(json!({"provider": "stripe", "name": "Stripe (earlier outage)", "signingSecrets": [STRIPE_SECRET]}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let email = "replayed@example.com";
    let body = stripe_customer_event(
        "evt_1ConsoleDead",
        "customer.created",
        email,
        "Re Played",
        now_secs(),
    );
    let (status, answer) = app.send_stripe(&integration, &body).await;
    assert_eq!(status, 202, "{answer}");
    let mut consumer = app.services.queue.consume(1).await.unwrap();
    let delivery = consumer.next().await.unwrap().unwrap();
    delivery
        .dead_letter("database error: connection refused")
        .await
        .unwrap();
    consumer.close().await;
    app.stop().await;
    email.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_headless_chromium_against_inlet_serve() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/console");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is not installed: run `npm ci --prefix tests/console` (./scripts/test.sh does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium is not installed at {chromium}: `apt-get install chromium` (./scripts/test.sh does)"
    );

    let db = TestDb::new(Backend::Sqlite).await;
    let dead_email = prepare_dead_letter(db.clone()).await;

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let key = format!("inlet_console_{}", random_suffix());
    let data = std::env::temp_dir().join(format!("inlet-console-{}", random_suffix()));
    let serve = Process::spawn(
        "serve",
        &["serve"],
        &[
            ("INLET_DATABASE_URL", db.url.clone()),
            ("INLET_LISTEN", format!("127.0.0.1:{port}")),
            ("INLET_BOOTSTRAP_API_KEY", key.clone()),
            (
                "INLET_OUTBOX_DIR",
                data.join("outbox").display().to_string(),
            ),
            ("INLET_CACHE_REFRESH_MS", "200".into()),
            ("INLET_LOG_FORMAT", "json".into()),
            ("RUST_LOG", "warn".into()),
        ],
    );
    let client = reqwest::Client::new();
    eventually(WAIT, "inlet serve to become ready", || async {
        let ready = client.get(format!("{base}/health/ready")).send().await;
        ready.is_ok_and(|r| r.status().is_success())
    })
    .await;

    // Screenshots go under target/ unless asked for elsewhere; the README's pictures are
    // refreshed with INLET_CONSOLE_SCREENSHOTS=docs/console.
    let shots = std::env::var_os("INLET_CONSOLE_SCREENSHOTS")
        .map_or_else(|| root.join("target/console-screenshots"), |d| root.join(d));
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("console.test.mjs")
            .current_dir(dir)
            .env("BASE_URL", base)
            .env("API_KEY", key)
            .env("DEAD_EMAIL", dead_email)
            .env("SHOTS_DIR", shots)
            .env("CHROMIUM", chromium)
            .output()
            .expect("Node.js is required for the console test")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "console browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("# console: all checks passed"), "{stdout}");
    assert_eq!(serve.terminate(), Some(0));
    let _ = std::fs::remove_dir_all(data);
}

async fn every_page_renders(options: AppOptions) {
    let app = spawn_app(options).await;
    let integration = app.create_stripe_integration().await;
    let body = stripe_customer_event(
        "evt_ConsolePg",
        "customer.created",
        "pg@example.com",
        "Post Gres",
        now_secs(),
    );
    let (status, answer) = app.send_stripe(&integration, &body).await;
    assert_eq!(status, 202, "{answer}");
    let contact = app.wait_for_contact("pg@example.com", WAIT).await;
    let (_, template) = app
        .api_post(
            "/api/v1/templates",
            json!({"name": "T", "subject": "Hi {{ contact.firstName }}", "html": "<p>x</p>"}),
        )
        .await;
    let template = template["id"].as_str().unwrap().to_owned();
    let mut console = Console::new(&app.address);
    console.login(&app.api_key).await;
    let delivery = answer["id"].as_str().unwrap();
    for page in [
        "/console".to_owned(),
        "/console/integrations".to_owned(),
        format!("/console/integrations/{integration}"),
        "/console/deliveries?window=15&status=processed".to_owned(),
        format!("/console/deliveries/{delivery}"),
        "/console/dead-letters?window=60".to_owned(),
        "/console/dead-letters/replay?window=60".to_owned(),
        "/console/contacts?q=pg%40".to_owned(),
        format!("/console/contacts/{}", contact["id"].as_str().unwrap()),
        "/console/lists".to_owned(),
        "/console/properties".to_owned(),
        "/console/suppressions".to_owned(),
        format!("/console/templates/{template}?email=pg%40example.com"),
        "/console/workflows".to_owned(),
        "/console/emails?email=pg%40example.com".to_owned(),
    ] {
        let (status, html, _) = console.get(&page).await;
        assert_eq!(status, 200, "{page}: {html}");
    }
    let (_, dashboard, _) = console.get("/console").await;
    assert!(dashboard.contains("<rect"), "the delivery is on the chart");
    assert!(
        !dashboard.contains(">unavailable<"),
        "the queue depth is read"
    );
    let (_, contacts, _) = console.get("/console/contacts?q=pg%40").await;
    assert!(contacts.contains("pg@example.com"));
    let (_, preview, _) = console
        .get(&format!(
            "/console/templates/{template}?email=pg%40example.com"
        ))
        .await;
    assert!(preview.contains("Hi Post"), "{preview}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_on_postgres() {
    every_page_renders(AppOptions::embedded_postgres()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_on_postgres_and_rabbitmq() {
    every_page_renders(AppOptions::production()).await;
}

/// The service's own address leads to the console, and from there to its sign-in page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_address_leads_to_the_console() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let root = client
        .get(format!("{}/", app.address))
        .send()
        .await
        .expect("GET /");
    assert_eq!(root.status().as_u16(), 303);
    assert_eq!(root.headers()["location"], "/console");
    let followed = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .expect("GET / followed");
    assert_eq!(followed.status().as_u16(), 200);
    assert!(
        followed.url().path().starts_with("/console"),
        "{}",
        followed.url()
    );
    app.stop().await;
}
