//! The deprecated Inlet shape of `/api/v1/workflows` (`{name, trigger, audience, steps,
//! enabled}` on `POST`, and `PATCH /api/v1/workflows/{id}`), answered with `Deprecation:
//! true`: a workflow made so is a straight graph of its steps (read from them, with their
//! indexes as seqs), sending unless `enabled` is false. The console's forms use it too.

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::{email_template, mailing_list, workflow};
use inlet_shared::domain::{format_ms, new_id, now_ms};
use inlet_shared::providers::Provider;
use inlet_shared::workflows::status::{self, WorkflowStatus};
use inlet_shared::workflows::{Audience, Step, Trigger, steps_of};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, TransactionTrait};
use serde::{Deserialize, Serialize};

use super::super::rows::{self, check_name};
use super::super::schemas::Message;
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

/// A workflow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Workflow {
    id: String,
    name: String,
    /// `null` for a row whose trigger Inlet did not write (one changed by other means).
    #[schema(required = true)]
    trigger: Option<Trigger>,
    audience: Audience,
    // Steps that do not read as steps (a row changed by other means) are shown as none.
    steps: Vec<Step>,
    enabled: bool,
    created_at: String,
    updated_at: String,
}

impl Workflow {
    fn of(w: &workflow::Model) -> Self {
        Self {
            id: w.id.clone(),
            name: w.name.clone(),
            trigger: trigger_of(w),
            audience: Audience {
                mailing_list_id: w.audience_list_id.clone(),
                user_group: w.audience_user_group.clone(),
            },
            steps: steps_of(w).unwrap_or_default(),
            enabled: w.enabled,
            created_at: format_ms(w.created_at),
            updated_at: format_ms(w.updated_at),
        }
    }
}

/// The trigger [`Trigger::columns`] stored in `w`, if it was stored that way.
fn trigger_of(w: &workflow::Model) -> Option<Trigger> {
    match (w.trigger_type.as_str(), &w.trigger_value) {
        ("event", Some(name)) => Some(Trigger::Event {
            event_name: name.clone(),
        }),
        ("addedToList", Some(list)) => Some(Trigger::AddedToList {
            list_id: list.clone(),
        }),
        ("contactAdded", _) => Some(Trigger::ContactAdded),
        ("contactUpdated", _) => Some(Trigger::ContactUpdated),
        _ => None,
    }
}

/// A workflow as the API shows it, as JSON the console adds its own fields to.
pub(crate) fn view(w: &workflow::Model) -> serde_json::Value {
    // A struct of strings, numbers and enums always serialises.
    serde_json::to_value(Workflow::of(w)).unwrap_or_default()
}

pub(crate) async fn load(state: &AppState, id: &str) -> Result<workflow::Model, ApiError> {
    rows::find::<workflow::Entity, _>(&state.db, id, "workflow").await
}

/// Checks and stores a workflow; returns its id.
pub(crate) async fn create_workflow(state: &AppState, b: WorkflowBody) -> Result<String, ApiError> {
    let name = check_name(&b.name)?;
    check_trigger(&state.db, &b.trigger).await?;
    let audience = b.audience.unwrap_or_default();
    check_audience(&state.db, &audience).await?;
    check_steps(&state.db, &b.steps).await?;
    let (trigger_type, trigger_value) = b.trigger.columns();
    let status = WorkflowStatus::of_enabled(b.enabled.unwrap_or(true));
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
        enabled: Set(status.enabled()),
        status: Set(status.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    workflow::Entity::insert(row)
        .exec_without_returning(&state.db)
        .await?;
    Ok(id)
}

/// `PATCH /api/v1/workflows/{id}` (deprecated: Inlet's former shape; use the Loops routes).
#[utoipa::path(patch, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = String, Path)),
    request_body = WorkflowPatch,
    responses((status = 200, body = Workflow), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow", body = Message)),
    security(("apiKey" = [])))]
pub async fn patch(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<WorkflowPatch>,
) -> Result<HttpResponse, ApiError> {
    let saved = update_workflow(&state, &path, body.into_inner()).await?;
    Ok(super::deprecated(&Workflow::of(&saved)))
}

/// Changes the given fields of a workflow.
pub(crate) async fn update_workflow(
    state: &AppState,
    id: &str,
    b: WorkflowPatch,
) -> Result<workflow::Model, ApiError> {
    let existing = load(state, id).await?;
    if existing.graph.is_some() && (b.trigger.is_some() || b.steps.is_some()) {
        return Err(ApiError::BadRequest(
            "This workflow is a graph: change its trigger and steps through its node routes."
                .into(),
        ));
    }
    let mut row: workflow::ActiveModel = existing.clone().into();
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
    row.updated_at = Set(now_ms());
    let txn = state.db.begin().await?;
    row.update(&txn).await?;
    if let Some(enabled) = b.enabled {
        status::set(&txn, &existing.id, WorkflowStatus::of_enabled(enabled)).await?;
    }
    let saved = super::find(&txn, &existing.id).await?;
    txn.commit().await?;
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use inlet_shared::db::entities::workflow;
    use inlet_shared::workflows::Trigger;

    use super::trigger_of;

    fn stored(trigger_type: &str, trigger_value: Option<&str>) -> workflow::Model {
        workflow::Model {
            id: "wf_1".into(),
            name: "W".into(),
            trigger_type: trigger_type.into(),
            trigger_value: trigger_value.map(str::to_owned),
            audience_list_id: None,
            audience_user_group: None,
            steps: "[]".into(),
            enabled: true,
            created_at: 1,
            updated_at: 2,
            description: None,
            status: "Sending".into(),
            revision_id: None,
            graph: None,
            exit_events: None,
        }
    }

    /// Every trigger reads back from the columns it is stored as; other columns are none.
    #[test]
    fn a_trigger_reads_back_from_its_columns() {
        for trigger in [
            Trigger::Event {
                event_name: "stripe:checkout.session.completed".into(),
            },
            Trigger::ContactAdded,
            Trigger::ContactUpdated,
            Trigger::AddedToList {
                list_id: "list_1".into(),
            },
        ] {
            let (trigger_type, trigger_value) = trigger.columns();
            assert_eq!(
                trigger_of(&stored(trigger_type, trigger_value)),
                Some(trigger)
            );
        }
        for (trigger_type, trigger_value) in [("event", None), ("sometimes", None)] {
            assert_eq!(trigger_of(&stored(trigger_type, trigger_value)), None);
        }
    }
}
