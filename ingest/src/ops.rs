//! The ops surface: liveness, readiness and metrics, for ingest and the worker alike. The
//! public listener serves health only; `/metrics` is on the ops server ([`server`]:
//! `INLET_OPS_LISTEN` for ingest, `INLET_WORKER_LISTEN` for a worker).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use inlet_shared::db::entities::dead_letter;
use inlet_shared::metrics::Metrics;
use inlet_shared::queue::Queue;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

/// What health and metrics look at.
#[derive(Clone)]
pub struct Ops {
    /// The database.
    pub db: DatabaseConnection,
    /// The queue.
    pub queue: Queue,
    /// The process's metrics.
    pub metrics: Arc<Metrics>,
    /// Entries the webhook log dropped (ingest only).
    pub log_dropped: Option<Arc<crate::source::delivery_log::DeliveryLog>>,
}

/// `GET /health/live`: the process answers.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /health/ready`: 200 when the database and the queue are reachable, 503 otherwise.
pub async fn ready(ops: web::Data<Ops>) -> HttpResponse {
    let database = ops.db.ping().await.is_ok();
    let queue = ops.queue.check().await.is_ok();
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let body = json!({
        "status": word(database && queue),
        "database": word(database),
        "queue": word(queue),
    });
    if database && queue {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Longest a scrape waits for the queue depth and the dead-letter count; a read that takes
/// longer is abandoned and the scrape answers the last values.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /metrics`: Prometheus text format. Queue depth and the dead-letter count are read
/// again at most once a second ([`inlet_shared::metrics::RefreshGate`]), however often this
/// is scraped; a source that cannot be read keeps its last value.
pub async fn metrics(ops: web::Data<Ops>) -> HttpResponse {
    ops.metrics
        .scrape
        .refresh(Instant::now(), || async {
            let read = async {
                if let Ok(depth) = ops.queue.depth().await {
                    ops.metrics
                        .queue_depth
                        .set(i64::try_from(depth).unwrap_or(i64::MAX));
                }
                let dead = dead_letter::Entity::find()
                    .filter(dead_letter::Column::ReplayedAt.is_null())
                    .count(&ops.db)
                    .await;
                if let Ok(dead) = dead {
                    ops.metrics
                        .dead_letters
                        .set(i64::try_from(dead).unwrap_or(i64::MAX));
                }
            };
            if tokio::time::timeout(READ_TIMEOUT, read).await.is_err() {
                tracing::warn!("Queue depth and dead letters not read in time; /metrics answers the last values.");
            }
        })
        .await;
    if let Some(log) = &ops.log_dropped {
        ops.metrics
            .log_dropped
            .set(i64::try_from(log.dropped()).unwrap_or(i64::MAX));
    }
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(ops.metrics.render())
}

/// The small HTTP server on the ops address: `/metrics`, `/health/live`, `/health/ready`.
pub fn server(ops: Ops, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::new(ops);
    listener.set_nonblocking(true)?;
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(metrics))
            .route("/health/live", web::get().to(live))
            .route("/health/ready", web::get().to(ready))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}
