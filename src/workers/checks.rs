//! The check runner loop: runs a batch of due interval checks, then sleeps until the next one is
//! due (at most a second), woken early when a check is added, changed or beats.

use tokio::sync::watch;

use crate::services::checks::runner;
use crate::state::AppState;

pub async fn run_until_stopped(state: AppState, mut stop: watch::Receiver<bool>) {
    let batch = state.config.settings.checks.batch as usize;
    loop {
        if *stop.borrow() {
            return;
        }
        match runner::run_once(&state, state.clock.now()).await {
            Ok(o) if o.ran >= batch => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "check run failed"),
        }
        let next = runner::next_run_at(&state.db).await.unwrap_or(None);
        if !super::pause(next, state.clock.now_precise(), 1000, &state.wake_checks, &mut stop).await {
            return;
        }
    }
}
