//! The workflow runner.
//!
//! A run's state lives in `workflow_runs` (next step, when it is due); that is what makes a
//! `wait` durable: it is only a later `next_at`, and nothing is held in memory while it lasts.
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

use std::sync::Arc;
use std::time::Duration;

use inlet_shared::db::entities::workflow_run;
use inlet_shared::domain::now_ms;
use inlet_shared::email::{Mailer, RenderLimits, UnsubscribeKey};
use inlet_shared::metrics::Metrics;
use inlet_shared::queue::RetryPolicy;
use lettre::message::Mailbox;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

pub use scheduler::run_until_stopped;

/// How long a claimed step is reserved for its runner (longer than an SMTP timeout).
const LEASE: Duration = Duration::from_secs(60);
/// Steps executed at once by one process.
const CONCURRENCY: usize = 8;

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
    /// A runner sending through `mailer`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: DatabaseConnection,
        mailer: Mailer,
        key: UnsubscribeKey,
        public_url: String,
        from: Mailbox,
        retry: RetryPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            db,
            mailer,
            key,
            public_url,
            from,
            retry,
            metrics,
            limits: RenderLimits::default(),
        }
    }

    /// The bounds of each template render (the default: [`RenderLimits::default`]).
    pub fn with_render_limits(mut self, limits: RenderLimits) -> Self {
        self.limits = limits;
        self
    }
}

/// An update of a run that clears its lease, only while `lease` is still the run's.
fn release_lease(run_id: &str, lease: &str) -> sea_orm::UpdateMany<workflow_run::Entity> {
    workflow_run::Entity::update_many()
        .col_expr(
            workflow_run::Column::LeaseUntil,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            workflow_run::Column::LeaseToken,
            Expr::value(Option::<String>::None),
        )
        .col_expr(workflow_run::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(workflow_run::Column::Id.eq(run_id))
        .filter(workflow_run::Column::LeaseToken.eq(lease))
}
