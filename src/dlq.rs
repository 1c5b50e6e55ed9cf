//! `inlet dlq list` and `inlet dlq replay`: the dead-letter tools for SREs.

use std::io::IsTerminal;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use inlet_shared::config::Config;
use inlet_shared::db::entities::dead_letter;
use inlet_shared::dead_letters::{self, Filter};
use inlet_shared::domain::format_ms;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::output::{Output, print_json};

/// `inlet dlq …`
#[derive(Subcommand)]
pub enum DlqCommand {
    /// Lists dead letters, newest first.
    #[command(after_help = "Examples:
  inlet dlq list --since 2h
  inlet dlq list --integration int_0123456789abcdef --output json")]
    List {
        #[command(flatten)]
        select: Select,
        /// Also list dead letters already replayed.
        #[arg(long)]
        include_replayed: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u64,
        /// `text` (a table) or `json` (one array on stdout).
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Puts dead letters back on the queue (each once); they go through the normal path.
    #[command(after_help = "Examples:
  inlet dlq replay --all --dry-run
  inlet dlq replay --integration int_0123456789abcdef --since 1h
  inlet dlq replay --id dl_0123456789abcdef")]
    Replay {
        #[command(flatten)]
        select: Select,
        /// Replay every dead letter not yet replayed (required when no other selector is given).
        // A replay with nothing selected is a usage error (exit 2), told before anything runs.
        #[arg(long, required_unless_present_any = ["ids", "integration", "event_type", "since", "until"])]
        all: bool,
        /// Count what would be replayed (in all, and per integration and event type) and
        /// change nothing.
        #[arg(long)]
        dry_run: bool,
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
    #[arg(long, value_parser = Moment::parse)]
    since: Option<Moment>,
    /// Dead before this time: RFC 3339, or a duration ago (`2h`, `7d`).
    #[arg(long, value_parser = Moment::parse)]
    until: Option<Moment>,
}

/// A time given on the command line: read when the arguments are parsed, so an unreadable
/// one is a usage error (exit 2) told before anything runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    /// An RFC 3339 time, as epoch ms.
    At(i64),
    /// A duration before the command runs.
    Ago(std::time::Duration),
}

impl Moment {
    fn parse(value: &str) -> Result<Self, String> {
        if let Ok(t) = OffsetDateTime::parse(value, &Rfc3339) {
            let ms = t.unix_timestamp_nanos() / 1_000_000;
            return Ok(Self::At(i64::try_from(ms).unwrap_or(i64::MAX)));
        }
        humantime::parse_duration(value)
            .map(Self::Ago)
            .map_err(|_| {
                "neither an RFC 3339 time (2026-01-31T12:00:00Z) nor a duration ago (30m, 2h, 7d)"
                    .to_owned()
            })
    }

    /// Epoch ms of this moment, durations counted back from `now_ms`.
    fn epoch_ms(self, now_ms: i64) -> i64 {
        match self {
            Self::At(ms) => ms,
            Self::Ago(ago) => {
                now_ms.saturating_sub(i64::try_from(ago.as_millis()).unwrap_or(i64::MAX))
            }
        }
    }
}

impl Select {
    fn filter(self, include_replayed: bool, limit: Option<u64>) -> Filter {
        let now_ms = inlet_shared::domain::now_ms();
        Filter {
            since_ms: self.since.map(|m| m.epoch_ms(now_ms)),
            until_ms: self.until.map(|m| m.epoch_ms(now_ms)),
            ids: self.ids,
            integration_id: self.integration,
            event_type: self.event_type,
            include_replayed,
            limit,
        }
    }
}

/// A dead letter as `dlq list --output json` prints it: the API's field names, no body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeadLetterView {
    id: String,
    delivery_id: String,
    integration_id: String,
    provider: String,
    event_type: String,
    error: String,
    attempts: i32,
    received_at: String,
    first_failed_at: String,
    last_failed_at: String,
    dead_at: String,
    replayed_at: Option<String>,
    replay_count: i32,
}

