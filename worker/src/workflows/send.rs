//! The send step: renders the template for the run's contact, records the (run, step)
//! send row and sends it once, through [`Runner::deliver`], which transactional sends
//! (`transactional.rs`) take too.

use std::time::Duration;

use inlet_shared::db::entities::email_send::EmailStatus;
use inlet_shared::db::entities::{contact, email_template};
use inlet_shared::domain::new_id;
use inlet_shared::email::{self, Outgoing, SendError};
use inlet_shared::metrics::label;
use inlet_shared::workflows::runs::{self, Taken};
use inlet_shared::workflows::sends;
use inlet_shared::{contacts, retry, transactional};
use sea_orm::{DbErr, EntityTrait, TransactionTrait};

use super::Runner;
use super::walk::Then;

/// How long recording a successful send is retried before giving up (the email went out;
/// losing that record would send it again).
const RECORD_PATIENCE: Duration = Duration::from_secs(30);

impl Runner {
    pub(super) async fn send(
        &self,
        run: &Taken,
        template_id: &str,
        then: Then,
    ) -> Result<(), DbErr> {
        let existing = sends::of_step(&self.db, run).await?;
        if let Some(done) = existing
            .as_ref()
            .filter(|e| EmailStatus::parse(&e.status).is_some_and(EmailStatus::is_done))
        {
            tracing::debug!(email = %done.id, "Already {}; moving on.", done.status);
            then.make(&self.db, run).await?;
            return Ok(());
        }
        let Some(contact) = contact::Entity::find_by_id(run.contact_id.clone())
            .one(&self.db)
            .await?
        else {
            runs::cancel(&self.db, run, "The contact was deleted.").await?;
            return Ok(());
        };
        let send_id = existing
            .as_ref()
            .map_or_else(|| new_id("em_"), |e| e.id.clone());
        if !contact.subscribed {
            const UNSUBSCRIBED: &str = "The contact is unsubscribed.";
            // Recorded, so `GET /api/v1/emails` says why nothing was sent.
            let skipped = sends::Email {
                id: &send_id,
                template_id,
                to: &contact.email,
                subject: "",
            };
            let txn = self.db.begin().await?;
            sends::skip(&txn, run, &skipped, UNSUBSCRIBED, existing.as_ref()).await?;
            runs::cancel(&txn, run, UNSUBSCRIBED).await?;
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
        let queued = sends::Email {
            id: &send_id,
            template_id,
            to: &contact.email,
            subject: &rendered.subject,
        };
        let outgoing = Outgoing {
            from,
            to: &contact.email,
            rendered: &rendered,
            unsubscribe_url: &unsubscribe_url,
            message_id: format!("<{send_id}@inlet>"),
        };
        let message = email::build(&outgoing);
        self.deliver(run, &queued, existing.as_ref(), message, then)
            .await
    }

    /// Sends a built email once, the one path every email takes (workflow and
    /// transactional): its (run, step) row queued with the attempt counted, the message
    /// handed to the mailer, then the row marked sent with the run moved on — or the
    /// failure judged by [`Runner::fail`].
    pub(super) async fn deliver(
        &self,
        run: &Taken,
        queued: &sends::Email<'_>,
        existing: Option<&inlet_shared::db::entities::email_send::Model>,
        message: Result<lettre::Message, SendError>,
        then: Then,
    ) -> Result<(), DbErr> {
        let send_id = queued.id;
        if sends::queue(&self.db, run, queued, existing).await? == sends::Queued::Suppressed {
            // Recorded `suppressed`, like a hard bounce in Loops; the run goes on (its
            // later emails are suppressed too until the suppression is removed).
            self.step_done(run, None, then).await?;
            self.metrics
                .emails
                .get_or_create(&label("outcome", "suppressed"))
                .inc();
            tracing::info!(email = %send_id, "Address suppressed; not sent.");
            return Ok(());
        }
        let result = match message {
            Ok(message) => self.mailer.send(message).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                // The email is out: recording that must not be lost to a brief outage.
                retry::retry_transient(RECORD_PATIENCE, inlet_shared::db::is_transient, || {
                    self.step_done(run, Some(send_id), then)
                })
                .await?;
                self.metrics
                    .emails
                    .get_or_create(&label("outcome", "sent"))
                    .inc();
                tracing::info!(email = %send_id, "Email sent.");
                Ok(())
            }
            Err(e) => self.fail(run, Some(send_id), &e).await,
        }
    }

    /// Records the email sent (`sent`, or `None` when it was suppressed, already
    /// recorded) and moves the run on, together.
    async fn step_done(&self, run: &Taken, sent: Option<&str>, then: Then) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        if let Some(send_id) = sent {
            sends::sent(&txn, send_id).await?;
        }
        if run.event_name == transactional::EVENT {
            // Its attachments and data are not kept once the email is out.
            runs::forget_payload(&txn, run).await?;
        }
        then.make(&txn, run).await?;
        txn.commit().await
    }
}
