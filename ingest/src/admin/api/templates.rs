//! `/api/v1/templates`: email templates (subject, HTML and text bodies with variables such
//! as `{{ contact.firstName }}` and `{{ event.properties.amount }}`).
//!
//! A template is saved only once it renders for the sample contact within the rendering
//! limits and makes a message lettre can write (its sender included), so a bad one is a 400
//! naming the field rather than a failed run later.

use actix_web::web;
use inlet_shared::db::entities::{email_template, workflow};
use inlet_shared::domain::{Email, format_ms, new_id, now_ms};
use inlet_shared::email::{self, Outgoing, RenderError, RenderLimits};
use inlet_shared::transactional::{self, Role};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel, QueryOrder};
use serde::{Deserialize, Serialize};

use super::rows::{self, check_name};
use super::schemas::{Created, Message};
use crate::error::ApiError;
use crate::state::AppState;

/// Largest template body accepted.
const MAX_BODY: usize = 512 * 1024;

/// Body of `POST /api/v1/templates`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateBody {
    pub(crate) name: String,
    pub(crate) subject: String,
    pub(crate) html: String,
    pub(crate) text: Option<String>,
    pub(crate) from_name: Option<String>,
    #[schema(format = "email")]
    pub(crate) from_email: Option<String>,
}

/// Body of `PATCH /api/v1/templates/{id}`: only what changes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplatePatch {
    pub(crate) name: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) html: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) from_name: Option<String>,
    #[schema(format = "email")]
    pub(crate) from_email: Option<String>,
}

/// Checks that `source` is a template the engine can compile; the error names the field.
pub(crate) fn compiles(field: &str, source: &str) -> Result<(), ApiError> {
    if source.len() > MAX_BODY {
        return Err(ApiError::BadRequest(format!(
            "{field} must be at most {MAX_BODY} bytes."
        )));
    }
    minijinja::Environment::new()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|e| ApiError::BadRequest(format!("{field} is not a valid template: {e}")))
}

fn check_subject(subject: &str) -> Result<(), ApiError> {
    if subject.trim().is_empty() || subject.chars().count() > 500 {
        return Err(ApiError::BadRequest(
            "subject must be 1 to 500 characters.".into(),
        ));
    }
    if subject.contains(['\r', '\n']) {
        return Err(ApiError::BadRequest("subject must be one line.".into()));
    }
    compiles("subject", subject)
}

pub(crate) fn check_from(
    from_name: Option<&String>,
    from_email: Option<&String>,
) -> Result<(), ApiError> {
    if from_name.is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::BadRequest(
            "fromName must be at most 200 characters.".into(),
        ));
    }
    if let Some(email) = from_email
        && Email::parse(email).is_none()
    {
        return Err(ApiError::BadRequest(
            "fromEmail is not a valid email address.".into(),
        ));
    }
    Ok(())
}

/// The rendering limits of this installation (`INLET_TEMPLATE_MAX_BYTES`).
pub(crate) fn render_limits(state: &AppState) -> RenderLimits {
    RenderLimits::new(state.config.template_max_bytes)
}

/// Checks `t` as the worker will use it: its sender as lettre will write it, its sample
/// render within the limits, and the message built from both.
pub(crate) async fn check_sendable(
    state: &AppState,
    t: &email_template::Model,
) -> Result<(), ApiError> {
    // A name without an address is not sent (the default sender is), but is still refused
    // here, so it cannot start being sent later.
    let address = t
        .from_email
        .clone()
        .unwrap_or_else(|| state.email_from.email.to_string());
    let from = email::sender(t.from_name.as_deref(), &address)
        .map_err(|e| ApiError::BadRequest(format!("{} {e}.", e.field())))?;
    let sample = email::sample_context();
    let rendered = match email::render(t, &sample, render_limits(state)).await {
        Ok(rendered) => rendered,
        Err(e) => return refused_render(e),
    };
    let outgoing = Outgoing {
        from,
        to: email::SAMPLE_EMAIL,
        rendered: &rendered,
        unsubscribe_url: email::SAMPLE_UNSUBSCRIBE_URL,
        message_id: format!("<{}@inlet>", t.id),
    };
    email::build(&outgoing)
        .map(|_| ())
        .map_err(|e| ApiError::BadRequest(format!("The template makes no sendable email: {e}.")))
}

