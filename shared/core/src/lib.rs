//! Inlet's pure core: domain types, configuration and the providers (verification and
//! mapping of each platform's webhooks). No I/O beyond reading the configuration (the
//! environment, a TOML file, secrets' files), and no database, broker, mail or HTTP
//! crates: everything that does I/O builds on this.

// Tests cut strings they built themselves.
#![cfg_attr(test, allow(clippy::string_slice))]

pub mod config;
pub mod domain;
pub mod graph;
pub mod messages;
pub mod properties;
pub mod providers;
pub mod sealing;
