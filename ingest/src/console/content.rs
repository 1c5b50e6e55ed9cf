//! Mailing lists, email templates (with a preview for a sample or real contact), workflows
//! and the emails sent, in the console. The checks are the API's.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use inlet_shared::contacts::{contact_json, lists_of};
use inlet_shared::db::entities::{
    contact, contact_list, email_send, email_template, mailing_list, workflow,
};
use inlet_shared::domain::Email;
use inlet_shared::workflows::{Step, steps_of};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::{Value, json};

use super::session::{Form, Session};
use super::{ConsoleError, redirect, render, render_with_status};
use crate::error::ApiError;
use crate::routes::api::{lists as list_api, templates as template_api, workflows as workflow_api};

/// What a failed form post shows: its own page again, with the error, as 400.
fn bad_request() -> actix_web::http::StatusCode {
    actix_web::http::StatusCode::BAD_REQUEST
}

async fn all_lists(session: &Session) -> Result<Vec<Value>, ConsoleError> {
    Ok(mailing_list::Entity::find()
        .order_by_asc(mailing_list::Column::Name)
        .all(&session.state.db)
        .await?
        .into_iter()
        .map(|l| {
            json!({"id": l.id, "name": l.name, "description": l.description, "is_public": l.is_public})
        })
        .collect())
}

async fn lists_page(
    session: &Session,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let mut lists = all_lists(session).await?;
    for l in &mut lists {
        let id = l["id"].as_str().unwrap_or_default().to_owned();
        let members = contact_list::Entity::find()
            .filter(contact_list::Column::ListId.eq(id))
            .select_only()
            .column(contact_list::Column::Id)
            .into_tuple::<i64>()
            .all(&session.state.db)
            .await?
            .len();
        l["members"] = json!(members);
    }
    render_with_status(
        if error.is_some() {
            bad_request()
        } else {
            actix_web::http::StatusCode::OK
        },
        "lists.html",
        minijinja::context! { page => session.page("lists"), lists, error },
    )
}

/// `GET /console/lists`.
pub async fn lists(session: Session) -> Result<HttpResponse, ConsoleError> {
    lists_page(&session, None).await
}

/// `POST /console/lists`.
pub async fn create_list(form: Form) -> Result<HttpResponse, ConsoleError> {
    let body = list_api::CreateList {
        name: form.get("name").unwrap_or_default().to_owned(),
        description: form.get("description").map(str::to_owned),
        is_public: form.checked("is_public"),
    };
    match list_api::create_list(&form.session.state, body).await {
        Ok(_) => Ok(redirect("/console/lists")),
        Err(ApiError::BadRequest(message)) => lists_page(&form.session, Some(message)).await,
        Err(e) => Err(e.into()),
    }
}

/// `POST /console/lists/{id}/delete`.
pub async fn delete_list(
    form: Form,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    list_api::delete_list(&form.session.state, path.into_inner()).await?;
    Ok(redirect("/console/lists"))
}

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
    Ok(json!({
        "id": "c_sample", "email": "jenny.rosen@example.com", "firstName": "Jenny",
        "lastName": "Rosen", "source": "Stripe webhook", "subscribed": true,
        "userGroup": null, "userId": null, "mailingLists": {},
    }))
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
        &json!({"amount": 4200, "currency": "usd", "plan": "pro"}),
        "#unsubscribe",
    );
    Ok(inlet_shared::email::render(t, &ctx))
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

