//! `/api/v1/contacts/suppression`: whether a contact's address is suppressed (a hard
//! bounce), and removing the suppression within the removal quota, as Loops' API does
//! (`checkContactSuppression`, `removeContactSuppression`).

use actix_web::web;
use inlet_shared::db::entities::contact;
use inlet_shared::domain::{Email, now_ms};
use inlet_shared::suppressions::{self, Quota, Removal};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::write::find_by;
use crate::admin::api::schemas::Message;
use crate::error::ApiError;
use crate::state::AppState;

/// Query of both routes: exactly one of `email` and `userId`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SuppressionQuery {
    /// The contact's email address.
    #[param(example = "ada@example.com")]
    email: Option<String>,
    /// The contact's userId.
    #[param(example = "user_123")]
    user_id: Option<String>,
}

/// The contact a suppression is about.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuppressionContact {
    id: String,
    email: String,
    user_id: Option<String>,
}

/// Loops' `removalQuota`: removals allowed and left in a rolling 30 days.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemovalQuota {
    /// `INLET_SUPPRESSION_REMOVAL_LIMIT`.
    limit: u32,
    /// Left in the last 30 days.
    remaining: u32,
}

impl From<Quota> for RemovalQuota {
    fn from(q: Quota) -> Self {
        Self {
            limit: q.limit,
            remaining: q.remaining,
        }
    }
}

/// `GET /api/v1/contacts/suppression` → the contact, whether it is suppressed, the quota.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuppressionStatus {
    contact: SuppressionContact,
    is_suppressed: bool,
    removal_quota: RemovalQuota,
}

/// `DELETE /api/v1/contacts/suppression` → `{success, message, removalQuota}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SuppressionRemoved {
    success: bool,
    message: String,
    removal_quota: RemovalQuota,
}

/// The contact the query names; 400 unless exactly one of email and userId, 404 if none.
async fn contact_of<C: ConnectionTrait>(
    db: &C,
    query: &SuppressionQuery,
) -> Result<contact::Model, ApiError> {
    let found = match (&query.email, &query.user_id) {
        (Some(email), None) => {
            let email = Email::parse(email).ok_or_else(|| {
                ApiError::BadRequest("email is not a valid email address.".into())
            })?;
            find_by(db, contact::Column::Email, email.as_str()).await?
        }
        (None, Some(user_id)) if !user_id.is_empty() => {
            find_by(db, contact::Column::UserId, user_id).await?
        }
        _ => {
            return Err(ApiError::BadRequest(
                "Provide exactly one of email or userId.".into(),
            ));
        }
    };
    found.ok_or_else(|| ApiError::NotFound("Contact not found.".into()))
}

fn contact_view(c: contact::Model) -> SuppressionContact {
    SuppressionContact {
        id: c.id,
        email: c.email,
        user_id: c.user_id,
    }
}

/// `GET /api/v1/contacts/suppression?email=…` or `?userId=…`.
#[utoipa::path(get, path = "/api/v1/contacts/suppression", tag = "contacts", params(SuppressionQuery), responses((status = 200, body = SuppressionStatus), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such contact", body = Message)), security(("apiKey" = [])))]
pub async fn check(
    state: web::Data<AppState>,
    query: web::Query<SuppressionQuery>,
) -> Result<web::Json<SuppressionStatus>, ApiError> {
    let c = contact_of(&state.db, &query).await?;
    let is_suppressed = suppressions::is_suppressed(&state.db, &c.email).await?;
    let quota =
        suppressions::quota(&state.db, state.config.suppression_removal_limit, now_ms()).await?;
    Ok(web::Json(SuppressionStatus {
        contact: contact_view(c),
        is_suppressed,
        removal_quota: quota.into(),
    }))
}

/// `DELETE /api/v1/contacts/suppression?email=…` or `?userId=…`: 400 when the contact is
/// not suppressed or the quota is used up, 404 when there is no such contact.
#[utoipa::path(delete, path = "/api/v1/contacts/suppression", tag = "contacts", params(SuppressionQuery), responses((status = 200, body = SuppressionRemoved), (status = 400, description = "Invalid input, not suppressed, or the removal quota is used up", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such contact", body = Message)), security(("apiKey" = [])))]
pub async fn remove(
    state: web::Data<AppState>,
    query: web::Query<SuppressionQuery>,
) -> Result<web::Json<SuppressionRemoved>, ApiError> {
    let txn = state.db.begin().await?;
    let c = contact_of(&txn, &query).await?;
    let removal = suppressions::remove(
        &txn,
        &c.email,
        state.config.suppression_removal_limit,
        now_ms(),
    )
    .await?;
    let quota = match removal {
        Removal::Removed(quota) => quota,
        Removal::NotSuppressed(_) => {
            return Err(ApiError::BadRequest(
                "This contact is not suppressed.".into(),
            ));
        }
        Removal::QuotaReached(_) => {
            return Err(ApiError::BadRequest(
                "You have reached your suppression removal quota for the last 30 days.".into(),
            ));
        }
    };
    txn.commit().await?;
    Ok(web::Json(SuppressionRemoved {
        success: true,
        message: "Email removed from suppression list.".into(),
        removal_quota: quota.into(),
    }))
}
