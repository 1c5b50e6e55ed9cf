//! Wiring of Inlet's processes, shared by the `inlet` binary and the integration tests:
//! connect the services once, then start ingest, worker, or both.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

pub mod api_key;
pub mod config_cmd;
pub mod dlq;
pub mod output;
pub mod prune;
pub mod secrets_cmd;
pub mod test_event;

use anyhow::Context;
use inlet_migrations::{Migrator, MigratorTrait};
use inlet_shared::config::Config;
use inlet_shared::email::{Mailbox, Mailer, UnsubscribeKey};
use inlet_shared::integrations::IntegrationCache;
use inlet_shared::metrics::Metrics;
use inlet_shared::queue::embedded::EmbeddedQueue;
use inlet_shared::queue::rabbitmq::{self, AmqpTls, RabbitQueue};
use inlet_shared::queue::{Queue, QueueError};
use inlet_shared::sealed::{self, Vault, VaultError};
use inlet_shared::{apikeys, db, retry};
use inlet_worker::WorkerSettings;
use inlet_worker::workflows::RunnerSettings;
use sea_orm::{DatabaseConnection, DbErr};
use secrecy::ExposeSecret;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long start-up waits for the database and the broker to come up.
const STARTUP_PATIENCE: Duration = Duration::from_secs(30);

/// Connections every process needs.
#[derive(Clone)]
pub struct Services {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: DatabaseConnection,
    /// The queue (RabbitMQ or embedded).
    pub queue: Queue,
    /// Integrations in memory.
    pub cache: IntegrationCache,
    /// The process's metrics (shared by ingest and worker in `serve`).
    pub metrics: Arc<Metrics>,
    /// Seals and opens stored secrets (`INLET_MASTER_KEY`, or SQLite's key file).
    pub vault: Vault,
    /// Signs (worker) and verifies (ingest) unsubscribe links.
    pub unsubscribe: UnsubscribeKey,
    /// The sender of emails whose template names none (`INLET_EMAIL_FROM`).
    pub email_from: Mailbox,
}

/// Connects to the database (waiting for it to come up).
pub async fn connect_database(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url.expose_secret().to_owned();
    let pool = config.database_pool;
    retry::retry_transient(STARTUP_PATIENCE, db::is_transient, || {
        db::connect(&url, pool)
    })
    .await
    .context("cannot connect to the database")
}

/// Applies pending migrations, then creates the coming days' partitions (PostgreSQL).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await?;
    inlet_shared::retention::prepare_partitions(db, inlet_shared::domain::now_ms()).await
}

/// Start-up's check of the stored secrets, after the migrations: they must be sealed under
/// a key `vault` holds (else nothing is changed and start-up stops, naming the keys), and
/// whatever is still in plain text is sealed now.
pub async fn prepare_secrets(db: &DatabaseConnection, vault: &Vault) -> anyhow::Result<()> {
    match sealed::prepare(db, vault).await {
        Ok(_) => Ok(()),
        Err(e @ VaultError::Db(_)) => {
            Err(e).context("cannot check the stored secrets (has `inlet migrate` run?)")
        }
        Err(e) => Err(e.into()),
    }
}

/// Connects the database, the queue and loads the integrations. The schema must exist
/// (`inlet migrate`, or `serve` which migrates first).
pub async fn connect(config: Config, run_migrations: bool) -> anyhow::Result<Services> {
    let email_from = inlet_shared::email::default_sender(&config)?;
    // Before the database: a missing master key stops start-up with nothing touched.
    let vault = Vault::from_config(&config)?;
    let db = connect_database(&config).await?;
    if run_migrations {
        migrate(&db).await.context("cannot apply migrations")?;
    }
    prepare_secrets(&db, &vault).await?;
    let queue = match &config.amqp_url {
        None => Queue::Embedded(EmbeddedQueue::new(db.clone())),
        Some(url) => {
            let url = url.clone();
            let tls = AmqpTls::from_files(
                config.amqp_tls_ca_file.as_deref(),
                config.amqp_tls_cert_file.as_deref(),
                config.amqp_tls_key_file.as_deref(),
            )
            .context("the AMQP TLS files are not usable")?;
            let rabbit = retry::retry_transient(
                STARTUP_PATIENCE,
                // A refused TLS handshake is a settings problem: fail at once, not after 30 s.
                |e: &QueueError| {
                    matches!(e, QueueError::Unavailable(_)) && !rabbitmq::is_tls_failure(e)
                },
                || {
                    RabbitQueue::connect_with_tls(
                        url.clone(),
                        tls.clone(),
                        config.retry_delays.clone(),
                    )
                },
            )
            .await
            .context("cannot connect to RabbitMQ")?;
            Queue::Rabbit(rabbit)
        }
    };
    let unsubscribe = match &config.unsubscribe_secret {
        Some(secret) => UnsubscribeKey::new(secret.clone()),
        None => UnsubscribeKey::load_or_create(&db, &vault)
            .await
            .context("cannot load the unsubscribe-link key (has `inlet migrate` run?)")?,
    };
    let cache = IntegrationCache::load(db.clone(), vault.clone())
        .await
        .context("cannot load integrations (has `inlet migrate` run?)")?;
    Ok(Services {
        config: Arc::new(config),
        db,
        queue,
        cache,
        metrics: Metrics::new(),
        vault,
        unsubscribe,
        email_from,
    })
}