/// Steps as the form shows them: `send <template id>` and `wait <seconds>` lines.
fn steps_text(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::SendEmail { template_id } => format!("send {template_id}"),
            Step::Wait { seconds } => format!("wait {}", duration_text(*seconds)),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn duration_text(seconds: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// Reads the steps lines back; the error names the line.
fn parse_steps(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (verb, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let arg = arg.trim();
        let step = match verb {
            "send" if !arg.is_empty() => Step::SendEmail {
                template_id: arg.to_owned(),
            },
            "wait" => {
                let (number, size) = match arg.char_indices().last() {
                    Some((i, 'd')) => (&arg[..i], 86_400),
                    Some((i, 'h')) => (&arg[..i], 3_600),
                    Some((i, 'm')) => (&arg[..i], 60),
                    Some((i, 's')) => (&arg[..i], 1),
                    _ => (arg, 1),
                };
                let seconds = number.trim().parse::<u64>().map_err(|_| {
                    format!(
                        "Step {}: wait takes a duration such as 30m, 2h or 1d.",
                        n + 1
                    )
                })?;
                Step::Wait {
                    seconds: seconds.saturating_mul(size),
                }
            }
            _ => {
                return Err(format!(
                    "Step {}: write “send <template id>” or “wait <duration>”.",
                    n + 1
                ));
            }
        };
        steps.push(step);
    }
    Ok(steps)
}

/// `GET /console/workflows`.
pub async fn workflows(session: Session) -> Result<HttpResponse, ConsoleError> {
    let workflows: Vec<Value> = workflow::Entity::find()
        .order_by_asc(workflow::Column::CreatedAt)
        .all(&session.state.db)
        .await?
        .iter()
        .map(|w| {
            let mut v = workflow_api::view(w);
            v["steps_text"] = json!(steps_of(w).map(|s| steps_text(&s)).unwrap_or_default());
            v
        })
        .collect();
    render(
        "workflows.html",
        minijinja::context! { page => session.page("workflows"), workflows },
    )
}

async fn workflow_form(
    session: &Session,
    w: Value,
    error: Option<String>,
    notice: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let templates: Vec<Value> = email_template::Entity::find()
        .order_by_asc(email_template::Column::Name)
        .all(&session.state.db)
        .await?
        .into_iter()
        .map(|t| json!({"id": t.id, "name": t.name}))
        .collect();
    render_with_status(
        if error.is_some() {
            bad_request()
        } else {
            actix_web::http::StatusCode::OK
        },
        "workflow.html",
        minijinja::context! {
            page => session.page("workflows"),
            w,
            lists => all_lists(session).await?,
            templates,
            error,
            notice,
        },
    )
}

fn workflow_json(w: &workflow::Model) -> Value {
    json!({
        "id": w.id,
        "name": w.name,
        "trigger_type": w.trigger_type,
        "trigger_value": w.trigger_value,
        "audience_list": w.audience_list_id,
        "audience_group": w.audience_user_group,
        "steps": steps_of(w).map(|s| steps_text(&s)).unwrap_or_default(),
        "enabled": w.enabled,
    })
}

/// The posted workflow fields, as the form had them.
fn posted_workflow(form: &Form, id: Option<&str>) -> Value {
    json!({
        "id": id,
        "name": form.get("name"),
        "trigger_type": form.get("trigger_type"),
        "trigger_value": form.get("event_name").or(form.get("list_id")),
        "audience_list": form.get("audience_list"),
        "audience_group": form.get("audience_group"),
        "steps": form.get("steps"),
        "enabled": form.checked("enabled"),
    })
}

/// The trigger, audience and steps of a posted workflow form.
fn read_workflow(
    form: &Form,
) -> Result<(workflow_api::Trigger, workflow_api::Audience, Vec<Step>), String> {
    let trigger = match form.get("trigger_type").unwrap_or("event") {
        "event" => workflow_api::Trigger::Event {
            event_name: form.get("event_name").unwrap_or_default().to_owned(),
        },
        "contactAdded" => workflow_api::Trigger::ContactAdded,
        "contactUpdated" => workflow_api::Trigger::ContactUpdated,
        "addedToList" => workflow_api::Trigger::AddedToList {
            list_id: form.get("list_id").unwrap_or_default().to_owned(),
        },
        _ => return Err("Choose a trigger.".into()),
    };
    let audience = workflow_api::Audience {
        mailing_list_id: form.get("audience_list").map(str::to_owned),
        user_group: form.get("audience_group").map(str::to_owned),
    };
    let steps = parse_steps(form.get("steps").unwrap_or_default())?;
    Ok((trigger, audience, steps))
}

/// `GET /console/workflows/new`.
pub async fn new_workflow(session: Session) -> Result<HttpResponse, ConsoleError> {
    let w = json!({"trigger_type": "event", "trigger_value": "stripe:checkout.session.completed", "enabled": true});
    workflow_form(&session, w, None, None).await
}

/// `POST /console/workflows`.
pub async fn create_workflow(form: Form) -> Result<HttpResponse, ConsoleError> {
    let (trigger, audience, steps) = match read_workflow(&form) {
        Ok(parts) => parts,
        Err(message) => {
            return workflow_form(
                &form.session,
                posted_workflow(&form, None),
                Some(message),
                None,
            )
            .await;
        }
    };
    let body = workflow_api::WorkflowBody {
        name: form.get("name").unwrap_or_default().to_owned(),
        trigger,
        audience: Some(audience),
        steps,
        enabled: Some(form.checked("enabled")),
    };
    match workflow_api::create_workflow(&form.session.state, body).await {
        Ok(id) => Ok(redirect(&format!("/console/workflows/{id}?done=saved"))),
        Err(ApiError::BadRequest(message)) => {
            workflow_form(
                &form.session,
                posted_workflow(&form, None),
                Some(message),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Query of a workflow's page.
#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// `GET /console/workflows/{id}`.
pub async fn workflow(
    session: Session,
    path: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let w = workflow_api::load(&session.state, &path).await?;
    let notice = (query.done.as_deref() == Some("saved")).then_some("Workflow saved.");
    workflow_form(&session, workflow_json(&w), None, notice).await
}

/// `POST /console/workflows/{id}`.
pub async fn update_workflow(
    form: Form,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let posted = || posted_workflow(&form, Some(path.as_str()));
    let (trigger, audience, steps) = match read_workflow(&form) {
        Ok(parts) => parts,
        Err(message) => return workflow_form(&form.session, posted(), Some(message), None).await,
    };
    let patch = workflow_api::WorkflowPatch {
        name: form.get("name").map(str::to_owned),
        trigger: Some(trigger),
        audience: Some(audience),
        steps: Some(steps),
        enabled: Some(form.checked("enabled")),
    };
    match workflow_api::update_workflow(&form.session.state, &path, patch).await {
        Ok(w) => Ok(redirect(&format!("/console/workflows/{}?done=saved", w.id))),
        Err(ApiError::BadRequest(message)) => {
            workflow_form(&form.session, posted(), Some(message), None).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /console/workflows/{id}/enabled`: turns a workflow on or off (`enabled=on` or absent).
pub async fn set_enabled(
    form: Form,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let patch = workflow_api::WorkflowPatch {
        name: None,
        trigger: None,
        audience: None,
        steps: None,
        enabled: Some(form.get("enabled") == Some("on")),
    };
    workflow_api::update_workflow(&form.session.state, &path, patch).await?;
    Ok(redirect("/console/workflows"))
}

/// Filter of the emails page.
#[derive(Deserialize)]
pub struct EmailQuery {
    email: Option<String>,
}

/// `GET /console/emails`: the newest 200 sends, or those to one address.
pub async fn emails(
    session: Session,
    query: web::Query<EmailQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let email = query
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    let mut select = email_send::Entity::find();
    if let Some(email) = email {
        let email = Email::parse(email)
            .ok_or_else(|| ConsoleError::BadRequest("Enter a valid email address.".into()))?;
        select = select.filter(email_send::Column::ToEmail.eq(email.as_str()));
    }
    let emails: Vec<Value> = select
        .order_by_desc(email_send::Column::CreatedAt)
        .limit(200)
        .all(&session.state.db)
        .await?
        .into_iter()
        .map(|m| {
            json!({
                "to": m.to_email, "subject": m.subject, "status": m.status, "error": m.error,
                "attempts": m.attempts, "workflow_id": m.workflow_id, "template_id": m.template_id,
                "contact_id": m.contact_id, "created_at": m.created_at, "sent_at": m.sent_at,
            })
        })
        .collect();
    render(
        "emails.html",
        minijinja::context! { page => session.page("emails"), emails, email },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn steps_read_back_what_they_show() {
        let steps = parse_steps("send tpl_1\n\nwait 1d\nwait 90\nwait 30m\nsend tpl_2").unwrap();
        assert_eq!(
            steps_text(&steps),
            "send tpl_1\nwait 1d\nwait 90s\nwait 30m\nsend tpl_2"
        );
        assert!(parse_steps("wait soon").unwrap_err().contains("Step 1"));
        assert!(
            parse_steps("send tpl_1\nmail x")
                .unwrap_err()
                .contains("Step 2")
        );
        assert!(parse_steps("send").is_err());
    }
}
