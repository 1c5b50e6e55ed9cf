//! A declared custom contact property (`POST /api/v1/contacts/properties`) and its type.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_properties")]
pub struct Model {
    /// The camelCase name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// An `inlet_core::properties::PropertyType`, by its name.
    pub kind: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
