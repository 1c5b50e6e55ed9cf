//! `Idempotency-Key`, as Loops takes it on `events/send` and `transactional`: the one
//! writer of `api_idempotency_keys`. A key is claimed inside the request's transaction, so
//! it is used exactly when what the request did committed; a repeat within 24 hours is
//! refused with 409.

use actix_web::HttpRequest;
use inlet_shared::db::entities::api_idempotency_key;
use inlet_shared::retention::IDEMPOTENCY_WINDOW_MS;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::error::ApiError;

/// The request's `Idempotency-Key`, if it sent one: 1 to 100 visible characters.
pub(crate) fn key_of(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= 100 => Ok(Some(k.to_owned())),
            _ => Err(ApiError::BadRequest(
                "Idempotency-Key must be 1 to 100 visible characters.".into(),
            )),
        },
    }
}

/// Claims `key` at `now` in the caller's transaction; 409 when it was used in the last
/// 24 hours.
pub(crate) async fn claim<C: ConnectionTrait>(db: &C, key: &str, now: i64) -> Result<(), ApiError> {
    // One conditional statement claims the key: inserted, or taken over when its last
    // use is out of the window. A concurrent request with the same key waits on the
    // unique key until this transaction ends, then finds it used and changes nothing,
    // where a read followed by a write would let both through.
    let claimed = api_idempotency_key::Entity::insert(api_idempotency_key::ActiveModel {
        key: Set(key.to_owned()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(api_idempotency_key::Column::Key)
            .update_column(api_idempotency_key::Column::CreatedAt)
            .action_and_where(
                Expr::col((
                    api_idempotency_key::Entity,
                    api_idempotency_key::Column::CreatedAt,
                ))
                .lte(now - IDEMPOTENCY_WINDOW_MS),
            )
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    if claimed == 0 {
        return Err(ApiError::Conflict(format!(
            "Idempotency-Key {key} was already used in the last 24 hours."
        )));
    }
    Ok(())
}
