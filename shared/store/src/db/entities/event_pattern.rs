//! A custom event's pattern: its name and the properties (name, type) it has been recorded
//! with. One row per name, so it outlives the events retention prunes.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_patterns")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub event_name: String,
    /// JSON object of property name → type name, in first-seen types.
    #[sea_orm(column_type = "Text")]
    pub properties: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
