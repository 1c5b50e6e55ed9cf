//! Integration tests of the whole pipeline against real PostgreSQL and RabbitMQ.

mod helpers;
mod processes;
mod proxy;
mod webhooks;
