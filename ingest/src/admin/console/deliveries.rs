//! The webhook log and the dead letters in the console: filtered lists, a delivery's
//! detail, and replay (one, or a filtered set after a preview of how many).

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::webhook_log::DeliveryStatus;
use inlet_shared::db::entities::{
    dead_letter, integration, queue_message, webhook_log, webhook_log_request,
};
use inlet_shared::dead_letters::{self, Filter, ReplayError};
use inlet_shared::domain::now_ms;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::session::{Form, Session};
use super::{ConsoleError, STATUSES, render};
use crate::state::AppState;

/// Rows per page of the log.
const PAGE: u64 = 50;

/// The time filter's choices: (minutes, label).
const WINDOWS: [(&str, &str); 4] = [
    ("15", "last 15 minutes"),
    ("60", "last hour"),
    ("1440", "last day"),
    ("10080", "last week"),
];

/// The smallest delivery id made at or after `ms`: ids are `wh_` and a UUIDv7, whose first
/// 48 bits (12 hex digits) are its creation time in milliseconds, so they sort by time.
pub fn id_floor(ms: i64) -> String {
    format!("wh_{:012x}", ms.max(0))
}

/// Filters of both lists (empty fields mean "any").
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Filters {
    integration: Option<String>,
    status: Option<String>,
    event_type: Option<String>,
    /// Minutes back from now.
    window: Option<String>,
    /// Deliveries older than this id (the next page).
    before: Option<String>,
    /// Dead letters: include replayed ones.
    replayed: Option<String>,
}