/// What a failed sample render means at save. Limits (size, fuel, time) hold whatever the
/// data, so they refuse the template; other failures may come from the sample lacking
/// what real contacts have, and are left to the run (which fails for good if they recur).
fn refused_render(e: RenderError) -> Result<(), ApiError> {
    match &e {
        RenderError::TooLarge { part, limit, .. } => Err(ApiError::BadRequest(format!(
            "{part} renders to more than {limit} bytes for the sample contact (INLET_TEMPLATE_MAX_BYTES)."
        ))),
        RenderError::Engine { part, source, .. } if e.is_limit() => Err(ApiError::BadRequest(
            format!("{part} does not render within its limits for the sample contact: {source}."),
        )),
        RenderError::TimedOut { limit, .. } => Err(ApiError::BadRequest(format!(
            "The template takes longer than {} s to render for the sample contact.",
            limit.as_secs_f32()
        ))),
        RenderError::Busy(_) => Err(ApiError::Unavailable(
            "Template rendering is busy; please retry.".into(),
        )),
        RenderError::Engine { .. } | RenderError::Panicked { .. } => Ok(()),
    }
}

/// An email template.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    id: String,
    name: String,
    subject: String,
    html: String,
    text: Option<String>,
    from_name: Option<String>,
    from_email: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<email_template::Model> for Template {
    fn from(t: email_template::Model) -> Self {
        Self {
            id: t.id,
            name: t.name,
            subject: t.subject,
            html: t.html,
            text: t.text,
            from_name: t.from_name,
            from_email: t.from_email,
            created_at: format_ms(t.created_at),
            updated_at: format_ms(t.updated_at),
        }
    }
}

pub(crate) async fn load(state: &AppState, id: &str) -> Result<email_template::Model, ApiError> {
    rows::find::<email_template::Entity, _>(&state.db, id, "template").await
}

/// `POST /api/v1/templates` → `{success, id}`.
#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", request_body = TemplateBody,
    responses((status = 200, body = Created), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 503, description = "Template rendering busy", body = Message)),
    security(("apiKey" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<TemplateBody>,
) -> Result<web::Json<Created>, ApiError> {
    let id = create_template(&state, body.into_inner()).await?;
    Ok(web::Json(Created::new(id)))
}

/// Checks and stores a template; returns its id.
pub(crate) async fn create_template(state: &AppState, b: TemplateBody) -> Result<String, ApiError> {
    let name = check_name(&b.name)?;
    check_subject(&b.subject)?;
    compiles("html", &b.html)?;
    if let Some(text) = &b.text {
        compiles("text", text)?;
    }
    check_from(b.from_name.as_ref(), b.from_email.as_ref())?;
    let now = now_ms();
    let template = email_template::Model {
        id: new_id("tpl_"),
        name,
        subject: b.subject,
        html: b.html,
        text: b.text,
        from_name: b.from_name,
        from_email: b
            .from_email
            .as_deref()
            .and_then(Email::parse)
            .map(|e| e.as_str().to_owned()),
        created_at: now,
        updated_at: now,
    };
    check_sendable(state, &template).await?;
    let id = template.id.clone();
    email_template::Entity::insert(template.into_active_model())
        .exec_without_returning(&state.db)
        .await?;
    Ok(id)
}

/// `GET /api/v1/templates`.
#[utoipa::path(get, path = "/api/v1/templates", tag = "templates",
    responses((status = 200, body = Vec<Template>), (status = 401, description = "Missing or wrong API key", body = Message)),
    security(("apiKey" = [])))]
pub async fn list(state: web::Data<AppState>) -> Result<web::Json<Vec<Template>>, ApiError> {
    let rows = email_template::Entity::find()
        .order_by_asc(email_template::Column::CreatedAt)
        .all(&state.db)
        .await?;
    Ok(web::Json(rows.into_iter().map(Template::from).collect()))
}

