//! How list commands print: a table for people (`text`) or one JSON document for scripts.

use clap::ValueEnum;
use serde::Serialize;

/// `--output text|json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns and a closing count.
    #[default]
    Text,
    /// One JSON array of objects on stdout, with stable camelCase field names.
    Json,
}

/// Prints `rows` as one JSON document on stdout.
pub fn print_json<T: Serialize>(rows: &[T]) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(rows)?);
    Ok(())
}
