//! `/api/v1/email-messages/{id}` (SDK `getEmailMessage`, `updateEmailMessage`): a
//! transactional email's draft or published message, which is an email template. The
//! body is `lmx`, kept as the template's HTML (Inlet does not read LMX: it is a minijinja
//! template, its data variables `{{ name }}`); `fromEmail` is the sender's username, the
//! domain being that of `INLET_EMAIL_FROM`. An update needs the message to be a draft (or
//! a workflow send node's message, edited in place), and
//! with `expectedRevisionId` it applies only while that is still the `contentRevisionId`
//! (409 otherwise); the fields Inlet does not keep are refused unless empty.

use actix_web::http::StatusCode;
use actix_web::web;
use inlet_shared::db::entities::{email_template, workflow};
use inlet_shared::domain::{Email, format_ms, now_ms};
use inlet_shared::transactional::{self, Role};
use inlet_shared::workflows::graph;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::super::schemas::Message;
use super::super::templates;
use crate::error::ApiError;
use crate::state::AppState;

/// Most bytes of `lmx`, as Loops (100 KB); more is a 413.
const MAX_LMX: usize = 100 * 1024;

/// An email message (`EmailMessageResponse`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailMessage {
    id: String,
    /// The transactional email it belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    transactional_id: Option<String>,
    subject: String,
    /// Always empty: Inlet keeps no preview text.
    preview_text: String,
    from_name: String,
    /// The whole sender address.
    from_email: String,
    /// Always empty: Inlet sets no Reply-To.
    reply_to_email: String,
    /// Always `styled`.
    email_format: &'static str,
    /// The body (the template's HTML).
    lmx: String,
    content_revision_id: Option<String>,
    updated_at: String,
}

/// Body of `POST /api/v1/email-messages/{id}`: only what changes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailMessageUpdate {
    /// The `contentRevisionId` last read; the update is refused (409) if it moved on.
    expected_revision_id: Option<String>,
    subject: Option<String>,
    /// The sender's display name.
    from_name: Option<String>,
    /// The sender's username, without `@` or domain.
    from_email: Option<String>,
    /// The body: a minijinja template (HTML), at most 100 KB.
    lmx: Option<String>,
    /// Refused unless empty.
    preview_text: Option<String>,
    /// Refused unless empty.
    reply_to_email: Option<String>,
    /// Refused unless empty.
    cc_email: Option<String>,
    /// Refused unless empty.
    bcc_email: Option<String>,
    /// Refused unless empty.
    language_code: Option<String>,
    /// `styled` only.
    email_format: Option<String>,
    /// Refused unless empty.
    contact_properties_fallbacks: Option<Map<String, Value>>,
    /// Refused unless empty.
    event_properties_fallbacks: Option<Map<String, Value>>,
    /// Refused unless empty.
    data_variables_fallbacks: Option<Map<String, Value>>,
}

fn view(state: &AppState, t: email_template::Model, owner: Option<String>) -> EmailMessage {
    let default = &state.email_from;
    EmailMessage {
        transactional_id: owner,
        content_revision_id: Some(transactional::revision(&t)),
        subject: t.subject,
        preview_text: String::new(),
        from_name: t
            .from_name
            .or_else(|| default.name.clone())
            .unwrap_or_default(),
        from_email: t.from_email.unwrap_or_else(|| default.email.to_string()),
        reply_to_email: String::new(),
        email_format: "styled",
        lmx: t.html,
        updated_at: format_ms(t.updated_at),
        id: t.id,
    }
}

