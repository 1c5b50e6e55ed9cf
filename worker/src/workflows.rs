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

use std::sync::Arc;
use std::time::Duration;

use inlet_shared::db::entities::{contact, email_send, email_template, workflow, workflow_run};
use inlet_shared::domain::{new_id, now_ms};
use inlet_shared::email::{self, Mailer, Outgoing, RenderLimits, SendError, UnsubscribeKey};
use inlet_shared::isolate::isolate;
use inlet_shared::metrics::{Metrics, label};
use inlet_shared::queue::{Queue, RetryPolicy, StepJob};
use inlet_shared::workflows::{RunStatus, Step, steps_of};
use inlet_shared::{contacts, dead_letters, retry};
use lettre::message::Mailbox;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a claimed step is reserved for its runner (longer than an SMTP timeout).
const LEASE: Duration = Duration::from_secs(60);
/// How often the scheduler looks for due runs.
const POLL: Duration = Duration::from_millis(200);
/// Runs claimed at a time.
const BATCH: u64 = 64;
/// Steps executed at once by one process.
const CONCURRENCY: usize = 8;
/// How long recording a successful send is retried before giving up (the email went out;
/// losing that record would send it again).
const RECORD_PATIENCE: Duration = Duration::from_secs(30);

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

    /// Claims up to `limit` due runs under a fresh lease token.
    pub async fn claim(&self, limit: u64) -> Result<Vec<StepJob>, DbErr> {
        let now = now_ms();
        let due = || {
            Condition::all()
                .add(workflow_run::Column::Status.eq(RunStatus::Pending.as_str()))
                .add(workflow_run::Column::NextAt.lte(now))
                .add(
                    Condition::any()
                        .add(workflow_run::Column::LeaseUntil.is_null())
                        .add(workflow_run::Column::LeaseUntil.lt(now)),
                )
        };
        // Read first, so an idle poll writes nothing.
        let ids: Vec<String> = workflow_run::Entity::find()
            .select_only()
            .column(workflow_run::Column::Id)
            .filter(due())
            .order_by_asc(workflow_run::Column::NextAt)
            .limit(limit)
            .into_tuple()
            .all(&self.db)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        // The due condition is repeated, so two schedulers racing for a run claim it once.
        workflow_run::Entity::update_many()
            .col_expr(
                workflow_run::Column::LeaseUntil,
                Expr::value(now + millis(LEASE)),
            )
            .col_expr(workflow_run::Column::LeaseToken, Expr::value(token.clone()))
            .filter(workflow_run::Column::Id.is_in(ids))
            .filter(due())
            .exec(&self.db)
            .await?;
        let claimed = workflow_run::Entity::find()
            .filter(workflow_run::Column::LeaseToken.eq(token.as_str()))
            .all(&self.db)
            .await?;
        Ok(claimed
            .into_iter()
            .map(|r| StepJob {
                run_id: r.id,
                step: r.step,
                lease: token.clone(),
            })
            .collect())
    }

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
                let error = SendError::Permanent(format!("the step {panic}"));
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
                let error =
                    SendError::Permanent(format!("the workflow's steps cannot be read: {e}"));
                return self.fail(run, None, &error).await;
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

    async fn send(
        &self,
        run: &workflow_run::Model,
        template_id: &str,
        total: usize,
    ) -> Result<(), DbErr> {
        let existing = email_send::Entity::find()
            .filter(email_send::Column::RunId.eq(run.id.as_str()))
            .filter(email_send::Column::Step.eq(run.step))
            .one(&self.db)
            .await?;
        if let Some(done) = existing
            .as_ref()
            .filter(|e| e.status == "sent" || e.status == "skipped")
        {
            tracing::debug!(email = %done.id, "Already {}; moving on.", done.status);
            return self.advance(&self.db, run, total, now_ms()).await;
        }
        let Some(contact) = contact::Entity::find_by_id(run.contact_id.clone())
            .one(&self.db)
            .await?
        else {
            return self
                .stop(
                    &self.db,
                    run,
                    RunStatus::Cancelled,
                    "The contact was deleted.",
                )
                .await;
        };
        let send_id = existing
            .as_ref()
            .map_or_else(|| new_id("em_"), |e| e.id.clone());
        if !contact.subscribed {
            // Recorded, so `GET /api/v1/emails` says why nothing was sent.
            let txn = self.db.begin().await?;
            self.record_send(
                &txn,
                &send_id,
                run,
                template_id,
                &contact.email,
                "",
                "skipped",
                Some("The contact is unsubscribed."),
                existing.as_ref(),
            )
            .await?;
            self.stop(
                &txn,
                run,
                RunStatus::Cancelled,
                "The contact is unsubscribed.",
            )
            .await?;
            txn.commit().await?;
            self.metrics
                .emails
                .get_or_create(&label("outcome", "skipped"))
                .inc();
            return Ok(());
        }
        let Some(template) = email_template::Entity::find_by_id(template_id.to_owned())
            .one(&self.db)
            .await?
        else {
            let error = SendError::Permanent(format!("template {template_id} no longer exists"));
            return self.fail(run, None, &error).await;
        };
        let lists = contacts::lists_of(&self.db, &contact.id).await?;
        let unsubscribe_url = self.key.url(&self.public_url, &contact.id);
        let properties = serde_json::from_str(&run.event_properties)
            .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new()));
        let ctx = email::context(
            &contacts::contact_json(&contact, &lists),
            &run.event_name,
            &properties,
            &unsubscribe_url,
        );
        inlet_shared::isolate::inject(template.subject.as_bytes());
        // A template over its limits (output, fuel, time) fails the run for good, into the
        // dead letters; only a renderer too busy to start is retried.
        let rendered = match email::render(&template, &ctx, self.limits).await {
            Ok(r) => r,
            Err(e) => return self.fail(run, None, &SendError::from(e)).await,
        };
        // Saved templates are checked, but older ones were not: a sender lettre cannot
        // write fails the run rather than the process.
        let from = match &template.from_email {
            Some(address) => match email::sender(template.from_name.as_deref(), address) {
                Ok(from) => from,
                Err(e) => {
                    let error =
                        SendError::Permanent(format!("template {template_id}: {} {e}", e.field()));
                    return self.fail(run, None, &error).await;
                }
            },
            None => self.from.clone(),
        };
        self.record_send(
            &self.db,
            &send_id,
            run,
            template_id,
            &contact.email,
            &rendered.subject,
            "queued",
            None,
            existing.as_ref(),
        )
        .await?;
        let outgoing = Outgoing {
            from,
            to: &contact.email,
            rendered: &rendered,
            unsubscribe_url: &unsubscribe_url,
            message_id: format!("<{send_id}@inlet>"),
        };
        let result = match email::build(&outgoing) {
            Ok(message) => self.mailer.send(message).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                // The email is out: recording that must not be lost to a brief outage.
                retry::retry_transient(RECORD_PATIENCE, inlet_shared::db::is_transient, || {
                    self.mark_sent(run, &send_id, total)
                })
                .await?;
                self.metrics
                    .emails
                    .get_or_create(&label("outcome", "sent"))
                    .inc();
                tracing::info!(email = %send_id, "Email sent.");
                Ok(())
            }
            Err(e) => self.fail(run, Some(&send_id), &e).await,
        }
    }

    async fn mark_sent(
        &self,
        run: &workflow_run::Model,
        send_id: &str,
        total: usize,
    ) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        email_send::Entity::update_many()
            .col_expr(email_send::Column::Status, Expr::value("sent"))
            .col_expr(email_send::Column::SentAt, Expr::value(now_ms()))
            .col_expr(
                email_send::Column::Error,
                Expr::value(Option::<String>::None),
            )
            .filter(email_send::Column::Id.eq(send_id))
            .exec(&txn)
            .await?;
        self.advance(&txn, run, total, now_ms()).await?;
        txn.commit().await
    }

    /// Inserts or refreshes the (run, step) send row.
    #[allow(clippy::too_many_arguments)]
    async fn record_send<C: ConnectionTrait>(
        &self,
        db: &C,
        send_id: &str,
        run: &workflow_run::Model,
        template_id: &str,
        to: &str,
        subject: &str,
        status: &str,
        error: Option<&str>,
        existing: Option<&email_send::Model>,
    ) -> Result<(), DbErr> {
        let attempts = existing.map_or(0, |e| e.attempts) + i32::from(status == "queued");
        match existing {
            Some(_) => {
                email_send::Entity::update_many()
                    .col_expr(email_send::Column::Status, Expr::value(status))
                    .col_expr(email_send::Column::Subject, Expr::value(subject))
                    .col_expr(email_send::Column::ToEmail, Expr::value(to))
                    .col_expr(email_send::Column::Attempts, Expr::value(attempts))
                    .col_expr(
                        email_send::Column::Error,
                        Expr::value(error.map(str::to_owned)),
                    )
                    .filter(email_send::Column::Id.eq(send_id))
                    .exec(db)
                    .await?;
            }
            None => {
                email_send::Entity::insert(email_send::ActiveModel {
                    id: Set(send_id.to_owned()),
                    run_id: Set(run.id.clone()),
                    step: Set(run.step),
                    workflow_id: Set(run.workflow_id.clone()),
                    template_id: Set(template_id.to_owned()),
                    contact_id: Set(run.contact_id.clone()),
                    to_email: Set(to.to_owned()),
                    subject: Set(subject.to_owned()),
                    status: Set(status.to_owned()),
                    error: Set(error.map(str::to_owned)),
                    attempts: Set(attempts),
                    created_at: Set(now_ms()),
                    sent_at: Set(None),
                })
                .exec_without_returning(db)
                .await?;
            }
        }
        Ok(())
    }

    /// Moves the run past its current step (to `next_at`), or completes it.
    async fn advance<C: ConnectionTrait>(
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
    async fn stop<C: ConnectionTrait>(
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
    async fn fail(
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
                .col_expr(email_send::Column::Status, Expr::value("failed"))
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

/// Runs the scheduler (and, with RabbitMQ, the step consumer) until `shutdown`, then lets
/// in-flight steps finish.
pub async fn run_until_stopped(runner: Arc<Runner>, queue: Queue, shutdown: CancellationToken) {
    tracing::info!(mailer = %runner.mailer.describe(), "Workflow runner started.");
    let consumer = match &queue {
        Queue::Rabbit(rabbit) => Some(tokio::spawn(consume(
            runner.clone(),
            rabbit.clone(),
            shutdown.clone(),
        ))),
        Queue::Embedded(_) => None,
    };
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut local = JoinSet::new();
    while !shutdown.is_cancelled() {
        while local.try_join_next().is_some() {}
        let jobs = match runner.claim(BATCH).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot look for due workflow steps.");
                Vec::new()
            }
        };
        let full = jobs.len() as u64 == BATCH;
        match &queue {
            Queue::Rabbit(rabbit) => {
                for (i, job) in jobs.iter().enumerate() {
                    if let Err(e) = rabbit.publish_job(job).await {
                        tracing::warn!(error = %e, "Cannot queue workflow steps; trying again shortly.");
                        // Those not queued are given back at once; queued ones run.
                        for rest in jobs.iter().skip(i) {
                            if let Err(e) = runner.unclaim_one(rest).await {
                                tracing::debug!(error = %e, "Could not give a step back; its lease will expire.");
                            }
                        }
                        break;
                    }
                }
            }
            Queue::Embedded(_) => {
                for job in jobs {
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        break;
                    };
                    let runner = runner.clone();
                    local.spawn(async move {
                        if let Err(e) = runner.execute(&job).await {
                            tracing::warn!(error = %e, run = %job.run_id, "Workflow step failed on the database; its lease will expire and it runs again.");
                        }
                        drop(permit);
                    });
                }
            }
        }
        if !full {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
    while local.join_next().await.is_some() {}
    if let Some(consumer) = consumer {
        let _ = consumer.await;
    }
    tracing::info!("Workflow runner stopped.");
}

impl Runner {
    /// Gives a claimed run back at once (its step could not be queued).
    async fn unclaim_one(&self, job: &StepJob) -> Result<(), DbErr> {
        release_lease(&job.run_id, &job.lease)
            .exec(&self.db)
            .await?;
        Ok(())
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

/// Consumes `inlet.workflows`: executes each step, then acknowledges it (the outcome is in
/// the database either way; a step whose database write failed is re-queued by a
/// scheduler when its lease expires).
async fn consume(
    runner: Arc<Runner>,
    rabbit: Arc<inlet_shared::queue::rabbitmq::RabbitQueue>,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = JoinSet::new();
    let mut failures: u32 = 0;
    let mut stopping = None;
    'connect: while !shutdown.is_cancelled() {
        let mut consumer = tokio::select! {
            () = shutdown.cancelled() => break,
            c = rabbit.consume_jobs(u16::try_from(CONCURRENCY).unwrap_or(8)) => match c {
                Ok(c) => { failures = 0; c }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let delay = Duration::from_millis(250u64.saturating_mul(1 << failures.min(5)));
                    tracing::warn!(error = %e, "Cannot consume workflow steps; retrying.");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(delay) => continue,
                    }
                }
            },
        };
        loop {
            while tasks.try_join_next().is_some() {}
            let permit = tokio::select! {
                () = shutdown.cancelled() => { stopping = Some(consumer); break 'connect }
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break 'connect },
            };
            let next = tokio::select! {
                () = shutdown.cancelled() => { stopping = Some(consumer); break 'connect }
                next = consumer.next() => next,
            };
            match next {
                Some(Ok(delivery)) => {
                    let runner = runner.clone();
                    tasks.spawn(async move {
                        if let Err(e) = runner.execute(&delivery.job).await {
                            tracing::warn!(error = %e, run = %delivery.job.run_id, "Workflow step failed on the database; its lease will expire and it runs again.");
                        }
                        if let Err(e) = delivery.ack().await {
                            tracing::debug!(error = %e, "Could not acknowledge a workflow step; it comes again and is skipped.");
                        }
                        drop(permit);
                    });
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "Workflow step consumer failed; reconnecting.");
                    continue 'connect;
                }
                None => continue 'connect,
            }
        }
    }
    // Acknowledge in-flight steps before the channel closes.
    while tasks.join_next().await.is_some() {}
    if let Some(consumer) = stopping {
        consumer.close().await;
    }
}
