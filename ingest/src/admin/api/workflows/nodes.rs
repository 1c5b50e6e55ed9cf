//! The node routes of a workflow: create (a send creating its email message), get, update
//! (`UpdateWorkflowNodePayload`), delete alone or with what only it leads to, add a path to
//! a branch, reroute a connection. Deletes answer Loops' queued-contact preview unless the
//! queued runs are discarded, in the delete's transaction.

use actix_web::web;
use inlet_shared::db::entities::email_template;
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::graph::edit::{self, Edited, Insert, NodeUpdate};
use inlet_shared::graph::{NodeKind, TimerUnit};
use inlet_shared::providers::Provider;
use inlet_shared::workflows::graph::new_node_id;
use inlet_shared::workflows::runs::{self, Queued};
use sea_orm::{EntityTrait, IntoActiveModel};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::super::schemas::Message;
use super::view::{self, NodeDetails, NodeSummary, SimplifiedWorkflow};
use super::{Editing, QueuedContactPolicy, begin, find};
use crate::error::ApiError;
use crate::state::AppState;

/// Where `POST …/nodes` inserts.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum InsertMode {
    /// On the connection `fromNodeId` → `toNodeId`.
    Between,
    /// Before `toNodeId`.
    Before,
    /// After `fromNodeId` (one outgoing connection).
    After,
}

/// A type `POST …/nodes` creates.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum NewNodeType {
    AudienceFilter,
    BranchNode,
    ExperimentBranchNode,
    TimerAction,
    SendEmailAction,
    VariantNode,
}

/// Body of `POST /api/v1/workflows/{id}/nodes` (`CreateWorkflowNodeParams`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewNode {
    #[serde(default)]
    expected_revision_id: Option<String>,
    insert_mode: InsertMode,
    node_type_name: NewNodeType,
    from_node_id: Option<String>,
    to_node_id: Option<String>,
    /// Deprecated name of `toNodeId` (`before`).
    before_node_id: Option<String>,
}

/// `CreatedWorkflowNode`: the node, with its workflow's revision and default children.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedNode {
    #[serde(flatten)]
    node: NodeDetails,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    created_child_nodes: Vec<NodeSummary>,
}

/// `CreateWorkflowNodeResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreateNodeAnswer {
    node: CreatedNode,
    workflow: SimplifiedWorkflow,
}

/// `AddWorkflowBranchResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BranchAnswer {
    node: NodeDetails,
    workflow: SimplifiedWorkflow,
}

/// `UpdateWorkflowNodeResponse` and `RerouteNodeConnectionResponse`: the node and its
/// workflow.
#[derive(Debug, Serialize, ToSchema)]
pub struct NodeAnswer {
    #[serde(flatten)]
    node: NodeDetails,
    workflow: SimplifiedWorkflow,
}

/// Body of the revision-only routes (`add-branch`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Revision {
    #[serde(default)]
    expected_revision_id: Option<String>,
}

/// Body of `POST …/nodes/{nodeId}` (`updateWorkflowNode`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateNode {
    #[serde(default)]
    expected_revision_id: Option<String>,
    /// Loops' `UpdateWorkflowNodePayload`: the node type's fields.
    #[schema(value_type = Object)]
    payload: serde_json::Value,
}

/// Body of `POST …/nodes/{nodeId}/reroute`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reroute {
    #[serde(default)]
    expected_revision_id: Option<String>,
    new_target_node_id: String,
}

/// Body of the node deletes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteNode {
    #[serde(default)]
    expected_revision_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    queued_contact_policy: QueuedContactPolicy,
}

/// `WorkflowQueuedContactDeletePreview` or `WorkflowDeletedResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteAnswer {
    /// `dryRun`, `queuedContactsFound` or `deleted`.
    status: &'static str,
    /// The nodes deleted (or that would be).
    node_ids: Vec<String>,
    /// Pending runs at those nodes.
    queued_contact_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow_revision_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workflow: Option<SimplifiedWorkflow>,
}

type Path2 = web::Path<(String, String)>;

fn new_ids() -> impl FnMut() -> String {
    new_node_id
}

fn answer(
    state: &AppState,
    row: &inlet_shared::db::entities::workflow::Model,
    g: &inlet_shared::graph::Graph,
    id: &str,
) -> Result<NodeAnswer, ApiError> {
    let n = g
        .node(id)
        .ok_or_else(|| ApiError::NotFound(format!("No node {id} in this workflow.")))?;
    Ok(NodeAnswer {
        node: view::node(row, id, n),
        workflow: view::workflow(state, row, g),
    })
}

