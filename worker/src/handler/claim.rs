//! Claiming deliveries: the processed-delivery rows that make each event apply once.

use inlet_shared::db::entities::processed_delivery;
use inlet_shared::domain::now_ms;
use inlet_shared::providers::Mapping;
use inlet_shared::queue::QueueMessage;
use sea_orm::sea_query::ArrayType;
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, EntityTrait, Statement, TryInsertResult,
    Value,
};
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
    msgs: &[(&QueueMessage, i64)],
) -> Result<Vec<bool>, DbErr> {
    if msgs.is_empty() {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let mut ordered = msgs.to_vec();
    // Stable: of two deliveries of one event, the first still comes first.
    ordered.sort_by(|(a, _), (b, _)| {
        (&a.integration_id, &a.idempotency_key).cmp(&(&b.integration_id, &b.idempotency_key))
    });
    let rows = ordered
        .iter()
        .map(|(msg, day)| processed_delivery::ActiveModel {
            integration_id: Set(msg.integration_id.clone()),
            idempotency_key: Set(msg.idempotency_key.clone()),
            delivery_id: Set(msg.delivery_id.clone()),
            processed_at: Set(now),
            event_day: Set(*day),
        });
    let mut won: HashSet<(String, String, String)> =
        if db.get_database_backend() == DbBackend::Postgres {
            let rows: Vec<_> = rows.collect();
            let inserted = bulk::insert_returning(
                db,
                rows,
                "ON CONFLICT (integration_id, idempotency_key, event_day) DO NOTHING \
                 RETURNING integration_id, idempotency_key, delivery_id",
            )
            .await?;
            let mut won: HashSet<(String, String, String)> = inserted
                .iter()
                .map(|r| {
                    Ok((
                        r.try_get("", "integration_id")?,
                        r.try_get("", "idempotency_key")?,
                        r.try_get("", "delivery_id")?,
                    ))
                })
                .collect::<Result<_, DbErr>>()?;
            for (integration, key) in claimed_before_partitioning(db, &ordered).await? {
                won.retain(|(i, k, _)| (i, k) != (&integration, &key));
            }
            won
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
        .map(|(msg, _)| {
            won.remove(&(
                msg.integration_id.clone(),
                msg.idempotency_key.clone(),
                msg.delivery_id.clone(),
            ))
        })
        .collect())
}

/// A claim's partition (PostgreSQL) and retention day: the UTC day of the event's own
/// time, which every delivery of one event carries in its signed body, so a duplicate
/// finds the claim in the one partition it goes to. A delivery without a contact change
/// (nothing to apply twice) and an event dated more than a day after its receipt (a
/// platform's clock gone wrong) take the day of receipt instead.
pub fn event_day(msg: &QueueMessage, mapping: &Mapping) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    let at = match mapping {
        Mapping::Contact(change)
            if change.occurred_at_ms <= msg.received_at_ms.saturating_add(DAY_MS) =>
        {
            change.occurred_at_ms
        }
        _ => msg.received_at_ms,
    };
    at.saturating_sub(at.rem_euclid(DAY_MS))
}

/// The keys of `claims` already claimed before the claims were partitioned: migration
/// 0014 kept those rows, with `event_day` 0, in the partition of everything before its
/// day; retention drops that partition once the dedupe window has passed, and then this
/// reads nothing (the default partition, where day 0 would go, holds no such row).
async fn claimed_before_partitioning<C: ConnectionTrait>(
    db: &C,
    claims: &[(&QueueMessage, i64)],
) -> Result<Vec<(String, String)>, DbErr> {
    // A claim of day 0 itself met any such row on the primary key.
    let claims: Vec<&QueueMessage> = claims
        .iter()
        .filter(|(_, day)| *day != 0)
        .map(|(m, _)| *m)
        .collect();
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let texts = |of: fn(&QueueMessage) -> &String| {
        let values = claims.iter().map(|m| Value::from(of(m).clone())).collect();
        Value::Array(ArrayType::String, Some(Box::new(values)))
    };
    let integrations = texts(|m| &m.integration_id);
    let keys = texts(|m| &m.idempotency_key);
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT p.integration_id, p.idempotency_key FROM processed_deliveries p \
         JOIN UNNEST($1::text[], $2::text[]) AS c(integration_id, idempotency_key) \
         ON p.integration_id = c.integration_id AND p.idempotency_key = c.idempotency_key \
         WHERE p.event_day = 0",
        [integrations, keys],
    );
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("", "integration_id")?,
                r.try_get("", "idempotency_key")?,
            ))
        })
        .collect()
}
