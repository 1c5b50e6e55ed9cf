//! The real application booted in-process per test: its own database and vhost, HTTP on
//! port 0, and the requests and waits the tests make against it.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::eventually::poll;
use super::{
    Backend, STRIPE_SECRET, TEST_MASTER_KEY, TestDb, TestVhost, eventually_some, random_suffix,
};

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
        // No OTLP endpoint in the tests' environment: logs only, and no guard to keep.
        let _ =
            inlet_shared::telemetry::init(inlet_shared::config::LogFormat::Pretty, &filter, "test");
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
        // Tests drive the API far faster than ten requests a second; the rate limit's own
        // tests (`rate_limit.rs`) set it.
        ("INLET_API_RATE_LIMIT".into(), "0".into()),
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
    // PostgreSQL needs a master key; SQLite makes its key file. A test that names the
    // setting (even empty, to leave it unset) decides for itself.
    if db.url.starts_with("postgres") && !options.vars.iter().any(|(k, _)| k == "INLET_MASTER_KEY")
    {
        vars.push(("INLET_MASTER_KEY".into(), TEST_MASTER_KEY.into()));
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
        self.api(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn api_put(&self, path: &str, body: Value) -> (u16, Value) {
        self.api(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn api_get(&self, path: &str) -> (u16, Value) {
        self.api(reqwest::Method::GET, path, None).await
    }

    pub async fn api_delete(&self, path: &str) -> (u16, Value) {
        self.api(reqwest::Method::DELETE, path, None).await
    }

    /// One API request with the test key; the status and the JSON answer (`null` if none).
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(&self.api_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.expect("request");
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

    pub async fn find_contacts(&self, email: &str) -> Vec<Value> {
        let (status, found) = self
            .api_get(&format!("/api/v1/contacts/find?email={email}"))
            .await;
        assert_eq!(status, 200, "{found}");
        found.as_array().cloned().unwrap_or_default()
    }

    /// Waits until the contact exists (or panics after `timeout`).
    pub async fn wait_for_contact(&self, email: &str, timeout: Duration) -> Value {
        eventually_some(timeout, &format!("contact {email} to appear"), || async {
            self.find_contacts(email).await.into_iter().next()
        })
        .await
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
        let row = || async {
            webhook_log::Entity::find_by_id(delivery_id.to_owned())
                .one(&self.services.db)
                .await
                .expect("query")
        };
        let reached = poll(timeout, || async {
            row().await.filter(|r| r.status == status)
        })
        .await;
        if reached.is_none() {
            let row = row().await;
            panic!("delivery {delivery_id} not {status} within {timeout:?}: {row:?}");
        }
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
        let what = format!("delivery {delivery_id} to finish");
        eventually_some(timeout, &what, || async {
            webhook_log::Entity::find_by_id(delivery_id.to_owned())
                .one(&self.services.db)
                .await
                .expect("query")
                .filter(|r| {
                    ["processed", "ignored", "duplicate", "dead"].contains(&r.status.as_str())
                })
        })
        .await
    }

    /// The delivery's dead letter, if one is stored.
    pub async fn dead_letter_of(
        &self,
        delivery_id: &str,
    ) -> Option<inlet_shared::db::entities::dead_letter::Model> {
        use inlet_shared::db::entities::dead_letter;
        use sea_orm::{ColumnTrait, QueryFilter};
        dead_letter::Entity::find()
            .filter(dead_letter::Column::DeliveryId.eq(delivery_id))
            .one(&self.services.db)
            .await
            .expect("query")
    }

    /// Waits until the delivery's dead letter is stored (in production a worker archives it
    /// from the broker's dead-letter queue); returns it.
    pub async fn wait_for_dead_letter(
        &self,
        delivery_id: &str,
        timeout: Duration,
    ) -> inlet_shared::db::entities::dead_letter::Model {
        let what = format!("{delivery_id} to be dead-lettered");
        eventually_some(timeout, &what, || self.dead_letter_of(delivery_id)).await
    }
}
