//! Workflows in the console (list, one workflow's graph, create and edit legacy steps,
//! enable or disable) and the emails they sent. The checks are the API's.

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::{email_send, email_template, workflow};
use inlet_shared::domain::Email;
use inlet_shared::workflows::{Audience, Step, Trigger, steps_of};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::{Value, json};

use super::lists::all_lists;
use super::session::{Form, Session};
use super::{ConsoleError, bad_request, redirect, render, render_with_status};
use crate::admin::api::workflows as workflow_api;
use crate::error::ApiError;

mod page;
mod tree;
mod words;

pub use page::show;

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
                let (number, size) = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)]
                    .iter()
                    .find_map(|&(unit, size)| Some((arg.strip_suffix(unit)?, size)))
                    .unwrap_or((arg, 1));
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
    let all = workflow::Entity::find()
        .order_by_asc(workflow::Column::CreatedAt)
        .all(&session.state.db)
        .await?;
    let rows = page::rows(&session.state.db, &all).await?;
    // The API's view of each, with the console's words over it.
    let workflows: Vec<Value> = all
        .iter()
        .zip(rows)
        .map(|(w, row)| {
            let mut v = workflow_api::view(w);
            if let (Value::Object(api), Ok(Value::Object(words))) =
                (&mut v, serde_json::to_value(&row))
            {
                api.extend(words);
            }
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
fn read_workflow(form: &Form) -> Result<(Trigger, Audience, Vec<Step>), String> {
    let trigger = match form.get("trigger_type").unwrap_or("event") {
        "event" => Trigger::Event {
            event_name: form.get("event_name").unwrap_or_default().to_owned(),
        },
        "contactAdded" => Trigger::ContactAdded,
        "contactUpdated" => Trigger::ContactUpdated,
        "addedToList" => Trigger::AddedToList {
            list_id: form.get("list_id").unwrap_or_default().to_owned(),
        },
        _ => return Err("Choose a trigger.".into()),
    };
    let audience = Audience {
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

/// `GET /console/workflows/{id}/edit`: the steps form of a legacy workflow (a graph
/// workflow is edited through the API).
pub async fn edit_workflow(
    session: Session,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let w = workflow_api::load(&session.state, &path).await?;
    if w.graph.is_some() {
        return Err(ConsoleError::BadRequest(
            "This workflow is a graph of nodes; edit it through the API.".into(),
        ));
    }
    workflow_form(&session, workflow_json(&w), None, None).await
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
