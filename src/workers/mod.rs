//! Background work: the escalation sweep, the delivery of the outbox and the check runner (loops), and coarse
//! scheduled jobs (tokio-cron-scheduler). Each is a thin loop
//! around a `run_once(&state, now)` that tests call directly; the loops only decide when to run
//! it next.

mod checkpoint;
mod checks;
mod delivery;
mod gauges;
mod heartbeat;
mod scheduler;
mod sweep;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::AppState;

pub struct Workers {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

/// The loops of `workers.enabled`: sweep, delivery, checks and the scheduled jobs.
pub fn spawn(state: AppState) -> Workers {
    let (stop, rx) = watch::channel(false);
    let sweeps =
        if state.backend() == sea_orm::DatabaseBackend::Postgres { state.config.settings.sweep.loops } else { 1 };
    let mut handles = Vec::new();
    for _ in 0..sweeps.max(1) {
        handles.push(tokio::spawn(sweep::run_until_stopped(state.clone(), rx.clone())));
    }
    for _ in 0..state.config.settings.delivery.loops.max(1) {
        handles.push(tokio::spawn(delivery::run_until_stopped(state.clone(), rx.clone())));
    }
    handles.push(tokio::spawn(checks::run_until_stopped(state.clone(), rx.clone())));
    handles.push(tokio::spawn(heartbeat::run_until_stopped(state.clone(), rx.clone())));
    handles.push(tokio::spawn(scheduler::run_until_stopped(state.clone(), rx)));
    // Tickets opened before the search index existed are indexed once, in the background.
    handles.push(tokio::spawn(async move {
        if let Err(e) = crate::services::search::backfill(&state, state.clock.now()).await {
            tracing::error!(error = %e, "search index: indexing older tickets failed; it is tried again at the next start");
        }
    }));
    Workers { stop, handles }
}

/// What every instance runs, workers or not: the gauge refresh, on SQLite the checkpointer, and
/// the first build of the similarity index.
pub fn spawn_always(state: AppState) -> Workers {
    let (stop, rx) = watch::channel(false);
    let warm = state.clone();
    let handles = vec![
        tokio::spawn(checkpoint::run_until_stopped(state.clone(), rx.clone())),
        tokio::spawn(gauges::run_until_stopped(state, rx)),
        // The similarity index is built at start, so that the first suggestion is not the one
        // that waits for it (each search still reads on what was written since).
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match warm.similar.current(&warm.db).await {
                Ok((_, read)) => {
                    tracing::info!(
                        documents = read,
                        ms = started.elapsed().as_millis() as u64,
                        "similarity index built"
                    )
                }
                Err(e) => {
                    tracing::warn!(error = %e, "similarity index: building it at start failed; the first search builds it")
                }
            }
        }),
    ];
    Workers { stop, handles }
}

impl Workers {
    /// Asks every loop to stop after its current unit of work, and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            let _ = h.await;
        }
    }
}

/// A steady tick until asked to stop; a late tick delays the next rather than bunching them up.
struct Ticker {
    tick: tokio::time::Interval,
    stop: watch::Receiver<bool>,
}

impl Ticker {
    fn new(period: std::time::Duration, stop: watch::Receiver<bool>) -> Self {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { tick, stop }
    }

    /// Waits for the next tick (the first comes at once); false once asked to stop.
    async fn next(&mut self) -> bool {
        loop {
            tokio::select! {
                _ = self.tick.tick() => return true,
                _ = self.stop.changed() => if *self.stop.borrow() { return false },
            }
        }
    }
}

/// Sleeps until `until` (at most `cap`), or until woken, or until asked to stop; returns false
/// when asked to stop.
async fn pause(
    until: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
    cap_ms: u64,
    wake: &tokio::sync::Notify,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let cap = std::time::Duration::from_millis(cap_ms);
    let wait = match until {
        Some(t) if t > now => (t - now).to_std().unwrap_or(cap).min(cap),
        Some(_) => std::time::Duration::from_millis(20),
        None => cap,
    };
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = wake.notified() => true,
        _ = stop.changed() => !*stop.borrow(),
    }
}
