//! A secret of the installation itself (e.g. the unsubscribe-link signing key), generated
//! once and shared by every process.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_secrets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// The value sealed (`v1:<key id>:…`), or in plain text while `key_id` is NULL; only
    /// `crate::sealed` reads or writes it.
    #[sea_orm(column_type = "Text")]
    pub value: String,
    pub created_at: i64,
    /// The master key `value` is sealed under; NULL for plain text.
    #[sea_orm(column_type = "Text", nullable)]
    pub key_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
