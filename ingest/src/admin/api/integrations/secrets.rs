//! `/api/v1/integrations/{id}/secrets`: signing secrets, added for rotation (the old ones
//! optionally given an expiry, as Stripe's roll), expired or removed once the platform
//! uses the new one. Stored secrets are sealed (`inlet_shared::sealed`) and only ever
//! counted or dated here; a generated Supabase secret is shown once, when it is made.

use actix_web::{HttpResponse, web};
use inlet_shared::db::entities::integration;
use inlet_shared::domain::{format_ms, now_ms};
use inlet_shared::integrations::secrets::{self, SecretInfo, is_expired};
use inlet_shared::providers::supabase;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, TransactionTrait};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{load, touched};
use crate::admin::api::schemas::Message;
use crate::error::ApiError;
use crate::state::AppState;

/// The header Supabase database webhooks must send with the generated secret.
pub(super) const SUPABASE_HEADER: &str = "Loops-Secret";

/// Body of `POST /api/v1/integrations/{id}/secrets`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddSecret {
    /// The new signing secret (Stripe, Clerk, Polar); Supabase secrets are generated.
    secret: Option<String>,
    /// When the secrets already stored stop verifying (RFC 3339, in the future), e.g. 24
    /// hours from now for Stripe's roll. Left out, they verify until deleted.
    previous_expires_at: Option<String>,
}

/// Body of `PATCH /api/v1/integrations/{id}/secrets/{n}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSecret {
    /// When the secret stops verifying (RFC 3339, in the future); null or left out: never.
    expires_at: Option<String>,
}

/// The header and value a Supabase webhook must send, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecretHeader {
    pub(crate) name: &'static str,
    pub(crate) value: String,
}

/// After adding or removing a secret: how many the integration has.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretCount {
    success: bool,
    secret_count: usize,
    /// After adding a Supabase secret (generated): the header its webhook must send.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    secret_header: Option<SecretHeader>,
}

/// A stored secret as the API shows it: its dates, never its value.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretView {
    /// Its position, 0 = the oldest: the `{n}` of its routes.
    pub(crate) index: usize,
    /// When it was added (RFC 3339).
    pub(crate) created_at: String,
    /// Seconds since it was added.
    pub(crate) age_seconds: i64,
    /// When it stops verifying (RFC 3339); null: never.
    pub(crate) expires_at: Option<String>,
    /// Whether it no longer verifies (the pruner deletes it).
    pub(crate) expired: bool,
}

/// The views of an integration's secrets (oldest first) at `now`.
pub(crate) fn views(secrets: &[SecretInfo], now: i64) -> Vec<SecretView> {
    secrets
        .iter()
        .enumerate()
        .map(|(index, s)| view_of(index, s, now))
        .collect()
}

fn view_of(index: usize, s: &SecretInfo, now: i64) -> SecretView {
    SecretView {
        index,
        created_at: format_ms(s.created_at),
        age_seconds: (now - s.created_at).max(0) / 1000,
        expires_at: s.expires_at.map(format_ms),
        expired: is_expired(s.expires_at, now),
    }
}

pub(super) async fn secrets_of<C: ConnectionTrait>(
    db: &C,
    id: &str,
) -> Result<Vec<SecretInfo>, ApiError> {
    Ok(secrets::list(db, id).await?)
}

/// An expiry given as RFC 3339, as epoch ms; it must be in the future.
fn future_time(field: &str, value: &str, now: i64) -> Result<i64, ApiError> {
    let at = OffsetDateTime::parse(value, &Rfc3339).map_err(|_| {
        ApiError::BadRequest(format!(
            "{field}: expected an RFC 3339 time, e.g. 2026-12-31T12:00:00Z."
        ))
    })?;
    let ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::BadRequest(format!("{field}: out of range.")))?;
    if ms <= now {
        return Err(ApiError::BadRequest(format!(
            "{field}: must be in the future (to stop a secret now, delete it)."
        )));
    }
    Ok(ms)
}

/// Adds a secret (rotation; Supabase's is generated and returned this once), first giving
/// the stored ones `previous_expires_at` when set. Returns how many secrets the
/// integration now has.
pub(crate) async fn add_integration_secret(
    state: &AppState,
    id: &str,
    secret: Option<String>,
    previous_expires_at: Option<i64>,
) -> Result<(usize, Option<SecretHeader>), ApiError> {
    let (row, provider) = load(state, id).await?;
    let (secret, header) = match (provider.generates_secret(), secret) {
        (true, None) => {
            let value = supabase::generate_secret();
            (
                value.clone(),
                Some(SecretHeader {
                    name: SUPABASE_HEADER,
                    value,
                }),
            )
        }
        (true, Some(_)) => {
            return Err(ApiError::BadRequest(
                "secret: Supabase secrets are generated by Inlet; leave it out.".into(),
            ));
        }
        (false, Some(secret)) => (secret, None),
        (false, None) => return Err(ApiError::BadRequest("secret is required.".into())),
    };
    provider
        .signing_key(&secret)
        .map_err(|e| ApiError::BadRequest(format!("secret: {e}.")))?;
    let txn = state.db.begin().await?;
    if let Some(at) = previous_expires_at {
        secrets::expire_all(&txn, &row.id, at).await?;
    }
    secrets::add(&txn, &state.vault, &row.id, &secret, now_ms(), None).await?;
    touch(&txn, row.clone()).await?;
    let count = secrets_of(&txn, &row.id).await?.len();
    txn.commit().await?;
    state.cache.reload().await?;
    tracing::info!(integration = %row.id, "Added a signing secret.");
    Ok((count, header))
}