/// Makes sure some API key works: stores `INLET_BOOTSTRAP_API_KEY` if set; otherwise, when
/// no key exists yet, creates one and returns it so the caller shows it once.
pub async fn bootstrap_api_key(services: &Services) -> Result<Option<String>, DbErr> {
    if let Some(key) = &services.config.bootstrap_api_key {
        apikeys::store(&services.db, "bootstrap", key.expose_secret()).await?;
        return Ok(None);
    }
    if apikeys::active_count(&services.db).await? > 0 {
        return Ok(None);
    }
    let key = apikeys::generate();
    apikeys::store(&services.db, "first key", &key).await?;
    Ok(Some(key))
}

/// Starts the HTTP process on `listener`; returns its port and the task serving it.
pub fn start_ingest(
    services: &Services,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<(u16, JoinHandle<std::io::Result<()>>)> {
    start_ingest_with_ops(services, listener, None, shutdown)
}

/// [`start_ingest`], and `/metrics` and `/health/*` on `ops` (bound from `INLET_OPS_LISTEN`)
/// when given.
pub fn start_ingest_with_ops(
    services: &Services,
    listener: TcpListener,
    ops: Option<TcpListener>,
    shutdown: CancellationToken,
) -> std::io::Result<(u16, JoinHandle<std::io::Result<()>>)> {
    services
        .cache
        .spawn_refresher(services.config.cache_refresh, shutdown.clone());
    let state = inlet_ingest::AppState {
        config: services.config.clone(),
        db: services.db.clone(),
        queue: services.queue.clone(),
        cache: services.cache.clone(),
        delivery_log: inlet_ingest::source::delivery_log::DeliveryLog::spawn(
            services.db.clone(),
            shutdown.clone(),
        ),
        metrics: services.metrics.clone(),
        vault: services.vault.clone(),
        unsubscribe: services.unsubscribe.clone(),
        email_from: services.email_from.clone(),
        api_limit: Arc::new(inlet_ingest::admin::rate_limit::ApiRateLimit::new(
            services.config.api_rate_limit,
        )),
    };
    if let Some(ops_listener) = ops {
        let ops = inlet_ingest::ops::Ops {
            db: services.db.clone(),
            queue: services.queue.clone(),
            metrics: services.metrics.clone(),
            log_dropped: Some(state.delivery_log.clone()),
        };
        serve_ops(ops, ops_listener, shutdown.clone())?;
    }
    listener.set_nonblocking(true)?;
    let app = inlet_ingest::Application::build(state, listener)?;
    let port = app.port();
    Ok((port, tokio::spawn(app.run_until_stopped(shutdown))))
}

/// Serves `/metrics` and `/health/*` on `listener` until `shutdown`.
fn serve_ops(
    ops: inlet_ingest::ops::Ops,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let server = inlet_ingest::ops::server(ops, listener)?;
    let handle = server.handle();
    tokio::spawn(server);
    tokio::spawn(async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    Ok(())
}

/// Starts a worker; the task ends after `shutdown`, once in-flight deliveries are done.
/// With `INLET_WORKER_LISTEN` set, it also serves `/metrics` and `/health/*` there.
pub fn start_worker(
    services: &Services,
    shutdown: CancellationToken,
) -> anyhow::Result<JoinHandle<()>> {
    let config = &services.config;
    // First, so an unusable mail setting stops the worker before it starts anything.
    let mailer = Mailer::new(config.smtp_url.as_ref(), config.outbox_dir.clone())?;
    let worker = inlet_worker::Worker::new(
        services.db.clone(),
        services.queue.clone(),
        services.cache.clone(),
        services.metrics.clone(),
        WorkerSettings::from_config(config),
    );
    // Picks up settings changed by other processes (one cheap aggregate query per tick).
    services
        .cache
        .spawn_refresher(config.cache_refresh, shutdown.clone());
    if let Some(addr) = config.worker_listen {
        let listener = TcpListener::bind(addr)
            .with_context(|| format!("cannot listen on {addr} (INLET_WORKER_LISTEN)"))?;
        let ops = inlet_ingest::ops::Ops {
            db: services.db.clone(),
            queue: services.queue.clone(),
            metrics: services.metrics.clone(),
            log_dropped: None,
        };
        serve_ops(ops, listener, shutdown.clone())
            .with_context(|| format!("cannot serve on {addr} (INLET_WORKER_LISTEN)"))?;
        tracing::info!(%addr, "Worker metrics and health listening.");
    }
    let runner = Arc::new(inlet_worker::workflows::Runner::new(
        services.db.clone(),
        mailer,
        services.unsubscribe.clone(),
        services.metrics.clone(),
        RunnerSettings::from_config(config, services.email_from.clone()),
    ));
    let runner = tokio::spawn(inlet_worker::workflows::run_until_stopped(
        runner,
        services.queue.clone(),
        shutdown.clone(),
    ));
    let pruner = tokio::spawn(inlet_worker::pruner::run(
        services.db.clone(),
        config.retention,
        services.metrics.clone(),
        shutdown.clone(),
    ));
    let worker = tokio::spawn(worker.run_until_stopped(shutdown));
    Ok(tokio::spawn(async move {
        let _ = worker.await;
        let _ = runner.await;
        let _ = pruner.await;
    }))
}
