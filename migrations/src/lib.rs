//! Inlet's database migrations. Self-contained (no dependency on the entities) and written
//! with sea-query's schema builders, so each runs unchanged on SQLite and PostgreSQL (a
//! storage setting that only PostgreSQL has is applied there alone).
//! Times are stored as epoch milliseconds (`BIGINT`): the same type and ordering on both.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_initial;
mod m20261127_000002_lists_events;
mod m20261127_000003_reliability;
mod m20261127_000004_api_idempotency;
mod m20261127_000005_workflows;
mod m20261127_000006_workflow_runs;
mod m20261127_000007_console;
mod m20261127_000008_webhook_log_fillfactor;
mod m20261127_000009_natural_keys;
mod m20261128_000010_stripe_customers_contact;
mod m20261129_000011_queue_trace_context;
mod m20261129_000012_workflow_run_trace_context;
mod m20261203_000013_log_written_by_worker;
mod m20261203_000014_partitions;
mod m20261203_000015_secrets_at_rest;
mod m20261204_000016_event_and_run_retention;
mod m20261204_000017_transactional;
mod m20261204_000018_properties_suppression;
mod m20261207_000019_workflow_graphs;

/// Runs every migration in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_initial::Migration),
            Box::new(m20261127_000002_lists_events::Migration),
            Box::new(m20261127_000003_reliability::Migration),
            Box::new(m20261127_000004_api_idempotency::Migration),
            Box::new(m20261127_000005_workflows::Migration),
            Box::new(m20261127_000006_workflow_runs::Migration),
            Box::new(m20261127_000007_console::Migration),
            Box::new(m20261127_000008_webhook_log_fillfactor::Migration),
            Box::new(m20261127_000009_natural_keys::Migration),
            Box::new(m20261128_000010_stripe_customers_contact::Migration),
            Box::new(m20261129_000011_queue_trace_context::Migration),
            Box::new(m20261129_000012_workflow_run_trace_context::Migration),
            Box::new(m20261203_000013_log_written_by_worker::Migration),
            Box::new(m20261203_000014_partitions::Migration),
            Box::new(m20261203_000015_secrets_at_rest::Migration),
            Box::new(m20261204_000016_event_and_run_retention::Migration),
            Box::new(m20261204_000017_transactional::Migration),
            Box::new(m20261204_000018_properties_suppression::Migration),
            Box::new(m20261207_000019_workflow_graphs::Migration),
        ]
    }
}
