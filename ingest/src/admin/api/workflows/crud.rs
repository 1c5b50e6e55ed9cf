//! The workflow routes: list, create (Loops' draft, or the deprecated Inlet shape), get,
//! update (name, description), delete (confirmed while sending or with queued contacts),
//! change the mailing list (queued contacts not on the new one found or discarded), and
//! Inlet's start/pause (`…/status`).

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::{email_template, mailing_list, workflow};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::graph::NodeKind;
use inlet_shared::graph::edit::runnable;
use inlet_shared::workflows::graph;
use inlet_shared::workflows::runs::{self, Queued};
use inlet_shared::workflows::status::{self, WorkflowStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::event_patterns::{self, Pagination};
use super::super::rows::check_name;
use super::super::schemas::{Created, Message};
use super::legacy::{self, WorkflowBody};
use super::view::{self, SimplifiedWorkflow, WorkflowList};
use super::{QueuedContactPolicy, begin, find};
use crate::error::ApiError;
use crate::state::AppState;

/// The longest description.
const MAX_DESCRIPTION: usize = 2000;

/// Query of `GET /api/v1/workflows`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// 10 to 50; 20 when not given.
    #[param(example = "20")]
    per_page: Option<String>,
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /api/v1/workflows?perPage=…&cursor=…`, oldest first.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows", params(ListQuery),
    responses((status = 200, body = WorkflowList), (status = 400, description = "Invalid perPage or cursor", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message)),
    security(("apiKey" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<WorkflowList>, ApiError> {
    let per_page = event_patterns::per_page(query.per_page.as_deref())?;
    let total =
        usize::try_from(workflow::Entity::find().count(&state.db).await?).unwrap_or(usize::MAX);
    let start = event_patterns::offset(query.cursor.as_deref(), total)?;
    let rows = workflow::Entity::find()
        .order_by_asc(workflow::Column::CreatedAt)
        .order_by_asc(workflow::Column::Id)
        .offset(u64::try_from(start).unwrap_or(u64::MAX))
        .limit(u64::try_from(per_page).unwrap_or(50))
        .all(&state.db)
        .await?;
    let data: Vec<_> = rows.iter().map(|w| view::summary(&state, w)).collect();
    let next = start.saturating_add(per_page);
    let next_cursor = (next < total).then(|| next.to_string());
    let next_page = next_cursor.as_ref().map(|cursor| {
        format!(
            "{}/api/v1/workflows?perPage={per_page}&cursor={cursor}",
            state.config.public_url.trim_end_matches('/')
        )
    });
    Ok(web::Json(WorkflowList {
        pagination: Pagination {
            total_results: total,
            returned_results: data.len(),
            per_page,
            total_pages: total.div_ceil(per_page),
            next_cursor,
            next_page,
        },
        data,
    }))
}

/// Body of Loops' `createWorkflow`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewWorkflow {
    name: String,
    description: Option<String>,
    mailing_list_id: Option<String>,
}

/// Body of `POST /api/v1/workflows`: Loops' shape, or the deprecated Inlet one (with
/// `trigger` and `steps`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum CreateBody {
    /// Loops' `createWorkflow`: a draft with a blank trigger and an exit.
    Loops(NewWorkflow),
    /// Deprecated: Inlet's former shape, stored as the straight graph of its steps.
    Legacy(WorkflowBody),
}

/// What `POST /api/v1/workflows` answers: the workflow, or `{success, id}` for the
/// deprecated shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CreateAnswer {
    /// The new draft.
    Workflow(SimplifiedWorkflow),
    /// The deprecated shape's answer.
    Legacy(Created),
}

fn check_description(d: Option<&str>) -> Result<(), ApiError> {
    if d.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(ApiError::BadRequest(format!(
            "description must be at most {MAX_DESCRIPTION} characters."
        )));
    }
    Ok(())
}

pub(crate) async fn list_exists<C: sea_orm::ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<(), ApiError> {
    match mailing_list::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
    {
        Some(_) => Ok(()),
        None => Err(ApiError::BadRequest(format!(
            "mailingListId: no mailing list {id}."
        ))),
    }
}

/// `POST /api/v1/workflows`: a draft workflow (Loops), or the deprecated Inlet shape.
#[utoipa::path(post, path = "/api/v1/workflows", tag = "workflows", request_body = CreateBody,
    responses((status = 200, body = CreateAnswer), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message)),
    security(("apiKey" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let is_legacy = body.get("trigger").is_some() || body.get("steps").is_some();
    if is_legacy {
        let b: WorkflowBody = serde_json::from_value(body)
            .map_err(|e| ApiError::BadRequest(format!("Invalid body: {e}")))?;
        let id = legacy::create_workflow(&state, b).await?;
        return Ok(super::deprecated(&Created::new(id)));
    }
    let b: NewWorkflow = serde_json::from_value(body)
        .map_err(|e| ApiError::BadRequest(format!("Invalid body: {e}")))?;
    let name = check_name(&b.name)?;
    check_description(b.description.as_deref())?;
    let txn = state.db.begin().await?;
    if let Some(list) = &b.mailing_list_id {
        list_exists(&txn, list).await?;
    }
    let now = now_ms();
    let row = workflow::Model {
        id: new_id("wf_"),
        name,
        trigger_type: "none".into(),
        trigger_value: None,
        audience_list_id: b.mailing_list_id,
        audience_user_group: None,
        steps: "[]".into(),
        enabled: false,
        created_at: now,
        updated_at: now,
        description: b.description,
        status: WorkflowStatus::Draft.as_str().into(),
        revision_id: None,
        graph: None,
        exit_events: None,
    };
    workflow::Entity::insert(sea_orm::IntoActiveModel::into_active_model(row.clone()))
        .exec_without_returning(&txn)
        .await?;
    let g = graph::blank();
    graph::save(&txn, &row, &g, None)
        .await
        .map_err(super::graph_error)?;
    let saved = find(&txn, &row.id).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(CreateAnswer::Workflow(view::workflow(&state, &saved, &g))))
}

/// `GET /api/v1/workflows/{id}`: the workflow and its graph.
#[utoipa::path(get, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = String, Path)),
    responses((status = 200, body = SimplifiedWorkflow), (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow", body = Message), (status = 409, description = "Its stored graph cannot be read", body = Message)),
    security(("apiKey" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<SimplifiedWorkflow>, ApiError> {
    let w = find(&state.db, &path).await?;
    let g = graph::of(&w).map_err(super::graph_error)?;
    Ok(web::Json(view::workflow(&state, &w, &g)))
}

/// Body of `POST /api/v1/workflows/{id}` (`updateWorkflow`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowUpdate {
    /// The revision last read (`null` for a workflow without one yet).
    #[serde(default)]
    expected_revision_id: Option<String>,
    name: Option<String>,
    description: Option<String>,
}

/// `POST /api/v1/workflows/{id}`: renames it or changes its description.
#[utoipa::path(post, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = String, Path)),
    request_body = WorkflowUpdate,
    responses((status = 200, body = SimplifiedWorkflow), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow", body = Message),
        (status = 409, description = "The revision moved on", body = Message)),
    security(("apiKey" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<WorkflowUpdate>,
) -> Result<web::Json<SimplifiedWorkflow>, ApiError> {
    let b = body.into_inner();
    if b.name.is_none() && b.description.is_none() {
        return Err(ApiError::BadRequest("Give name or description.".into()));
    }
    let name = b.name.as_deref().map(check_name).transpose()?;
    check_description(b.description.as_deref())?;
    let expected = b.expected_revision_id.as_deref();
    let mut e = begin(&state, &path, expected).await?;
    let mut write =
        workflow::Entity::update_many().filter(workflow::Column::Id.eq(e.row.id.as_str()));
    if let Some(name) = &name {
        write = write.col_expr(workflow::Column::Name, Expr::value(name.clone()));
        e.row.name.clone_from(name);
    }
    if let Some(d) = &b.description {
        write = write.col_expr(workflow::Column::Description, Expr::value(d.clone()));
        e.row.description = Some(d.clone());
    }
    write.exec(&e.txn).await?;
    let (row, g) = e.save(expected).await?;
    Ok(web::Json(view::workflow(&state, &row, &g)))
}

/// Body of `DELETE /api/v1/workflows/{id}`; none for the deprecated shape.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteBody {
    /// The revision last read (`null` for a workflow without one yet).
    #[serde(default)]
    expected_revision_id: Option<String>,
    /// Deletes a workflow that is sending or has queued contacts (cancelling them).
    #[serde(default)]
    confirm_delete: bool,
}

/// `DELETE /api/v1/workflows/{id}`: 409 while it is sending or has queued contacts,
/// unless `confirmDelete` (its pending runs are then cancelled with it). Without a body
/// (the deprecated shape), no revision is checked.
#[utoipa::path(delete, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = String, Path)),
    request_body(content = DeleteBody, description = "Optional"),
    responses((status = 200, body = Message), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow", body = Message),
        (status = 409, description = "Sending or contacts queued (confirmDelete), or the revision moved on", body = Message)),
    security(("apiKey" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<Message>, ApiError> {
    let (b, check_revision) = if body.iter().all(u8::is_ascii_whitespace) {
        (DeleteBody::default(), false)
    } else {
        let b: DeleteBody = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("Invalid body: {e}")))?;
        (b, true)
    };
    let txn = state.db.begin().await?;
    let w = find(&txn, &path).await?;
    if check_revision && w.revision_id != b.expected_revision_id {
        return Err(super::stale());
    }
    let queued = runs::count_queued(&txn, &w.id, Queued::All).await?;
    let sending = WorkflowStatus::parse(&w.status) == WorkflowStatus::Sending;
    if (sending || queued > 0) && !b.confirm_delete {
        return Err(ApiError::Conflict(format!(
            "This workflow is {} with {queued} queued contact(s); retry with confirmDelete: true to stop it, cancel them and delete it.",
            w.status
        )));
    }
    runs::discard(&txn, &w.id, Queued::All, "the workflow was deleted").await?;
    workflow::Entity::delete_by_id(w.id).exec(&txn).await?;
    txn.commit().await?;
    Ok(web::Json(Message::done("Workflow deleted.")))
}

/// Body of `POST /api/v1/workflows/{id}/mailing-list`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MailingListChange {
    #[serde(default)]
    expected_revision_id: Option<String>,
    /// The list, or `null` for every contact.
    #[schema(required = true)]
    mailing_list_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    queued_contact_policy: QueuedContactPolicy,
}

/// Loops' `ChangeWorkflowMailingListResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailingListAnswer {
    /// `dryRun`, `queuedContactsFound` or `updated`.
    status: &'static str,
    #[schema(required = true)]
    mailing_list_id: Option<String>,
    /// Pending runs whose contact is not on the new list.
    queued_contact_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow_revision_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow: Option<SimplifiedWorkflow>,
}

/// `POST /api/v1/workflows/{id}/mailing-list`: the queued contacts not on the new list
/// are counted (`dryRun`), found (nothing changes), or discarded with the change.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/mailing-list", tag = "workflows", params(("id" = String, Path)),
    request_body = MailingListChange,
    responses((status = 200, body = MailingListAnswer), (status = 400, description = "Invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow", body = Message),
        (status = 409, description = "The revision moved on", body = Message)),
    security(("apiKey" = [])))]
