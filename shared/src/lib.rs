//! Inlet's shared library: configuration, telemetry, domain types, the providers (pure
//! verification and mapping), the queue (RabbitMQ and embedded) and the database entities.

// Tests cut strings they built themselves.
#![cfg_attr(test, allow(clippy::string_slice))]

pub mod apikeys;
pub mod config;
pub mod contacts;
pub mod db;
pub mod dead_letters;
pub mod domain;
pub mod email;
pub mod integrations;
pub mod isolate;
pub mod metrics;
pub mod providers;
pub mod queue;
pub mod retry;
pub mod telemetry;
pub mod workflows;
