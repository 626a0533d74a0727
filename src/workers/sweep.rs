//! A sweep loop (PostgreSQL instances run `sweep.loops` of them): runs a sweep batch, then sleeps
//! until the earliest `next_fire_at` (at most `sweep.max_sleep_ms`), woken early when this
//! instance writes an earlier one, or by a loop that swept a full batch. Not a cron job: its
//! half-second tick is too coarse for deadlines measured in seconds.

use tokio::sync::watch;

use crate::services::escalation::sweep;
use crate::state::AppState;

pub async fn run_until_stopped(state: AppState, mut stop: watch::Receiver<bool>) {
    let batch = state.config.settings.sweep.batch as usize;
    loop {
        if *stop.borrow() {
            return;
        }
        let now = state.clock.now();
        let started = std::time::Instant::now();
        let result = sweep::run_once(&state, now).await;
        if let Ok(o) = &result
            && o.timers > 0
        {
            tracing::debug!(
                timers = o.timers,
                notifications = o.notifications,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "sweep batch"
            );
        }
        match result {
            Ok(o) if o.timers >= batch => {
                // More may be due: another loop joins in.
                state.wake_sweep.notify_one();
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %crate::services::chain(&e), "escalation sweep failed"),
        }
        let next = sweep::next_fire(&state).await.unwrap_or(None);
        if !super::pause(
            next,
            state.clock.now_precise(),
            state.config.settings.sweep.max_sleep_ms,
            &state.wake_sweep,
            &mut stop,
        )
        .await
        {
            return;
        }
    }
}
