//! `/api/v1/workflows`: what starts a workflow (an event, or a contact added, updated or
//! added to a list), who it is for, and its steps (`sendEmail`, `wait`).

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::{email_template, mailing_list, workflow};
use inlet_shared::domain::{format_ms, new_id, now_ms};
use inlet_shared::providers::Provider;
use inlet_shared::workflows::{Audience, Step, Trigger};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, QueryOrder};
use serde::Deserialize;
use serde_json::json;

use super::rows::{self, check_name};
#[allow(unused_imports)]
use super::schemas::*;
use crate::error::ApiError;
use crate::state::AppState;

/// The longest `wait` step: a year.
const MAX_WAIT_SECS: u64 = 365 * 24 * 60 * 60;
/// Steps per workflow.
const MAX_STEPS: usize = 50;

/// Body of `POST /api/v1/workflows`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowBody {
    pub(crate) name: String,
    pub(crate) trigger: Trigger,
    pub(crate) audience: Option<Audience>,
    pub(crate) steps: Vec<Step>,
    pub(crate) enabled: Option<bool>,
}

/// Body of `PATCH /api/v1/workflows/{id}`: only what changes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowPatch {
    pub(crate) name: Option<String>,
    pub(crate) trigger: Option<Trigger>,
    pub(crate) audience: Option<Audience>,
    pub(crate) steps: Option<Vec<Step>>,
    pub(crate) enabled: Option<bool>,
}

async fn list_exists<C: ConnectionTrait>(db: &C, field: &str, id: &str) -> Result<(), ApiError> {
    match mailing_list::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
    {
        Some(_) => Ok(()),
        None => Err(ApiError::BadRequest(format!(
            "{field}: no mailing list {id}."
        ))),
    }
}

async fn check_trigger<C: ConnectionTrait>(db: &C, trigger: &Trigger) -> Result<(), ApiError> {
    match trigger {
        Trigger::Event { event_name } => match event_name.split_once(':') {
            Some((provider, event_type)) => {
                let provider = Provider::parse(provider).ok_or_else(|| {
                    ApiError::BadRequest(format!("trigger.eventName: {provider} is not a provider (stripe, clerk, polar, supabase)."))
                })?;
                if provider.supports(event_type) {
                    Ok(())
                } else {
                    Err(ApiError::BadRequest(format!(
                        "trigger.eventName: {event_type} is not a supported {} event.",
                        provider.display_name()
                    )))
                }
            }
            None if event_name.trim().is_empty() || event_name.chars().count() > 500 => Err(
                ApiError::BadRequest("trigger.eventName must be 1 to 500 characters.".into()),
            ),
            None => Ok(()),
        },
        Trigger::AddedToList { list_id } => list_exists(db, "trigger.listId", list_id).await,
        Trigger::ContactAdded | Trigger::ContactUpdated => Ok(()),
    }
}

async fn check_steps<C: ConnectionTrait>(db: &C, steps: &[Step]) -> Result<(), ApiError> {
    if steps.is_empty() || steps.len() > MAX_STEPS {
        return Err(ApiError::BadRequest(format!(
            "steps must hold 1 to {MAX_STEPS} steps."
        )));
    }
    for (i, step) in steps.iter().enumerate() {
        match step {
            Step::SendEmail { template_id } => {
                if email_template::Entity::find_by_id(template_id.clone())
                    .one(db)
                    .await?
                    .is_none()
                {
                    return Err(ApiError::BadRequest(format!(
                        "steps[{i}].templateId: no template {template_id}."
                    )));
                }
            }
            Step::Wait { seconds } if *seconds == 0 || *seconds > MAX_WAIT_SECS => {
                return Err(ApiError::BadRequest(format!(
                    "steps[{i}].seconds must be 1 to {MAX_WAIT_SECS}."
                )));
            }
            Step::Wait { .. } => {}
        }
    }
    Ok(())
}

async fn check_audience<C: ConnectionTrait>(db: &C, audience: &Audience) -> Result<(), ApiError> {
    if let Some(list) = &audience.mailing_list_id {
        list_exists(db, "audience.mailingListId", list).await?;
    }
    if audience
        .user_group
        .as_ref()
        .is_some_and(|g| g.chars().count() > 500)
    {
        return Err(ApiError::BadRequest(
            "audience.userGroup must be at most 500 characters.".into(),
        ));
    }
    Ok(())
}

fn trigger_of(w: &workflow::Model) -> serde_json::Value {
    match (w.trigger_type.as_str(), &w.trigger_value) {
        ("event", Some(name)) => json!({"type": "event", "eventName": name}),
        ("addedToList", Some(list)) => json!({"type": "addedToList", "listId": list}),
        (other, _) => json!({"type": other}),
    }
}

