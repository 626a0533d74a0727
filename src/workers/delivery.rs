//! A delivery loop (an instance runs `delivery.loops` of them): sends due outbox rows, then sleeps
//! until the next one is due (at most a second), woken early by new rows. A loop that claimed a
//! full batch wakes another, so a burst is worked by every loop at once.

use tokio::sync::watch;

use crate::services::delivery;
use crate::state::AppState;

pub async fn run_until_stopped(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let now = state.clock.now();
        let started = std::time::Instant::now();
        let result = delivery::run_once(&state, &state.notifier, now).await;
        if let Ok(o) = &result
            && o.claimed > 0
        {
            tracing::debug!(
                claimed = o.claimed,
                delivered = o.delivered,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "delivery batch"
            );
        }
        match result {
            Ok(o) if o.claimed > 0 => {
                if o.claimed as u64 >= state.config.settings.delivery.batch {
                    state.wake_delivery.notify_one();
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %crate::services::chain(&e), "delivery failed"),
        }
        let next = delivery::next_attempt(&state).await.unwrap_or(None);
        if !super::pause(next, state.clock.now_precise(), 1000, &state.wake_delivery, &mut stop).await {
            return;
        }
    }
}
