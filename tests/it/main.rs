//! Integration tests of the whole pipeline against real PostgreSQL and RabbitMQ.

// Tests fail by panicking: unwrap and expect are the point here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod api;
mod console;
mod contact_service;
mod edge;
mod email;
mod findings;
mod hostile;
mod isolation;
mod platforms;
mod processes;
mod reliability;
mod schema;
mod support;
mod templates;
mod webhooks;
mod workflows_api;
