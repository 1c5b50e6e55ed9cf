//! The runner: executes a step while its lease is held, and moves the run on — advanced,
//! stopped, retried later or failed into the dead letters.

use inlet_shared::db::entities::email_send::EmailStatus;
use inlet_shared::db::entities::{email_send, workflow, workflow_run};
use inlet_shared::domain::now_ms;
use inlet_shared::email::SendError;
use inlet_shared::isolate::isolate;
use inlet_shared::metrics::label;
use inlet_shared::queue::StepJob;
use inlet_shared::workflows::{RunStatus, Step, steps_of};
use inlet_shared::{dead_letters, retry};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, TransactionTrait};

use super::{LEASE, Runner, millis, release_lease};

impl Runner {
    /// Executes one step if `job` still holds the run's lease.
    #[tracing::instrument(name = "workflow_step", skip_all, fields(run = %job.run_id, step = job.step))]
    pub async fn execute(&self, job: &StepJob) -> Result<(), DbErr> {
        // Take the step: renewing the lease succeeds only for its current holder.
        let taken = workflow_run::Entity::update_many()
            .col_expr(
                workflow_run::Column::LeaseUntil,
                Expr::value(now_ms() + millis(LEASE)),
            )
            .filter(workflow_run::Column::Id.eq(job.run_id.as_str()))
            .filter(workflow_run::Column::LeaseToken.eq(job.lease.as_str()))
            .filter(workflow_run::Column::Step.eq(job.step))
            .filter(workflow_run::Column::Status.eq(RunStatus::Pending.as_str()))
            .exec(&self.db)
            .await?;
        if taken.rows_affected == 0 {
            tracing::debug!("Step already taken or done; skipping.");
            return Ok(());
        }
        let Some(run) = workflow_run::Entity::find_by_id(job.run_id.clone())
            .one(&self.db)
            .await?
        else {
            return Ok(());
        };
        // A panic while running the step (rendering, building the message) fails this run
        // for good, into the dead letters; the runner and the other runs go on.
        match isolate(self.run_step(&run)).await {
            Ok(result) => result,
            Err(panic) => {
                let queued = email_send::Entity::find()
                    .filter(email_send::Column::RunId.eq(run.id.as_str()))
                    .filter(email_send::Column::Step.eq(run.step))
                    .one(&self.db)
                    .await?;
                let error = SendError::Panicked(panic);
                self.fail(&run, queued.as_ref().map(|e| e.id.as_str()), &error)
                    .await
            }
        }
    }

    /// Runs the run's current step (its lease is held).
    async fn run_step(&self, run: &workflow_run::Model) -> Result<(), DbErr> {
        let Some(workflow) = workflow::Entity::find_by_id(run.workflow_id.clone())
            .one(&self.db)
            .await?
        else {
            return self
                .stop(
                    &self.db,
                    run,
                    RunStatus::Cancelled,
                    "The workflow was deleted.",
                )
                .await;
        };
        let steps = match steps_of(&workflow) {
            Ok(steps) => steps,
            Err(e) => {
                return self.fail(run, None, &SendError::Steps(e)).await;
            }
        };
        let index = usize::try_from(run.step).unwrap_or(usize::MAX);
        match steps.get(index) {
            None => self.stop(&self.db, run, RunStatus::Completed, "").await,
            Some(Step::Wait { seconds }) => {
                let wait = i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
                self.advance(&self.db, run, steps.len(), now_ms().saturating_add(wait))
                    .await
            }
            Some(Step::SendEmail { template_id }) => self.send(run, template_id, steps.len()).await,
        }
    }

