//! The in-process queue of the embedded default (no Redis): `serve` runs jobs in a background
//! task, `high` ones first, retried with the same backoff as the worker's and then kept in
//! `failed_jobs`. The same job asked for twice while it waits runs once (the unique key).

use std::{
    hash::{Hash, Hasher},
    time::Duration,
};

use tokio::task::JoinHandle;

use super::{
    FailedJob, bury,
    job::{Job, Priority},
    run::{self, Next, Runner, run},
};
use crate::platform::backlog::Backlog;

/// A job and the tries it has had; the same as another for the same tenant, unique key and
/// tries (the same job asked for twice while it waits runs once).
struct Waiting {
    job: Job,
    attempts: u32,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        (&self.job.tenant, &self.job.task.unique, self.attempts)
            == (&other.job.tenant, &other.job.task.unique, other.attempts)
    }
}

impl Eq for Waiting {}

impl Hash for Waiting {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (&self.job.tenant, &self.job.task.unique, self.attempts).hash(state);
    }
}

#[derive(Default)]
pub struct Local {
    waiting: Backlog<Waiting>,
}

impl Local {
    pub fn add(&self, job: Job, attempts: u32) {
        self.waiting.add(Waiting { job, attempts });
    }

    pub async fn settled(&self, within: Duration) -> bool {
        self.waiting.settled(within).await
    }
}

/// Runs the process's jobs until it stops; nothing to run when jobs go to Redis.
pub fn spawn(runner: Runner) -> Option<JoinHandle<()>> {
    let state = runner.platform.clone();
    run::describe(&runner.kinds);
    state.jobs.redis().is_none().then(|| {
        tokio::spawn(async move {
            let super::Backend::Local(local) = &state.jobs.backend else {
                return;
            };
            loop {
                let mut batch = local.waiting.take().await;
                batch
                    .items
                    .sort_by_key(|w| w.job.task.priority != Priority::High);
                for Waiting { job, attempts } in batch.items.drain(..) {
                    let attempt = attempts + 1;
                    match run(&runner, &job, attempt, "local").await {
                        Next::Done | Next::Drop(_) => {}
                        Next::Retry(wait) => {
                            let state = state.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(wait).await;
                                if let super::Backend::Local(local) = &state.jobs.backend {
                                    local.add(job, attempt);
                                }
                            });
                        }
                        Next::Bury(error) => {
                            let failed = FailedJob::new(
                                &job.id,
                                &job.tenant,
                                &job.task.kind,
                                job.task.priority.as_str(),
                                &job.to_json(),
                                &error,
                                attempt,
                            );
                            if let Err(e) = bury(state.tenancy.landlord(), &failed).await {
                                tracing::error!(job_id = %job.id, error = %e, "failed job not recorded");
                            }
                        }
                    }
                }
            }
        })
    })
}
