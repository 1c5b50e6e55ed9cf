//! `GET /api/v1/emails?email=…`: what workflows and transactional sends sent (or tried to
//! send) to an address.

use actix_web::web;
use inlet_shared::db::entities::email_send;
use inlet_shared::domain::{Email, format_ms};
use inlet_shared::transactional;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::schemas::Message;
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

/// An email a workflow or a transactional send sent, or tried to.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailSent {
    id: String,
    /// The workflow's id, or for a transactional send the transactional email's.
    workflow_id: String,
    /// Set for a transactional send: the transactional email's id.
    transactional_id: Option<String>,
    template_id: String,
    run_id: String,
    to: String,
    subject: String,
    /// queued (being sent or waiting for a retry), sent, failed or skipped.
    status: String,
    /// Why it failed, is being retried, or was skipped.
    error: Option<String>,
    attempts: i32,
    created_at: String,
    sent_at: Option<String>,
}

impl From<email_send::Model> for EmailSent {
    fn from(e: email_send::Model) -> Self {
        Self {
            id: e.id,
            transactional_id: transactional::is_transactional(&e.workflow_id)
                .then(|| e.workflow_id.clone()),
            workflow_id: e.workflow_id,
            template_id: e.template_id,
            run_id: e.run_id,
            to: e.to_email,
            subject: e.subject,
            status: e.status,
            error: e.error,
            attempts: e.attempts,
            created_at: format_ms(e.created_at),
            sent_at: e.sent_at.map(format_ms),
        }
    }
}

/// `GET /api/v1/emails?email=…` → `[{id, workflowId, templateId, to, subject, status, sentAt}]`.
#[utoipa::path(get, path = "/api/v1/emails", tag = "emails", params(EmailsQuery),
    responses((status = 200, body = Vec<EmailSent>), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message)),
    security(("apiKey" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<EmailsQuery>,
) -> Result<web::Json<Vec<EmailSent>>, ApiError> {
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
    Ok(web::Json(rows.into_iter().map(EmailSent::from).collect()))
}
