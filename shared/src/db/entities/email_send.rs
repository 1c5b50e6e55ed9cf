//! One email of a workflow run's `sendEmail` step (unique per run and step).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_sends")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub run_id: String,
    pub step: i32,
    pub workflow_id: String,
    pub template_id: String,
    pub contact_id: String,
    pub to_email: String,
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    /// `queued`, `sent`, `failed` or `skipped`.
    pub status: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub attempts: i32,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