/// `POST /api/v1/workflows/{id}/nodes`: a node with its defaults (a send gets a new, empty
/// email message; a branch two audience-filter paths; an experiment three variants).
#[utoipa::path(post, path = "/api/v1/workflows/{id}/nodes", tag = "workflows", params(("id" = String, Path)),
    request_body = NewNode,
    responses((status = 200, body = CreateNodeAnswer), (status = 400, description = "Invalid input, or refused by the graph's rules", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow or node", body = Message),
        (status = 409, description = "The revision moved on, or the workflow is full", body = Message)),
    security(("apiKey" = [])))]
pub async fn create_node(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<NewNode>,
) -> Result<web::Json<CreateNodeAnswer>, ApiError> {
    let b = body.into_inner();
    let need = |v: &Option<String>, name: &str| {
        v.clone()
            .ok_or_else(|| ApiError::BadRequest(format!("{name} is required by this insertMode.")))
    };
    let at = match b.insert_mode {
        InsertMode::Between => Insert::Between {
            from: need(&b.from_node_id, "fromNodeId")?,
            to: need(&b.to_node_id, "toNodeId")?,
        },
        InsertMode::Before => Insert::Before {
            to: need(
                &b.to_node_id.clone().or(b.before_node_id.clone()),
                "toNodeId",
            )?,
        },
        InsertMode::After => Insert::After {
            from: need(&b.from_node_id, "fromNodeId")?,
        },
    };
    let expected = b.expected_revision_id.as_deref();
    let mut e = begin(&state, &path, expected).await?;
    let kind = match b.node_type_name {
        NewNodeType::AudienceFilter => NodeKind::AudienceFilter {
            filter: None,
            applies_downstream: false,
        },
        NewNodeType::BranchNode => NodeKind::BranchNode,
        NewNodeType::ExperimentBranchNode => NodeKind::ExperimentBranchNode,
        NewNodeType::TimerAction => NodeKind::TimerAction {
            amount: 1,
            unit: TimerUnit::Days,
        },
        NewNodeType::VariantNode => NodeKind::VariantNode {
            sampling_rate: 0,
            is_control: false,
        },
        NewNodeType::SendEmailAction => NodeKind::SendEmailAction {
            email_message_id: new_message(&e).await?,
        },
    };
    let done = edit::create(&mut e.graph, &mut new_ids(), &at, kind)?;
    let (row, g) = e.save(expected).await?;
    let mut created = done.created.iter();
    let first = created
        .next()
        .and_then(|id| g.node(id).map(|n| view::node(&row, id, n)))
        .ok_or_else(|| ApiError::NotFound("The node was not created.".into()))?;
    let children = created
        .filter_map(|id| g.node(id).map(|n| view::node_summary(&row, id, n)))
        .collect();
    Ok(web::Json(CreateNodeAnswer {
        node: CreatedNode {
            node: first,
            created_child_nodes: children,
        },
        workflow: view::workflow(&state, &row, &g),
    }))
}

/// A new, empty email message for a send node of the workflow being edited.
async fn new_message(e: &Editing) -> Result<String, ApiError> {
    let now = now_ms();
    let t = email_template::Model {
        id: new_id("tpl_"),
        name: format!("{} (workflow email)", e.row.name),
        subject: String::new(),
        html: String::new(),
        text: None,
        from_name: None,
        from_email: None,
        created_at: now,
        updated_at: now,
    };
    let id = t.id.clone();
    email_template::Entity::insert(t.into_active_model())
        .exec_without_returning(&e.txn)
        .await?;
    Ok(id)
}

/// `GET /api/v1/workflows/{id}/nodes/{nodeId}`.
#[utoipa::path(get, path = "/api/v1/workflows/{id}/nodes/{nodeId}", tag = "workflows",
    params(("id" = String, Path), ("nodeId" = String, Path)),
    responses((status = 200, body = NodeDetails), (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow or node", body = Message),
        (status = 409, description = "Its stored graph cannot be read", body = Message)),
    security(("apiKey" = [])))]
pub async fn get_node(
    state: web::Data<AppState>,
    path: Path2,
) -> Result<web::Json<NodeDetails>, ApiError> {
    let (id, node_id) = path.into_inner();
    let w = find(&state.db, &id).await?;
    let g = inlet_shared::workflows::graph::of(&w).map_err(super::graph_error)?;
    let n = g
        .node(&node_id)
        .ok_or_else(|| ApiError::NotFound(format!("No node {node_id} in this workflow.")))?;
    Ok(web::Json(view::node(&w, &node_id, n)))
}

