//! A delivery's request as the console shows it: headers without signatures or secrets,
//! and the body (capped). Pruned after a while; the webhook log row stays.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_log_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: String,
    /// JSON array of `[name, value]` pairs.
    #[sea_orm(column_type = "Text")]
    pub headers: String,
    pub body: Vec<u8>,
    /// The body was longer than what is kept.
    pub body_truncated: bool,
    pub received_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
