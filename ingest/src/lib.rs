//! Inlet's HTTP process, one folder a surface: the webhook source ([`source`]: verify,
//! enqueue, answer), the admin surface ([`admin`]: the REST API and the operator console),
//! the recipients' unsubscribe page ([`unsubscribe`]) and health and metrics ([`ops`]),
//! composed in [`routes`]. Built as an [`startup::Application`] so tests boot the real thing.

pub mod admin;
pub mod error;
pub mod ops;
pub mod routes;
pub mod source;
pub mod startup;
pub mod state;
pub mod unsubscribe;

pub use startup::Application;
pub use state::AppState;
