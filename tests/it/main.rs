//! Integration tests of the whole pipeline against real PostgreSQL and RabbitMQ.

// Tests fail by panicking: unwrap and expect are the point here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod api;
mod cli;
mod config;
mod console;
mod console_audience;
mod console_workflows;
mod contact_service;
mod container;
mod edge;
mod email;
mod findings;
mod hostile;
mod isolation;
mod load_balancer;
mod platforms;
mod process_metrics;
mod processes;
mod rate_limit;
mod readme;
mod reliability;
mod retention;
mod schema;
mod sdk_contacts;
mod secrets;
mod support;
mod templates;
mod test_events;
mod tracing;
mod transactional;
mod webhooks;
mod workflow_graph_api;
mod workflows_api;
