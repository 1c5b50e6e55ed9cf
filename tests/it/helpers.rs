//! Test harness: each test gets its own database (a fresh PostgreSQL database or SQLite
//! file) and its own RabbitMQ vhost, boots the real application in-process on port 0, and
//! talks to it over HTTP. Services that are missing fail the test loudly.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sea_orm::{ConnectionTrait, Database, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const STRIPE_SECRET: &str = "whsec_test_integration_secret_0123456789";

fn pg_admin_url() -> String {
    std::env::var("INLET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn amqp_base() -> String {
    std::env::var("INLET_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672".into())
}

pub fn rabbit_management() -> String {
    std::env::var("INLET_TEST_RABBITMQ_MANAGEMENT_URL")
        .unwrap_or_else(|_| "http://guest:guest@127.0.0.1:15672".into())
}

pub fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// Runs an async cleanup from `Drop` on a thread of its own (Drop cannot await).
fn cleanup_blocking<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(f);
        }
    })
    .join();
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of the test's own, removed when dropped.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    dir: Option<PathBuf>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Arc<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("inlet-test-{}", random_suffix()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.join("inlet.db").display());
                Arc::new(Self {
                    url,
                    pg_name: None,
                    dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let admin = Database::connect(pg_admin_url())
                    .await
                    .expect("PostgreSQL is required at 127.0.0.1:5432 (set INLET_TEST_POSTGRES_URL); is it running?");
                let name = format!("inlet_test_{}", random_suffix());
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create database");
                let _ = admin.close().await;
                let base = pg_admin_url();
                let url = match base.rsplit_once('/') {
                    Some((prefix, _)) => format!("{prefix}/{name}"),
                    None => panic!("bad INLET_TEST_POSTGRES_URL"),
                };
                Arc::new(Self {
                    url,
                    pg_name: Some(name),
                    dir: None,
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            cleanup_blocking(async move {
                if let Ok(admin) = Database::connect(pg_admin_url()).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = admin.close().await;
                }
            });
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A RabbitMQ vhost of the test's own, deleted when dropped.
pub struct TestVhost {
    pub name: String,
    pub amqp_url: String,
}

impl TestVhost {
    pub async fn new() -> Arc<Self> {
        let name = format!("inlet-test-{}", random_suffix());
        let client = reqwest::Client::new();
        let base = rabbit_management();
        let created = client
            .put(format!("{base}/api/vhosts/{name}"))
            .send()
            .await
            .expect("RabbitMQ's management API is required at 127.0.0.1:15672 (rabbitmq-plugins enable rabbitmq_management)");
        assert!(
            created.status().is_success(),
            "creating vhost: {}",
            created.status()
        );
        let granted = client
            .put(format!("{base}/api/permissions/{name}/guest"))
            .json(&json!({"configure": ".*", "write": ".*", "read": ".*"}))
            .send()
            .await
            .expect("grant vhost permissions");
        assert!(
            granted.status().is_success(),
            "granting permissions: {}",
            granted.status()
        );
        let amqp_url = format!("{}/{name}", amqp_base());
        Arc::new(Self { name, amqp_url })
    }

    /// Messages in a queue of this vhost, from the management API.
    pub async fn queue_messages(&self, queue: &str) -> u64 {
        let url = format!("{}/api/queues/{}/{queue}", rabbit_management(), self.name);
        let v: Value = reqwest::get(url)
            .await
            .expect("management api")
            .json()
            .await
            .expect("json");
        v["messages"].as_u64().unwrap_or(0)
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let url = format!("{}/api/vhosts/{}", rabbit_management(), self.name);
        cleanup_blocking(async move {
            let _ = reqwest::Client::new().delete(url).send().await;
        });
    }
}

/// How to boot an application.
pub struct AppOptions {
    pub backend: Backend,
    pub rabbit: bool,
    pub worker: bool,
    pub db: Option<Arc<TestDb>>,
    /// Held so the vhost lives as long as the application.
    #[allow(dead_code)]
    pub vhost: Option<Arc<TestVhost>>,
    /// Overrides the vhost's URL (e.g. through a proxy).
    pub amqp_url: Option<String>,
    pub vars: Vec<(String, String)>,
}

impl AppOptions {
    pub fn embedded_sqlite() -> Self {
        Self {
            backend: Backend::Sqlite,
            rabbit: false,
            worker: true,
            db: None,
            vhost: None,
            amqp_url: None,
            vars: vec![],
        }
    }
    pub fn embedded_postgres() -> Self {
        Self {
            backend: Backend::Postgres,
            ..Self::embedded_sqlite()
        }
    }
    pub fn production() -> Self {
        Self {
            backend: Backend::Postgres,
            rabbit: true,
            ..Self::embedded_sqlite()
        }
    }
}

/// A running application.
pub struct TestApp {
    pub address: String,
    pub api_key: String,
    pub services: inlet::Services,
    pub client: reqwest::Client,
    pub db: Arc<TestDb>,
    /// Held so the vhost lives as long as the application.
    #[allow(dead_code)]
    pub vhost: Option<Arc<TestVhost>>,
    shutdown: CancellationToken,
    http: Option<JoinHandle<std::io::Result<()>>>,
    worker: Option<JoinHandle<()>>,
}

pub fn init_logs() {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        inlet_shared::telemetry::init(inlet_shared::config::LogFormat::Pretty, &filter);
    }
}

pub async fn spawn_app(options: AppOptions) -> TestApp {
    init_logs();
    let db = match options.db {
        Some(db) => db,
        None => TestDb::new(options.backend).await,
    };
    let vhost = match (options.rabbit, options.vhost) {
        (true, Some(v)) => Some(v),
        (true, None) => Some(TestVhost::new().await),
        (false, _) => None,
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let api_key = format!("inlet_test_{}", random_suffix());
    let mut vars: Vec<(String, String)> = vec![
        ("INLET_DATABASE_URL".into(), db.url.clone()),
        ("INLET_DATABASE_POOL".into(), "4".into()),
        (
            "INLET_PUBLIC_URL".into(),
            format!("http://127.0.0.1:{port}"),
        ),
        ("INLET_LISTEN".into(), format!("127.0.0.1:{port}")),
        ("INLET_BOOTSTRAP_API_KEY".into(), api_key.clone()),
        ("INLET_HTTP_WORKERS".into(), "1".into()),
        ("INLET_CACHE_REFRESH_MS".into(), "100".into()),
        ("INLET_PUBLISH_TIMEOUT_MS".into(), "3000".into()),
        (
            "INLET_OUTBOX_DIR".into(),
            std::env::temp_dir()
                .join(format!("inlet-test-outbox-{}", random_suffix()))
                .display()
                .to_string(),
        ),
    ];
    if let Some(v) = &vhost {
        vars.push((
            "INLET_AMQP_URL".into(),
            options
                .amqp_url
                .clone()
                .unwrap_or_else(|| v.amqp_url.clone()),
        ));
    }
    vars.extend(options.vars);
    let config = inlet_shared::config::Config::from_vars(vars).expect("config");
    let services = inlet::connect(config, true)
        .await
        .expect("connect services");
    inlet::bootstrap_api_key(&services)
        .await
        .expect("bootstrap key");
    let shutdown = CancellationToken::new();
    let (_, http) =
        inlet::start_ingest(&services, listener, shutdown.clone()).expect("start ingest");
    let worker = options
        .worker
        .then(|| inlet::start_worker(&services, shutdown.clone()).expect("start worker"));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        api_key,
        services,
        client: reqwest::Client::new(),
        db,
        vhost,
        shutdown,
        http: Some(http),
        worker,
    }
}

impl TestApp {
    /// Stops the application gracefully and waits for it.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(http) = self.http.take() {
            let _ = http.await;
        }
        if let Some(worker) = self.worker.take() {
            let _ = worker.await;
        }
    }

    pub async fn create_stripe_integration(&self) -> String {
        self.create_integration(
            json!({"provider": "stripe", "name": "Stripe test", "signingSecrets": [STRIPE_SECRET]}),
        )
        .await["id"]
            .as_str()
            .expect("integration id")
            .to_owned()
    }

    pub async fn create_integration(&self, body: Value) -> Value {
        let (status, created) = self.api_post("/api/v1/integrations", body).await;
        assert_eq!(status, 201, "{created}");
        created
    }

    pub async fn api_post(&self, path: &str, body: Value) -> (u16, Value) {
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

    pub async fn api_get(&self, path: &str) -> (u16, Value) {
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

    /// Posts raw bytes with the given headers to an integration's endpoint.
    pub async fn post_webhook(
        &self,
        integration_id: &str,
        body: &[u8],
        headers: &[(&str, String)],
    ) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/webhooks/{integration_id}", self.address))
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Posts a body signed now with the test secret.
    pub async fn send_stripe(&self, integration_id: &str, body: &str) -> (u16, Value) {
        let header = stripe_signature(STRIPE_SECRET, now_secs(), body);
        self.post_webhook(
            integration_id,
            body.as_bytes(),
            &[("Stripe-Signature", header)],
        )
        .await
    }

    pub async fn find_contacts(&self, email: &str) -> Vec<Value> {
        let (status, found) = self
            .api_get(&format!("/api/v1/contacts/find?email={email}"))
            .await;
        assert_eq!(status, 200, "{found}");
        found.as_array().cloned().unwrap_or_default()
    }

    /// Waits until the contact exists (or panics after `timeout`).
    pub async fn wait_for_contact(&self, email: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.find_contacts(email).await.into_iter().next() {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "contact {email} did not appear within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn count<E: EntityTrait>(&self, _entity: E) -> u64
    where
        E::Model: Sync,
    {
        E::find().count(&self.services.db).await.expect("count")
    }

    /// Waits until the webhook log has a row with `status` for this delivery id.
    pub async fn wait_for_log_status(&self, delivery_id: &str, status: &str, timeout: Duration) {
        use inlet_shared::db::entities::webhook_log;
        let deadline = Instant::now() + timeout;
        loop {
            let row = webhook_log::Entity::find_by_id(delivery_id.to_owned())
                .one(&self.services.db)
                .await
                .expect("query");
            if row.as_ref().is_some_and(|r| r.status == status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "delivery {delivery_id} not {status} within {timeout:?}: {row:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn now_secs() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("secs")
}

pub fn stripe_signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A Stripe customer event shaped as Stripe sends it.
pub fn stripe_customer_event(
    event_id: &str,
    kind: &str,
    email: &str,
    name: &str,
    created: i64,
) -> String {
    json!({
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": "req_test", "idempotency_key": null},
        "type": kind,
        "data": {"object": {
            "id": "cus_TestCustomer01",
            "object": "customer",
            "address": null,
            "balance": 0,
            "created": created,
            "currency": "usd",
            "email": email,
            "name": name,
            "phone": null,
            "metadata": {"plan": "pro"},
            "livemode": false
        }}
    })
    .to_string()
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl TestApp {
    /// Signs a platform sample (see `providers::samples`) with `secret` at `now` and posts it.
    pub async fn send_sample(
        &self,
        integration_id: &str,
        provider: inlet_shared::providers::Provider,
        secret: &str,
        event_type: &str,
        person: &inlet_shared::providers::samples::Person<'_>,
        now: i64,
    ) -> (u16, Value) {
        use inlet_shared::providers::samples;
        let body = samples::sample(provider, event_type, person, now).expect("sample exists");
        let message_id = format!("msg_{}", random_suffix());
        let headers = samples::sign(provider, secret, &body, now, &message_id).expect("sign");
        let headers: Vec<(&str, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        self.post_webhook(integration_id, body.as_bytes(), &headers)
            .await
    }

    /// Event names recorded on a contact, oldest first.
    pub async fn contact_event_names(&self, contact_id: &str) -> Vec<String> {
        use inlet_shared::db::entities::contact_event;
        use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
        contact_event::Entity::find()
            .filter(contact_event::Column::ContactId.eq(contact_id))
            .order_by_asc(contact_event::Column::Id)
            .all(&self.services.db)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.event_name)
            .collect()
    }

    /// Waits until the delivery reached a final state in the webhook log; returns the row.
    pub async fn wait_for_outcome(
        &self,
        delivery_id: &str,
        timeout: Duration,
    ) -> inlet_shared::db::entities::webhook_log::Model {
        use inlet_shared::db::entities::webhook_log;
        let deadline = Instant::now() + timeout;
        loop {
            let row = webhook_log::Entity::find_by_id(delivery_id.to_owned())
                .one(&self.services.db)
                .await
                .expect("query");
            if let Some(row) = row.filter(|r| {
                ["processed", "ignored", "duplicate", "dead"].contains(&r.status.as_str())
            }) {
                return row;
            }
            assert!(
                Instant::now() < deadline,
                "delivery {delivery_id} not finished within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
