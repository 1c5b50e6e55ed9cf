//! The runner: executes a step while its lease is held (the node a run is at: `walk`),
//! and decides how a failure moves the run on — retried later or failed into the dead
//! letters (the transitions themselves are `workflows::runs`).

use inlet_shared::db::entities::workflow;
use inlet_shared::email::SendError;
use inlet_shared::isolate::isolate;
use inlet_shared::messages::TraceContext;
use inlet_shared::metrics::label;
use inlet_shared::queue::StepJob;
use inlet_shared::telemetry::propagation;
use inlet_shared::workflows::runs::{self, Taken};
use inlet_shared::workflows::sends;
use inlet_shared::{retry, transactional};
use sea_orm::{DbErr, EntityTrait, TransactionTrait};
use tracing::Instrument;

use super::{LEASE, Runner};

impl Runner {
    /// Executes one step if `job` still holds the run's lease.
    #[tracing::instrument(name = "workflow_step", skip_all, fields(run = %job.run_id, step = job.step))]
    pub async fn execute(&self, job: &StepJob) -> Result<(), DbErr> {
        let Some(run) = runs::take(&self.db, job, LEASE).await? else {
            tracing::debug!("Step already taken or done; skipping.");
            return Ok(());
        };
        // A panic while running the step (rendering, building the message) fails this run
        // for good, into the dead letters; the runner and the other runs go on.
        match isolate(self.run_step(&run)).await {
            Ok(result) => result,
            Err(panic) => {
                let queued = sends::of_step(&self.db, &run).await?;
                let error = SendError::Panicked(panic);
                self.fail(&run, queued.as_ref().map(|e| e.id.as_str()), &error)
                    .await
            }
        }
    }

    /// Runs the run's current step (its lease is held).
    async fn run_step(&self, run: &Taken) -> Result<(), DbErr> {
        if run.event_name == transactional::EVENT {
            let span =
                tracing::info_span!("email_send", run = %run.id, transactional = %run.workflow_id);
            propagation::continue_trace(&span, &started_by(run));
            return self.send_transactional(run).instrument(span).await;
        }
        let Some(workflow) = workflow::Entity::find_by_id(run.workflow_id.clone())
            .one(&self.db)
            .await?
        else {
            runs::cancel(&self.db, run, "The workflow was deleted.").await?;
            return Ok(());
        };
        self.walk(run, &workflow).await
    }

    /// A failed step: retried later when transient and attempts remain, otherwise the run
    /// fails into the dead letters. A holder whose lease has gone changes nothing.
    pub(super) async fn fail(
        &self,
        run: &Taken,
        send_id: Option<&str>,
        error: &SendError,
    ) -> Result<(), DbErr> {
        let attempt = runs::attempt(run);
        let reason = error.to_string();
        if error.is_transient() && !self.retry.exhausted(attempt) {
            let delay = retry::jittered(self.retry.delay_after(attempt));
            tracing::warn!(error = %reason, retry_in_ms = delay.as_millis() as u64, "Workflow step failed; retrying later.");
            self.metrics
                .emails
                .get_or_create(&label("outcome", "retried"))
                .inc();
            let txn = self.db.begin().await?;
            if runs::retry_later(&txn, run, &reason, delay).await?
                && let Some(id) = send_id
            {
                sends::retrying(&txn, id, &reason).await?;
            }
            return txn.commit().await;
        }
        let reason = if error.is_transient() {
            format!("gave up after {attempt} attempts: {reason}")
        } else {
            reason
        };
        tracing::error!(error = %reason, "Workflow step failed for good; dead-lettering the run.");
        self.metrics
            .emails
            .get_or_create(&label("outcome", "failed"))
            .inc();
        let txn = self.db.begin().await?;
        if runs::fail(&txn, run, &reason).await?
            && let Some(id) = send_id
        {
            sends::failed(&txn, id, error, &reason).await?;
        }
        txn.commit().await
    }
}

/// The trace context of what started `run`.
pub(super) fn started_by(run: &Taken) -> TraceContext {
    TraceContext {
        traceparent: run.traceparent.clone(),
        tracestate: run.tracestate.clone(),
    }
}
