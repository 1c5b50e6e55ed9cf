//! API keys: random 256-bit tokens, stored only as their SHA-256 (a slow hash buys nothing
//! for keys that cannot be guessed), shown once when created.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter,
};
use sha2::{Digest, Sha256};

use crate::db::entities::api_key;
use crate::domain::{new_id, now_ms};

/// A new key: `inlet_` + 64 hex digits.
pub fn generate() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("inlet_{}", hex::encode(bytes))
}

/// The stored form of a key.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Stores a key under `name`; returns its id. A key already stored is left as it is.
pub async fn store(db: &DatabaseConnection, name: &str, key: &str) -> Result<String, DbErr> {
    let key_hash = hash(key);
    if let Some(existing) = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(key_hash.clone()))
        .one(db)
        .await?
    {
        return Ok(existing.id);
    }
    let id = new_id("key_");
    let row = api_key::ActiveModel {
        id: Set(id.clone()),
        name: Set(name.to_owned()),
        key_hash: Set(key_hash),
        prefix: Set(key.chars().take(12).collect()),
        created_at: Set(now_ms()),
        revoked_at: Set(None),
    };
    api_key::Entity::insert(row)
        .exec_without_returning(db)
        .await?;
    Ok(id)
}

/// Number of keys that are not revoked.
pub async fn active_count(db: &DatabaseConnection) -> Result<u64, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::RevokedAt.is_null())
        .count(db)
        .await
}

/// The active key matching `key`, if any.
pub async fn verify(db: &DatabaseConnection, key: &str) -> Result<Option<api_key::Model>, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash(key)))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await
}

/// Creates a key named `name`; returns its id and the key (shown once, never stored).
pub async fn create(db: &DatabaseConnection, name: &str) -> Result<(String, String), DbErr> {
    let key = generate();
    let id = store(db, name, &key).await?;
    Ok((id, key))
}

/// Every key, oldest first (hashes and prefixes only).
pub async fn list(db: &DatabaseConnection) -> Result<Vec<api_key::Model>, DbErr> {
    use sea_orm::QueryOrder;
    api_key::Entity::find()
        .order_by_asc(api_key::Column::CreatedAt)
        .all(db)
        .await
}

/// Revokes a key by id; false when no active key has it. Takes effect on the next request.
pub async fn revoke(db: &DatabaseConnection, id: &str) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let result = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(now_ms()))
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashes_stable() {
        let a = generate();
        assert!(a.starts_with("inlet_") && a.len() == 6 + 64);
        assert_ne!(a, generate());
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), a);
    }
}
