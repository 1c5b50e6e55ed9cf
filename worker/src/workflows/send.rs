//! The send step: renders the template for the run's contact, records the (run, step)
//! send row and sends it once.

use std::time::Duration;

use inlet_shared::db::entities::email_send::EmailStatus;
use inlet_shared::db::entities::{contact, email_send, email_template, workflow_run};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::email::{self, Outgoing, SendError};
use inlet_shared::metrics::label;
use inlet_shared::workflows::RunStatus;
use inlet_shared::{contacts, retry};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    TransactionTrait,
};

use super::Runner;

/// How long recording a successful send is retried before giving up (the email went out;
/// losing that record would send it again).
const RECORD_PATIENCE: Duration = Duration::from_secs(30);

impl Runner {
    pub(super) async fn send(
        &self,
        run: &workflow_run::Model,
        template_id: &str,
        total: usize,
    ) -> Result<(), DbErr> {
        let existing = email_send::Entity::find()
            .filter(email_send::Column::RunId.eq(run.id.as_str()))
            .filter(email_send::Column::Step.eq(run.step))
            .one(&self.db)
            .await?;
        if let Some(done) = existing
            .as_ref()
            .filter(|e| EmailStatus::parse(&e.status).is_some_and(EmailStatus::is_done))
        {
            tracing::debug!(email = %done.id, "Already {}; moving on.", done.status);
            return self.advance(&self.db, run, total, now_ms()).await;
        }
        let Some(contact) = contact::Entity::find_by_id(run.contact_id.clone())
            .one(&self.db)
            .await?
        else {
            return self
                .stop(
                    &self.db,
                    run,
                    RunStatus::Cancelled,
                    "The contact was deleted.",
                )
                .await;
        };
        let send_id = existing
            .as_ref()
            .map_or_else(|| new_id("em_"), |e| e.id.clone());
        if !contact.subscribed {
            // Recorded, so `GET /api/v1/emails` says why nothing was sent.
            let txn = self.db.begin().await?;
            self.record_send(
                &txn,
                &send_id,
                run,
                template_id,
                &contact.email,
                "",
                EmailStatus::Skipped,
                Some("The contact is unsubscribed."),
                existing.as_ref(),
            )
            .await?;
            self.stop(
                &txn,
                run,
                RunStatus::Cancelled,
                "The contact is unsubscribed.",
            )
            .await?;
            txn.commit().await?;
            self.metrics
                .emails
                .get_or_create(&label("outcome", "skipped"))
                .inc();
            return Ok(());
        }
        let Some(template) = email_template::Entity::find_by_id(template_id.to_owned())
            .one(&self.db)
            .await?
        else {
            let error = SendError::TemplateGone(template_id.to_owned());
            return self.fail(run, None, &error).await;
        };
        let lists = contacts::lists_of(&self.db, &contact.id).await?;
        let unsubscribe_url = self.key.url(&self.public_url, &contact.id);
        let properties = serde_json::from_str(&run.event_properties)
            .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new()));
        let ctx = email::context(
            &contacts::contact_json(&contact, &lists),
            &run.event_name,
            &properties,
            &unsubscribe_url,
        );
        inlet_shared::isolate::inject(template.subject.as_bytes());
        // A template over its limits (output, fuel, time) fails the run for good, into the
        // dead letters; only a renderer too busy to start is retried.
        let rendered = match email::render(&template, &ctx, self.limits).await {
            Ok(r) => r,
            Err(e) => return self.fail(run, None, &SendError::from(e)).await,
        };
        // Saved templates are checked, but older ones were not: a sender lettre cannot
        // write fails the run rather than the process.
        let from = match &template.from_email {
            Some(address) => match email::sender(template.from_name.as_deref(), address) {
                Ok(from) => from,
                Err(e) => {
                    let error = SendError::TemplateSender {
                        template: template_id.to_owned(),
                        source: e,
                    };
                    return self.fail(run, None, &error).await;
                }
            },
            None => self.from.clone(),
        };
        self.record_send(
            &self.db,
            &send_id,
            run,
            template_id,
            &contact.email,
            &rendered.subject,
            EmailStatus::Queued,
            None,
            existing.as_ref(),
        )
        .await?;
        let outgoing = Outgoing {
            from,
            to: &contact.email,
            rendered: &rendered,
            unsubscribe_url: &unsubscribe_url,
            message_id: format!("<{send_id}@inlet>"),
        };
        let result = match email::build(&outgoing) {
            Ok(message) => self.mailer.send(message).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                // The email is out: recording that must not be lost to a brief outage.
                retry::retry_transient(RECORD_PATIENCE, inlet_shared::db::is_transient, || {
                    self.mark_sent(run, &send_id, total)
                })
                .await?;
                self.metrics
                    .emails
                    .get_or_create(&label("outcome", "sent"))
                    .inc();
                tracing::info!(email = %send_id, "Email sent.");
                Ok(())
            }
            Err(e) => self.fail(run, Some(&send_id), &e).await,
        }
    }

    async fn mark_sent(
        &self,
        run: &workflow_run::Model,
        send_id: &str,
        total: usize,
    ) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
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
            .filter(email_send::Column::Id.eq(send_id))
            .exec(&txn)
            .await?;
        self.advance(&txn, run, total, now_ms()).await?;
        txn.commit().await
    }

    /// Inserts or refreshes the (run, step) send row.
    #[allow(clippy::too_many_arguments)]
    async fn record_send<C: ConnectionTrait>(
        &self,
        db: &C,
        send_id: &str,
        run: &workflow_run::Model,
        template_id: &str,
        to: &str,
        subject: &str,
        status: EmailStatus,
        error: Option<&str>,
        existing: Option<&email_send::Model>,
    ) -> Result<(), DbErr> {
        let attempts =
            existing.map_or(0, |e| e.attempts) + i32::from(status == EmailStatus::Queued);
        match existing {
            Some(_) => {
                email_send::Entity::update_many()
                    .col_expr(email_send::Column::Status, Expr::value(status.as_str()))
                    .col_expr(email_send::Column::Subject, Expr::value(subject))
                    .col_expr(email_send::Column::ToEmail, Expr::value(to))
                    .col_expr(email_send::Column::Attempts, Expr::value(attempts))
                    .col_expr(
                        email_send::Column::Error,
                        Expr::value(error.map(str::to_owned)),
                    )
                    .filter(email_send::Column::Id.eq(send_id))
                    .exec(db)
                    .await?;
            }
            None => {
                email_send::Entity::insert(email_send::ActiveModel {
                    id: Set(send_id.to_owned()),
                    run_id: Set(run.id.clone()),
                    step: Set(run.step),
                    workflow_id: Set(run.workflow_id.clone()),
                    template_id: Set(template_id.to_owned()),
                    contact_id: Set(run.contact_id.clone()),
                    to_email: Set(to.to_owned()),
                    subject: Set(subject.to_owned()),
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
}
