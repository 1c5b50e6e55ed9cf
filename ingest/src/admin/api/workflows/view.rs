//! What the workflow routes answer, in the SDK's shapes: a workflow with its nodes
//! (`SimplifiedWorkflow`), a node with its workflow's revision (`WorkflowNodeWithRevision`),
//! a listing's summaries (`WorkflowSummary`).

use inlet_shared::db::entities::workflow;
use inlet_shared::domain::format_ms;
use inlet_shared::graph::{Graph, Node, NodeKind};
use inlet_shared::workflows::status::WorkflowStatus;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::super::event_patterns::Pagination;
use crate::state::AppState;

/// A node as a workflow shows it: `{typeName, nextNodeIds, …its fields}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimplifiedNode {
    type_name: String,
    next_node_ids: Vec<String>,
    /// The node type's own fields (`eventName`, `emailMessageId`, `amount`/`unit`,
    /// `audienceFilter`/`appliesDownstream`, `samplingRate`/`isControl`, `reEligible`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

/// A workflow and its graph (`SimplifiedWorkflow`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimplifiedWorkflow {
    id: String,
    /// The workflow in Inlet's console.
    url: String,
    #[schema(value_type = String, example = "Draft")]
    status: WorkflowStatus,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[schema(required = true)]
    mailing_list_id: Option<String>,
    root_node_id: String,
    /// Pass as `expectedRevisionId` on the next mutation.
    #[schema(required = true)]
    workflow_revision_id: Option<String>,
    nodes: std::collections::BTreeMap<String, SimplifiedNode>,
}

/// A node with its workflow's revision (`WorkflowNodeWithRevision`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeDetails {
    id: String,
    workflow_id: String,
    type_name: String,
    next_node_ids: Vec<String>,
    #[schema(required = true)]
    workflow_revision_id: Option<String>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

/// A node as an answer of one node's route without the revision (`WorkflowNode`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSummary {
    id: String,
    workflow_id: String,
    type_name: String,
    next_node_ids: Vec<String>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

/// A workflow in a listing (`WorkflowSummary`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSummary {
    id: String,
    url: String,
    name: String,
    created_at: String,
    updated_at: String,
}

/// `GET /api/v1/workflows` → `{pagination, data}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowList {
    pub(super) pagination: Pagination,
    pub(super) data: Vec<WorkflowSummary>,
}

/// The fields a node type owns, as the SDK names them.
pub fn fields(kind: &NodeKind) -> Map<String, Value> {
    let v = match kind {
        NodeKind::EventTrigger {
            event_name,
            re_eligible,
        } => json!({"eventName": event_name, "reEligible": re_eligible}),
        NodeKind::AddToListTrigger { re_eligible } => json!({"reEligible": re_eligible}),
        NodeKind::SendEmailAction { email_message_id } => {
            json!({"emailMessageId": email_message_id})
        }
        NodeKind::TimerAction { amount, unit } => json!({"amount": amount, "unit": unit}),
        NodeKind::AudienceFilter {
            filter,
            applies_downstream,
        } => json!({"audienceSegmentId": null, "audienceFilter": filter,
            "appliesDownstream": applies_downstream}),
        NodeKind::VariantNode {
            sampling_rate,
            is_control,
        } => json!({"samplingRate": sampling_rate, "isControl": is_control}),
        _ => json!({}),
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The console's page of workflow `id`.
pub fn url(state: &AppState, id: &str) -> String {
    format!(
        "{}/console/workflows/{id}",
        state.config.public_url.trim_end_matches('/')
    )
}

/// The workflow `w` with graph `g`.
pub fn workflow(state: &AppState, w: &workflow::Model, g: &Graph) -> SimplifiedWorkflow {
    SimplifiedWorkflow {
        id: w.id.clone(),
        url: url(state, &w.id),
        status: WorkflowStatus::parse(&w.status),
        name: w.name.clone(),
        description: w.description.clone(),
        mailing_list_id: w.audience_list_id.clone(),
        root_node_id: g.root.clone(),
        workflow_revision_id: w.revision_id.clone(),
        nodes: g
            .nodes
            .iter()
            .map(|(id, n)| {
                (
                    id.clone(),
                    SimplifiedNode {
                        type_name: n.kind.type_name().to_owned(),
                        next_node_ids: n.next.clone(),
                        fields: fields(&n.kind),
                    },
                )
            })
            .collect(),
    }
}

/// Node `id` of workflow `w`.
pub fn node(w: &workflow::Model, id: &str, n: &Node) -> NodeDetails {
    NodeDetails {
        id: id.to_owned(),
        workflow_id: w.id.clone(),
        type_name: n.kind.type_name().to_owned(),
        next_node_ids: n.next.clone(),
        workflow_revision_id: w.revision_id.clone(),
        fields: fields(&n.kind),
    }
}

/// Node `id` of workflow `w`, without the revision.
pub fn node_summary(w: &workflow::Model, id: &str, n: &Node) -> NodeSummary {
    NodeSummary {
        id: id.to_owned(),
        workflow_id: w.id.clone(),
        type_name: n.kind.type_name().to_owned(),
        next_node_ids: n.next.clone(),
        fields: fields(&n.kind),
    }
}

/// A listing's summary of `w`.
pub fn summary(state: &AppState, w: &workflow::Model) -> WorkflowSummary {
    WorkflowSummary {
        id: w.id.clone(),
        url: url(state, &w.id),
        name: w.name.clone(),
        created_at: format_ms(w.created_at),
        updated_at: format_ms(w.updated_at),
    }
}
