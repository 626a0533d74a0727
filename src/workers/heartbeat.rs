//! This instance's heartbeat, every third of `delivery.takeover_secs`: while it beats, nobody
//! takes the outbox rows it holds (`services::instances`). The first beat also takes back, at
//! once, the rows an earlier run under the same `delivery.instance_name` held.

use tokio::sync::watch;

use super::Ticker;
use crate::services::instances;
use crate::state::AppState;

pub async fn run_until_stopped(state: AppState, stop: watch::Receiver<bool>) {
    let takeover_ms = state.config.settings.delivery.takeover_secs.saturating_mul(1000);
    let period = std::time::Duration::from_millis((takeover_ms / 3).max(500));
    let mut ticker = Ticker::new(period, stop);
    let mut first = true;
    while ticker.next().await {
        let now = state.clock.now();
        if std::mem::take(&mut first) {
            match instances::start(&state, now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "deliveries an earlier run of this instance held were taken back"),
                Err(e) => tracing::warn!(error = %crate::services::chain(&e), "the first heartbeat was not written"),
            }
            continue;
        }
        if let Err(e) = instances::beat(&state, now).await {
            tracing::warn!(error = %crate::services::chain(&e), "the heartbeat was not written: others may take this instance's deliveries");
        }
    }
}
