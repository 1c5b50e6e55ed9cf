//! `GET /api/v1/webhook-events`: the delivery log, newest first, with filters and a cursor.
//!
//! A delivery appears in the log once a worker has applied it (or, ignored or rejected,
//! once ingest answered it); accepted deliveries still waiting are counted in the page's
//! `queued`, read from the queue.

use actix_web::web;
use inlet_shared::db::entities::webhook_log::{self, DeliveryStatus};
use inlet_shared::domain::format_ms;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schemas::Message;
use crate::error::ApiError;
use crate::state::AppState;

/// Filters of the delivery log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogQuery {
    integration_id: Option<String>,
    status: Option<String>,
    event_type: Option<String>,
    /// Rows per page, 1–200 [50].
    limit: Option<u64>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// One delivery of the webhook log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    id: String,
    integration_id: String,
    provider: String,
    event_type: Option<String>,
    idempotency_key: Option<String>,
    /// processed, ignored, rejected, duplicate, failed or dead (`accepted` on rows written
    /// before the worker logged accepted deliveries).
    status: String,
    message: String,
    attempts: i32,
    received_at: String,
    updated_at: String,
}

impl From<webhook_log::Model> for WebhookEvent {
    fn from(r: webhook_log::Model) -> Self {
        Self {
            id: r.id,
            integration_id: r.integration_id,
            provider: r.provider,
            event_type: r.event_type,
            idempotency_key: r.idempotency_key,
            status: r.status,
            message: r.message,
            attempts: r.attempts,
            received_at: format_ms(r.received_at),
            updated_at: format_ms(r.updated_at),
        }
    }
}

/// A page of the webhook log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEventPage {
    data: Vec<WebhookEvent>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
    /// Accepted deliveries waiting in the queue for a worker (not in the log yet), of every
    /// integration; `null` when the queue cannot be read.
    queued: Option<u64>,
}

/// `GET /api/v1/webhook-events` → `{data: [...], nextCursor}`. Delivery ids are time-ordered,
/// so the cursor is the last id of a page.
#[utoipa::path(get, path = "/api/v1/webhook-events", tag = "deliveries", params(LogQuery), responses((status = 200, body = WebhookEventPage), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message)), security(("apiKey" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<LogQuery>,
) -> Result<web::Json<WebhookEventPage>, ApiError> {
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 200.".into(),
        ));
    }
    let mut select = webhook_log::Entity::find();
    if let Some(id) = &query.integration_id {
        select = select.filter(webhook_log::Column::IntegrationId.eq(id.as_str()));
    }
    if let Some(status) = &query.status {
        let status = DeliveryStatus::parse(status).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status must be one of {}.",
                DeliveryStatus::ALL.map(DeliveryStatus::as_str).join(", ")
            ))
        })?;
        select = select.filter(webhook_log::Column::Status.eq(status.as_str()));
    }
    if let Some(event_type) = &query.event_type {
        select = select.filter(webhook_log::Column::EventType.eq(event_type.as_str()));
    }
    if let Some(cursor) = &query.cursor {
        select = select.filter(webhook_log::Column::Id.lt(cursor.as_str()));
    }
    let rows = select
        .order_by_desc(webhook_log::Column::Id)
        .limit(limit + 1)
        .all(&state.db)
        .await?;
    let has_more = rows.len() as u64 > limit;
    let page: Vec<_> = rows.into_iter().take(limit as usize).collect();
    let next = if has_more {
        page.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(web::Json(WebhookEventPage {
        data: page.into_iter().map(WebhookEvent::from).collect(),
        next_cursor: next,
        queued: state.queue.depth().await.ok(),
    }))
}
