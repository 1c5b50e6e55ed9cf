//! Inlet's shared runtime: telemetry, metrics, retry policies and the dead letters' listing
//! and replay (which reads the store and publishes to a queue). The layers below are
//! re-exported under one roof, so callers name `inlet_shared::…` whatever crate holds it:
//! `inlet-core` (configuration, domain types, providers, messages — pure), `inlet-store`
//! (entities, the writers of each table, email) and `inlet-queue` (embedded and RabbitMQ).

// Tests cut strings they built themselves.
#![cfg_attr(test, allow(clippy::string_slice))]

pub mod dead_letters;
pub mod metrics;
pub mod retry;
pub mod telemetry;

pub use inlet_core::{config, domain, graph, messages, properties, providers};
pub use inlet_queue as queue;
pub use inlet_store::{
    apikeys, bulk, contacts, db, email, integrations, isolate, retention, sealed, suppressions,
    transactional, webhook_log, workflows,
};
