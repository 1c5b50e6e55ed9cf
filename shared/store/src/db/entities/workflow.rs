//! A workflow: a trigger, an optional audience and ordered steps.

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
    /// JSON array of steps.
    #[sea_orm(column_type = "Text")]
    pub steps: String,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
