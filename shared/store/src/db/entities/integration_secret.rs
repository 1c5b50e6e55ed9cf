//! A signing secret of an integration (several while one is being rotated).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integration_secrets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub integration_id: String,
    /// The secret sealed (`v1:<key id>:…`), or in plain text while `key_id` is NULL; only
    /// `crate::sealed` reads or writes it.
    #[sea_orm(column_type = "Text")]
    pub secret: String,
    pub created_at: i64,
    /// The master key `secret` is sealed under; NULL for plain text.
    #[sea_orm(column_type = "Text", nullable)]
    pub key_id: Option<String>,
    /// When it stops verifying (epoch ms); NULL for never.
    pub expires_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
