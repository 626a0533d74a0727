//! Coarse jobs on tokio-cron-scheduler (its half-second tick is fine at this scale): ticket
//! upkeep every minute, retention daily. Every instance runs them; each job's work is claimed through the database,
//! so running it on several instances does it once.

use tokio::sync::watch;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::services::maintenance;
use crate::state::AppState;

pub async fn run_until_stopped(state: AppState, mut stop: watch::Receiver<bool>) {
    let sched = match start(state).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "the job scheduler did not start: automatic resume and close are off");
            return;
        }
    };
    let _ = stop.wait_for(|s| *s).await;
    let mut sched = sched;
    let _ = sched.shutdown().await;
}

async fn start(state: AppState) -> Result<JobScheduler, tokio_cron_scheduler::JobSchedulerError> {
    let sched = JobScheduler::new().await?;
    let upkeep = state.clone();
    sched
        .add(Job::new_async("0 * * * * *", move |_, _| {
            let state = upkeep.clone();
            Box::pin(async move {
                match maintenance::run_once(&state, state.clock.now()).await {
                    Ok(o) if o.resumed + o.closed > 0 => {
                        tracing::info!(resumed = o.resumed, closed = o.closed, "ticket upkeep")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "ticket upkeep failed"),
                }
            })
        })?)
        .await?;
    let retention = state.clone();
    // Daily at 03:17 UTC, away from the hour when other jobs tend to run.
    sched
        .add(Job::new_async("0 17 3 * * *", move |_, _| {
            let state = retention.clone();
            Box::pin(async move {
                match crate::services::checks::rollup::purge(&state, state.clock.now()).await {
                    Ok(p) => tracing::info!(
                        check_results = p.check_results,
                        rollups = p.rollups,
                        notifications = p.notifications,
                        "retention: old rows deleted"
                    ),
                    Err(e) => tracing::error!(error = %e, "retention failed"),
                }
            })
        })?)
        .await?;
    sched.start().await?;
    Ok(sched)
}