/// Checks an event trigger's event as a workflow trigger takes it: a platform event Inlet
/// records, or a custom one.
fn check_event(name: &str) -> Result<(), ApiError> {
    if let Some((provider, event_type)) = name.split_once(':') {
        let p = Provider::parse(provider).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "eventName: {provider} is not a provider (stripe, clerk, polar, supabase)."
            ))
        })?;
        if !p.supports(event_type) {
            return Err(ApiError::BadRequest(format!(
                "eventName: {event_type} is not a supported {} event.",
                p.display_name()
            )));
        }
    }
    Ok(())
}

/// `POST /api/v1/workflows/{id}/nodes/{nodeId}`: the node's own fields.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/nodes/{nodeId}", tag = "workflows",
    params(("id" = String, Path), ("nodeId" = String, Path)), request_body = UpdateNode,
    responses((status = 200, body = NodeAnswer), (status = 400, description = "Invalid input, or not supported by Inlet", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow or node", body = Message),
        (status = 409, description = "The revision moved on", body = Message)),
    security(("apiKey" = [])))]
pub async fn update_node(
    state: web::Data<AppState>,
    path: Path2,
    body: web::Json<UpdateNode>,
) -> Result<web::Json<NodeAnswer>, ApiError> {
    let (id, node_id) = path.into_inner();
    let b = body.into_inner();
    let mut u: NodeUpdate = serde_json::from_value(b.payload)
        .map_err(|e| ApiError::BadRequest(format!("payload: {e}")))?;
    let expected = b.expected_revision_id.as_deref();
    let mut e = begin(&state, &id, expected).await?;
    // An event pattern is named by its id; the trigger keeps its event's name.
    if let Some(Some(pattern)) = u.event_pattern_id.take() {
        let p = inlet_shared::contacts::patterns::by_id(&e.txn, &pattern)
            .await?
            .ok_or_else(|| {
                ApiError::BadRequest(format!("eventPatternId: no event pattern {pattern}."))
            })?;
        u.event_name = Some(Some(p.event_name));
    }
    if let Some(Some(name)) = &u.event_name {
        check_event(name)?;
    }
    edit::update(&mut e.graph, &node_id, &u)?;
    let (row, g) = e.save(expected).await?;
    Ok(web::Json(answer(&state, &row, &g, &node_id)?))
}

/// `POST /api/v1/workflows/{id}/nodes/{nodeId}/add-branch`: a new path (an audience
/// filter, or a variant at rate 0) to a new exit.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/nodes/{nodeId}/add-branch", tag = "workflows",
    params(("id" = String, Path), ("nodeId" = String, Path)), request_body = Revision,
    responses((status = 200, body = BranchAnswer), (status = 400, description = "Not a branch or experiment", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow or node", body = Message),
        (status = 409, description = "The revision moved on, or the workflow is full", body = Message)),
    security(("apiKey" = [])))]
pub async fn add_branch(
    state: web::Data<AppState>,
    path: Path2,
    body: web::Json<Revision>,
) -> Result<web::Json<BranchAnswer>, ApiError> {
    let (id, node_id) = path.into_inner();
    let expected = body.expected_revision_id.as_deref();
    let mut e = begin(&state, &id, expected).await?;
    let done = edit::add_branch(&mut e.graph, &mut new_ids(), &node_id)?;
    let (row, g) = e.save(expected).await?;
    let path_id = done.created.first().cloned().unwrap_or_default();
    let a = answer(&state, &row, &g, &path_id)?;
    Ok(web::Json(BranchAnswer {
        node: a.node,
        workflow: a.workflow,
    }))
}

/// `POST /api/v1/workflows/{id}/nodes/{nodeId}/reroute`: the node's one connection goes
/// to `newTargetNodeId`; what only the old one reached is deleted and its queued runs
/// discarded.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/nodes/{nodeId}/reroute", tag = "workflows",
    params(("id" = String, Path), ("nodeId" = String, Path)), request_body = Reroute,
    responses((status = 200, body = NodeAnswer), (status = 400, description = "Refused by the graph's rules (a loop, a branch, the trigger)", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow or node", body = Message),
        (status = 409, description = "The revision moved on", body = Message)),
    security(("apiKey" = [])))]
