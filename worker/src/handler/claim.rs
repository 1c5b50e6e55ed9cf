//! Claiming deliveries: the processed-delivery rows that make each event apply once.

use inlet_shared::db::entities::processed_delivery;
use inlet_shared::domain::now_ms;
use inlet_shared::queue::QueueMessage;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, EntityTrait, TryInsertResult};
use std::collections::HashSet;

use inlet_shared::bulk;

/// Claims the messages' events in one statement: for each message, in order, whether it
/// is the first delivery of its event (its processed-delivery row is now in). Of two
/// deliveries of one event in the same call, only the first claims it.
///
/// The rows go in key order: two batches holding deliveries of the same events (a resend
/// split across batches, a redelivery) then take the keys in one order, and the later one
/// waits for the earlier to commit instead of each waiting for the other (a deadlock that
/// PostgreSQL breaks after a second by failing one of them).
pub async fn claim_all<C: ConnectionTrait>(
    db: &C,
    msgs: &[&QueueMessage],
) -> Result<Vec<bool>, DbErr> {
    if msgs.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let mut ordered = msgs.to_vec();
    // Stable: of two deliveries of one event, the first still comes first.
    ordered.sort_by(|a, b| {
        (&a.integration_id, &a.idempotency_key).cmp(&(&b.integration_id, &b.idempotency_key))
    });
    let rows = ordered.iter().map(|msg| processed_delivery::ActiveModel {
        integration_id: Set(msg.integration_id.clone()),
        idempotency_key: Set(msg.idempotency_key.clone()),
        delivery_id: Set(msg.delivery_id.clone()),
        processed_at: Set(now),
    });
    let mut won: HashSet<(String, String, String)> =
        if db.get_database_backend() == DbBackend::Postgres {
            let rows: Vec<_> = rows.collect();
            let inserted = bulk::insert_returning(
                db,
                rows,
                "ON CONFLICT (integration_id, idempotency_key) DO NOTHING \
                 RETURNING integration_id, idempotency_key, delivery_id",
            )
            .await?;
            inserted
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get("", "integration_id")?,
                        r.try_get("", "idempotency_key")?,
                        r.try_get("", "delivery_id")?,
                    ))
                })
                .collect::<Result<_, DbErr>>()?
        } else {
            let inserted = processed_delivery::Entity::insert_many(rows)
                .on_conflict_do_nothing_on([
                    processed_delivery::Column::IntegrationId,
                    processed_delivery::Column::IdempotencyKey,
                ])
                .exec_with_returning_many(db)
                .await?;
            match inserted {
                TryInsertResult::Inserted(rows) => rows
                    .into_iter()
                    .map(|r| (r.integration_id, r.idempotency_key, r.delivery_id))
                    .collect(),
                TryInsertResult::Empty | TryInsertResult::Conflicted => HashSet::new(),
            }
        };
    Ok(msgs
        .iter()
        .map(|msg| {
            won.remove(&(
                msg.integration_id.clone(),
                msg.idempotency_key.clone(),
                msg.delivery_id.clone(),
            ))
        })
        .collect())
}
