//! The delivery's row in the webhook log, and the best-effort note of a failure in it, both
//! through the store's one log writer ([`inlet_shared::webhook_log`]).

use inlet_shared::db::entities::webhook_log::DeliveryStatus;
use inlet_shared::queue::QueueMessage;
use inlet_shared::webhook_log;
use sea_orm::DatabaseConnection;

pub(super) use webhook_log::outcome as log_entry;

/// Best effort: records a failure in the webhook log without letting a database that is
/// itself failing hold the worker (the queue keeps the delivery either way).
pub(super) async fn note(
    db: &DatabaseConnection,
    msg: &QueueMessage,
    status: DeliveryStatus,
    text: &str,
    attempt: u32,
) {
    webhook_log::note(db, log_entry(msg, status, text, attempt)).await;
}
