//! A contact's membership of a mailing list.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_lists")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub contact_id: String,
    pub list_id: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
