//! `/api/v1/workflows…`: Loops' workflow API (a workflow's graph of nodes, edited under
//! its revision token), Inlet's status extension (`…/status`), and the deprecated Inlet
//! shape (`{name, trigger, audience, steps, enabled}`, `PATCH`) during its deprecation.
//! Every mutation is one transaction: the row read, the graph edited (`graph::edit`),
//! saved under `expectedRevisionId`, and the runs it leaves without a node discarded.

use actix_web::HttpResponse;
use inlet_shared::db::entities::workflow;
use inlet_shared::graph::Graph;
use inlet_shared::graph::edit::EditError;
use inlet_shared::workflows::graph::{self, GraphError};
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait, TransactionTrait};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

mod crud;
mod legacy;
mod nodes;
mod view;

pub use crud::*;
pub use legacy::*;
pub use nodes::*;
pub use view::{
    NodeDetails, NodeSummary, SimplifiedNode, SimplifiedWorkflow, WorkflowList, WorkflowSummary,
};

/// What to do with contacts queued at what an edit removes (Loops' `queuedContactPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum QueuedContactPolicy {
    /// Refuse the edit while there are some (`queuedContactsFound`).
    #[default]
    Fail,
    /// Discard them (their runs are cancelled) and edit.
    Discard,
}

/// An edit refused by the graph's rules, as the API answers it.
impl From<EditError> for ApiError {
    fn from(e: EditError) -> Self {
        match e {
            EditError::NoSuchNode(_) => Self::NotFound(e.to_string()),
            EditError::TooManyNodes => Self::Conflict(e.to_string()),
            e => Self::BadRequest(e.to_string()),
        }
    }
}

/// A graph read or write that failed, as the API answers it.
fn graph_error(e: GraphError) -> ApiError {
    match e {
        GraphError::StaleRevision => stale(),
        GraphError::Db(e) => ApiError::Database(e),
        GraphError::Corrupt(e) => {
            tracing::error!(error = %e, "A workflow's stored graph does not parse.");
            ApiError::Conflict("This workflow's stored graph cannot be read.".into())
        }
    }
}

fn stale() -> ApiError {
    ApiError::Conflict(
        "The workflow changed since expectedRevisionId was read; get it again and retry.".into(),
    )
}

/// A workflow being edited: its row and graph, read in the edit's transaction.
pub(crate) struct Editing {
    pub(crate) txn: DatabaseTransaction,
    pub(crate) row: workflow::Model,
    pub(crate) graph: Graph,
}

/// Opens the edit of workflow `id`: a transaction, the row (404), its graph, and the
/// revision named checked (409 when it moved on; [`save`] checks it again as it writes).
pub(crate) async fn begin(
    state: &AppState,
    id: &str,
    expected: Option<&str>,
) -> Result<Editing, ApiError> {
    let txn = state.db.begin().await?;
    let row = find(&txn, id).await?;
    if row.revision_id.as_deref() != expected {
        return Err(stale());
    }
    let graph = graph::of(&row).map_err(graph_error)?;
    Ok(Editing { txn, row, graph })
}

/// The workflow `id`, or a 404.
pub(crate) async fn find<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<workflow::Model, ApiError> {
    workflow::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound("No workflow with this id.".into()))
}

impl Editing {
    /// Writes the graph under the revision the edit began from and commits; returns the
    /// row as written.
    pub(crate) async fn save(
        self,
        expected: Option<&str>,
    ) -> Result<(workflow::Model, Graph), ApiError> {
        let revision = graph::save(&self.txn, &self.row, &self.graph, expected)
            .await
            .map_err(graph_error)?;
        let row = find(&self.txn, &self.row.id).await?;
        debug_assert_eq!(row.revision_id.as_deref(), Some(revision.as_str()));
        self.txn.commit().await?;
        Ok((row, self.graph))
    }
}

/// A JSON answer marked deprecated (the legacy shape's routes).
pub(crate) fn deprecated<T: serde::Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Deprecation", "true"))
        .json(body)
}
