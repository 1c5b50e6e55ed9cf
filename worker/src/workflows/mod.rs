//! The workflow runner.
//!
//! A run's state lives in `workflow_runs` (next step, when it is due); that is what makes a
//! `wait` durable: it is only a later `next_at`, and nothing is held in memory while it lasts.
//! Its transitions and their guards are `inlet_shared::workflows::runs` (the state diagram
//! is there), its email's are `workflows::sends`; this module decides which one to make.
//!
//! - The **scheduler** (one per worker process) claims due runs by setting a lease token on
//!   them, and hands each step on: to RabbitMQ's `inlet.workflows` queue in production, so
//!   every worker's runner competes for them, or straight to this process's runner with the
//!   embedded queue (where the runs table is itself the durable queue).
//! - The **runner** executes a step only while its lease token is the run's current one, so a
//!   step message that comes twice, or late after its lease expired and was re-claimed,
//!   does nothing.
//! - A send is idempotent per (run, step): `email_sends` has one row per pair, and a step
//!   whose row says `sent` is not sent again. The one window left is an SMTP server that
//!   accepted the message just before this process died, ahead of recording it; the
//!   resend then carries the same Message-ID.
//! - Failures: transient ones (SMTP unreachable or 4xx, database trouble) wait for the retry
//!   ladder; permanent ones (5xx, a template that does not render) and exhausted attempts
//!   fail the run into the dead letters, from where a replay resumes it.

mod consumer;
mod runner;
mod scheduler;
mod send;
#[cfg(test)]
mod tests;
mod transactional;
mod walk;

use std::sync::Arc;
use std::time::Duration;

use inlet_shared::config::Config;
use inlet_shared::email::{Mailer, RenderLimits, UnsubscribeKey};
use inlet_shared::metrics::Metrics;
use inlet_shared::queue::RetryPolicy;
use lettre::message::Mailbox;
use sea_orm::DatabaseConnection;

pub use scheduler::run_until_stopped;

/// How long a claimed step is reserved for its runner (longer than an SMTP timeout).
const LEASE: Duration = Duration::from_secs(60);
/// Steps executed at once by one process.
const CONCURRENCY: usize = 8;

/// How the runner sends: its share of the configuration.
#[derive(Clone)]
pub struct RunnerSettings {
    /// The base of unsubscribe links (`INLET_PUBLIC_URL`).
    pub public_url: String,
    /// The sender of emails whose template names none (`INLET_EMAIL_FROM`).
    pub from: Mailbox,
    /// When failed steps are tried again, and when their runs fail.
    pub retry: RetryPolicy,
    /// The bounds of each template render (`INLET_TEMPLATE_MAX_BYTES`).
    pub render_limits: RenderLimits,
}

impl RunnerSettings {
    /// The configured settings; `from` is the default sender, parsed once at start
    /// ([`inlet_shared::email::default_sender`]).
    pub fn from_config(config: &Config, from: Mailbox) -> Self {
        Self {
            public_url: config.public_url.clone(),
            from,
            retry: RetryPolicy::from_config(config),
            render_limits: RenderLimits::new(config.template_max_bytes),
        }
    }
}

/// What the runner needs.
pub struct Runner {
    db: DatabaseConnection,
    mailer: Mailer,
    key: UnsubscribeKey,
    public_url: String,
    from: Mailbox,
    retry: RetryPolicy,
    metrics: Arc<Metrics>,
    limits: RenderLimits,
}

impl Runner {
    /// A runner sending through `mailer`, signing unsubscribe links with `key`.
    pub fn new(
        db: DatabaseConnection,
        mailer: Mailer,
        key: UnsubscribeKey,
        metrics: Arc<Metrics>,
        settings: RunnerSettings,
    ) -> Self {
        let RunnerSettings {
            public_url,
            from,
            retry,
            render_limits,
        } = settings;
        Self {
            db,
            mailer,
            key,
            public_url,
            from,
            retry,
            metrics,
            limits: render_limits,
        }
    }
}
