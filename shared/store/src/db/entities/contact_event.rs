//! An event recorded on a contact (platform or custom); workflows start from these.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub contact_id: String,
    /// `{provider}:{type}` or a custom name (no `:`).
    pub event_name: String,
    /// JSON object of the useful parts of the payload.
    #[sea_orm(column_type = "Text")]
    pub properties: String,
    pub occurred_at: i64,
    pub delivery_id: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
