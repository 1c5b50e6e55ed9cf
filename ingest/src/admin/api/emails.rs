//! `GET /api/v1/emails?email=…`: what workflows sent (or tried to send) to a contact.

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::email_send;
use inlet_shared::domain::{Email, format_ms};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::json;

#[allow(unused_imports)]
use super::schemas::*;
use crate::error::ApiError;
use crate::state::AppState;

/// Which contact.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EmailsQuery {
    /// The contact's email address.
    email: String,
    /// At most this many, newest first, 1–500 [100].
    limit: Option<u64>,
}

/// `GET /api/v1/emails?email=…` → `[{id, workflowId, templateId, to, subject, status, sentAt}]`.
#[utoipa::path(get, path = "/api/v1/emails", tag = "emails", params(EmailsQuery),
    responses((status = 200, body = Vec<EmailSent>), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message)),
    security(("apiKey" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<EmailsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let email = Email::parse(&query.email)
        .ok_or_else(|| ApiError::BadRequest("email must be a valid email address.".into()))?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 500.".into(),
        ));
    }
    let rows = email_send::Entity::find()
        .filter(email_send::Column::ToEmail.eq(email.as_str()))
        .order_by_desc(email_send::Column::CreatedAt)
        .limit(limit)
        .all(&state.db)
        .await?;
    let out: Vec<_> = rows
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "workflowId": e.workflow_id,
                "templateId": e.template_id,
                "runId": e.run_id,
                "to": e.to_email,
                "subject": e.subject,
                "status": e.status,
                "error": e.error,
                "attempts": e.attempts,
                "createdAt": format_ms(e.created_at),
                "sentAt": e.sent_at.map(format_ms),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}
