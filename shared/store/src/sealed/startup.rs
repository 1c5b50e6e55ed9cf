//! What start-up and `inlet secrets rotate-master-key` do to stored secrets: check that
//! every sealed value names a key this process holds (before anything is written, so a
//! wrong key changes nothing), seal what is still in plain text (rows from before
//! migration 0015: a migration cannot see the key), and re-seal everything under the
//! current key.

use std::collections::BTreeSet;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};

use super::{Binding, KeyId, Stored, Vault, VaultError};
use crate::db::entities::{app_secret, integration_secret};

/// What [`prepare`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prepared {
    /// Values found in plain text and sealed now.
    pub sealed: u64,
    /// Values left in plain text (a plain-text vault only).
    pub plaintext: u64,
}

/// What [`rotate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotated {
    /// Values re-sealed under the current key (plain-text ones included).
    pub resealed: u64,
    /// Values that were under the current key already.
    pub unchanged: u64,
}

#[derive(FromQueryResult)]
struct KeyIdRow {
    key_id: Option<String>,
}

/// The distinct key ids of both tables (the plain-text rows' NULL left out).
async fn key_ids_in_use<C: ConnectionTrait>(db: &C) -> Result<BTreeSet<String>, VaultError> {
    let mut ids = BTreeSet::new();
    let signing = integration_secret::Entity::find()
        .select_only()
        .column(integration_secret::Column::KeyId)
        .distinct()
        .into_model::<KeyIdRow>()
        .all(db)
        .await?;
    let app = app_secret::Entity::find()
        .select_only()
        .column(app_secret::Column::KeyId)
        .distinct()
        .into_model::<KeyIdRow>()
        .all(db)
        .await?;
    ids.extend(signing.into_iter().chain(app).filter_map(|r| r.key_id));
    Ok(ids)
}

/// Fails, naming them, when stored values are sealed under keys `vault` does not hold.
async fn check<C: ConnectionTrait>(db: &C, vault: &Vault) -> Result<(), VaultError> {
    let unknown: Vec<String> = key_ids_in_use(db)
        .await?
        .into_iter()
        .filter(|id| {
            let known = KeyId::parse(id)
                .zip(vault.keyring())
                .is_some_and(|(id, ring)| ring.knows(&id));
            !known
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(VaultError::WrongKey {
            found: unknown,
            held: vault.held(),
        })
    }
}

/// Start-up, after the migrations: checks the keys, then seals the values still in plain
/// text (or, in a plain-text vault, counts them). Several processes may run it at once:
/// each row is sealed only while it is still plain text.
pub async fn prepare(db: &DatabaseConnection, vault: &Vault) -> Result<Prepared, VaultError> {
    check(db, vault).await?;
    let txn = db.begin().await?;
    let signing = integration_secret::Entity::find()
        .filter(integration_secret::Column::KeyId.is_null())
        .all(&txn)
        .await?;
    let app = app_secret::Entity::find()
        .filter(app_secret::Column::KeyId.is_null())
        .all(&txn)
        .await?;
    let mut prepared = Prepared::default();
    if vault.keyring().is_none() {
        prepared.plaintext = (signing.len() + app.len()) as u64;
        if prepared.plaintext > 0 {
            tracing::warn!(
                count = prepared.plaintext,
                "Secrets are stored in plain text (INLET_ALLOW_PLAINTEXT_SECRETS); set INLET_MASTER_KEY to seal them."
            );
        }
        return Ok(prepared);
    }
    for row in signing {
        let binding = Binding::signing(&row.integration_id);
        let stored = vault.seal(binding, &row.secret)?;
        prepared.sealed += update_signing(&txn, row.id, None, stored).await?;
    }
    for row in app {
        let stored = vault.seal(Binding::app(&row.name), &row.value)?;
        prepared.sealed += update_app(&txn, &row.name, None, stored).await?;
    }
    txn.commit().await?;
    if prepared.sealed > 0 {
        tracing::info!(
            count = prepared.sealed,
            key_id = %vault.keyring().map(|r| r.current_id().to_string()).unwrap_or_default(),
            "Sealed the secrets that were stored in plain text."
        );
    }
    Ok(prepared)
}

/// `inlet secrets rotate-master-key`: re-seals every value that is not under the current
/// key (opening it with the previous one), in one transaction. Processes holding both
/// keys keep working throughout; see docs/deploy (Secrets at rest).
pub async fn rotate(db: &DatabaseConnection, vault: &Vault) -> Result<Rotated, VaultError> {
    let ring = vault.keyring().ok_or(VaultError::RotateWithoutKey)?;
    let current = ring.current_id().as_str().to_owned();
    check(db, vault).await?;
    let txn = db.begin().await?;
    let mut rotated = Rotated::default();
    for row in integration_secret::Entity::find().all(&txn).await? {
        if row.key_id.as_deref() == Some(current.as_str()) {
            rotated.unchanged += 1;
            continue;
        }
        let binding = Binding::signing(&row.integration_id);
        let plain = opened(vault, binding, &row.secret, row.key_id.as_deref())?;
        let stored = vault.seal(binding, plain.expose_secret())?;
        rotated.resealed += update_signing(&txn, row.id, row.key_id.as_deref(), stored).await?;
    }
    for row in app_secret::Entity::find().all(&txn).await? {
        if row.key_id.as_deref() == Some(current.as_str()) {
            rotated.unchanged += 1;
            continue;
        }
        let binding = Binding::app(&row.name);
        let plain = opened(vault, binding, &row.value, row.key_id.as_deref())?;
        let stored = vault.seal(binding, plain.expose_secret())?;
        rotated.resealed += update_app(&txn, &row.name, row.key_id.as_deref(), stored).await?;
    }
    txn.commit().await?;
    Ok(rotated)
}

/// A row's value in plain text: opened, or as stored when it was never sealed.
fn opened(
    vault: &Vault,
    binding: Binding<'_>,
    value: &str,
    key_id: Option<&str>,
) -> Result<SecretString, VaultError> {
    match key_id {
        None => Ok(SecretString::from(value.to_owned())),
        Some(_) => vault.open(binding, value, key_id),
    }
}

/// Rewrites one signing secret, only if it is still under `was` (another process may
/// have re-sealed it meanwhile). Returns the rows changed (0 or 1).
async fn update_signing<C: ConnectionTrait>(
    db: &C,
    id: i64,
    was: Option<&str>,
    stored: Stored,
) -> Result<u64, VaultError> {
    let column = integration_secret::Column::KeyId;
    let result = integration_secret::Entity::update_many()
        .col_expr(
            integration_secret::Column::Secret,
            Expr::value(stored.value),
        )
        .col_expr(column, Expr::value(stored.key_id))
        .filter(integration_secret::Column::Id.eq(id))
        .filter(match was {
            None => column.is_null(),
            Some(was) => column.eq(was),
        })
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// [`update_signing`] for an installation secret.
async fn update_app<C: ConnectionTrait>(
    db: &C,
    name: &str,
    was: Option<&str>,
    stored: Stored,
) -> Result<u64, VaultError> {
    let column = app_secret::Column::KeyId;
    let result = app_secret::Entity::update_many()
        .col_expr(app_secret::Column::Value, Expr::value(stored.value))
        .col_expr(column, Expr::value(stored.key_id))
        .filter(app_secret::Column::Name.eq(name))
        .filter(match was {
            None => column.is_null(),
            Some(was) => column.eq(was),
        })
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
