//! A contact: a person email can be sent to.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Lowercased and trimmed.
    #[sea_orm(unique)]
    pub email: String,
    #[sea_orm(unique)]
    pub user_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub source: Option<String>,
    pub user_group: Option<String>,
    pub subscribed: bool,
    /// Custom properties, a JSON object.
    #[sea_orm(column_type = "Text")]
    pub properties: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// Platform time (epoch ms) of the last change applied: the ordering guard.
    pub last_event_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
