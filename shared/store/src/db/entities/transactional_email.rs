//! A transactional email: its draft and published messages (email templates) and the data
//! variables the published one uses.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transactional_emails")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub group_id: Option<String>,
    /// The template being edited, if any.
    pub draft_template_id: Option<String>,
    /// The template that is sent, once published.
    pub published_template_id: Option<String>,
    /// JSON array: the data variables the published template uses.
    #[sea_orm(column_type = "Text")]
    pub data_variables: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
