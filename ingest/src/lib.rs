//! Inlet's HTTP process: the webhook source (verify, enqueue, answer), the REST API, the
//! operator console, health and metrics. Built as an [`startup::Application`] so tests boot the real thing.

pub mod auth;
pub mod body_deadline;
pub mod console;
pub mod delivery_log;
pub mod error;
pub mod openapi;
pub mod routes;
pub mod startup;
pub mod state;

pub use startup::Application;
pub use state::AppState;