    /// Moves the run past its current step (to `next_at`), or completes it.
    pub(super) async fn advance<C: ConnectionTrait>(
        &self,
        db: &C,
        run: &workflow_run::Model,
        total: usize,
        next_at: i64,
    ) -> Result<(), DbErr> {
        let next = run.step.saturating_add(1);
        let done = usize::try_from(next).unwrap_or(usize::MAX) >= total;
        let status = if done {
            RunStatus::Completed
        } else {
            RunStatus::Pending
        };
        self.release(run)
            .col_expr(workflow_run::Column::Step, Expr::value(next))
            .col_expr(workflow_run::Column::Status, Expr::value(status.as_str()))
            .col_expr(workflow_run::Column::NextAt, Expr::value(next_at))
            .col_expr(workflow_run::Column::Attempts, Expr::value(0))
            .col_expr(
                workflow_run::Column::FirstFailedAt,
                Expr::value(Option::<i64>::None),
            )
            .col_expr(
                workflow_run::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .exec(db)
            .await?;
        Ok(())
    }

    /// Ends the run (completed or cancelled) with a reason.
    pub(super) async fn stop<C: ConnectionTrait>(
        &self,
        db: &C,
        run: &workflow_run::Model,
        status: RunStatus,
        reason: &str,
    ) -> Result<(), DbErr> {
        if !reason.is_empty() {
            tracing::info!(reason, "Workflow run {}.", status.as_str());
        }
        self.release(run)
            .col_expr(workflow_run::Column::Status, Expr::value(status.as_str()))
            .col_expr(
                workflow_run::Column::LastError,
                Expr::value((!reason.is_empty()).then(|| reason.to_owned())),
            )
            .exec(db)
            .await?;
        Ok(())
    }

    /// An update of the run that clears its lease, guarded by the lease token.
    fn release(&self, run: &workflow_run::Model) -> sea_orm::UpdateMany<workflow_run::Entity> {
        // A run is only changed by the holder of its lease (no lease: nothing matches).
        release_lease(&run.id, run.lease_token.as_deref().unwrap_or_default())
    }

    /// A failed step: retried later when transient and attempts remain, otherwise the run
    /// fails into the dead letters.
    pub(super) async fn fail(
        &self,
        run: &workflow_run::Model,
        send_id: Option<&str>,
        error: &SendError,
    ) -> Result<(), DbErr> {
        let now = now_ms();
        let attempts = run.attempts.saturating_add(1);
        let first_failed = run.first_failed_at.unwrap_or(now);
        let reason = error.to_string();
        let attempt = u32::try_from(attempts).unwrap_or(u32::MAX);
        if error.is_transient() && !self.retry.exhausted(attempt) {
            let delay = retry::jittered(self.retry.delay_after(attempt));
            tracing::warn!(error = %reason, retry_in_ms = delay.as_millis() as u64, "Workflow step failed; retrying later.");
            self.metrics
                .emails
                .get_or_create(&label("outcome", "retried"))
                .inc();
            let txn = self.db.begin().await?;
            self.release(run)
                .col_expr(workflow_run::Column::Attempts, Expr::value(attempts))
                .col_expr(
                    workflow_run::Column::FirstFailedAt,
                    Expr::value(first_failed),
                )
                .col_expr(workflow_run::Column::LastError, Expr::value(reason.clone()))
                .col_expr(
                    workflow_run::Column::NextAt,
                    Expr::value(now + millis(delay)),
                )
                .exec(&txn)
                .await?;
            if let Some(id) = send_id {
                email_send::Entity::update_many()
                    .col_expr(email_send::Column::Error, Expr::value(reason))
                    .filter(email_send::Column::Id.eq(id))
                    .exec(&txn)
                    .await?;
            }
            return txn.commit().await;
        }
        let reason = if error.is_transient() {
            format!("gave up after {attempts} attempts: {reason}")
        } else {
            reason
        };
        tracing::error!(error = %reason, "Workflow step failed for good; dead-lettering the run.");
        self.metrics
            .emails
            .get_or_create(&label("outcome", "failed"))
            .inc();
        let txn = self.db.begin().await?;
        self.release(run)
            .col_expr(
                workflow_run::Column::Status,
                Expr::value(RunStatus::Failed.as_str()),
            )
            .col_expr(workflow_run::Column::Attempts, Expr::value(attempts))
            .col_expr(
                workflow_run::Column::FirstFailedAt,
                Expr::value(first_failed),
            )
            .col_expr(workflow_run::Column::LastError, Expr::value(reason.clone()))
            .exec(&txn)
            .await?;
        if let Some(id) = send_id {
            email_send::Entity::update_many()
                .col_expr(
                    email_send::Column::Status,
                    Expr::value(EmailStatus::Failed.as_str()),
                )
                .col_expr(email_send::Column::Error, Expr::value(reason.clone()))
                .filter(email_send::Column::Id.eq(id))
                .exec(&txn)
                .await?;
        }
        let failed = workflow_run::Model {
            first_failed_at: Some(first_failed),
            ..run.clone()
        };
        dead_letters::store_run(&txn, &failed, &reason, attempts).await?;
        txn.commit().await
    }
}
