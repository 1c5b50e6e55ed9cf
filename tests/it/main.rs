//! Integration tests of the whole pipeline against real PostgreSQL and RabbitMQ.

// Tests fail by panicking: unwrap and expect are the point here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod bulk;
mod console;
mod email;
mod helpers;
mod platforms;
mod processes;
mod proxy;
mod reliability;
mod schema;
mod smtp;
mod webhooks;
mod workflows_api;
