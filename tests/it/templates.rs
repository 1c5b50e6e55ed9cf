//! Templates that would stall the pipeline or exhaust memory. A sender lettre cannot write
//! is refused at save, and a template saved before that check fails its run (never a
//! `queued` email forever). Rendered output stops at `INLET_TEMPLATE_MAX_BYTES`: the output
//! bomb is refused at save, and a render that blows up on real data fails its run into the
//! dead letters. The bombs go off in `inlet serve` run as a child process, whose peak
//! memory is read from /proc: the tests of this binary run as threads of one process, so
//! the test process's own memory would count theirs too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use inlet_shared::db::entities::email_template;
use sea_orm::{ActiveValue::Set, Database, DatabaseConnection, EntityTrait};
use serde_json::{Value, json};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(30);
const MIB: u64 = 1024 * 1024;
/// The issue's output bomb: 800 MB of output for a few instructions of fuel.
const BOMB: &str = r#"{% for i in range(8) %}{{ "x" * 100000000 }}{% endfor %}"#;
/// The bound the process's memory must stay under, start-up included, while a bomb goes off.
const MEMORY_BOUND: u64 = 300 * MIB;
/// A sender name that would add a header if it were written as it is.
const INJECTED_NAME: &str = "Acme\r\nBcc: victim@example.com";

/// The API calls these tests make, of an app in this process or of a child `inlet serve`.
trait Api {
    async fn api_post(&self, path: &str, body: Value) -> (u16, Value);
    async fn api_get(&self, path: &str) -> (u16, Value);
}

impl Api for TestApp {
    async fn api_post(&self, path: &str, body: Value) -> (u16, Value) {
        TestApp::api_post(self, path, body).await
    }
    async fn api_get(&self, path: &str) -> (u16, Value) {
        TestApp::api_get(self, path).await
    }
}

/// `inlet serve` (the debug build under test) in a child process of its own.
struct Served {
    process: Option<Process>,
    address: String,
    api_key: String,
    client: reqwest::Client,
    outbox: PathBuf,
    /// Held so the database and the vhost outlive the process.
    _db: Arc<TestDb>,
    _vhost: Option<Arc<TestVhost>>,
}

