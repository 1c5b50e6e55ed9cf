//! A send step's email, the one writer of `email_sends`: one row per (run, step), which is
//! what makes a send happen once — a step finding its row [done](EmailStatus::is_done)
//! moves on without sending.
//!
//! ```text
//!   (no row) ──queue──► queued ──sent──► sent
//!       │                 │ ▲
//!       │                 │ └─retrying (the error noted, retried later)
//!       │                 └──failed──► failed ──queue (the run replayed)──► queued
//!       ├──skip──► skipped            (queued or failed ──skip──► skipped too)
//!       └──queue, the address suppressed──► suppressed
//! ```
//!
//! `queue` and `skip` insert the row, or refresh the one an earlier attempt left.
//!
//! Every email is queued here before it is sent, so this is where suppression is checked:
//! `queue` records a suppressed address's email `suppressed` and answers
//! [`Queued::Suppressed`] (the caller sends nothing); a hard bounce recorded by `failed`
//! suppresses the address for every later email.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::db::entities::email_send::{self, EmailStatus};
use crate::db::entities::workflow_run;
use crate::domain::now_ms;
use crate::email::SendError;
use crate::suppressions;

/// The error noted on an email not sent to a suppressed address.
pub const SUPPRESSED: &str = "The address is suppressed (an earlier hard bounce).";

/// What [`queue`] decided.
#[must_use = "a suppressed email must not be sent"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Queued: send it now.
    Send,
    /// The address is suppressed: recorded so, and not to be sent.
    Suppressed,
}

/// The email of a run's current step, as this attempt makes it.
#[derive(Debug, Clone, Copy)]
pub struct Email<'a> {
    /// The row's id (an existing row's own): the Message-ID is made of it.
    pub id: &'a str,
    pub template_id: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
}

/// The row of the run's current step, if an earlier attempt left one.
pub async fn of_step<C: ConnectionTrait>(
    db: &C,
    run: &workflow_run::Model,
) -> Result<Option<email_send::Model>, DbErr> {
    email_send::Entity::find()
        .filter(email_send::Column::RunId.eq(run.id.as_str()))
        .filter(email_send::Column::Step.eq(run.step))
        .one(db)
        .await
}

/// → queued: about to be sent, one more attempt counted; or → suppressed when the
/// address is, and then it must not be sent.
pub async fn queue<C: ConnectionTrait>(
    db: &C,
    run: &workflow_run::Model,
    email: &Email<'_>,
    existing: Option<&email_send::Model>,
) -> Result<Queued, DbErr> {
    if suppressions::is_suppressed(db, email.to).await? {
        record(
            db,
            run,
            email,
            EmailStatus::Suppressed,
            Some(SUPPRESSED),
            existing,
        )
        .await?;
        return Ok(Queued::Suppressed);
    }
    record(db, run, email, EmailStatus::Queued, None, existing).await?;
    Ok(Queued::Send)
}

/// → skipped: not sent, for `reason` (the contact is unsubscribed), so the emails' listing
/// says why.
pub async fn skip<C: ConnectionTrait>(
    db: &C,
    run: &workflow_run::Model,
    email: &Email<'_>,
    reason: &str,
    existing: Option<&email_send::Model>,
) -> Result<(), DbErr> {
    record(db, run, email, EmailStatus::Skipped, Some(reason), existing).await
}

/// Inserts or refreshes the (run, step) row.
async fn record<C: ConnectionTrait>(
    db: &C,
    run: &workflow_run::Model,
    email: &Email<'_>,
    status: EmailStatus,
    error: Option<&str>,
    existing: Option<&email_send::Model>,
) -> Result<(), DbErr> {
    let attempts = existing.map_or(0, |e| e.attempts) + i32::from(status == EmailStatus::Queued);
    match existing {
        Some(_) => {
            email_send::Entity::update_many()
                .col_expr(email_send::Column::Status, Expr::value(status.as_str()))
                .col_expr(email_send::Column::Subject, Expr::value(email.subject))
                .col_expr(email_send::Column::ToEmail, Expr::value(email.to))
                .col_expr(email_send::Column::Attempts, Expr::value(attempts))
                .col_expr(
                    email_send::Column::Error,
                    Expr::value(error.map(str::to_owned)),
                )
                .filter(email_send::Column::Id.eq(email.id))
                .exec(db)
                .await?;
        }
        None => {
            email_send::Entity::insert(email_send::ActiveModel {
                id: Set(email.id.to_owned()),
                run_id: Set(run.id.clone()),
                step: Set(run.step),
                workflow_id: Set(run.workflow_id.clone()),
                template_id: Set(email.template_id.to_owned()),
                contact_id: Set(run.contact_id.clone()),
                to_email: Set(email.to.to_owned()),
                subject: Set(email.subject.to_owned()),
                status: Set(status.as_str().to_owned()),
                error: Set(error.map(str::to_owned)),
                attempts: Set(attempts),
                created_at: Set(now_ms()),
                sent_at: Set(None),
            })
            .exec_without_returning(db)
            .await?;
        }
    }
    Ok(())
}

/// queued → sent: the SMTP server took it.
pub async fn sent<C: ConnectionTrait>(db: &C, id: &str) -> Result<(), DbErr> {
    email_send::Entity::update_many()
        .col_expr(
            email_send::Column::Status,
            Expr::value(EmailStatus::Sent.as_str()),
        )
        .col_expr(email_send::Column::SentAt, Expr::value(now_ms()))
        .col_expr(
            email_send::Column::Error,
            Expr::value(Option::<String>::None),
        )
        .filter(email_send::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Stays queued, `error` noted: the send is retried later.
pub async fn retrying<C: ConnectionTrait>(db: &C, id: &str, error: &str) -> Result<(), DbErr> {
    email_send::Entity::update_many()
        .col_expr(email_send::Column::Error, Expr::value(error))
        .filter(email_send::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// queued → failed for good (its run is in the dead letters), `reason` noted. A hard
/// bounce (`error`) also suppresses the address the email went to.
pub async fn failed<C: ConnectionTrait>(
    db: &C,
    id: &str,
    error: &SendError,
    reason: &str,
) -> Result<(), DbErr> {
    if error.is_hard_bounce()
        && let Some(send) = email_send::Entity::find_by_id(id.to_owned())
            .one(db)
            .await?
    {
        suppressions::suppress(db, &send.to_email, reason, now_ms()).await?;
        tracing::warn!(email = %id, "Hard bounce; the address is suppressed.");
    }
    email_send::Entity::update_many()
        .col_expr(
            email_send::Column::Status,
            Expr::value(EmailStatus::Failed.as_str()),
        )
        .col_expr(email_send::Column::Error, Expr::value(reason))
        .filter(email_send::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
