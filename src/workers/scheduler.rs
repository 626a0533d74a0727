//! Coarse jobs on tokio-cron-scheduler (its half-second tick is fine at this scale): ticket
//! upkeep and scheduled service reports every minute, retention daily, cron checks on their schedules. Every instance runs them; each job's work is claimed through the database,
//! so running it on several instances does it once.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::DurationRound;
use sea_orm::EntityTrait;
use tokio::sync::{Mutex, watch};
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::persistence::entities::check;
use crate::services::checks::runner;

use crate::services::upkeep;
use crate::state::AppState;

pub async fn run_until_stopped(state: AppState, mut stop: watch::Receiver<bool>) {
    let sched = match start(state).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %crate::services::chain(&e), "the job scheduler did not start: automatic resume and close are off");
            return;
        }
    };
    let _ = stop.wait_for(|s| *s).await;
    let mut sched = sched;
    let _ = sched.shutdown().await;
}

async fn start(state: AppState) -> Result<JobScheduler, tokio_cron_scheduler::JobSchedulerError> {
    let sched = JobScheduler::new().await?;
    let for_upkeep = state.clone();
    sched
        .add(Job::new_async("0 * * * * *", move |_, _| {
            let state = for_upkeep.clone();
            Box::pin(async move {
                match upkeep::run_once(&state, state.clock.now()).await {
                    Ok(o) if o.resumed + o.closed > 0 => {
                        tracing::info!(resumed = o.resumed, closed = o.closed, "ticket upkeep")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %crate::services::chain(&e), "ticket upkeep failed"),
                }
            })
        })?)
        .await?;
    let for_reports = state.clone();
    sched
        .add(Job::new_async("30 * * * * *", move |_, _| {
            let state = for_reports.clone();
            Box::pin(async move {
                if let Err(e) = crate::services::reports::run_scheduled(&state, state.clock.now()).await {
                    tracing::error!(error = %crate::services::chain(&e), "scheduled reports failed");
                }
                if let Err(e) = crate::services::reports::run_unacknowledged(&state, state.clock.now()).await {
                    tracing::error!(error = %crate::services::chain(&e), "unanswered reports failed");
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
                    Err(e) => tracing::error!(error = %crate::services::chain(&e), "retention failed"),
                }
            })
        })?)
        .await?;
    let schedule = state.config.settings.inspections.schedule.clone();
    if !schedule.is_empty() {
        let st = state.clone();
        sched
            .add(Job::new_async(schedule.as_str(), move |_, _| {
                let state = st.clone();
                Box::pin(async move {
                    let now = state.clock.now();
                    let fire = now.duration_trunc(chrono::Duration::seconds(1)).unwrap_or(now);
                    match crate::services::checks::inspections::start_scheduled(&state, fire).await {
                        Ok(Some(id)) => tracing::info!(inspection = id, "scheduled inspection started"),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(error = %crate::services::chain(&e), "scheduled inspection failed to start")
                        }
                    }
                })
            })?)
            .await?;
    }
    // Cron checks get a job each; every 30 s the jobs are matched to the checks in the database
    // (added, changed or deleted through the API or by another instance's config).
    let cron = CronJobs::default();
    reconcile(&state, &sched, &cron).await;
    let (again_state, again_cron) = (state.clone(), cron.clone());
    sched
        .add(Job::new_async("*/30 * * * * *", move |_, sched| {
            let (state, cron) = (again_state.clone(), again_cron.clone());
            Box::pin(async move { reconcile(&state, &sched, &cron).await })
        })?)
        .await?;
    sched.start().await?;
    Ok(sched)
}

/// Check id → (its cron schedule, the job running it).
type CronJobs = Arc<Mutex<HashMap<i64, (String, uuid::Uuid)>>>;

async fn reconcile(state: &AppState, sched: &JobScheduler, jobs: &CronJobs) {
    let wanted: HashMap<i64, String> = match check::Entity::find().all(&state.db).await {
        Ok(rows) => {
            rows.iter().filter_map(|r| Some((r.id, crate::services::checks::def_of(r).ok()?.spec.cron?))).collect()
        }
        Err(e) => {
            tracing::error!(error = %crate::services::chain(&e), "cron checks: cannot read checks");
            return;
        }
    };
    let mut jobs = jobs.lock().await;
    let stale: Vec<i64> = jobs.iter().filter(|(id, (c, _))| wanted.get(id) != Some(c)).map(|(id, _)| *id).collect();
    for id in stale {
        if let Some((_, guid)) = jobs.remove(&id) {
            let _ = sched.remove(&guid).await;
        }
    }
    for (id, schedule) in wanted {
        if jobs.contains_key(&id) {
            continue;
        }
        let st = state.clone();
        let job = Job::new_async(schedule.as_str(), move |_, _| {
            let state = st.clone();
            Box::pin(async move {
                let now = state.clock.now();
                let fire = now.duration_trunc(chrono::Duration::seconds(1)).unwrap_or(now);
                if let Err(e) = runner::run_scheduled(&state, id, fire).await {
                    tracing::error!(check = id, error = %crate::services::chain(&e), "cron check failed");
                }
            })
        });
        match job {
            Ok(job) => match sched.add(job).await {
                Ok(guid) => {
                    jobs.insert(id, (schedule, guid));
                }
                Err(e) => tracing::error!(check = id, error = %crate::services::chain(&e), "cron check not scheduled"),
            },
            Err(e) => tracing::error!(check = id, error = %crate::services::chain(&e), "cron check not scheduled"),
        }
    }
}
