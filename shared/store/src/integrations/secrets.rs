//! Integrations' signing secrets (`integration_secrets`), their one writer: added sealed
//! (through [`crate::sealed`]), given an expiry, deleted, and pruned once expired. Only
//! the cache and the signing of test events open them; everything else sees dates.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use secrecy::SecretString;

use crate::db::entities::integration_secret;
use crate::sealed::{Binding, Vault, VaultError};

/// Whether a secret with this expiry no longer verifies at `now_ms` (it stops at the
/// expiry itself).
pub fn is_expired(expires_at: Option<i64>, now_ms: i64) -> bool {
    expires_at.is_some_and(|at| at <= now_ms)
}

/// A stored signing secret, without its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretInfo {
    /// The row's id.
    pub id: i64,
    /// When it was added (epoch ms).
    pub created_at: i64,
    /// When it stops verifying (epoch ms), if ever.
    pub expires_at: Option<i64>,
}

impl From<&integration_secret::Model> for SecretInfo {
    fn from(row: &integration_secret::Model) -> Self {
        Self {
            id: row.id,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }
    }
}

async fn rows<C: ConnectionTrait>(
    db: &C,
    integration_id: &str,
) -> Result<Vec<integration_secret::Model>, DbErr> {
    integration_secret::Entity::find()
        .filter(integration_secret::Column::IntegrationId.eq(integration_id))
        .order_by_asc(integration_secret::Column::Id)
        .all(db)
        .await
}

/// An integration's secrets, oldest first, without their values.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    integration_id: &str,
) -> Result<Vec<SecretInfo>, DbErr> {
    Ok(rows(db, integration_id)
        .await?
        .iter()
        .map(SecretInfo::from)
        .collect())
}

/// Every integration's secrets by integration id, oldest first, without their values.
pub async fn list_all<C: ConnectionTrait>(
    db: &C,
) -> Result<HashMap<String, Vec<SecretInfo>>, DbErr> {
    let rows = integration_secret::Entity::find()
        .order_by_asc(integration_secret::Column::Id)
        .all(db)
        .await?;
    let mut all: HashMap<String, Vec<SecretInfo>> = HashMap::new();
    for row in &rows {
        all.entry(row.integration_id.clone())
            .or_default()
            .push(SecretInfo::from(row));
    }
    Ok(all)
}

/// Stores `secret` for the integration, sealed for it, verifying until `expires_at`.
pub async fn add<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    integration_id: &str,
    secret: &str,
    created_at: i64,
    expires_at: Option<i64>,
) -> Result<(), VaultError> {
    let stored = vault.seal(Binding::signing(integration_id), secret.trim())?;
    integration_secret::Entity::insert(integration_secret::ActiveModel {
        integration_id: Set(integration_id.to_owned()),
        secret: Set(stored.value),
        key_id: Set(stored.key_id),
        created_at: Set(created_at),
        expires_at: Set(expires_at),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Sets when one secret stops verifying (`None`: never).
pub async fn set_expiry<C: ConnectionTrait>(
    db: &C,
    id: i64,
    expires_at: Option<i64>,
) -> Result<(), DbErr> {
    integration_secret::Entity::update_many()
        .col_expr(
            integration_secret::Column::ExpiresAt,
            Expr::value(expires_at),
        )
        .filter(integration_secret::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Makes every secret of the integration stop verifying at `at` at the latest (a roll: the
/// old secrets expire when the platform stops signing with them). Returns how many changed.
pub async fn expire_all<C: ConnectionTrait>(
    db: &C,
    integration_id: &str,
    at: i64,
) -> Result<u64, DbErr> {
    let column = integration_secret::Column::ExpiresAt;
    let result = integration_secret::Entity::update_many()
        .col_expr(column, Expr::value(at))
        .filter(integration_secret::Column::IntegrationId.eq(integration_id))
        .filter(column.is_null().or(column.gt(at)))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Deletes one secret.
pub async fn delete<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), DbErr> {
    integration_secret::Entity::delete_by_id(id)
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes all of an integration's secrets (with the integration).
pub async fn delete_all<C: ConnectionTrait>(db: &C, integration_id: &str) -> Result<(), DbErr> {
    integration_secret::Entity::delete_many()
        .filter(integration_secret::Column::IntegrationId.eq(integration_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The newest secret that still verifies at `now_ms`, opened: the one a platform signs
/// with after a rotation, which test events are signed with.
pub async fn newest_usable<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    integration_id: &str,
    now_ms: i64,
) -> Result<Option<SecretString>, VaultError> {
    let newest = rows(db, integration_id)
        .await?
        .into_iter()
        .rev()
        .find(|row| !is_expired(row.expires_at, now_ms));
    newest
        .map(|row| {
            vault.open(
                Binding::signing(integration_id),
                &row.secret,
                row.key_id.as_deref(),
            )
        })
        .transpose()
}

/// Deletes every secret expired at `now_ms` (the pruner's call); returns how many. The
/// caches stop using an expired secret at its expiry, before it is deleted.
pub async fn prune_expired_secrets<C: ConnectionTrait>(db: &C, now_ms: i64) -> Result<u64, DbErr> {
    let result = integration_secret::Entity::delete_many()
        .filter(integration_secret::Column::ExpiresAt.lte(now_ms))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Every stored secret, for the cache to open.
pub(super) async fn all_rows<C: ConnectionTrait>(
    db: &C,
) -> Result<Vec<integration_secret::Model>, DbErr> {
    integration_secret::Entity::find()
        .order_by_asc(integration_secret::Column::Id)
        .all(db)
        .await
}

#[cfg(test)]
mod tests;
