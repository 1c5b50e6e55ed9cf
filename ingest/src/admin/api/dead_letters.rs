//! `/api/v1/dead-letters`: list dead letters and replay them.

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::dead_letter;
use inlet_shared::dead_letters::{self, Filter, ReplayError};
use inlet_shared::domain::format_ms;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::schemas::Message;
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

/// A dead letter.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    id: String,
    delivery_id: String,
    integration_id: String,
    provider: String,
    event_type: String,
    idempotency_key: String,
    error: String,
    attempts: i32,
    received_at: String,
    first_failed_at: String,
    last_failed_at: String,
    dead_at: String,
    replayed_at: Option<String>,
    replay_count: i32,
}

impl From<dead_letter::Model> for DeadLetter {
    fn from(r: dead_letter::Model) -> Self {
        Self {
            id: r.id,
            delivery_id: r.delivery_id,
            integration_id: r.integration_id,
            provider: r.provider,
            event_type: r.event_type,
            idempotency_key: r.idempotency_key,
            error: r.error,
            attempts: r.attempts,
            received_at: format_ms(r.received_at),
            first_failed_at: format_ms(r.first_failed_at),
            last_failed_at: format_ms(r.last_failed_at),
            dead_at: format_ms(r.dead_at),
            replayed_at: r.replayed_at.map(format_ms),
            replay_count: r.replay_count,
        }
    }
}

/// `GET /api/v1/dead-letters`, newest first.
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "deliveries", params(ListQuery), responses((status = 200, body = Vec<DeadLetter>), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<Vec<DeadLetter>>, ApiError> {
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
    Ok(web::Json(rows.into_iter().map(DeadLetter::from).collect()))
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

/// How many dead letters a replay put back on the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    success: bool,
    replayed: usize,
}

/// A replay the queue stopped: `{success: false, message, replayed}`, `replayed` counting
/// those put back before it did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayStopped {
    success: bool,
    message: String,
    replayed: usize,
}

/// `POST /api/v1/dead-letters/replay` → `{success, replayed}`.
#[utoipa::path(post, path = "/api/v1/dead-letters/replay", tag = "deliveries", request_body = ReplayBody, responses((status = 200, body = Replayed), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 503, description = "The queue became unavailable during the replay", body = ReplayStopped)), security(("apiKey" = [])))]
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
            Ok(HttpResponse::Ok().json(Replayed {
                success: true,
                replayed,
            }))
        }
        Err(ReplayError::Database(e)) => Err(ApiError::Database(e)),
        Err(ReplayError::Queue { replayed, source }) => {
            tracing::warn!(error = %source, replayed, "Replay stopped: the queue is unavailable.");
            Ok(HttpResponse::ServiceUnavailable().json(ReplayStopped {
                success: false,
                message: format!(
                    "The queue is unavailable; {replayed} replayed before it stopped. Retry later."
                ),
                replayed,
            }))
        }
    }
}