pub async fn reroute(
    state: web::Data<AppState>,
    path: Path2,
    body: web::Json<Reroute>,
) -> Result<web::Json<NodeAnswer>, ApiError> {
    let (id, node_id) = path.into_inner();
    let expected = body.expected_revision_id.as_deref();
    let mut e = begin(&state, &id, expected).await?;
    let done = edit::reroute(&mut e.graph, &node_id, &body.new_target_node_id)?;
    discard_removed(&e, &done).await?;
    let (row, g) = e.save(expected).await?;
    Ok(web::Json(answer(&state, &row, &g, &node_id)?))
}

async fn discard_removed(e: &Editing, done: &Edited) -> Result<u64, ApiError> {
    let seqs: Vec<u32> = done.removed.iter().map(|(_, s)| *s).collect();
    Ok(runs::discard(
        &e.txn,
        &e.row.id,
        Queued::AtNodes(&seqs),
        "its workflow node was deleted",
    )
    .await?)
}

/// A delete: refused by the graph's rules, previewed, stopped by queued contacts, or made
/// with them discarded.
async fn delete_with(
    state: &AppState,
    id: &str,
    node_id: &str,
    b: DeleteNode,
    recursive: bool,
) -> Result<DeleteAnswer, ApiError> {
    let expected = b.expected_revision_id.as_deref();
    let mut e = begin(state, id, expected).await?;
    let done = if recursive {
        edit::delete_recursive(&mut e.graph, &mut new_ids(), node_id)?
    } else {
        edit::delete(&mut e.graph, node_id)?
    };
    let seqs: Vec<u32> = done.removed.iter().map(|(_, s)| *s).collect();
    let node_ids: Vec<String> = done.removed.iter().map(|(n, _)| n.clone()).collect();
    let queued = runs::count_queued(&e.txn, &e.row.id, Queued::AtNodes(&seqs)).await?;
    let preview = |status| DeleteAnswer {
        status,
        node_ids: node_ids.clone(),
        queued_contact_count: queued,
        workflow_revision_id: None,
        workflow: None,
    };
    if b.dry_run {
        return Ok(preview("dryRun"));
    }
    if queued > 0 && b.queued_contact_policy != QueuedContactPolicy::Discard {
        return Ok(preview("queuedContactsFound"));
    }
    discard_removed(&e, &done).await?;
    let (row, g) = e.save(expected).await?;
    Ok(DeleteAnswer {
        status: "deleted",
        node_ids,
        queued_contact_count: queued,
        workflow_revision_id: row.revision_id.clone(),
        workflow: Some(view::workflow(state, &row, &g)),
    })
}

/// `DELETE /api/v1/workflows/{id}/nodes/{nodeId}`: the node alone (its parents lead to its
/// child).
#[utoipa::path(delete, path = "/api/v1/workflows/{id}/nodes/{nodeId}", tag = "workflows",
    params(("id" = String, Path), ("nodeId" = String, Path)), request_body = DeleteNode,
    responses((status = 200, body = DeleteAnswer), (status = 400, description = "Refused by the graph's rules", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow or node", body = Message),
        (status = 409, description = "The revision moved on", body = Message)),
    security(("apiKey" = [])))]
pub async fn delete_node(
    state: web::Data<AppState>,
    path: Path2,
    body: web::Json<DeleteNode>,
) -> Result<web::Json<DeleteAnswer>, ApiError> {
    let (id, node_id) = path.into_inner();
    Ok(web::Json(
        delete_with(&state, &id, &node_id, body.into_inner(), false).await?,
    ))
}

/// `DELETE /api/v1/workflows/{id}/nodes/{nodeId}/recursive`: the node and everything only
/// reachable through it.
#[utoipa::path(delete, path = "/api/v1/workflows/{id}/nodes/{nodeId}/recursive", tag = "workflows",
    params(("id" = String, Path), ("nodeId" = String, Path)), request_body = DeleteNode,
    responses((status = 200, body = DeleteAnswer), (status = 400, description = "Refused by the graph's rules", body = Message),
        (status = 401, description = "Missing or wrong API key", body = Message),
        (status = 404, description = "No such workflow or node", body = Message),
        (status = 409, description = "The revision moved on", body = Message)),
    security(("apiKey" = [])))]
pub async fn delete_recursive(
    state: web::Data<AppState>,
    path: Path2,
    body: web::Json<DeleteNode>,
) -> Result<web::Json<DeleteAnswer>, ApiError> {
    let (id, node_id) = path.into_inner();
    Ok(web::Json(
        delete_with(&state, &id, &node_id, body.into_inner(), true).await?,
    ))
}
