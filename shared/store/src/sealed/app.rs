//! The installation's own secrets (`app_secrets`: the unsubscribe-link key, the console
//! session key): 256 random bits each, made by the first process that needs one, sealed
//! before they are written.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use secrecy::SecretString;

use super::{Binding, Vault, VaultError};
use crate::db::entities::app_secret;
use crate::domain::now_ms;

/// The installation's secret named `name`, generated (and sealed) by the first process
/// that needs it; every process then reads the same one.
pub async fn app_secret<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    name: &str,
) -> Result<SecretString, VaultError> {
    let binding = Binding::app(name);
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let fresh = vault.seal(binding, &URL_SAFE_NO_PAD.encode(bytes))?;
    let row = app_secret::ActiveModel {
        name: Set(name.to_owned()),
        value: Set(fresh.value),
        created_at: Set(now_ms()),
        key_id: Set(fresh.key_id),
    };
    // Two processes starting together: the first insert wins, both read it.
    app_secret::Entity::insert(row)
        .on_conflict(
            OnConflict::column(app_secret::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let stored = app_secret::Entity::find_by_id(name.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("secret {name}")))?;
    vault.open(binding, &stored.value, stored.key_id.as_deref())
}