pub(crate) fn view(w: &workflow::Model) -> serde_json::Value {
    json!({
        "id": w.id,
        "name": w.name,
        "trigger": trigger_of(w),
        "audience": {"mailingListId": w.audience_list_id, "userGroup": w.audience_user_group},
        "steps": serde_json::from_str::<serde_json::Value>(&w.steps).unwrap_or(json!([])),
        "enabled": w.enabled,
        "createdAt": format_ms(w.created_at),
        "updatedAt": format_ms(w.updated_at),
    })
}

pub(crate) async fn load(state: &AppState, id: &str) -> Result<workflow::Model, ApiError> {
    rows::find::<workflow::Entity, _>(&state.db, id, "workflow").await
}

/// `POST /api/v1/workflows` → `{success, id}`.
#[utoipa::path(post, path = "/api/v1/workflows", tag = "workflows", request_body = WorkflowBody,
    responses((status = 200, body = Created), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message)),
    security(("apiKey" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<WorkflowBody>,
) -> Result<HttpResponse, ApiError> {
    let id = create_workflow(&state, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(json!({"success": true, "id": id})))
}

/// Checks and stores a workflow; returns its id.
pub(crate) async fn create_workflow(state: &AppState, b: WorkflowBody) -> Result<String, ApiError> {
    let name = check_name(&b.name)?;
    check_trigger(&state.db, &b.trigger).await?;
    let audience = b.audience.unwrap_or_default();
    check_audience(&state.db, &audience).await?;
    check_steps(&state.db, &b.steps).await?;
    let (trigger_type, trigger_value) = b.trigger.columns();
    let now = now_ms();
    let id = new_id("wf_");
    let row = workflow::ActiveModel {
        id: Set(id.clone()),
        name: Set(name),
        trigger_type: Set(trigger_type.to_owned()),
        trigger_value: Set(trigger_value.map(str::to_owned)),
        audience_list_id: Set(audience.mailing_list_id),
        audience_user_group: Set(audience.user_group),
        steps: Set(serde_json::to_string(&b.steps).unwrap_or_else(|_| "[]".into())),
        enabled: Set(b.enabled.unwrap_or(true)),
        created_at: Set(now),
        updated_at: Set(now),
    };
    workflow::Entity::insert(row)
        .exec_without_returning(&state.db)
        .await?;
    Ok(id)
}

/// `GET /api/v1/workflows`.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows",
    responses((status = 200, body = Vec<Workflow>), (status = 401, description = "Missing or wrong API key", body = Message)),
    security(("apiKey" = [])))]
pub async fn list(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = workflow::Entity::find()
        .order_by_asc(workflow::Column::CreatedAt)
        .all(&state.db)
        .await?;
    Ok(HttpResponse::Ok().json(rows.iter().map(view).collect::<Vec<_>>()))
}

/// `GET /api/v1/workflows/{id}`.
#[utoipa::path(get, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = String, Path)),
    responses((status = 200, body = Workflow), (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow", body = Message)),
    security(("apiKey" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view(&load(&state, &path).await?)))
}

/// `PATCH /api/v1/workflows/{id}`.
#[utoipa::path(patch, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = String, Path)),
    request_body = WorkflowPatch,
    responses((status = 200, body = Workflow), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow", body = Message)),
    security(("apiKey" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<WorkflowPatch>,
) -> Result<HttpResponse, ApiError> {
    let saved = update_workflow(&state, &path, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&saved)))
}

/// Changes the given fields of a workflow.
pub(crate) async fn update_workflow(
    state: &AppState,
    id: &str,
    b: WorkflowPatch,
) -> Result<workflow::Model, ApiError> {
    let existing = load(state, id).await?;
    let mut row: workflow::ActiveModel = existing.into();
    if let Some(name) = &b.name {
        row.name = Set(check_name(name)?);
    }
    if let Some(trigger) = &b.trigger {
        check_trigger(&state.db, trigger).await?;
        let (trigger_type, trigger_value) = trigger.columns();
        row.trigger_type = Set(trigger_type.to_owned());
        row.trigger_value = Set(trigger_value.map(str::to_owned));
    }
    if let Some(audience) = b.audience {
        check_audience(&state.db, &audience).await?;
        row.audience_list_id = Set(audience.mailing_list_id);
        row.audience_user_group = Set(audience.user_group);
    }
    if let Some(steps) = &b.steps {
        check_steps(&state.db, steps).await?;
        row.steps = Set(serde_json::to_string(steps).unwrap_or_else(|_| "[]".into()));
    }
    if let Some(enabled) = b.enabled {
        row.enabled = Set(enabled);
    }
    row.updated_at = Set(now_ms());
    Ok(row.update(&state.db).await?)
}

/// `DELETE /api/v1/workflows/{id}`.
#[utoipa::path(delete, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = String, Path)),
    responses((status = 200, body = Message), (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow", body = Message)),
    security(("apiKey" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let existing = load(&state, &path).await?;
    workflow::Entity::delete_by_id(existing.id)
        .exec(&state.db)
        .await?;
    Ok(HttpResponse::Ok().json(json!({"success": true, "message": "Workflow deleted."})))
}
