//! The check runner: a loop that claims due interval checks and starts each probe as its own task
//! (at most `checks.concurrency` at once), so that a slow target never delays another check's
//! start; and a recorder that writes finished probes in batches (every 50 ms or 500 results).
//! The loop sleeps until the next check is due (at most a second), woken early when a check is
//! added, changed or beats.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};

use crate::services::checks::runner::{self, Probed};
use crate::state::AppState;

const FLUSH_EVERY: Duration = Duration::from_millis(50);
const FLUSH_AT: usize = 500;

pub async fn run_until_stopped(state: AppState, mut stop: watch::Receiver<bool>) {
    let (tx, rx) = mpsc::channel::<Probed>(4096);
    let recorder = tokio::spawn(record(state.clone(), rx));
    let slots = Arc::new(Semaphore::new(state.config.settings.checks.concurrency.max(1) as usize));
    let batch = state.config.settings.checks.batch as usize;
    loop {
        if *stop.borrow() {
            break;
        }
        // Checks are not SLA deadlines: they run on their own sub-second grid.
        let now = state.clock.now_precise();
        let claimed = match runner::claim(&state, now).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %crate::services::chain(&e), "claiming checks failed");
                Vec::new()
            }
        };
        let full = claimed.len() >= batch;
        for row in claimed {
            let Ok(slot) = slots.clone().acquire_owned().await else { break };
            let (state, tx) = (state.clone(), tx.clone());
            tokio::spawn(async move {
                if let Some(p) = runner::probe_claimed(&state, row, now).await {
                    let _ = tx.send(p).await;
                }
                drop(slot);
            });
        }
        if full {
            continue;
        }
        let next = runner::next_run_at(&state.db, state.clock.now_precise()).await.unwrap_or(None);
        if !super::pause(next, state.clock.now_precise(), 1000, &state.wake_checks, &mut stop).await {
            break;
        }
    }
    // Probes in flight finish and are recorded before the recorder ends.
    drop(tx);
    let _ = recorder.await;
}

async fn record(state: AppState, mut rx: mpsc::Receiver<Probed>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while batch.len() < FLUSH_AT {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(p)) => batch.push(p),
                Ok(None) | Err(_) => break,
            }
        }
        let n = batch.len();
        match runner::record_batch(&state, batch).await {
            // The checks are free again with their next runs set: the loop may sleep differently.
            Ok(_) => state.wake_checks.notify_one(),
            // The claims run out after checks.lease_secs and the checks run again.
            Err(e) => {
                tracing::error!(error = %crate::services::chain(&e), results = n, "recording check results failed")
            }
        }
    }
}
