//! A suppressed address: no email of any kind goes to it until the suppression is removed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "suppressions")]
pub struct Model {
    /// The address, as contacts store it (lowercased).
    #[sea_orm(primary_key, auto_increment = false)]
    pub email: String,
    /// Why: the SMTP server's answer that suppressed it.
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