pub async fn mailing_list(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<MailingListChange>,
) -> Result<web::Json<MailingListAnswer>, ApiError> {
    let b = body.into_inner();
    let expected = b.expected_revision_id.as_deref();
    let mut e = begin(&state, &path, expected).await?;
    if let Some(list) = &b.mailing_list_id {
        list_exists(&e.txn, list).await?;
    }
    let queued = match &b.mailing_list_id {
        Some(list) => runs::count_queued(&e.txn, &e.row.id, Queued::OffList(list)).await?,
        None => 0,
    };
    let preview = |status| MailingListAnswer {
        status,
        mailing_list_id: b.mailing_list_id.clone(),
        queued_contact_count: queued,
        workflow_revision_id: None,
        workflow: None,
    };
    if b.dry_run {
        return Ok(web::Json(preview("dryRun")));
    }
    if queued > 0 && b.queued_contact_policy != QueuedContactPolicy::Discard {
        return Ok(web::Json(preview("queuedContactsFound")));
    }
    if let Some(list) = &b.mailing_list_id {
        runs::discard(
            &e.txn,
            &e.row.id,
            Queued::OffList(list),
            "not on the workflow's new mailing list",
        )
        .await?;
    }
    workflow::Entity::update_many()
        .col_expr(
            workflow::Column::AudienceListId,
            Expr::value(b.mailing_list_id.clone()),
        )
        .filter(workflow::Column::Id.eq(e.row.id.as_str()))
        .exec(&e.txn)
        .await?;
    e.row.audience_list_id.clone_from(&b.mailing_list_id);
    let (row, g) = e.save(expected).await?;
    Ok(web::Json(MailingListAnswer {
        status: "updated",
        mailing_list_id: b.mailing_list_id,
        queued_contact_count: queued,
        workflow_revision_id: row.revision_id.clone(),
        workflow: Some(view::workflow(&state, &row, &g)),
    }))
}

