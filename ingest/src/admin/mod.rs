//! The admin surface: the REST API under `/api` (with its OpenAPI document) and the operator
//! console under `/console`, both opened with an API key.

pub mod api;
pub mod auth;
pub mod console;
pub mod openapi;
pub mod rate_limit;

use actix_web::web;

/// Registers the console's `/console` scope, then the API's `/api` scope.
pub fn configure(cfg: &mut web::ServiceConfig, attachments_max_bytes: usize) {
    cfg.configure(console::configure)
        .configure(|cfg| api::configure(cfg, attachments_max_bytes));
}
