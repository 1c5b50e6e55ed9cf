//! A delivery whose effects were applied: the idempotency record, written in the same transaction as the effects.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "processed_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub integration_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idempotency_key: String,
    pub delivery_id: String,
    pub processed_at: i64,
    /// The UTC day (epoch ms of its midnight) of the event's own time: the partition and
    /// retention key (see `worker/src/handler/claim.rs`, `event_day`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub event_day: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
