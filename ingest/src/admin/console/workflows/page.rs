//! One workflow's page (`/console/workflows/{id}`, the `url` the API gives): its name,
//! description, status and revision, and its graph as a tree from the trigger with, on each
//! node, the runs waiting there and the runs that passed it. Also the rows of the list.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::{email_template, mailing_list, workflow};
use inlet_shared::graph::{Graph, NodeKind};
use inlet_shared::workflows::{counts, graph};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;

use super::DoneQuery;
use super::tree::{self, Tree};
use super::words::{self, Names};
use crate::admin::console::session::Session;
use crate::admin::console::{ConsoleError, Page, render};

/// A workflow's status, as stored in `workflows.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    /// Being built: starts no runs.
    Draft,
    /// Starts runs.
    Sending,
    /// Stopped: starts no runs; pending ones wait.
    Paused,
}

impl Status {
    /// The status stored as `s`; `None` for a value Inlet does not write.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Draft" => Some(Self::Draft),
            "Sending" => Some(Self::Sending),
            "Paused" => Some(Self::Paused),
            _ => None,
        }
    }
}

/// What the page's heading shows of a workflow.
#[derive(Debug, Serialize)]
pub struct Summary {
    id: String,
    name: String,
    description: Option<String>,
    status: Option<Status>,
    revision: Option<String>,
    enabled: bool,
    /// Whether it is a legacy workflow (steps, no graph): the steps form edits it.
    legacy: bool,
    /// The trigger in words.
    trigger: String,
}

impl Summary {
    fn of(w: &workflow::Model, graph: Option<&Graph>, names: &Names) -> Self {
        let trigger = graph.and_then(Graph::trigger).map_or_else(
            || "(graph unreadable)".to_owned(),
            |n| words::label(&n.kind, names),
        );
        Self {
            id: w.id.clone(),
            name: w.name.clone(),
            description: w.description.clone().filter(|d| !d.trim().is_empty()),
            status: Status::parse(&w.status),
            revision: w.revision_id.clone(),
            enabled: w.enabled,
            legacy: w.graph.is_none(),
            trigger,
        }
    }
}

/// Mailing list id → name.
async fn list_names<C: ConnectionTrait>(db: &C) -> Result<HashMap<String, String>, DbErr> {
    let rows: Vec<(String, String)> = mailing_list::Entity::find()
        .select_only()
        .column(mailing_list::Column::Id)
        .column(mailing_list::Column::Name)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The subjects of the graph's email messages.
async fn subjects<C: ConnectionTrait>(
    db: &C,
    graph: &Graph,
) -> Result<HashMap<String, String>, DbErr> {
    let mut ids: Vec<&str> = graph
        .nodes
        .values()
        .filter_map(|n| match &n.kind {
            NodeKind::SendEmailAction { email_message_id } => Some(email_message_id.as_str()),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String)> = email_template::Entity::find()
        .select_only()
        .column(email_template::Column::Id)
        .column(email_template::Column::Subject)
        .filter(email_template::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The graph of `w`, or why it cannot be read (logged: a row Inlet did not write).
fn graph_of(w: &workflow::Model) -> Option<Graph> {
    graph::of(w)
        .inspect_err(|e| {
            tracing::warn!(workflow = %w.id, error = %e, "A workflow's stored graph does not parse.");
        })
        .ok()
}

/// The list's rows: each workflow's summary, in the order given.
pub async fn rows<C: ConnectionTrait>(
    db: &C,
    workflows: &[workflow::Model],
) -> Result<Vec<Summary>, DbErr> {
    let lists = list_names(db).await?;
    Ok(workflows
        .iter()
        .map(|w| {
            let names = Names {
                subjects: HashMap::new(),
                lists: lists.clone(),
                audience_list: w.audience_list_id.clone(),
            };
            Summary::of(w, graph_of(w).as_ref(), &names)
        })
        .collect())
}

/// The tree of `w`'s graph with its counts, and the summary, as the page shows them.
pub async fn view<C: ConnectionTrait>(
    db: &C,
    w: &workflow::Model,
) -> Result<(Summary, Option<Tree>), DbErr> {
    let graph = graph_of(w);
    let names = Names {
        subjects: match &graph {
            Some(g) => subjects(db, g).await?,
            None => HashMap::new(),
        },
        lists: list_names(db).await?,
        audience_list: w.audience_list_id.clone(),
    };
    let counts: BTreeMap<u32, counts::NodeCounts> = counts::of(db, &w.id).await?;
    let tree = graph.as_ref().map(|g| tree::build(g, &counts, &names));
    Ok((Summary::of(w, graph.as_ref(), &names), tree))
}

/// `GET /console/workflows/{id}`.
pub async fn show(
    session: Session,
    path: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let db = &session.state.db;
    let w = workflow::Entity::find_by_id(path.into_inner())
        .one(db)
        .await?
        .ok_or_else(|| ConsoleError::NotFound("No such workflow.".into()))?;
    let (w, tree) = view(db, &w).await?;
    let notice = (query.done.as_deref() == Some("saved")).then_some("Workflow saved.");
    render(
        "workflow_graph.html",
        context(session.page("workflows"), &w, tree.as_ref(), notice),
    )
}

/// What the page's template takes.
fn context(page: Page, w: &Summary, tree: Option<&Tree>, notice: Option<&str>) -> minijinja::Value {
    minijinja::context! { page, w, tree, notice, max_depth => tree::MAX_DEPTH }
}

#[cfg(test)]
mod tests;
