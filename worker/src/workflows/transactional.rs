//! A transactional send (`POST /api/v1/transactional`): a one-step run whose payload is
//! the recipient, the data variables and the attachments. It renders the transactional
//! email's published message with the data variables and goes through the same
//! [`Runner::deliver`] as a workflow's email — its `email_sends` row, once, retried, dead-
//! lettered — but, not being marketing, ignores the contact's `subscribed` flag and carries
//! no unsubscribe link.

use inlet_shared::db::entities::email_send::EmailStatus;
use inlet_shared::db::entities::{email_template, transactional_email};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::email::{self, SendError, TransactionalOutgoing};
use inlet_shared::transactional::Payload;
use inlet_shared::workflows::runs::{self, Taken};
use inlet_shared::workflows::sends;
use sea_orm::{DbErr, EntityTrait, TransactionTrait};

use super::Runner;
use super::walk::Then;

/// A transactional run has one step.
const STEPS: usize = 1;

impl Runner {
    pub(super) async fn send_transactional(&self, run: &Taken) -> Result<(), DbErr> {
        let existing = sends::of_step(&self.db, run).await?;
        if existing
            .as_ref()
            .is_some_and(|e| EmailStatus::parse(&e.status).is_some_and(EmailStatus::is_done))
        {
            let txn = self.db.begin().await?;
            runs::forget_payload(&txn, run).await?;
            runs::advance(&txn, run, STEPS, now_ms()).await?;
            return txn.commit().await;
        }
        let payload: Payload = match serde_json::from_str(&run.event_properties) {
            Ok(payload) => payload,
            Err(e) => return self.fail(run, None, &SendError::Payload(e)).await,
        };
        let not_published = || SendError::NotPublished(run.workflow_id.clone());
        let Some(published) = transactional_email::Entity::find_by_id(run.workflow_id.clone())
            .one(&self.db)
            .await?
            .and_then(|t| t.published_template_id)
        else {
            return self.fail(run, None, &not_published()).await;
        };
        // The message published now: a send waiting across a new publish sends the new
        // content, as a workflow's email uses its template as it is when it is sent.
        let Some(template) = email_template::Entity::find_by_id(published.clone())
            .one(&self.db)
            .await?
        else {
            return self
                .fail(run, None, &SendError::TemplateGone(published))
                .await;
        };
        inlet_shared::isolate::inject(template.subject.as_bytes());
        let rendered = match email::render_transactional(
            &template,
            &payload.data_variables,
            self.limits,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return self.fail(run, None, &SendError::from(e)).await,
        };
        let from = match &template.from_email {
            Some(address) => match email::sender(template.from_name.as_deref(), address) {
                Ok(from) => from,
                Err(e) => {
                    let error = SendError::TemplateSender {
                        template: template.id.clone(),
                        source: e,
                    };
                    return self.fail(run, None, &error).await;
                }
            },
            None => self.from.clone(),
        };
        let send_id = existing
            .as_ref()
            .map_or_else(|| new_id("em_"), |e| e.id.clone());
        let queued = sends::Email {
            id: &send_id,
            template_id: &template.id,
            to: &payload.email,
            subject: &rendered.subject,
        };
        let message = email::build_transactional(&TransactionalOutgoing {
            from,
            to: &payload.email,
            rendered: &rendered,
            message_id: format!("<{send_id}@inlet>"),
            attachments: &payload.attachments,
        });
        self.deliver(run, &queued, existing.as_ref(), message, Then::Steps(STEPS))
            .await
    }
}
