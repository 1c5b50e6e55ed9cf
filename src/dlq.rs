//! `inlet dlq list` and `inlet dlq replay`: the dead-letter tools for SREs.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use inlet_shared::config::Config;
use inlet_shared::dead_letters::{self, Filter};
use inlet_shared::domain::format_ms;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `inlet dlq …`
#[derive(Subcommand)]
pub enum DlqCommand {
    /// Lists dead letters, newest first.
    List {
        #[command(flatten)]
        select: Select,
        /// Also list dead letters already replayed.
        #[arg(long)]
        include_replayed: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Puts dead letters back on the queue (each once); they go through the normal path.
    Replay {
        #[command(flatten)]
        select: Select,
        /// Replay every dead letter not yet replayed (required when no other selector is given).
        // A replay with nothing selected is a usage error (exit 2), told before anything runs.
        #[arg(long, required_unless_present_any = ["ids", "integration", "event_type", "since", "until"])]
        all: bool,
    },
}

/// Which dead letters.
#[derive(Args)]
pub struct Select {
    /// A dead letter id (`dl_…`) or delivery id (`wh_…`); repeatable.
    #[arg(long = "id")]
    ids: Vec<String>,
    /// Only this integration.
    #[arg(long)]
    integration: Option<String>,
    /// Only this event type.
    #[arg(long)]
    event_type: Option<String>,
    /// Dead at or after this time: RFC 3339, or a duration ago (`2h`, `7d`).
    #[arg(long)]
    since: Option<String>,
    /// Dead before this time: RFC 3339, or a duration ago (`2h`, `7d`).
    #[arg(long)]
    until: Option<String>,
}

/// Epoch ms of `value`: an RFC 3339 time, or a duration before `now_ms` (`2h`, `7d`).
fn moment(value: &str, now_ms: i64) -> Option<i64> {
    if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
        return Some(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX));
    }
    let ago = humantime::parse_duration(value).ok()?;
    Some(now_ms.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX)))
}

impl Select {
    fn filter(self, include_replayed: bool, limit: Option<u64>) -> anyhow::Result<Filter> {
        let now_ms = inlet_shared::domain::now_ms();
        let time = |name: &str, v: Option<String>| -> anyhow::Result<Option<i64>> {
            v.map(|v| {
                moment(&v, now_ms).with_context(|| {
                    format!(
                        "--{name} {v:?} is neither an RFC 3339 time (2026-01-31T12:00:00Z) nor a duration ago (30m, 2h, 7d)"
                    )
                })
            })
            .transpose()
        };
        Ok(Filter {
            since_ms: time("since", self.since)?,
            until_ms: time("until", self.until)?,
            ids: self.ids,
            integration_id: self.integration,
            event_type: self.event_type,
            include_replayed,
            limit,
        })
    }
}

/// Runs a `dlq` command.
pub async fn run(config: Config, command: DlqCommand) -> anyhow::Result<()> {
    match command {
        DlqCommand::List {
            select,
            include_replayed,
            limit,
        } => {
            let db = crate::connect_database(&config).await?;
            let rows =
                dead_letters::list(&db, &select.filter(include_replayed, Some(limit))?).await?;
            if rows.is_empty() {
                println!("No dead letters.");
                return Ok(());
            }
            println!(
                "{:<36} {:<38} {:<20} {:>8} {:<24} ERROR",
                "ID", "INTEGRATION", "EVENT TYPE", "ATTEMPTS", "DEAD AT"
            );
            for r in &rows {
                let replayed = r
                    .replayed_at
                    .map(|t| format!(" (replayed {})", format_ms(t)))
                    .unwrap_or_default();
                println!(
                    "{:<36} {:<38} {:<20} {:>8} {:<24} {}{replayed}",
                    r.id,
                    r.integration_id,
                    r.event_type,
                    r.attempts,
                    format_ms(r.dead_at),
                    r.error.replace('\n', " ")
                );
            }
            println!("{} dead letter(s).", rows.len());
            Ok(())
        }
        DlqCommand::Replay { select, all: _ } => {
            let services = crate::connect(config, false).await?;
            let filter = select.filter(false, None)?;
            // Page by page, so a large backlog is neither held in memory nor silent.
            let mut replay = dead_letters::Replay::new(
                &services.db,
                &services.queue,
                &filter,
                dead_letters::REPLAY_PAGE,
            );
            let mut pages = 0;
            loop {
                match replay.next_page().await {
                    Ok(Some(_)) => {
                        pages += 1;
                        if pages > 1 {
                            eprintln!("… {} replayed so far", replay.replayed());
                        }
                    }
                    Ok(None) => break,
                    Err(e) => bail!("replay stopped: {e}"),
                }
            }
            println!("Replayed {} dead letter(s).", replay.replayed());
            Ok(())
        }
    }
}
