//! Test harness: each test gets its own database (a fresh PostgreSQL database or SQLite
//! file) and its own RabbitMQ vhost, boots the real application in-process on port 0, and
//! talks to it over HTTP; or runs `inlet` as child processes. Services that are missing
//! fail the test loudly. `use crate::support::*;` brings what the tests use.

mod app;
mod broker;
mod console;
mod database;
mod eventually;
mod mime;
mod otlp;
mod processes;
mod proxy;
mod remote;
mod sdk;
mod signing;
mod smtp;
mod tls_broker;

pub use app::{AppOptions, TestApp, spawn_app};
pub use broker::{TestVhost, rabbit_management};
pub use console::{Console, field};
pub use database::{Backend, TestDb};
pub use eventually::{eventually, eventually_some};
pub use mime::{body_text, header};
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use processes::{Process, free_port};
pub use proxy::TcpProxy;
pub use remote::Remote;
pub use sdk::run_sdk_file;
pub use signing::{STRIPE_SECRET, now_secs, stripe_customer_event, stripe_signature};
pub use smtp::SmtpServer;
pub use tls_broker::TlsBroker;

/// The master key the tests' PostgreSQL processes run with (not secret: tests only).
pub const TEST_MASTER_KEY: &str =
    "7465737473206f6e6c793a206e6f742061207365637265742c20612074657374";

pub fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_owned()
}

/// Runs an async cleanup from `Drop` on a thread of its own (Drop cannot await).
fn cleanup_blocking<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(f);
        }
    })
    .join();
}
