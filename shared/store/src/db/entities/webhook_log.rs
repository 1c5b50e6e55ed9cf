//! The webhook log: every delivery and its outcome.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub integration_id: String,
    pub provider: String,
    pub event_type: Option<String>,
    pub idempotency_key: Option<String>,
    /// A [`DeliveryStatus`], by its name.
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub message: String,
    pub attempts: i32,
    pub received_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Where a delivery is, as the `status` column names it. Ingest writes the first three; the
/// worker the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Verified and queued (answered 202).
    Accepted,
    /// Verified, with nothing to do: an event type not supported or turned off (by ingest),
    /// or a change the worker did not apply.
    Ignored,
    /// Refused: a bad signature, body or envelope, or the queue unavailable (the sender
    /// retries).
    Rejected,
    /// Another delivery of an event already applied.
    Duplicate,
    /// Applied.
    Processed,
    /// An attempt failed; it is tried again later.
    Failed,
    /// Failed for good: in the dead letters.
    Dead,
}

impl DeliveryStatus {
    /// Every status, in the order the API documents them.
    pub const ALL: [Self; 7] = [
        Self::Accepted,
        Self::Ignored,
        Self::Rejected,
        Self::Duplicate,
        Self::Processed,
        Self::Failed,
        Self::Dead,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Ignored => "ignored",
            Self::Rejected => "rejected",
            Self::Duplicate => "duplicate",
            Self::Processed => "processed",
            Self::Failed => "failed",
            Self::Dead => "dead",
        }
    }

    /// The status of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus;

    #[test]
    fn statuses_keep_the_names_stored_in_the_log() {
        let names = DeliveryStatus::ALL.map(DeliveryStatus::as_str);
        assert_eq!(
            names,
            [
                "accepted",
                "ignored",
                "rejected",
                "duplicate",
                "processed",
                "failed",
                "dead"
            ]
        );
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(DeliveryStatus::parse("Accepted"), None);
        assert_eq!(DeliveryStatus::parse(""), None);
    }
}
