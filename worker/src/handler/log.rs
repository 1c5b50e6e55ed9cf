//! The delivery's row in the webhook log, and the best-effort note of a failure in it.

use inlet_shared::db::entities::webhook_log::{self, DeliveryStatus};
use inlet_shared::domain::now_ms;
use inlet_shared::queue::QueueMessage;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};

/// How long a best-effort webhook-log write may hold up a failing delivery.
const NOTE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Best effort: records a failure in the webhook log without letting a database that is
/// itself failing hold the worker (the queue keeps the delivery either way).
pub(super) async fn note(
    db: &DatabaseConnection,
    msg: &QueueMessage,
    status: DeliveryStatus,
    text: &str,
    attempt: u32,
) {
    match tokio::time::timeout(NOTE_TIMEOUT, record(db, msg, status, text, attempt)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "Could not log the failure in the webhook log."),
        Err(_) => tracing::debug!("Logging the failure in the webhook log timed out."),
    }
}

/// The delivery's row in the webhook log.
pub(super) fn log_row(
    msg: &QueueMessage,
    status: DeliveryStatus,
    text: &str,
    attempt: u32,
) -> webhook_log::ActiveModel {
    let now = now_ms();
    webhook_log::ActiveModel {
        id: Set(msg.delivery_id.clone()),
        integration_id: Set(msg.integration_id.clone()),
        provider: Set(msg.provider.as_str().to_owned()),
        event_type: Set(Some(msg.event_type.clone())),
        idempotency_key: Set(Some(msg.idempotency_key.clone())),
        status: Set(status.as_str().to_owned()),
        message: Set(text.to_owned()),
        attempts: Set(i32::try_from(attempt).unwrap_or(i32::MAX)),
        received_at: Set(msg.received_at_ms),
        updated_at: Set(now),
    }
}

/// Writes (or updates) the delivery's row in the webhook log.
async fn record<C: ConnectionTrait>(
    db: &C,
    msg: &QueueMessage,
    status: DeliveryStatus,
    text: &str,
    attempt: u32,
) -> Result<(), DbErr> {
    webhook_log::Entity::insert(log_row(msg, status, text, attempt))
        .on_conflict(crate::unit::log_upsert())
        .exec_without_returning(db)
        .await?;
    Ok(())
}