/// Body of `POST /api/v1/workflows/{id}/status` (Inlet's own).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusChange {
    /// `Sending` (start) or `Paused`.
    #[schema(value_type = String, example = "Sending")]
    status: WorkflowStatus,
}

/// Why a workflow's emails cannot be sent yet: a message without subject or body.
async fn messages_ready(state: &AppState, g: &inlet_shared::graph::Graph) -> Result<(), ApiError> {
    for id in g.email_message_ids() {
        let t = email_template::Entity::find_by_id(id.to_owned())
            .one(&state.db)
            .await?;
        match t {
            Some(t) if !t.subject.trim().is_empty() && !t.html.trim().is_empty() => {}
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "Email message {id} needs a subject and a body before the workflow starts (updateEmailMessage)."
                )));
            }
        }
    }
    Ok(())
}

/// `POST /api/v1/workflows/{id}/status` (Inlet's extension; Loops starts workflows in its
/// app): `Sending` starts it once its graph is runnable, `Paused` pauses it. The revision
/// does not change.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/status", tag = "workflows", params(("id" = String, Path)),
    request_body = StatusChange,
    responses((status = 200, body = SimplifiedWorkflow), (status = 400, description = "Not runnable, or invalid input", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow", body = Message),
        (status = 409, description = "Its stored graph cannot be read", body = Message)),
    security(("apiKey" = [])))]
pub async fn set_status(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<StatusChange>,
) -> Result<web::Json<SimplifiedWorkflow>, ApiError> {
    let w = find(&state.db, &path).await?;
    let g = graph::of(&w).map_err(super::graph_error)?;
    match body.status {
        WorkflowStatus::Sending => {
            runnable(&g).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            if matches!(
                g.trigger().map(|n| &n.kind),
                Some(NodeKind::AddToListTrigger { .. })
            ) && w.audience_list_id.is_none()
            {
                return Err(ApiError::BadRequest(
                    "An AddToListTrigger needs the workflow's mailing list (changeWorkflowMailingList).".into(),
                ));
            }
            messages_ready(&state, &g).await?;
        }
        WorkflowStatus::Paused => {}
        WorkflowStatus::Draft => {
            return Err(ApiError::BadRequest(
                "status must be Sending or Paused.".into(),
            ));
        }
    }
    status::set(&state.db, &w.id, body.status).await?;
    let w = find(&state.db, &w.id).await?;
    Ok(web::Json(view::workflow(&state, &w, &g)))
}