impl From<dead_letter::Model> for DeadLetterView {
    fn from(r: dead_letter::Model) -> Self {
        Self {
            id: r.id,
            delivery_id: r.delivery_id,
            integration_id: r.integration_id,
            provider: r.provider,
            event_type: r.event_type,
            error: r.error,
            attempts: r.attempts,
            received_at: format_ms(r.received_at),
            first_failed_at: format_ms(r.first_failed_at),
            last_failed_at: format_ms(r.last_failed_at),
            dead_at: format_ms(r.dead_at),
            replayed_at: r.replayed_at.map(format_ms),
            replay_count: r.replay_count,
        }
    }
}

fn print_table(rows: &[dead_letter::Model]) {
    if rows.is_empty() {
        println!("No dead letters.");
        return;
    }
    println!(
        "{:<36} {:<38} {:<20} {:>8} {:<24} ERROR",
        "ID", "INTEGRATION", "EVENT TYPE", "ATTEMPTS", "DEAD AT"
    );
    for r in rows {
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
}

/// `dlq replay --dry-run`: the counts the console's replay preview shows, and the same
/// selection per integration and event type; nothing is opened but the database.
async fn dry_run(config: &Config, filter: &Filter) -> anyhow::Result<()> {
    let db = crate::connect_database(config).await?;
    let total = dead_letters::count(&db, filter).await?;
    println!("Would replay {total} dead letter(s).");
    let groups = dead_letters::count_by_integration_and_type(&db, filter).await?;
    if !groups.is_empty() {
        println!("{:<38} {:<32} {:>8}", "INTEGRATION", "EVENT TYPE", "COUNT");
        for g in groups {
            println!(
                "{:<38} {:<32} {:>8}",
                g.integration_id, g.event_type, g.count
            );
        }
    }
    Ok(())
}

/// A bar on stderr counting the replayed dead letters; hidden when stderr is no terminal,
/// so logs and captured output stay clean.
fn progress(total: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} replayed ({elapsed})") {
        bar.set_style(style);
    }
    bar
}

/// Runs a `dlq` command.
pub async fn run(config: Config, command: DlqCommand) -> anyhow::Result<()> {
    match command {
        DlqCommand::List {
            select,
            include_replayed,
            limit,
            output,
        } => {
            let db = crate::connect_database(&config).await?;
            let rows =
                dead_letters::list(&db, &select.filter(include_replayed, Some(limit))).await?;
            match output {
                Output::Json => {
                    let views: Vec<DeadLetterView> =
                        rows.into_iter().map(DeadLetterView::from).collect();
                    print_json(&views)
                }
                Output::Text => {
                    print_table(&rows);
                    Ok(())
                }
            }
        }
        DlqCommand::Replay {
            select,
            all: _,
            dry_run: true,
        } => dry_run(&config, &select.filter(false, None)).await,
        DlqCommand::Replay {
            select,
            all: _,
            dry_run: false,
        } => {
            let filter = select.filter(false, None);
            let services = crate::connect(config, false).await?;
            let bar = progress(dead_letters::count(&services.db, &filter).await?);
            // Page by page, so a large backlog is neither held in memory nor silent.
            let mut replay = dead_letters::Replay::new(
                &services.db,
                &services.queue,
                &filter,
                dead_letters::REPLAY_PAGE,
            );
            loop {
                match replay.next_page().await {
                    Ok(Some(_)) => {
                        bar.set_position(u64::try_from(replay.replayed()).unwrap_or(u64::MAX));
                    }
                    Ok(None) => break,
                    Err(e) => {
                        bar.abandon();
                        return Err(anyhow::Error::new(e).context("replay stopped"));
                    }
                }
            }
            bar.finish_and_clear();
            println!("Replayed {} dead letter(s).", replay.replayed());
            Ok(())
        }
    }
}
