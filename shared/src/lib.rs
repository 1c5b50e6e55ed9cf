//! Inlet's shared library: telemetry, the queue (RabbitMQ and embedded), the database
//! entities, email and the business writes. The configuration, domain types and providers
//! live in the pure `inlet-core` and are re-exported here under their old paths.

// Tests cut strings they built themselves.
#![cfg_attr(test, allow(clippy::string_slice))]

pub mod apikeys;
pub mod contacts;
pub mod db;
pub mod dead_letters;
pub mod email;
pub mod integrations;
pub mod isolate;
pub mod metrics;
pub mod queue;
pub mod retry;
pub mod telemetry;
pub mod workflows;

pub use inlet_core::{config, domain, providers};
