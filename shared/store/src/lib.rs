//! Inlet's store: the database entities and the one writer of each table they hold —
//! contacts with their lists and events, workflow runs, dead letters, integrations, API
//! keys — and email rendering and sending. Builds on the pure `inlet-core`.

// Tests cut strings they built themselves.
#![cfg_attr(test, allow(clippy::string_slice))]

pub mod apikeys;
pub mod contacts;
pub mod db;
pub mod dead_letters;
pub mod email;
pub mod integrations;
pub mod isolate;
pub mod workflows;

pub use inlet_core::{config, domain, messages, providers};
