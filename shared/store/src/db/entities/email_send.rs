//! One email of a workflow run's `sendEmail` step (unique per run and step).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_sends")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub run_id: String,
    pub step: i32,
    pub workflow_id: String,
    pub template_id: String,
    pub contact_id: String,
    pub to_email: String,
    #[sea_orm(column_type = "Text")]
    pub subject: String,
    /// An [`EmailStatus`], by its name.
    pub status: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub attempts: i32,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Where an email is, as the `status` column names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailStatus {
    /// Being sent, or waiting for a retry.
    Queued,
    /// The SMTP server took it.
    Sent,
    /// Not sent: the contact is unsubscribed.
    Skipped,
    /// Failed for good; the run is in the dead letters.
    Failed,
    /// Not sent: the address is suppressed (an earlier hard bounce).
    Suppressed,
}

impl EmailStatus {
    /// Every status.
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Sent,
        Self::Skipped,
        Self::Failed,
        Self::Suppressed,
    ];

    /// The statuses nothing more happens to (retention prunes these).
    pub const FINISHED: [Self; 4] = [Self::Sent, Self::Skipped, Self::Failed, Self::Suppressed];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
        }
    }

    /// The status of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the step needs nothing more: sent, or not sent on purpose (skipped,
    /// suppressed); a failed one is sent again when its run is replayed.
    pub fn is_done(self) -> bool {
        matches!(self, Self::Sent | Self::Skipped | Self::Suppressed)
    }
}

#[cfg(test)]
mod tests {
    use super::EmailStatus;

    #[test]
    fn statuses_keep_their_stored_names_and_only_sent_skipped_or_suppressed_is_done() {
        let names = EmailStatus::ALL.map(EmailStatus::as_str);
        assert_eq!(names, ["queued", "sent", "skipped", "failed", "suppressed"]);
        for status in EmailStatus::ALL {
            assert_eq!(EmailStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(EmailStatus::parse("Sent"), None);
        let done: Vec<_> = EmailStatus::ALL
            .into_iter()
            .filter(|s| s.is_done())
            .collect();
        assert_eq!(
            done,
            [
                EmailStatus::Sent,
                EmailStatus::Skipped,
                EmailStatus::Suppressed
            ]
        );
        let finished: Vec<_> = EmailStatus::ALL
            .into_iter()
            .filter(|s| *s != EmailStatus::Queued)
            .collect();
        assert_eq!(
            EmailStatus::FINISHED.to_vec(),
            finished,
            "all but queued are finished"
        );
    }
}
