//! A delivery that could not be applied: kept with its last error until replayed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dead_letters")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub delivery_id: String,
    pub integration_id: String,
    pub provider: String,
    pub event_type: String,
    pub idempotency_key: String,
    pub received_at: i64,
    pub body: Vec<u8>,
    #[sea_orm(column_type = "Text")]
    pub error: String,
    pub attempts: i32,
    pub first_failed_at: i64,
    pub last_failed_at: i64,
    pub dead_at: i64,
    pub replayed_at: Option<i64>,
    pub replay_count: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