/// Marks the integration changed, so every process's cache reloads it.
async fn touch<C: ConnectionTrait>(db: &C, row: integration::Model) -> Result<(), ApiError> {
    let previous = row.updated_at;
    let mut active: integration::ActiveModel = row.into();
    active.updated_at = Set(touched(previous));
    active.update(db).await?;
    Ok(())
}

/// `POST /api/v1/integrations/{id}/secrets`: adds a secret (rotation); old ones keep working
/// until deleted, or until `previousExpiresAt`.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/secrets", tag = "integrations", params(("id" = String, Path)), request_body = AddSecret, responses((status = 201, body = SecretCount), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such integration", body = Message)), security(("apiKey" = [])))]
pub async fn add_secret(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<AddSecret>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let expires = body
        .previous_expires_at
        .as_deref()
        .map(|v| future_time("previousExpiresAt", v, now_ms()))
        .transpose()?;
    let (count, header) = add_integration_secret(&state, &path, body.secret, expires).await?;
    Ok(HttpResponse::Created().json(SecretCount {
        success: true,
        secret_count: count,
        secret_header: header,
    }))
}

/// `GET /api/v1/integrations/{id}/secrets`: each secret's age and expiry, oldest first.
#[utoipa::path(get, path = "/api/v1/integrations/{id}/secrets", tag = "integrations", params(("id" = String, Path)), responses((status = 200, body = Vec<SecretView>), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such integration", body = Message)), security(("apiKey" = [])))]
pub async fn list_secrets(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<Vec<SecretView>>, ApiError> {
    let (row, _) = load(&state, &path).await?;
    let secrets = secrets_of(&state.db, &row.id).await?;
    Ok(web::Json(views(&secrets, now_ms())))
}

/// Sets (or clears) when the n-th secret (0 = oldest) stops verifying.
pub(crate) async fn set_secret_expiry(
    state: &AppState,
    id: &str,
    n: usize,
    expires_at: Option<i64>,
) -> Result<SecretView, ApiError> {
    let (row, _) = load(state, id).await?;
    let txn = state.db.begin().await?;
    let stored = secrets_of(&txn, &row.id).await?;
    let target = nth(&stored, n)?;
    secrets::set_expiry(&txn, target.id, expires_at).await?;
    touch(&txn, row.clone()).await?;
    txn.commit().await?;
    state.cache.reload().await?;
    tracing::info!(integration = %row.id, "Changed a signing secret's expiry.");
    let updated = SecretInfo {
        expires_at,
        ..*target
    };
    Ok(view_of(n, &updated, now_ms()))
}

fn nth(secrets: &[SecretInfo], n: usize) -> Result<&SecretInfo, ApiError> {
    secrets.get(n).ok_or_else(|| {
        ApiError::NotFound(format!(
            "No secret {n}; this integration has {}.",
            secrets.len()
        ))
    })
}

/// `PATCH /api/v1/integrations/{id}/secrets/{n}`: sets when the n-th secret (0 = oldest)
/// stops verifying, or (null) lets it verify until deleted.
#[utoipa::path(patch, path = "/api/v1/integrations/{id}/secrets/{n}", tag = "integrations", params(("id" = String, Path), ("n" = usize, Path, description = "0 = the oldest secret")), request_body = UpdateSecret, responses((status = 200, body = SecretView), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such integration or secret", body = Message)), security(("apiKey" = [])))]
pub async fn update_secret(
    state: web::Data<AppState>,
    path: web::Path<(String, usize)>,
    body: web::Json<UpdateSecret>,
) -> Result<web::Json<SecretView>, ApiError> {
    let (id, n) = path.into_inner();
    let expires = body
        .expires_at
        .as_deref()
        .map(|v| future_time("expiresAt", v, now_ms()))
        .transpose()?;
    Ok(web::Json(set_secret_expiry(&state, &id, n, expires).await?))
}

/// Removes the n-th secret (0 = oldest); the last one stays. Returns how many remain.
pub(crate) async fn delete_integration_secret(
    state: &AppState,
    id: &str,
    n: usize,
) -> Result<usize, ApiError> {
    let (row, _) = load(state, id).await?;
    let txn = state.db.begin().await?;
    let stored = secrets_of(&txn, &row.id).await?;
    let target = nth(&stored, n)?;
    if stored.len() == 1 {
        return Err(ApiError::BadRequest(
            "An integration keeps at least one secret; add the new one first.".into(),
        ));
    }
    secrets::delete(&txn, target.id).await?;
    touch(&txn, row.clone()).await?;
    txn.commit().await?;
    state.cache.reload().await?;
    tracing::info!(integration = %row.id, "Removed a signing secret.");
    Ok(stored.len() - 1)
}

/// `DELETE /api/v1/integrations/{id}/secrets/{n}`: removes the n-th secret (0 = oldest).
#[utoipa::path(delete, path = "/api/v1/integrations/{id}/secrets/{n}", tag = "integrations", params(("id" = String, Path), ("n" = usize, Path, description = "0 = the oldest secret")), responses((status = 200, body = SecretCount), (status = 400, description = "Invalid input", body = Message), (status = 401, description = "Missing or wrong API key", body = Message), (status = 404, description = "No such integration or secret", body = Message)), security(("apiKey" = [])))]
pub async fn delete_secret(
    state: web::Data<AppState>,
    path: web::Path<(String, usize)>,
) -> Result<web::Json<SecretCount>, ApiError> {
    let (id, n) = path.into_inner();
    let remaining = delete_integration_secret(&state, &id, n).await?;
    Ok(web::Json(SecretCount {
        success: true,
        secret_count: remaining,
        secret_header: None,
    }))
}
