//! Worker errors, classified once: transient (retry later) or permanent (dead letters).

use inlet_shared::isolate::Panicked;
use inlet_shared::providers::EnvelopeError;
use inlet_shared::queue::QueueError;
use sea_orm::DbErr;

/// Why a delivery could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// The queue failed while acknowledging.
    #[error("queue error: {0}")]
    Queue(#[from] QueueError),
    /// The body cannot be mapped (it passed ingest, so this is a rule violation).
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    /// The integration was deleted after the delivery was accepted.
    #[error("integration {0} no longer exists")]
    UnknownIntegration(String),
    /// Applying it panicked: a bug that the same input would hit again.
    #[error("applying it {0}")]
    Panicked(#[from] Panicked),
}

impl WorkerError {
    /// The one place that says whether an error is worth retrying.
    pub fn is_transient(&self) -> bool {
        match self {
            // Two workers creating the same contact at once: the later insert waits for
            // the earlier to commit, then fails on the unique email; tried again, it finds
            // the contact and updates it.
            Self::Database(e) => {
                inlet_shared::db::is_transient(e) || inlet_shared::db::is_unique_violation(e)
            }
            Self::Queue(_) => true,
            Self::Envelope(_) | Self::UnknownIntegration(_) | Self::Panicked(_) => false,
        }
    }
}