impl Served {
    /// Starts `inlet serve` on `db` (on RabbitMQ with a vhost, else the embedded queue),
    /// with `vars` added to its settings, and waits until it is ready.
    async fn start(
        db: Arc<TestDb>,
        vhost: Option<Arc<TestVhost>>,
        vars: &[(&'static str, String)],
    ) -> Self {
        let port = free_port();
        let address = format!("http://127.0.0.1:{port}");
        let api_key = format!("inlet_test_{}", random_suffix());
        let outbox = std::env::temp_dir().join(format!("inlet-test-outbox-{}", random_suffix()));
        let mut env = vec![
            ("INLET_DATABASE_URL", db.url.clone()),
            ("INLET_LISTEN", format!("127.0.0.1:{port}")),
            ("INLET_PUBLIC_URL", address.clone()),
            ("INLET_BOOTSTRAP_API_KEY", api_key.clone()),
            ("INLET_OUTBOX_DIR", outbox.display().to_string()),
            ("INLET_CACHE_REFRESH_MS", "100".into()),
            ("INLET_LOG_FORMAT", "json".into()),
            ("RUST_LOG", "warn".into()),
        ];
        if let Some(v) = &vhost {
            env.push(("INLET_AMQP_URL", v.amqp_url.clone()));
        }
        env.extend_from_slice(vars);
        let process = Process::spawn("serve", &["serve"], &env);
        let client = reqwest::Client::new();
        eventually(WAIT, "inlet serve ready", || async {
            client
                .get(format!("{address}/health/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        Self {
            process: Some(process),
            address,
            api_key,
            client,
            outbox,
            _db: db,
            _vhost: vhost,
        }
    }

    /// The most resident memory the process ever held (`VmHWM`), in bytes.
    fn peak_rss(&self) -> u64 {
        let pid = self.process.as_ref().expect("running").pid();
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // A process that died (killed for its memory, say) is a zombie with no VmHWM.
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .unwrap_or_else(|| panic!("no VmHWM in {path}: has inlet serve died?\n{status}"));
        let kib: u64 = line
            .trim_start_matches("VmHWM:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        kib * 1024
    }

    /// Asserts the process's peak memory, start-up included, stayed under `MEMORY_BOUND`.
    fn assert_memory_bounded(&self, what: &str) {
        let peak = self.peak_rss();
        eprintln!(
            "{what}: inlet serve's peak RSS (VmHWM) is {} MiB",
            peak / MIB
        );
        assert!(
            peak < MEMORY_BOUND,
            "{what}: inlet serve's peak RSS reached {} MiB (bound {} MiB)",
            peak / MIB,
            MEMORY_BOUND / MIB
        );
    }

    /// SIGTERM; the process must stop cleanly.
    fn stop(mut self) {
        let process = self.process.take().expect("running");
        assert_eq!(process.terminate(), Some(0), "inlet serve's exit code");
    }
}

impl Api for Served {
    async fn api_post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(&self.api_key)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn api_get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.address))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // The process first (Process kills it if the test failed), then its files.
        self.process.take();
        let _ = std::fs::remove_dir_all(&self.outbox);
    }
}

async fn create(app: &impl Api, path: &str, body: Value) -> String {
    let (status, created) = app.api_post(path, body).await;
    assert_eq!(status, 200, "{path}: {created}");
    created["id"].as_str().expect("id").to_owned()
}

/// Stores a template straight in the database, unchecked, as one saved before the checks.
async fn stored_template(db: &DatabaseConnection, html: &str, from_name: Option<&str>) -> String {
    let id = format!("tpl_old{}", random_suffix());
    email_template::Entity::insert(email_template::ActiveModel {
        id: Set(id.clone()),
        name: Set("Saved before the checks".into()),
        subject: Set("Hello {{ contact.firstName }}".into()),
        html: Set(html.into()),
        text: Set(None),
        from_name: Set(from_name.map(Into::into)),
        from_email: Set(from_name.map(|_| "hello@acme.test".into())),
        created_at: Set(0),
        updated_at: Set(0),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    id
}

/// A workflow sending `template` on the custom event `event`.
async fn workflow_on(app: &impl Api, event: &str, template: &str) -> String {
    create(
        app,
        "/api/v1/workflows",
        json!({"name": event, "trigger": {"type": "event", "eventName": event},
               "steps": [{"type": "sendEmail", "templateId": template}]}),
    )
    .await
}

async fn send_event(app: &impl Api, body: Value) {
    let (status, answer) = app.api_post("/api/v1/events/send", body).await;
    assert_eq!(status, 200, "{answer}");
}

/// Waits for the dead letter of a run of `workflow`.
async fn dead_run(app: &impl Api, workflow: &str) -> Value {
    let what = format!("a dead letter for workflow {workflow}");
    eventually_some(WAIT, &what, || async {
        let (_, list) = app.api_get("/api/v1/dead-letters").await;
        list.as_array()
            .unwrap()
            .iter()
            .find(|d| d["provider"] == "workflow" && d["integrationId"] == workflow)
            .cloned()
    })
    .await
}

/// The emails recorded for `email`, none of them left `queued`.
async fn none_queued(app: &impl Api, email: &str) -> Vec<Value> {
    let (status, list) = app.api_get(&format!("/api/v1/emails?email={email}")).await;
    assert_eq!(status, 200, "{list}");
    let sent = list.as_array().unwrap().clone();
    assert!(
        sent.iter().all(|e| e["status"] != "queued"),
        "an email stays queued: {sent:?}"
    );
    sent
}

fn assert_refused(status: u16, answer: &Value, field: &str) {
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["success"], false, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.starts_with(field), "names {field}: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_name_with_a_line_break_is_refused_at_save_naming_the_field() {
    let app = spawn_app(AppOptions::embedded_sqlite()).await;
    let (status, answer) = app
        .api_post(
            "/api/v1/templates",
            json!({"name": "T", "subject": "Hi", "html": "<p>Hi</p>",
                   "fromName": INJECTED_NAME, "fromEmail": "hello@acme.test"}),
        )
        .await;
    assert_refused(status, &answer, "fromName");
    // Without an address of its own the name is still refused: it must not be saved.
    let (status, answer) = app
        .api_post(
            "/api/v1/templates",
            json!({"name": "T", "subject": "Hi", "html": "<p>Hi</p>", "fromName": "A\nB"}),
        )
        .await;
    assert_refused(status, &answer, "fromName");
    let (status, answer) = app
        .api_post(
            "/api/v1/templates",
            json!({"name": "T", "subject": "Hi\r\nBcc: victim@example.com", "html": "<p>Hi</p>"}),
        )
        .await;
    assert_refused(status, &answer, "subject");
    let (_, list) = app.api_get("/api/v1/templates").await;
    assert_eq!(list, json!([]), "nothing was saved");

    // A change is checked with the fields it keeps: the address saved, the name new.
    let id = create(
        &app,
        "/api/v1/templates",
        json!({"name": "T", "subject": "Hi", "html": "<p>Hi</p>", "fromEmail": "hello@acme.test"}),
    )
    .await;
    let response = app
        .client
        .patch(format!("{}/api/v1/templates/{id}", app.address))
        .bearer_auth(&app.api_key)
        .json(&json!({"fromName": INJECTED_NAME}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    assert_refused(status, &response.json().await.unwrap(), "fromName");
    let (_, saved) = app.api_get(&format!("/api/v1/templates/{id}")).await;
    assert_eq!(saved["fromName"], Value::Null, "{saved}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_saved_before_the_check_fails_its_run_into_the_dead_letters() {
    let smtp = SmtpServer::start();
    let mut options = AppOptions::production();
    options.vars.push(("INLET_SMTP_URL".into(), smtp.url()));
    let app = spawn_app(options).await;
    let template = stored_template(&app.services.db, "<p>Hi</p>", Some(INJECTED_NAME)).await;
    let workflow = workflow_on(&app, "signup", &template).await;
    send_event(
        &app,
        json!({"email": "ada@example.com", "eventName": "signup"}),
    )
    .await;

    let dead = dead_run(&app, &workflow).await;
    let error = dead["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("template {template}: fromName cannot be written")),
        "{dead}"
    );
    none_queued(&app, "ada@example.com").await;
    assert!(smtp.messages().is_empty());

    // The runner goes on: a good template's run sends.
    let good = create(
        &app,
        "/api/v1/templates",
        json!({"name": "Good", "subject": "Welcome", "html": "<p>Hi</p>",
               "fromName": "Acme", "fromEmail": "hello@acme.test"}),
    )
    .await;
    workflow_on(&app, "welcome", &good).await;
    send_event(
        &app,
        json!({"email": "bob@example.com", "eventName": "welcome"}),
    )
    .await;
    let messages = smtp.wait_for(1, WAIT).await;
    assert_eq!(
        header(&messages[0], "X-RcptTo").as_deref(),
        Some("bob@example.com")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_output_bomb_is_refused_at_save_within_bounded_memory() {
    let serve = Served::start(TestDb::new(Backend::Sqlite).await, None, &[]).await;
    let (status, answer) = serve
        .api_post(
            "/api/v1/templates",
            json!({"name": "Bomb", "subject": "Hi", "html": BOMB}),
        )
        .await;
    serve.assert_memory_bounded("saving the bomb");
    assert_refused(status, &answer, "html renders to more than 1048576 bytes");
    let (_, list) = serve.api_get("/api/v1/templates").await;
    assert_eq!(list, json!([]), "nothing was saved");
    serve.stop();

    // In the text part, and under a smaller cap of the installation's.
    let mut options = AppOptions::embedded_sqlite();
    options
        .vars
        .push(("INLET_TEMPLATE_MAX_BYTES".into(), "1000".into()));
    let small = spawn_app(options).await;
    let (status, answer) = small
        .api_post(
            "/api/v1/templates",
            json!({"name": "Long", "subject": "Hi", "html": "<p>Hi</p>",
                   "text": "{{ 'x' * 1001 }}"}),
        )
        .await;
    assert_refused(status, &answer, "text renders to more than 1000 bytes");
    create(
        &small,
        "/api/v1/templates",
        json!({"name": "Fits", "subject": "Hi", "html": "<p>Hi</p>", "text": "{{ 'x' * 1000 }}"}),
    )
    .await;
    small.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bomb_saved_before_the_cap_fails_its_run_within_bounded_memory() {
    // The bomb goes into the database before the process starts, as a template saved by a
    // version without the cap.
    let db = TestDb::new(Backend::Sqlite).await;
    let (code, _) = Process::run(
        &["migrate"],
        &[
            ("INLET_DATABASE_URL", db.url.clone()),
            ("RUST_LOG", "warn".into()),
        ],
    );
    assert_eq!(code, Some(0), "inlet migrate");
    let conn = Database::connect(&db.url).await.expect("open the database");
    let template = stored_template(&conn, BOMB, None).await;
    conn.close().await.expect("close the database");

    let serve = Served::start(db, None, &[]).await;
    let workflow = workflow_on(&serve, "boom", &template).await;
    send_event(
        &serve,
        json!({"email": "ada@example.com", "eventName": "boom"}),
    )
    .await;
    let dead = dead_run(&serve, &workflow).await;
    serve.assert_memory_bounded("running the bomb");
    assert_eq!(
        dead["error"],
        format!("template {template}: html renders to more than 1048576 bytes"),
        "{dead}"
    );
    assert_eq!(dead["attempts"], 1, "a permanent failure: {dead}");
    none_queued(&serve, "ada@example.com").await;
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_that_blows_up_on_real_data_is_dead_lettered_not_left_queued() {
    let smtp = SmtpServer::start();
    let serve = Served::start(
        TestDb::new(Backend::Postgres).await,
        Some(TestVhost::new().await),
        &[("INLET_SMTP_URL", smtp.url())],
    )
    .await;
    // The sample contact has no `copies`: one "x" at save.
    let template = create(
        &serve,
        "/api/v1/templates",
        json!({"name": "Copies", "subject": "Your copies",
               "html": "<p>{{ 'x' * (contact.copies | default(1)) }}</p>"}),
    )
    .await;
    let workflow = workflow_on(&serve, "order", &template).await;
    send_event(
        &serve,
        json!({"email": "ada@example.com", "eventName": "order", "copies": 50_000_000}),
    )
    .await;
    let dead = dead_run(&serve, &workflow).await;
    serve.assert_memory_bounded("rendering 50 MB for a contact");
    assert_eq!(
        dead["error"],
        format!("template {template}: html renders to more than 1048576 bytes"),
        "{dead}"
    );
    none_queued(&serve, "ada@example.com").await;

    // Another contact's data fits: the same workflow sends to them.
    send_event(
        &serve,
        json!({"email": "bob@example.com", "eventName": "order", "copies": 3}),
    )
    .await;
    let messages = smtp.wait_for(1, WAIT).await;
    assert_eq!(
        header(&messages[0], "X-RcptTo").as_deref(),
        Some("bob@example.com")
    );
    eventually(WAIT, "Bob's email recorded as sent", || async {
        let (_, list) = serve.api_get("/api/v1/emails?email=bob@example.com").await;
        list.as_array()
            .is_some_and(|l| l.len() == 1 && l[0]["status"] == "sent")
    })
    .await;
    serve.stop();
}
