//! Transactional emails in the console: the list, and one's published and draft messages
//! rendered as the worker renders a send (no unsubscribe footer), with sample values for
//! their data variables (each `[name]`). Editing is the API's (`updateEmailMessage`) or the
//! templates page of the draft.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::{email_template, transactional_email};
use inlet_shared::transactional;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Map, Value, json};

use super::session::Session;
use super::{ConsoleError, render};
use crate::admin::api::templates as template_api;
use crate::admin::api::transactional as api;
use crate::error::ApiError;

/// `GET /console/transactional`.
pub async fn list(session: Session) -> Result<HttpResponse, ConsoleError> {
    let emails: Vec<Value> = transactional_email::Entity::find()
        .order_by_desc(transactional_email::Column::CreatedAt)
        .all(&session.state.db)
        .await?
        .into_iter()
        .map(|t| {
            json!({
                "id": t.id, "name": t.name, "variables": api::variables_of(&t),
                "published": t.published_template_id.is_some(),
                "draft": t.draft_template_id.is_some(), "updated_at": t.updated_at,
            })
        })
        .collect();
    render(
        "transactionals.html",
        minijinja::context! { page => session.page("transactional"), emails },
    )
}

/// Sample values for what `t` reads: `[name]` for each data variable.
fn sample_variables(t: &email_template::Model) -> Map<String, Value> {
    transactional::data_variables(t)
        .unwrap_or_default()
        .into_iter()
        .map(|name| {
            let value = Value::String(format!("[{name}]"));
            (name, value)
        })
        .collect()
}

/// A message rendered with sample values, or why it does not render.
async fn preview(
    session: &Session,
    t: &email_template::Model,
) -> Result<Result<inlet_shared::email::Rendered, String>, ConsoleError> {
    let limits = template_api::render_limits(&session.state);
    Ok(
        inlet_shared::email::render_transactional(t, &sample_variables(t), limits)
            .await
            .map_err(|e| e.to_string()),
    )
}

/// The message `which` (`published` or `draft`) of `t`, if it has one.
async fn message(
    session: &Session,
    t: &transactional_email::Model,
    which: &str,
) -> Result<Option<email_template::Model>, ConsoleError> {
    let id = match which {
        "published" => t.published_template_id.clone(),
        "draft" => t.draft_template_id.clone(),
        _ => return Err(ApiError::NotFound("No such message.".into()).into()),
    };
    match id {
        Some(id) => Ok(email_template::Entity::find_by_id(id)
            .one(&session.state.db)
            .await?),
        None => Ok(None),
    }
}

/// `GET /console/transactional/{id}`: both messages, previewed.
pub async fn show(session: Session, path: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let t = api::load(&session.state.db, &path).await?;
    let mut messages = Vec::new();
    for which in ["published", "draft"] {
        if let Some(m) = message(&session, &t, which).await? {
            let rendered = preview(&session, &m).await?;
            let (subject, text, error) = match rendered {
                Ok(r) => (r.subject, r.text, None),
                Err(e) => (String::new(), String::new(), Some(e)),
            };
            messages.push(json!({
                "which": which, "template_id": m.id, "subject": subject, "text": text,
                "error": error, "revision": transactional::revision(&m),
                "variables": transactional::data_variables(&m).unwrap_or_default(),
            }));
        }
    }
    let email = json!({
        "id": t.id, "name": t.name, "group": t.group_id,
        "variables": api::variables_of(&t), "messages": messages,
    });
    render(
        "transactional.html",
        minijinja::context! { page => session.page("transactional"), t => email },
    )
}

/// `GET /console/transactional/{id}/preview/{which}`: the HTML body with sample values,
/// served sandboxed (no scripts, nothing loaded) for the preview frame.
pub async fn preview_frame(
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, which) = path.into_inner();
    let t = api::load(&session.state.db, &id).await?;
    let m = message(&session, &t, &which)
        .await?
        .ok_or_else(|| ApiError::NotFound("No such message.".into()))?;
    let (subject, body) = match preview(&session, &m).await? {
        Ok(r) => (r.subject, r.html),
        Err(e) => (
            String::new(),
            format!("<p>{}</p>", minijinja::HtmlEscape(&e)),
        ),
    };
    let page = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>{}</title>{body}",
        minijinja::HtmlEscape(&subject)
    );
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
            ),
        ))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN")))
        .body(page))
}
