//! Suppressed addresses, the one writer of `suppressions` and `suppression_removals`: an
//! SMTP hard bounce suppresses an address (`suppress`), every send checks it
//! ([`is_suppressed`], from `workflows::sends::queue`), and the API removes a suppression
//! within a quota of removals in a rolling 30 days, as Loops does.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter,
};

use crate::db::entities::{suppression, suppression_removal};

/// The window the removal quota counts over (Loops: a rolling 30 days).
pub const QUOTA_WINDOW_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// The advisory lock a removal holds to its transaction's end ("inletsup").
const REMOVAL_LOCK: i64 = 0x696E_6C65_7473_7570;

/// Loops' `removalQuota`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Removals allowed in the window (`INLET_SUPPRESSION_REMOVAL_LIMIT`).
    pub limit: u32,
    /// Removals left in the window.
    pub remaining: u32,
}

/// What a removal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Removed; the quota after it.
    Removed(Quota),
    /// The address was not suppressed.
    NotSuppressed(Quota),
    /// The quota is used up; nothing changed.
    QuotaReached(Quota),
}

/// Whether `email` (as contacts store it) is suppressed.
pub async fn is_suppressed<C: ConnectionTrait>(db: &C, email: &str) -> Result<bool, DbErr> {
    Ok(suppression::Entity::find_by_id(email.to_owned())
        .one(db)
        .await?
        .is_some())
}

/// Suppresses `email` for `reason` (an earlier suppression is kept as it was).
pub async fn suppress<C: ConnectionTrait>(
    db: &C,
    email: &str,
    reason: &str,
    now: i64,
) -> Result<(), DbErr> {
    suppression::Entity::insert(suppression::ActiveModel {
        email: Set(email.to_owned()),
        reason: Set(reason.to_owned()),
        created_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(suppression::Column::Email)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The quota at `now` under `limit`.
pub async fn quota<C: ConnectionTrait>(db: &C, limit: u32, now: i64) -> Result<Quota, DbErr> {
    let used = suppression_removal::Entity::find()
        .filter(suppression_removal::Column::RemovedAt.gt(now.saturating_sub(QUOTA_WINDOW_MS)))
        .count(db)
        .await?;
    let used = u32::try_from(used).unwrap_or(u32::MAX);
    Ok(Quota {
        limit,
        remaining: limit.saturating_sub(used),
    })
}

/// Removes `email`'s suppression if the quota allows, counting the removal. Run it in a
/// transaction: on PostgreSQL it takes an advisory lock to the transaction's end, so two
/// removals at once cannot both take the last of the quota (SQLite has one writer).
pub async fn remove<C: ConnectionTrait>(
    db: &C,
    email: &str,
    limit: u32,
    now: i64,
) -> Result<Removal, DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        // Removals are counted then added: one at a time, so two cannot take the last.
        db.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({REMOVAL_LOCK})"))
            .await?;
    }
    let before = quota(db, limit, now).await?;
    if !is_suppressed(db, email).await? {
        return Ok(Removal::NotSuppressed(before));
    }
    if before.remaining == 0 {
        return Ok(Removal::QuotaReached(before));
    }
    suppression::Entity::delete_by_id(email.to_owned())
        .exec(db)
        .await?;
    suppression_removal::Entity::insert(suppression_removal::ActiveModel {
        email: Set(email.to_owned()),
        removed_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(Removal::Removed(Quota {
        limit,
        remaining: before.remaining.saturating_sub(1),
    }))
}

/// Every suppression, newest first (the console's list), at most `limit`.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    limit: u64,
) -> Result<Vec<suppression::Model>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    suppression::Entity::find()
        .order_by_desc(suppression::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await
}

#[cfg(test)]
mod tests;
