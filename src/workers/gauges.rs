//! Refreshes the database gauges every `metrics.refresh_secs`, on every instance: only the lease
//! holder computes them, the others re-read what it stored. Runs whether or not this instance
//! runs the other workers, so that every instance's `/metrics` is current; the same tick lets the
//! rate limiters forget idle addresses.

use tokio::sync::watch;

use super::Ticker;
use crate::services::gauges;
use crate::state::AppState;

pub async fn run_until_stopped(state: AppState, stop: watch::Receiver<bool>) {
    let period = std::time::Duration::from_secs(state.config.settings.metrics.refresh_secs.max(1));
    let mut ticker = Ticker::new(period, stop);
    while ticker.next().await {
        // The rate limiters forget addresses whose budgets are full again, bounding their memory.
        state.limits.forget_idle();
        if let Err(e) = gauges::refresh(&state, state.clock.now()).await {
            tracing::warn!(error = %crate::services::chain(&e), "metrics: the database gauges were not refreshed");
        }
    }
}