/// `GET /api/v1/email-messages/{id}`.
#[utoipa::path(get, path = "/api/v1/email-messages/{id}", tag = "transactional", params(("id" = String, Path)),
    responses((status = 200, body = EmailMessage), (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such email message", body = Message)),
    security(("apiKey" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<EmailMessage>, ApiError> {
    let t = load(&state, &path).await?;
    let owner = transactional::owner_of(&state.db, &t.id).await?;
    Ok(web::Json(view(&state, t, owner.map(|(o, _)| o.id))))
}

async fn load(state: &AppState, id: &str) -> Result<email_template::Model, ApiError> {
    templates::load(state, id).await.map_err(|e| match e {
        ApiError::NotFound(_) => ApiError::NotFound("No email message with this id.".into()),
        e => e,
    })
}

/// Refuses a field Inlet does not keep, unless it is empty.
fn unsupported(name: &str, empty: bool) -> Result<(), ApiError> {
    if empty {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "{name} is not supported by Inlet; leave it out."
        )))
    }
}

fn check_unsupported(b: &EmailMessageUpdate) -> Result<(), ApiError> {
    let blank = |s: &Option<String>| s.as_deref().is_none_or(str::is_empty);
    let none = |m: &Option<Map<String, Value>>| m.as_ref().is_none_or(Map::is_empty);
    unsupported("previewText", blank(&b.preview_text))?;
    unsupported("replyToEmail", blank(&b.reply_to_email))?;
    unsupported("ccEmail", blank(&b.cc_email))?;
    unsupported("bccEmail", blank(&b.bcc_email))?;
    unsupported("languageCode", blank(&b.language_code))?;
    unsupported(
        "emailFormat",
        b.email_format.as_deref().is_none_or(|f| f == "styled"),
    )?;
    unsupported(
        "contactPropertiesFallbacks",
        none(&b.contact_properties_fallbacks),
    )?;
    unsupported(
        "eventPropertiesFallbacks",
        none(&b.event_properties_fallbacks),
    )?;
    unsupported("dataVariablesFallbacks", none(&b.data_variables_fallbacks))
}

/// The sender address of a username: `username@` the domain of `INLET_EMAIL_FROM`.
fn sender_address(state: &AppState, username: &str) -> Result<String, ApiError> {
    let username = username.trim();
    if username.is_empty() || username.contains('@') {
        return Err(ApiError::BadRequest(
            "fromEmail must be the sender's username, without @ or domain.".into(),
        ));
    }
    let address = format!("{username}@{}", state.email_from.email.domain());
    Email::parse(&address)
        .map(|e| e.as_str().to_owned())
        .ok_or_else(|| ApiError::BadRequest("fromEmail is not a valid username.".into()))
}

/// A status the API's error shape carries: 413 for an `lmx` over its limit.
#[derive(Debug, thiserror::Error)]
#[error("lmx must be at most {MAX_LMX} bytes.")]
pub struct TooLarge;

impl actix_web::ResponseError for TooLarge {
    fn status_code(&self) -> StatusCode {
        StatusCode::PAYLOAD_TOO_LARGE
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        crate::error::outcome(self.status_code(), false, &self.to_string(), None)
    }
}

/// `POST /api/v1/email-messages/{id}`: changes a transactional email's draft or a
/// workflow's message.
#[utoipa::path(post, path = "/api/v1/email-messages/{id}", tag = "transactional", params(("id" = String, Path)),
    request_body = EmailMessageUpdate,
    responses((status = 200, body = EmailMessage), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such email message", body = Message),
        (status = 409, description = "Not a draft nor a workflow's message, or the revision moved on", body = Message),
        (status = 413, description = "lmx over 100 KB", body = Message),
        (status = 503, description = "Template rendering busy", body = Message)),
    security(("apiKey" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<EmailMessageUpdate>,
) -> Result<web::Json<EmailMessage>, actix_web::Error> {
    let b = body.into_inner();
    if b.lmx.as_ref().is_some_and(|l| l.len() > MAX_LMX) {
        return Err(TooLarge.into());
    }
    Ok(web::Json(update_message(&state, &path, b).await?))
}

async fn update_message(
    state: &AppState,
    id: &str,
    b: EmailMessageUpdate,
) -> Result<EmailMessage, ApiError> {
    check_unsupported(&b)?;
    let existing = load(state, id).await?;
    let owner = match transactional::owner_of(&state.db, id).await? {
        Some((owner, Role::Draft)) => Some(owner.id),
        Some((_, Role::Published)) => {
            return Err(ApiError::Conflict(
                "This email message is published; edit the transactional email's draft (POST …/draft).".into(),
            ));
        }
        // A workflow's send node's message is edited in place: the workflow sends it as
        // it is when a run reaches the node.
        None if workflow_message(state, id).await? => None,
        None => {
            return Err(ApiError::Conflict(
                "This email message is neither a transactional email's draft nor a workflow's; change templates through /api/v1/templates.".into(),
            ));
        }
    };
    let revision = transactional::revision(&existing);
    if let Some(expected) = &b.expected_revision_id
        && *expected != revision
    {
        return Err(ApiError::Conflict(format!(
            "The email message changed since revision {expected} (it is at {revision}); fetch it again."
        )));
    }
    let mut changed = existing.clone();
    if let Some(subject) = b.subject {
        if subject.chars().count() > 500 || subject.contains(['\r', '\n']) {
            return Err(ApiError::BadRequest(
                "subject must be one line of at most 500 characters.".into(),
            ));
        }
        templates::compiles("subject", &subject)?;
        changed.subject = subject;
    }
    if let Some(lmx) = b.lmx {
        templates::compiles("lmx", &lmx)?;
        changed.html = lmx;
    }
    if let Some(name) = b.from_name {
        changed.from_name = Some(name).filter(|n| !n.is_empty());
    }
    if let Some(username) = b.from_email {
        changed.from_email = Some(sender_address(state, &username)?);
    }
    templates::check_from(changed.from_name.as_ref(), changed.from_email.as_ref())?;
    templates::check_sendable(state, &changed).await?;
    changed.updated_at = now_ms();
    // Only over the content checked: an edit racing this one wins or loses whole.
    let saved = email_template::Entity::update_many()
        .col_expr(
            email_template::Column::Subject,
            Expr::value(changed.subject.clone()),
        )
        .col_expr(
            email_template::Column::Html,
            Expr::value(changed.html.clone()),
        )
        .col_expr(
            email_template::Column::FromName,
            Expr::value(changed.from_name.clone()),
        )
        .col_expr(
            email_template::Column::FromEmail,
            Expr::value(changed.from_email.clone()),
        )
        .col_expr(
            email_template::Column::UpdatedAt,
            Expr::value(changed.updated_at),
        )
        .filter(email_template::Column::Id.eq(existing.id.as_str()))
        .filter(email_template::Column::UpdatedAt.eq(existing.updated_at))
        .filter(email_template::Column::Subject.eq(existing.subject.as_str()))
        .filter(email_template::Column::Html.eq(existing.html.as_str()))
        .exec(&state.db)
        .await?;
    if saved.rows_affected == 0 {
        return Err(ApiError::Conflict(
            "The email message changed during this update; fetch it again.".into(),
        ));
    }
    Ok(view(state, changed, owner))
}

/// Whether `id` is the message of a workflow's send node.
async fn workflow_message(state: &AppState, id: &str) -> Result<bool, ApiError> {
    let needle = format!("\"emailMessageId\":\"{id}\"");
    let candidates = workflow::Entity::find()
        .filter(workflow::Column::Graph.contains(needle.as_str()))
        .all(&state.db)
        .await?;
    // The text search may match more than it should (LIKE wildcards in `id`): the graph says.
    Ok(candidates
        .iter()
        .any(|w| graph::of(w).is_ok_and(|g| g.email_message_ids().contains(&id))))
}
