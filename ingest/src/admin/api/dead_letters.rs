//! `/api/v1/dead-letters`: list dead letters and replay them.

use actix_web::{HttpResponse, web};
use inlet_shared::dead_letters::{self, Filter, ReplayError};
use inlet_shared::domain::format_ms;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[allow(unused_imports)]
use super::schemas::*;
use crate::error::ApiError;
use crate::state::AppState;

fn parse_time(field: &str, value: &Option<String>) -> Result<Option<i64>, ApiError> {
    value
        .as_deref()
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339)
                .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "{field} must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z."
                    ))
                })
        })
        .transpose()
}

/// Query of `GET /api/v1/dead-letters`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    integration_id: Option<String>,
    event_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// Include dead letters already replayed.
    #[serde(default)]
    include_replayed: bool,
    limit: Option<u64>,
}

/// `GET /api/v1/dead-letters`, newest first.
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "deliveries", params(ListQuery), responses((status = 200, body = Vec<DeadLetter>), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 1000.".into(),
        ));
    }
    let filter = Filter {
        ids: vec![],
        integration_id: q.integration_id,
        event_type: q.event_type,
        since_ms: parse_time("since", &q.since)?,
        until_ms: parse_time("until", &q.until)?,
        include_replayed: q.include_replayed,
        limit: Some(limit),
    };
    let rows = dead_letters::list(&state.db, &filter).await?;
    let data: Vec<_> = rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "deliveryId": r.delivery_id,
                "integrationId": r.integration_id,
                "provider": r.provider,
                "eventType": r.event_type,
                "idempotencyKey": r.idempotency_key,
                "error": r.error,
                "attempts": r.attempts,
                "receivedAt": format_ms(r.received_at),
                "firstFailedAt": format_ms(r.first_failed_at),
                "lastFailedAt": format_ms(r.last_failed_at),
                "deadAt": format_ms(r.dead_at),
                "replayedAt": r.replayed_at.map(format_ms),
                "replayCount": r.replay_count,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(data))
}

/// Body of `POST /api/v1/dead-letters/replay`: ids, or filters (all optional; `{}` replays
/// every dead letter not yet replayed).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayBody {
    #[serde(default)]
    ids: Vec<String>,
    integration_id: Option<String>,
    event_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// `POST /api/v1/dead-letters/replay` → `{success, replayed}`.
#[utoipa::path(post, path = "/api/v1/dead-letters/replay", tag = "deliveries", request_body = ReplayBody, responses((status = 200, body = Replayed), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 503, description = "Queue unavailable", body = Message)), security(("apiKey" = [])))]
pub async fn replay(
    state: web::Data<AppState>,
    body: web::Json<ReplayBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let filter = Filter {
        ids: b.ids,
        integration_id: b.integration_id,
        event_type: b.event_type,
        since_ms: parse_time("since", &b.since)?,
        until_ms: parse_time("until", &b.until)?,
        include_replayed: false,
        limit: None,
    };
    match dead_letters::replay(&state.db, &state.queue, &filter).await {
        Ok(replayed) => {
            tracing::info!(replayed, "Replayed dead letters.");
            Ok(HttpResponse::Ok().json(json!({"success": true, "replayed": replayed})))
        }
        Err(ReplayError::Database(e)) => Err(ApiError::Database(e)),
        Err(ReplayError::Queue { replayed, source }) => {
            tracing::warn!(error = %source, replayed, "Replay stopped: the queue is unavailable.");
            Ok(HttpResponse::ServiceUnavailable().json(json!({
                "success": false,
                "message": format!("The queue is unavailable; {replayed} replayed before it stopped. Retry later."),
                "replayed": replayed,
            })))
        }
    }
}