/// `GET /api/v1/templates/{id}`.
#[utoipa::path(get, path = "/api/v1/templates/{id}", tag = "templates", params(("id" = String, Path)),
    responses((status = 200, body = Template), (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such template", body = Message)),
    security(("apiKey" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<Template>, ApiError> {
    Ok(web::Json(load(&state, &path).await?.into()))
}

/// `PATCH /api/v1/templates/{id}`.
#[utoipa::path(patch, path = "/api/v1/templates/{id}", tag = "templates", params(("id" = String, Path)),
    request_body = TemplatePatch,
    responses((status = 200, body = Template), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such template", body = Message),
        (status = 409, description = "It is a transactional email's published message", body = Message),
        (status = 503, description = "Template rendering busy", body = Message)),
    security(("apiKey" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<TemplatePatch>,
) -> Result<web::Json<Template>, ApiError> {
    let saved = update_template(&state, &path, body.into_inner()).await?;
    Ok(web::Json(saved.into()))
}

/// Changes the given fields of a template.
pub(crate) async fn update_template(
    state: &AppState,
    id: &str,
    b: TemplatePatch,
) -> Result<email_template::Model, ApiError> {
    let existing = load(state, id).await?;
    if let Some((owner, Role::Published)) = transactional::owner_of(&state.db, id).await? {
        return Err(ApiError::Conflict(format!(
            "This template is the published message of transactional email {}; edit its draft and publish it.",
            owner.id
        )));
    }
    // The checks apply to the template as it will be: the changed fields with the others.
    let mut changed = existing.clone();
    let mut row: email_template::ActiveModel = existing.into();
    if let Some(name) = &b.name {
        changed.name = check_name(name)?;
        row.name = Set(changed.name.clone());
    }
    if let Some(subject) = b.subject {
        check_subject(&subject)?;
        row.subject = Set(subject.clone());
        changed.subject = subject;
    }
    if let Some(html) = b.html {
        compiles("html", &html)?;
        row.html = Set(html.clone());
        changed.html = html;
    }
    if let Some(text) = b.text {
        compiles("text", &text)?;
        row.text = Set(Some(text.clone()));
        changed.text = Some(text);
    }
    check_from(b.from_name.as_ref(), b.from_email.as_ref())?;
    if let Some(from_name) = b.from_name {
        row.from_name = Set(Some(from_name.clone()));
        changed.from_name = Some(from_name);
    }
    if let Some(from_email) = b.from_email.as_deref().and_then(Email::parse) {
        row.from_email = Set(Some(from_email.as_str().to_owned()));
        changed.from_email = Some(from_email.as_str().to_owned());
    }
    check_sendable(state, &changed).await?;
    row.updated_at = Set(now_ms());
    Ok(row.update(&state.db).await?)
}

/// `DELETE /api/v1/templates/{id}`; refused (409) while a workflow sends it or a
/// transactional email holds it as its draft or published message.
#[utoipa::path(delete, path = "/api/v1/templates/{id}", tag = "templates", params(("id" = String, Path)),
    responses((status = 200, body = Message), (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such template", body = Message),
        (status = 409, description = "A workflow or a transactional email uses it", body = Message)),
    security(("apiKey" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<Message>, ApiError> {
    let existing = load(&state, &path).await?;
    if let Some((owner, _)) = transactional::owner_of(&state.db, &existing.id).await? {
        return Err(ApiError::Conflict(format!(
            "Transactional email {} uses this template; delete that instead.",
            owner.id
        )));
    }
    let workflows = workflow::Entity::find().all(&state.db).await?;
    let needle = format!("\"templateId\":\"{}\"", existing.id);
    let node_needle = format!("\"emailMessageId\":\"{}\"", existing.id);
    if let Some(user) = workflows.iter().find(|w| {
        w.steps.contains(&needle) || w.graph.as_deref().is_some_and(|g| g.contains(&node_needle))
    }) {
        return Err(ApiError::Conflict(format!(
            "Workflow {} sends this template; change it first.",
            user.id
        )));
    }
    email_template::Entity::delete_by_id(existing.id)
        .exec(&state.db)
        .await?;
    Ok(web::Json(Message::done("Template deleted.")))
}
