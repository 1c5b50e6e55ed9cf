//! A started workflow: which step runs next and when (a `wait` is a later `next_at`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workflow_id: String,
    pub contact_id: String,
    /// The event (or contact trigger) that started it.
    pub event_name: String,
    /// JSON object: the event's properties.
    #[sea_orm(column_type = "Text")]
    pub event_properties: String,
    /// The `seq` of the node the run is at (the index of the next step, for a legacy one).
    pub step: i32,
    /// `pending`, `completed`, `cancelled` or `failed`.
    pub status: String,
    /// When the next step is due (epoch ms).
    pub next_at: i64,
    pub lease_until: Option<i64>,
    pub lease_token: Option<String>,
    /// Failed attempts of the current step.
    pub attempts: i32,
    pub first_failed_at: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The W3C `traceparent` of what started it, so its email sends continue that trace.
    #[sea_orm(column_type = "Text", nullable)]
    pub traceparent: Option<String>,
    /// The W3C `tracestate` that came with it.
    #[sea_orm(column_type = "Text", nullable)]
    pub tracestate: Option<String>,
    /// When the timer of the node the run is at ends (set when the run reached it).
    pub wait_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
