//! Applying one prepared delivery inside a transaction: the integration's settings and the
//! event's meaning, the claim, the contact change and the delivery's webhook-log row.

use inlet_shared::db::entities::processed_delivery;
use inlet_shared::db::entities::webhook_log::DeliveryStatus;
use inlet_shared::integrations::EventSettings;
use inlet_shared::isolate::isolate_sync;
use inlet_shared::providers::Mapping;
use inlet_shared::queue::QueueMessage;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};

use super::log::log_entry;
use super::{Handler, Outcome, claim_all};
use crate::contacts;
use crate::error::WorkerError;
use crate::unit::Unit;

impl Handler {
    /// Applies one message's effects exactly once, in a transaction of its own.
    pub(crate) async fn process(
        &self,
        msg: &QueueMessage,
        attempt: u32,
    ) -> Result<Outcome, WorkerError> {
        let txn = self.db.begin().await?;
        let mut unit = Unit::default();
        let outcome = self.process_in(&txn, &mut unit, msg, attempt).await?;
        unit.finish(&txn).await?;
        txn.commit().await?;
        Ok(outcome)
    }

    /// The integration's settings for the message's event type, and what the event means.
    pub(super) async fn prepare(
        &self,
        msg: &QueueMessage,
    ) -> Result<(EventSettings, Mapping), WorkerError> {
        let integration = match self.cache.get(&msg.integration_id) {
            Some(i) => i,
            None => {
                // Created by another process since our last refresh?
                self.cache.refresh_if_changed().await?;
                self.cache
                    .get(&msg.integration_id)
                    .ok_or_else(|| WorkerError::UnknownIntegration(msg.integration_id.clone()))?
            }
        };
        let settings = integration.settings(&msg.event_type);
        // A panic in mapping fails only this delivery: a batch's fast path redoes it alone,
        // and alone it goes to the dead letters with the panic's message and location.
        let mapping = isolate_sync(|| {
            inlet_shared::isolate::inject(&msg.body);
            msg.provider.map(&msg.body, msg.received_at_ms)
        })??;
        Ok((settings, mapping))
    }

    /// Applies one message's effects inside `txn` (the caller finishes `unit` and commits):
    /// claims the delivery (the processed-delivery row), applies the effects and logs the
    /// outcome.
    pub(super) async fn process_in<C: ConnectionTrait>(
        &self,
        txn: &C,
        unit: &mut Unit,
        msg: &QueueMessage,
        attempt: u32,
    ) -> Result<Outcome, WorkerError> {
        let (settings, mapping) = self.prepare(msg).await?;
        if let Mapping::Contact(change) = &mapping {
            // Its contacts locked before the claim, as a batch takes them (`Unit::preload`).
            unit.preload(txn, [(msg.integration_id.as_str(), change)])
                .await?;
        }
        let claimed = claim_all(txn, &[(msg, super::claim::event_day(msg, &mapping))])
            .await?
            .first()
            .copied()
            .unwrap_or(false);
        self.apply(txn, unit, msg, &settings, mapping, claimed, attempt)
            .await
    }

    /// Applies a prepared message whose claim is decided: a delivery that did not claim
    /// its event is a duplicate and changes nothing.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn apply<C: ConnectionTrait>(
        &self,
        txn: &C,
        unit: &mut Unit,
        msg: &QueueMessage,
        settings: &EventSettings,
        mapping: Mapping,
        claimed: bool,
        attempt: u32,
    ) -> Result<Outcome, WorkerError> {
        if !claimed {
            let first = processed_delivery::Entity::find()
                .filter(processed_delivery::Column::IntegrationId.eq(msg.integration_id.as_str()))
                .filter(processed_delivery::Column::IdempotencyKey.eq(msg.idempotency_key.as_str()))
                .filter(processed_delivery::Column::DeliveryId.ne(msg.delivery_id.as_str()))
                .one(txn)
                .await?;
            // A redelivery of the same delivery (acked too late) changes nothing; another
            // delivery of the same event is logged as a duplicate.
            if let Some(first) = first.filter(|f| f.delivery_id != msg.delivery_id) {
                let text = format!(
                    "Duplicate of delivery {}; already applied.",
                    first.delivery_id
                );
                unit.log(log_entry(msg, DeliveryStatus::Duplicate, &text, attempt));
            }
            return Ok(Outcome::Duplicate);
        }

        let outcome = match mapping {
            Mapping::Ignore(reason) => Outcome::Ignored(reason),
            Mapping::Contact(change) => {
                let source = contacts::Source {
                    integration_id: &msg.integration_id,
                    provider: msg.provider,
                    event_type: &msg.event_type,
                    delivery_id: &msg.delivery_id,
                    trace: &msg.trace,
                    settings,
                };
                let (applied, dropped) = contacts::apply(txn, unit, &change, &source).await?;
                let mut text = applied.describe();
                for note in dropped {
                    text.push_str(" Dropped a property: ");
                    text.push_str(&note);
                }
                if applied.applied() {
                    Outcome::Processed(text)
                } else {
                    Outcome::Ignored(text)
                }
            }
        };
        let (status, text) = outcome.logged();
        unit.log(log_entry(msg, status, text, attempt));
        Ok(outcome)
    }
}
