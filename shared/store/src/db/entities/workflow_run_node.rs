//! A node a workflow run passed, once per (run, node): the per-node counts.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_run_nodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub run_id: String,
    /// The node's `seq` in its workflow's graph.
    #[sea_orm(primary_key, auto_increment = false)]
    pub node_seq: i32,
    pub workflow_id: String,
    pub passed_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
