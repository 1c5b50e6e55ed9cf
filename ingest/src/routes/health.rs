//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

/// `GET /health/live`: the process answers.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /health/ready`: 200 when the database and the queue are reachable, 503 otherwise.
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let database = state.db.ping().await.is_ok();
    let queue = state.queue.check().await.is_ok();
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
