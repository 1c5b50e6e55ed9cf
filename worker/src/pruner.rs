//! The pruner: every `INLET_PRUNE_INTERVAL`, the one elected worker (or `serve`) removes
//! what retention lets go and creates the coming days' partitions; every worker then
//! reads the managed tables' sizes into its metrics.

use std::sync::Arc;

use inlet_shared::config::Retention;
use inlet_shared::domain::now_ms;
use inlet_shared::metrics::{Metrics, label};
use inlet_shared::retention::{self, Report, stats};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

/// Prunes every `retention.interval` until `shutdown`, starting at once.
pub async fn run(
    db: DatabaseConnection,
    retention: Retention,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(retention.interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match retention::prune_elected(&db, &retention, now_ms()).await {
            Ok(Some(report)) => record(&metrics, &report),
            Ok(None) => tracing::debug!("Another process is pruning."),
            Err(e) => tracing::warn!(error = %e, "Pruning failed; it is tried again next time."),
        }
        match stats::collect(&db).await {
            Ok(tables) => {
                let now = now_ms();
                let r = &metrics.retention;
                for t in tables {
                    let table = || label("table", t.table);
                    r.rows.get_or_create(&table()).set(gauge(t.rows));
                    if let Some(bytes) = t.bytes {
                        r.bytes.get_or_create(&table()).set(gauge(bytes));
                    }
                    let age = t.oldest_ms.map_or(0, |at| now.saturating_sub(at) / 1000);
                    r.oldest_age.get_or_create(&table()).set(age.max(0));
                }
            }
            Err(e) => tracing::warn!(error = %e, "Could not read the tables' sizes."),
        }
    }
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Counts a prune's work in the metrics and logs it.
fn record(metrics: &Metrics, report: &Report) {
    let r = &metrics.retention;
    for removed in &report.removed {
        r.pruned
            .get_or_create(&label("table", removed.table))
            .inc_by(removed.rows);
        tracing::info!(
            table = removed.table,
            rows = removed.rows,
            partitions = removed.partitions.len(),
            "Pruned."
        );
    }
    if !report.created.is_empty() {
        tracing::info!(partitions = ?report.created, "Created partitions ahead of time.");
    }
    r.last_prune.set(now_ms() / 1000);
    r.last_duration.set(report.took.as_secs_f64());
}
