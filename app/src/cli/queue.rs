//! `policy-service queue stats` and `queue failed list|retry|forget`.
//!
//! A retried job goes back to its tenant's Redis queue under its own id, its tries counted from
//! zero. Without Redis there is no queue to put it in (jobs live in `serve`'s memory), so it runs
//! here, once, now; the row goes only when it succeeded.

use clap::Subcommand;

use super::Output;
use crate::{
    platform::error::{Error, Result},
    platform::queue::{self, FailedJob, Job, Priority},
    state::AppState,
};

#[derive(Subcommand)]
pub enum QueueCommand {
    /// Jobs waiting per tenant and queue (ready, delayed, reserved), and failed jobs.
    Stats {
        #[arg(long, value_enum, default_value_t)]
        output: Output,
    },
    /// Jobs that used up their tries.
    #[command(subcommand)]
    Failed(FailedCommand),
}

#[derive(Subcommand)]
pub enum FailedCommand {
    /// The newest failed jobs.
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue a failed job again (or every one, with --all), and forget it.
    Retry {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Delete a failed job.
    Forget { id: String },
}

pub async fn run(state: &AppState, command: QueueCommand) -> Result<()> {
    let landlord = state.tenancy.landlord();
    match command {
        QueueCommand::Stats { output } => stats(state, output).await,
        QueueCommand::Failed(FailedCommand::List { limit }) => {
            println!(
                "{:<36} {:<16} {:<18} {:>8}  {:<24} ERROR",
                "ID", "TENANT", "TYPE", "ATTEMPTS", "FAILED AT"
            );
            for f in queue::failed::list(landlord, limit).await? {
                let at = chrono::DateTime::from_timestamp_millis(f.failed_at)
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_default();
                let error = f.error.lines().next().unwrap_or_default();
                println!(
                    "{:<36} {:<16} {:<18} {:>8}  {:<24} {error}",
                    f.id, f.tenant, f.job_type, f.attempts, at
                );
            }
            Ok(())
        }
        QueueCommand::Failed(FailedCommand::Retry { id: Some(id), .. }) => {
            let failed = queue::failed::get(landlord, &id)
                .await?
                .ok_or(Error::NotFound("failed job"))?;
            retry(state, &failed).await
        }
        QueueCommand::Failed(FailedCommand::Retry { id: None, .. }) => {
            let all = queue::failed::list(landlord, u32::MAX).await?;
            let mut refused = 0;
            for failed in &all {
                if let Err(e) = retry(state, failed).await {
                    refused += 1;
                    println!("FAILED  {}: {e}", failed.id);
                }
            }
            println!(
                "retried {} of {} failed job(s)",
                all.len() - refused,
                all.len()
            );
            if refused > 0 {
                return Err(Error::Unavailable(format!("{refused} job(s) not retried")));
            }
            Ok(())
        }
        QueueCommand::Failed(FailedCommand::Forget { id }) => {
            if !queue::failed::forget(landlord, &id).await? {
                return Err(Error::NotFound("failed job"));
            }
            println!("forgot {id}");
            Ok(())
        }
    }
}

async fn retry(state: &AppState, failed: &FailedJob) -> Result<()> {
    let job: Job = serde_json::from_str(&failed.payload).map_err(|e| {
        Error::Internal(format!(
            "job {} cannot be read ({e}); `queue failed forget` it",
            failed.id
        ))
    })?;
    match state.jobs.redis() {
        Some(redis) => {
            let kv = redis.kv();
            if !kv.wait_up(std::time::Duration::from_secs(5)).await {
                return Err(Error::Unavailable("Redis is unreachable".into()));
            }
            redis
                .push(&job.tenant, std::slice::from_ref(&job), 0)
                .await?;
            println!("queued {} ({}) again", job.id, job.task.kind);
        }
        None => {
            queue::run_now(&state.runner(), &job).await?;
            println!("ran {} ({}): done", job.id, job.task.kind);
        }
    }
    queue::failed::forget(state.tenancy.landlord(), &failed.id).await?;
    Ok(())
}

async fn stats(state: &AppState, output: Output) -> Result<()> {
    let failed = queue::failed::count(state.tenancy.landlord()).await?;
    let mut queues = Vec::new();
    if let Some(redis) = state.jobs.redis() {
        if !redis.kv().wait_up(std::time::Duration::from_secs(5)).await {
            return Err(Error::Unavailable("Redis is unreachable".into()));
        }
        for tenant in state.tenancy.list().await? {
            let depths = redis.depth(&tenant.slug).await?;
            for (p, d) in Priority::ALL.iter().zip(depths) {
                queues.push((
                    tenant.slug.clone(),
                    p.as_str(),
                    d.ready,
                    d.delayed,
                    d.reserved,
                ));
            }
        }
    }
    let redis = state.jobs.redis().is_some();
    if output == Output::Json {
        let queues: Vec<_> = queues
            .iter()
            .map(|(tenant, queue, ready, delayed, reserved)| {
                serde_json::json!({ "tenant": tenant, "queue": queue, "ready": ready,
                    "delayed": delayed, "reserved": reserved })
            })
            .collect();
        let out = serde_json::json!({ "redis": redis, "queues": queues, "failed": failed });
        println!("{out}");
        return Ok(());
    }
    if !redis {
        println!("no REDIS_URL: `serve` runs jobs in its own memory; nothing is queued here");
    } else {
        println!(
            "{:<24} {:<8} {:>8} {:>8} {:>8}",
            "TENANT", "QUEUE", "READY", "DELAYED", "RESERVED"
        );
        for (tenant, queue, ready, delayed, reserved) in &queues {
            println!("{tenant:<24} {queue:<8} {ready:>8} {delayed:>8} {reserved:>8}");
        }
    }
    println!("failed jobs: {failed}");
    Ok(())
}