fn some(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl Filters {
    fn since_ms(&self) -> Result<Option<i64>, ConsoleError> {
        some(&self.window)
            .map(|w| {
                w.parse::<i64>()
                    .ok()
                    .filter(|m| *m > 0)
                    .map(|m| now_ms() - m * 60_000)
                    .ok_or_else(|| ConsoleError::BadRequest("Choose a time window.".into()))
            })
            .transpose()
    }

    fn dead_letter_filter(&self, until_ms: Option<i64>) -> Result<Filter, ConsoleError> {
        Ok(Filter {
            ids: vec![],
            integration_id: some(&self.integration).map(str::to_owned),
            event_type: some(&self.event_type).map(str::to_owned),
            since_ms: self.since_ms()?,
            until_ms,
            include_replayed: some(&self.replayed).is_some(),
            limit: None,
        })
    }
}

/// Integration id → name, for the lists' "Integration" column and filter.
async fn integration_names(
    state: &AppState,
) -> Result<(Vec<Value>, HashMap<String, String>), ConsoleError> {
    let rows = integration::Entity::find()
        .order_by_asc(integration::Column::CreatedAt)
        .all(&state.db)
        .await?;
    let names = rows
        .iter()
        .map(|r| (r.id.clone(), r.name.clone()))
        .collect();
    let list = rows
        .into_iter()
        .map(|r| json!({"id": r.id, "name": r.name}))
        .collect();
    Ok((list, names))
}

fn log_json(r: &webhook_log::Model) -> Value {
    json!({
        "id": r.id,
        "integration_id": r.integration_id,
        "provider": r.provider,
        "event_type": r.event_type,
        "idempotency_key": r.idempotency_key,
        "status": r.status,
        "message": r.message,
        "attempts": r.attempts,
        "received_at": r.received_at,
        "updated_at": r.updated_at,
    })
}

fn dead_json(d: &dead_letter::Model) -> Value {
    json!({
        "id": d.id,
        "delivery_id": d.delivery_id,
        "integration_id": d.integration_id,
        "provider": d.provider,
        "event_type": d.event_type,
        "error": d.error,
        "attempts": d.attempts,
        "first_failed_at": d.first_failed_at,
        "last_failed_at": d.last_failed_at,
        "dead_at": d.dead_at,
        "replayed_at": d.replayed_at,
        "replay_count": d.replay_count,
    })
}

/// `/console/deliveries` with `query`, encoded as `web::Query` decodes it.
fn deliveries_link(query: &[(&str, &str)]) -> Option<String> {
    serde_urlencoded::to_string(query)
        .ok()
        .map(|q| format!("/console/deliveries?{q}"))
}

/// `GET /console/deliveries`: newest first, 50 a page.
pub async fn list(
    session: Session,
    query: web::Query<Filters>,
) -> Result<HttpResponse, ConsoleError> {
    let f = query.into_inner();
    let state = &session.state;
    let mut select = webhook_log::Entity::find();
    if let Some(id) = some(&f.integration) {
        select = select.filter(webhook_log::Column::IntegrationId.eq(id));
    }
    if let Some(status) = some(&f.status) {
        let status = DeliveryStatus::parse(status)
            .ok_or_else(|| ConsoleError::BadRequest("Unknown status.".into()))?;
        select = select.filter(webhook_log::Column::Status.eq(status.as_str()));
    }
    if let Some(event_type) = some(&f.event_type) {
        select = select.filter(webhook_log::Column::EventType.eq(event_type));
    }
    if let Some(since) = f.since_ms()? {
        select = select.filter(webhook_log::Column::Id.gte(id_floor(since)));
    }
    if let Some(before) = some(&f.before) {
        select = select.filter(webhook_log::Column::Id.lt(before));
    }
    let rows = select
        .order_by_desc(webhook_log::Column::Id)
        .limit(PAGE + 1)
        .all(&state.db)
        .await?;
    let next = (rows.len() as u64 > PAGE)
        .then(|| rows.get(usize::try_from(PAGE - 1).unwrap_or(0)))
        .flatten()
        .and_then(|last| {
            let mut query: Vec<(&str, &str)> = vec![("before", last.id.as_str())];
            for (k, v) in [
                ("integration", &f.integration),
                ("status", &f.status),
                ("event_type", &f.event_type),
                ("window", &f.window),
            ] {
                if let Some(v) = some(v) {
                    query.push((k, v));
                }
            }
            deliveries_link(&query)
        });
    let deliveries: Vec<Value> = rows
        .iter()
        .take(usize::try_from(PAGE).unwrap_or(50))
        .map(log_json)
        .collect();
    let (integrations, names) = integration_names(state).await?;
    // Accepted deliveries are logged by the worker that applies them; until then they are
    // in the queue, counted here.
    let queued = state.queue.depth().await.ok();
    render(
        "deliveries.html",
        minijinja::context! {
            page => session.page("deliveries"),
            deliveries,
            queued,
            integrations,
            names,
            statuses => STATUSES.map(DeliveryStatus::as_str),
            windows => WINDOWS,
            f,
            next,
        },
    )
}

/// A body as text: pretty JSON when it is JSON.
fn show_body(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

/// `GET /console/deliveries/{id}`: the log entry, the request as kept (headers without
/// signatures or secrets, the body), and its dead letter if any.
pub async fn show(session: Session, path: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let state = &session.state;
    let row = webhook_log::Entity::find_by_id(path.into_inner())
        .one(&state.db)
        .await?
        .ok_or_else(|| {
            ConsoleError::NotFound(
                "No delivery with this id in the log. An accepted delivery appears once a \
                 worker has applied it."
                    .into(),
            )
        })?;
    let dead = dead_letter::Entity::find()
        .filter(dead_letter::Column::DeliveryId.eq(row.id.as_str()))
        .one(&state.db)
        .await?;
    let kept = webhook_log_request::Entity::find_by_id(row.id.clone())
        .one(&state.db)
        .await?;
    let headers: Vec<(String, String)> = kept
        .as_ref()
        .and_then(|k| serde_json::from_str(&k.headers).ok())
        .unwrap_or_default();
    // The full body is still here while the delivery is queued or dead-lettered.
    let (body, truncated) = match (&dead, &kept) {
        (Some(d), _) => (Some(show_body(&d.body)), false),
        (None, Some(k)) if !k.body_truncated => (Some(show_body(&k.body)), false),
        (None, kept) => match queue_message::Entity::find()
            .filter(queue_message::Column::DeliveryId.eq(row.id.as_str()))
            .one(&state.db)
            .await?
        {
            Some(m) => (Some(show_body(&m.body)), false),
            None => (kept.as_ref().map(|k| show_body(&k.body)), kept.is_some()),
        },
    };
    let integration_name = integration::Entity::find_by_id(row.integration_id.clone())
        .one(&state.db)
        .await?
        .map(|i| i.name);
    render(
        "delivery.html",
        minijinja::context! {
            page => session.page("deliveries"),
            d => log_json(&row),
            dead => dead.as_ref().map(dead_json),
            headers,
            kept => kept.is_some(),
            body,
            truncated,
            integration_name,
        },
    )
}

/// `GET /console/dead-letters`.
pub async fn dead_letters(
    session: Session,
    query: web::Query<Filters>,
) -> Result<HttpResponse, ConsoleError> {
    let f = query.into_inner();
    let state = &session.state;
    let filter = Filter {
        limit: Some(500),
        ..f.dead_letter_filter(None)?
    };
    let dead: Vec<Value> = dead_letters::list(&state.db, &filter)
        .await?
        .iter()
        .map(dead_json)
        .collect();
    let (integrations, names) = integration_names(state).await?;
    render(
        "dead_letters.html",
        minijinja::context! {
            page => session.page("dead-letters"),
            dead,
            integrations,
            names,
            windows => WINDOWS,
            f,
        },
    )
}

/// `GET /console/dead-letters/replay?…`: how many the filters would replay, and the form
/// that replays exactly those (dead before now, so later ones are not swept in).
pub async fn replay_preview(
    session: Session,
    query: web::Query<Filters>,
) -> Result<HttpResponse, ConsoleError> {
    let f = query.into_inner();
    let until_ms = now_ms() + 1;
    let filter = Filter {
        include_replayed: false,
        ..f.dead_letter_filter(Some(until_ms))?
    };
    let count = dead_letters::count(&session.state.db, &filter).await?;
    let mut described = Vec::new();
    if let Some(id) = some(&f.integration) {
        described.push(format!("integration {id}"));
    }
    if let Some(t) = some(&f.event_type) {
        described.push(format!("event type {t}"));
    }
    if let Some(w) = WINDOWS.iter().find(|(m, _)| Some(*m) == some(&f.window)) {
        described.push(w.1.to_owned());
    }
    render(
        "replay_preview.html",
        minijinja::context! {
            page => session.page("dead-letters"),
            count,
            filters => described.join(", "),
            since_ms => filter.since_ms,
            until_ms,
            f,
        },
    )
}

async fn replay(session: &Session, filter: Filter) -> Result<HttpResponse, ConsoleError> {
    let state = &session.state;
    let replayed = match dead_letters::replay(&state.db, &state.queue, &filter).await {
        Ok(n) => n,
        Err(ReplayError::Database(e)) => return Err(e.into()),
        Err(ReplayError::Queue { replayed, source }) => {
            tracing::warn!(error = %source, replayed, "Console replay stopped: the queue is unavailable.");
            return Err(ConsoleError::Unavailable(format!(
                "The queue is unavailable; {replayed} replayed before it stopped. Retry later."
            )));
        }
    };
    tracing::info!(replayed, "Replayed dead letters from the console.");
    render(
        "replayed.html",
        minijinja::context! { page => session.page("dead-letters"), replayed },
    )
}

/// `POST /console/dead-letters/replay`: the set the preview counted.
pub async fn replay_filtered(form: Form) -> Result<HttpResponse, ConsoleError> {
    let ms = |name: &str| -> Result<Option<i64>, ConsoleError> {
        form.get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ConsoleError::BadRequest(format!("{name} must be a number.")))
            })
            .transpose()
    };
    let filter = Filter {
        ids: vec![],
        integration_id: form.get("integration").map(str::to_owned),
        event_type: form.get("event_type").map(str::to_owned),
        since_ms: ms("since_ms")?,
        until_ms: ms("until_ms")?,
        include_replayed: false,
        limit: None,
    };
    replay(&form.session, filter).await
}

/// `POST /console/dead-letters/{id}/replay`.
pub async fn replay_one(form: Form, path: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let filter = Filter {
        ids: vec![path.into_inner()],
        ..Filter::default()
    };
    replay(&form.session, filter).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn delivery_ids_sort_after_the_floor_of_their_time() {
        let before = inlet_shared::domain::now_ms();
        let id = inlet_shared::domain::new_id("wh_");
        let after = inlet_shared::domain::now_ms();
        assert!(id.as_str() >= super::id_floor(before).as_str(), "{id}");
        assert!(id.as_str() < super::id_floor(after + 1).as_str(), "{id}");
    }

    #[test]
    fn the_next_page_link_reads_back_as_the_filters_it_carries() {
        let event_type = "a b&c=d+e/é";
        let link =
            super::deliveries_link(&[("before", "wh_1"), ("event_type", event_type)]).unwrap();
        let query = link.strip_prefix("/console/deliveries?").unwrap();
        assert!(!query.contains(' ') && !query.contains("&c="), "{link}");
        let back: super::Filters = serde_urlencoded::from_str(query).unwrap();
        assert_eq!(back.before.as_deref(), Some("wh_1"));
        assert_eq!(back.event_type.as_deref(), Some(event_type));
    }
}
