//! `/console`: deliveries per minute by status, queue depth and dead letters, read the way
//! `/metrics` reads them.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use inlet_shared::db::entities::webhook_log::DeliveryStatus;
use inlet_shared::db::entities::{dead_letter, integration, webhook_log};
use inlet_shared::domain::now_ms;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use serde::Serialize;

use super::session::Session;
use super::{ConsoleError, STATUSES, render};

/// Minutes the chart covers.
const MINUTES: i64 = 30;
const WIDTH: i64 = 900;
const HEIGHT: i64 = 180;

#[derive(Serialize)]
struct Bar {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
    status: &'static str,
    label: String,
}

#[derive(Serialize)]
struct Tick {
    x: i64,
    label: String,
}

#[derive(Serialize)]
struct Chart {
    width: i64,
    height: i64,
    max: u64,
    bars: Vec<Bar>,
    ticks: Vec<Tick>,
}

/// Stacked bars, one column per minute (oldest left), from `counts[minute][status]`.
fn chart(counts: &[BTreeMap<&'static str, u64>], start_minute: i64) -> Chart {
    let max = counts
        .iter()
        .map(|m| m.values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let columns = i64::try_from(counts.len()).unwrap_or(1).max(1);
    let step = WIDTH / columns;
    let mut bars = Vec::new();
    let mut ticks = Vec::new();
    for (i, minute) in counts.iter().enumerate() {
        let i = i64::try_from(i).unwrap_or(0);
        let x = i * step + 2;
        let mut top = HEIGHT;
        for status in STATUSES.map(DeliveryStatus::as_str) {
            let n = minute.get(status).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let h = (i64::try_from(n).unwrap_or(0) * (HEIGHT - 20)
                / i64::try_from(max).unwrap_or(1))
            .max(1);
            top -= h;
            bars.push(Bar {
                x,
                y: top,
                w: (step - 4).max(1),
                h,
                status,
                label: format!("{n} {status}"),
            });
        }
        if i % 5 == 0 {
            ticks.push(Tick {
                x,
                label: super::format_time((start_minute + i) * 60_000)
                    .get(11..16)
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
    }
    Chart {
        width: WIDTH,
        height: HEIGHT,
        max,
        bars,
        ticks,
    }
}

/// `GET /console`.
pub async fn show(session: Session) -> Result<HttpResponse, ConsoleError> {
    let state = &session.state;
    let now_minute = now_ms() / 60_000;
    let start_minute = now_minute - MINUTES + 1;
    // Counted by the database, per minute and status. Delivery ids start with their time
    // (UUIDv7), so the primary key bounds the range without another index.
    let minute = || Expr::cust("received_at / 60000");
    let rows: Vec<(i64, String, i64)> = webhook_log::Entity::find()
        .select_only()
        .column_as(minute(), "minute")
        .column(webhook_log::Column::Status)
        .column_as(webhook_log::Column::Id.count(), "n")
        .filter(webhook_log::Column::Id.gte(super::deliveries::id_floor(start_minute * 60_000)))
        .group_by(minute())
        .group_by(webhook_log::Column::Status)
        .into_tuple()
        .all(&state.db)
        .await?;
    let mut per_minute: Vec<BTreeMap<&'static str, u64>> =
        vec![BTreeMap::new(); usize::try_from(MINUTES).unwrap_or(30)];
    let mut by_status: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut total = 0;
    for (minute, status, n) in &rows {
        let Some(status) = DeliveryStatus::parse(status).map(DeliveryStatus::as_str) else {
            continue;
        };
        let n = u64::try_from(*n).unwrap_or(0);
        let Ok(slot) = usize::try_from(minute - start_minute) else {
            continue;
        };
        if let Some(counts) = per_minute.get_mut(slot) {
            *counts.entry(status).or_default() += n;
            *by_status.entry(status).or_default() += n;
            total += n;
        }
    }
    // The same reads as the `inlet_queue_depth` and `inlet_dead_letters` gauges.
    let queue_depth = state.queue.depth().await.ok();
    let dead_letters = dead_letter::Entity::find()
        .filter(dead_letter::Column::ReplayedAt.is_null())
        .count(&state.db)
        .await?;
    if let Some(depth) = queue_depth {
        state
            .metrics
            .queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }
    state
        .metrics
        .dead_letters
        .set(i64::try_from(dead_letters).unwrap_or(i64::MAX));
    let integrations = integration::Entity::find().count(&state.db).await?;
    let by_status: Vec<(&str, u64)> = by_status.into_iter().collect();
    render(
        "dashboard.html",
        minijinja::context! {
            page => session.page("dashboard"),
            minutes => MINUTES,
            total,
            queue_depth,
            dead_letters,
            integrations,
            by_status,
            statuses => STATUSES.map(DeliveryStatus::as_str),
            chart => chart(&per_minute, start_minute),
        },
    )
}
