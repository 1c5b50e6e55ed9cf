//! The webhook log: every delivery and its outcome.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub integration_id: String,
    pub provider: String,
    pub event_type: Option<String>,
    pub idempotency_key: Option<String>,
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub message: String,
    pub attempts: i32,
    pub received_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
