//! The scheduler: claims due runs under a lease token and hands their steps on (to
//! RabbitMQ's step queue, or straight to this process's runner with the embedded queue).

use std::sync::Arc;
use std::time::Duration;

use inlet_shared::queue::{Queue, StepJob};
use inlet_shared::workflows::runs;
use sea_orm::DbErr;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{CONCURRENCY, LEASE, Runner, consumer};

/// How often the scheduler looks for due runs.
const POLL: Duration = Duration::from_millis(200);
/// Runs claimed at a time.
const BATCH: u64 = 64;

impl Runner {
    /// Claims up to `limit` due runs under a fresh lease token.
    pub async fn claim(&self, limit: u64) -> Result<Vec<StepJob>, DbErr> {
        runs::claim(&self.db, limit, LEASE).await
    }

    /// Gives a claimed run back at once (its step could not be queued).
    async fn unclaim_one(&self, job: &StepJob) -> Result<(), DbErr> {
        runs::unclaim(&self.db, job).await?;
        Ok(())
    }
}

/// Runs the scheduler (and, with RabbitMQ, the step consumer) until `shutdown`, then lets
/// in-flight steps finish.
pub async fn run_until_stopped(runner: Arc<Runner>, queue: Queue, shutdown: CancellationToken) {
    tracing::info!(mailer = %runner.mailer.describe(), "Workflow runner started.");
    let consumer = match &queue {
        Queue::Rabbit(rabbit) => Some(tokio::spawn(consumer::consume(
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
