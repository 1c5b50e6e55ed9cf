//! Email templates in the console: list, create, edit, and a preview rendered as the worker
//! renders it (within the same limits), for a sample contact or a real one. The checks are
//! the API's.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use inlet_shared::contacts::{contact_json, lists_of};
use inlet_shared::db::entities::{contact, email_template};
use inlet_shared::domain::Email;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::{Form, Session};
use super::{ConsoleError, bad_request, redirect, render, render_with_status};
use crate::admin::api::templates as template_api;
use crate::error::ApiError;

/// `GET /console/templates`.
pub async fn templates(session: Session) -> Result<HttpResponse, ConsoleError> {
    let templates: Vec<Value> = email_template::Entity::find()
        .order_by_asc(email_template::Column::Name)
        .all(&session.state.db)
        .await?
        .into_iter()
        .map(|t| json!({"id": t.id, "name": t.name, "subject": t.subject, "updated_at": t.updated_at}))
        .collect();
    render(
        "templates.html",
        minijinja::context! { page => session.page("templates"), templates },
    )
}

fn template_form(
    session: &Session,
    template: Value,
    error: Option<String>,
    notice: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    render_with_status(
        if error.is_some() {
            bad_request()
        } else {
            actix_web::http::StatusCode::OK
        },
        "template.html",
        minijinja::context! { page => session.page("templates"), t => template, error, notice },
    )
}

fn template_json(t: &email_template::Model) -> Value {
    json!({
        "id": t.id, "name": t.name, "subject": t.subject, "html": t.html, "text": t.text,
        "from_name": t.from_name, "from_email": t.from_email,
    })
}

/// The posted template fields, as the form had them (to show again after an error).
fn posted_template(form: &Form, id: Option<&str>) -> Value {
    json!({
        "id": id, "name": form.get("name"), "subject": form.get("subject"),
        "html": form.get("html"), "text": form.get("text"),
        "from_name": form.get("from_name"), "from_email": form.get("from_email"),
    })
}

/// `GET /console/templates/new`.
pub async fn new_template(session: Session) -> Result<HttpResponse, ConsoleError> {
    let sample = json!({
        "subject": "Thanks for your order, {{ contact.firstName }}",
        "html": "<p>Hi {{ contact.firstName }},</p>\n<p>we received your order.</p>",
    });
    template_form(&session, sample, None, None)
}

/// `POST /console/templates`.
pub async fn create_template(form: Form) -> Result<HttpResponse, ConsoleError> {
    let body = template_api::TemplateBody {
        name: form.get("name").unwrap_or_default().to_owned(),
        subject: form.get("subject").unwrap_or_default().to_owned(),
        html: form.get("html").unwrap_or_default().to_owned(),
        text: form.get("text").map(str::to_owned),
        from_name: form.get("from_name").map(str::to_owned),
        from_email: form.get("from_email").map(str::to_owned),
    };
    match template_api::create_template(&form.session.state, body).await {
        Ok(id) => Ok(redirect(&format!("/console/templates/{id}?done=saved"))),
        Err(ApiError::BadRequest(message)) => template_form(
            &form.session,
            posted_template(&form, None),
            Some(message),
            None,
        ),
        Err(e) => Err(e.into()),
    }
}

/// Query of a template's page.
#[derive(Deserialize)]
pub struct TemplateQuery {
    done: Option<String>,
    email: Option<String>,
}

/// `GET /console/templates/{id}`: the form and its preview.
#[expect(
    clippy::indexing_slicing,
    reason = "sets fields of a JSON object built here; indexing an object inserts, it cannot panic"
)]
pub async fn template(
    session: Session,
    path: web::Path<String>,
    query: web::Query<TemplateQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let t = template_api::load(&session.state, &path).await?;
    let mut value = template_json(&t);
    let email = query
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    value["preview_email"] = json!(email);
    match render_preview(&session, &t, email).await? {
        Ok(r) => {
            value["preview_subject"] = json!(r.subject);
            value["preview_text"] = json!(r.text);
        }
        Err(e) => value["preview_error"] = json!(e),
    }
    let notice = (query.done.as_deref() == Some("saved")).then_some("Template saved.");
    template_form(&session, value, None, notice)
}

/// `POST /console/templates/{id}`.
pub async fn update_template(
    form: Form,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let patch = template_api::TemplatePatch {
        name: form.get("name").map(str::to_owned),
        subject: form.get("subject").map(str::to_owned),
        html: form.get("html").map(str::to_owned),
        text: form.get("text").map(str::to_owned),
        from_name: form.get("from_name").map(str::to_owned),
        from_email: form.get("from_email").map(str::to_owned),
    };
    match template_api::update_template(&form.session.state, &path, patch).await {
        Ok(t) => Ok(redirect(&format!("/console/templates/{}?done=saved", t.id))),
        Err(ApiError::BadRequest(message)) => template_form(
            &form.session,
            posted_template(&form, Some(path.as_str())),
            Some(message),
            None,
        ),
        Err(e) => Err(e.into()),
    }
}

/// The contact a preview renders for: the one with `email` if it exists, else a sample.
async fn preview_contact(session: &Session, email: Option<&str>) -> Result<Value, ConsoleError> {
    if let Some(email) = email.and_then(Email::parse) {
        let found = contact::Entity::find()
            .filter(contact::Column::Email.eq(email.as_str()))
            .one(&session.state.db)
            .await?;
        if let Some(c) = found {
            let lists = lists_of(&session.state.db, &c.id).await?;
            return Ok(contact_json(&c, &lists));
        }
    }
    Ok(inlet_shared::email::sample_contact())
}

/// Renders a template as the worker would, for a contact (or the sample) and a sample event.
async fn render_preview(
    session: &Session,
    t: &email_template::Model,
    email: Option<&str>,
) -> Result<Result<inlet_shared::email::Rendered, String>, ConsoleError> {
    let contact = preview_contact(session, email).await?;
    let ctx = inlet_shared::email::context(
        &contact,
        "preview",
        &inlet_shared::email::sample_event_properties(),
        inlet_shared::email::SAMPLE_UNSUBSCRIBE_URL,
    );
    let limits = template_api::render_limits(&session.state);
    Ok(inlet_shared::email::render(t, &ctx, limits)
        .await
        .map_err(|e| e.to_string()))
}

/// `GET /console/templates/{id}/preview?email=…`: the HTML body rendered for a contact,
/// served sandboxed (no scripts, nothing loaded) for the preview frame.
pub async fn preview(
    session: Session,
    path: web::Path<String>,
    query: web::Query<TemplateQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let t = template_api::load(&session.state, &path).await?;
    let (subject, body) = match render_preview(&session, &t, query.email.as_deref()).await? {
        Ok(r) => (r.subject, r.html),
        Err(e) => (String::new(), format!("<p>{}</p>", minijinja_escape(&e))),
    };
    let page = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>{}</title>{body}",
        minijinja_escape(&subject)
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

fn minijinja_escape(text: &str) -> String {
    minijinja::HtmlEscape(text).to_string()
}
