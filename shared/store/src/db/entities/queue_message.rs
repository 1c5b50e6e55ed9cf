//! A message of the embedded queue, durable in the database.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "queue_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub queue: String,
    pub delivery_id: String,
    pub integration_id: String,
    pub provider: String,
    pub event_type: String,
    pub idempotency_key: String,
    pub received_at: i64,
    pub body: Vec<u8>,
    pub attempts: i32,
    /// Epoch ms from which a consumer may take it (later for retries).
    pub available_at: i64,
    /// Epoch ms until which a consumer holds it; a crashed consumer's lease expires.
    pub lease_until: Option<i64>,
    pub lease_token: Option<String>,
    /// When the first attempt failed (epoch ms), once one has.
    pub first_failed_at: Option<i64>,
    /// The last attempt's error.
    #[sea_orm(column_type = "Text", nullable)]
    pub last_error: Option<String>,
    /// The W3C `traceparent` of the span that published it.
    #[sea_orm(column_type = "Text", nullable)]
    pub traceparent: Option<String>,
    /// The W3C `tracestate` that came with it.
    #[sea_orm(column_type = "Text", nullable)]
    pub tracestate: Option<String>,
    /// The request headers the console keeps, as JSON (`KeptHeaders`).
    #[sea_orm(column_type = "Text", nullable)]
    pub kept_headers: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
