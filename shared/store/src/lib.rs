//! Inlet's store: the database entities and the one writer of each table they hold —
//! contacts with their lists and events, the webhook log, workflow runs, dead letters,
//! integrations, API keys — PostgreSQL's bulk inserts, email rendering and sending, and
//! the sealing of stored secrets (`sealed`).
//! Builds on the pure `inlet-core`.

// Tests cut strings they built themselves.
#![cfg_attr(test, allow(clippy::string_slice))]

pub mod apikeys;
pub mod bulk;
pub mod contacts;
pub mod db;
pub mod dead_letters;
pub mod email;
pub mod integrations;
pub mod isolate;
pub mod retention;
pub mod sealed;
pub mod suppressions;
#[cfg(test)]
mod test_db;
pub mod transactional;
pub mod webhook_log;
pub mod workflows;

pub use inlet_core::{config, domain, graph, messages, properties, providers};
