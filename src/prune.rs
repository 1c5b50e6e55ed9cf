//! `inlet prune [--dry-run]`: removes what retention lets go now, as the elected worker
//! does every `INLET_PRUNE_INTERVAL`, and prints what went and what each table holds.

use anyhow::Context;
use clap::Args;
use inlet_shared::config::Config;
use inlet_shared::domain::now_ms;
use inlet_shared::retention::{self, stats};
use serde::Serialize;

use crate::output::{Output, print_json};

/// `inlet prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Only say what would go (rows counted, partitions named); remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// How to print it.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// One table's line: what went and what is left.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Line {
    table: &'static str,
    removed_rows: u64,
    dropped_partitions: Vec<String>,
    rows: u64,
    bytes: Option<u64>,
    oldest_at: Option<i64>,
}

/// Runs `inlet prune`.
pub async fn run(config: Config, args: PruneArgs) -> anyhow::Result<()> {
    let db = crate::connect_database(&config).await?;
    let report = retention::prune(&db, &config.retention, now_ms(), args.dry_run)
        .await
        .context("pruning failed")?;
    let tables = stats::collect(&db)
        .await
        .context("cannot read the tables' sizes")?;
    let lines: Vec<Line> = tables
        .into_iter()
        .map(|t| {
            let removed = report.removed.iter().find(|r| r.table == t.table);
            Line {
                table: t.table,
                removed_rows: removed.map_or(0, |r| r.rows),
                dropped_partitions: removed.map(|r| r.partitions.clone()).unwrap_or_default(),
                rows: t.rows,
                bytes: t.bytes,
                oldest_at: t.oldest_ms,
            }
        })
        .collect();
    if args.output == Output::Json {
        return print_json(&lines);
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    println!(
        "{:<24} {:>12} {:>10} {:>12} {:>14}",
        "TABLE",
        verb.to_uppercase(),
        "PARTITIONS",
        "ROWS LEFT",
        "BYTES"
    );
    for l in &lines {
        println!(
            "{:<24} {:>12} {:>10} {:>12} {:>14}",
            l.table,
            l.removed_rows,
            l.dropped_partitions.len(),
            l.rows,
            l.bytes.map_or_else(|| "-".into(), |b| b.to_string())
        );
    }
    for name in &report.created {
        println!("created partition {name}");
    }
    println!(
        "{} in {} ms (partitions' rows are PostgreSQL's estimates).",
        if args.dry_run { "Dry run" } else { "Pruned" },
        report.took.as_millis()
    );
    Ok(())
}
