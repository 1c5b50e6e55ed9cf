//! What every handler shares.

use std::sync::Arc;

use inlet_shared::config::Config;
use inlet_shared::email::{Mailbox, UnsubscribeKey};
use inlet_shared::integrations::IntegrationCache;
use inlet_shared::metrics::Metrics;
use inlet_shared::queue::Queue;
use inlet_shared::sealed::Vault;
use sea_orm::DatabaseConnection;

use crate::admin::rate_limit::ApiRateLimit;
use crate::source::delivery_log::DeliveryLog;

/// Shared state of the HTTP process.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database (API routes only: the webhook hot path never queries it).
    pub db: DatabaseConnection,
    /// Where accepted deliveries go.
    pub queue: Queue,
    /// Integrations in memory.
    pub cache: IntegrationCache,
    /// The webhook log writer (off the hot path).
    pub delivery_log: Arc<DeliveryLog>,
    /// The process's metrics.
    pub metrics: Arc<Metrics>,
    /// Seals the secrets the API stores and opens those it signs test events with.
    pub vault: Vault,
    /// Verifies unsubscribe links.
    pub unsubscribe: UnsubscribeKey,
    /// The sender of emails whose template names none (`INLET_EMAIL_FROM`).
    pub email_from: Mailbox,
    /// Each API key's rate limit (`INLET_API_RATE_LIMIT`), shared by every HTTP worker.
    pub api_limit: Arc<ApiRateLimit>,
}
