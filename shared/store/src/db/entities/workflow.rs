//! A workflow: its node graph (trigger first), audience, status and revision. The trigger
//! columns are derived from the graph's trigger node on every write, so that occurrences are
//! matched by an indexed query.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workflows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// `event`, `contactAdded`, `contactUpdated` or `addedToList`.
    pub trigger_type: String,
    /// The event name (`event`) or list id (`addedToList`).
    pub trigger_value: Option<String>,
    pub audience_list_id: Option<String>,
    pub audience_user_group: Option<String>,
    /// JSON array of the legacy steps; read only while `graph` is NULL.
    #[sea_orm(column_type = "Text")]
    pub steps: String,
    /// Whether runs start: true exactly when `status` is `Sending`.
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// `Draft`, `Sending` or `Paused`.
    pub status: String,
    /// The token an edit must name (`expectedRevisionId`); NULL until the first edit.
    pub revision_id: Option<String>,
    /// The node graph (JSON, `inlet_core::graph::Graph`); NULL for a legacy workflow.
    #[sea_orm(column_type = "Text", nullable)]
    pub graph: Option<String>,
    /// JSON array of the event names that make a run leave (derived from the graph).
    #[sea_orm(column_type = "Text", nullable)]
    pub exit_events: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
