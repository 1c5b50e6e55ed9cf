//! A signed-in console session: its cookie is only honoured while this row exists, so
//! signing out ends it everywhere at once.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "console_sessions")]
pub struct Model {
    /// The random nonce inside the session's signed cookie.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The API key the session was opened with.
    pub api_key_id: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
