//! A workflow's status (`Draft`, `Sending`, `Paused`) and its `enabled` column, which must
//! equal "is Sending" (occurrences are matched on it): written together, only here.

use inlet_core::domain::now_ms;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::db::entities::workflow;

/// Where a workflow is in its life.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub enum WorkflowStatus {
    /// Being built: starts no runs.
    Draft,
    /// Starts runs.
    Sending,
    /// Starts none; runs already started go on.
    Paused,
}

impl WorkflowStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::Sending => "Sending",
            Self::Paused => "Paused",
        }
    }

    /// The stored name read back (a name written by something else reads as `Draft`).
    pub fn parse(s: &str) -> Self {
        match s {
            "Sending" => Self::Sending,
            "Paused" => Self::Paused,
            _ => Self::Draft,
        }
    }

    /// Of a legacy `enabled` flag.
    pub fn of_enabled(enabled: bool) -> Self {
        if enabled { Self::Sending } else { Self::Paused }
    }

    /// Whether runs start.
    pub fn enabled(self) -> bool {
        self == Self::Sending
    }
}

/// Sets workflow `id`'s status, and `enabled` with it. The revision does not change (a
/// status is not an edit of the workflow's content). True when the workflow exists.
pub async fn set<C: ConnectionTrait>(
    db: &C,
    id: &str,
    status: WorkflowStatus,
) -> Result<bool, DbErr> {
    let updated = workflow::Entity::update_many()
        .col_expr(workflow::Column::Status, Expr::value(status.as_str()))
        .col_expr(workflow::Column::Enabled, Expr::value(status.enabled()))
        .col_expr(workflow::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(workflow::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(updated.rows_affected > 0)
}
