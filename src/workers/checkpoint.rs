//! SQLite only: the write-ahead log copied back every `persistence::checkpoint::INTERVAL`, on a
//! connection of its own, so that no request waits for it.

use tokio::sync::watch;

use super::Ticker;
use crate::persistence::checkpoint::{Checkpointer, INTERVAL};
use crate::state::AppState;

pub async fn run_until_stopped(state: AppState, stop: watch::Receiver<bool>) {
    let mut checkpointer = match Checkpointer::open(&state.config.settings.database).await {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "no background checkpointer: writers copy the SQLite log back themselves");
            return;
        }
    };
    let mut ticker = Ticker::new(INTERVAL, stop);
    let mut failing = false;
    while ticker.next().await {
        match checkpointer.run().await {
            Ok(_) => failing = false,
            // Said once per run of failures, not four times a second.
            Err(e) if !std::mem::replace(&mut failing, true) => {
                tracing::warn!(error = %e, "the SQLite log was not checkpointed; retrying");
            }
            Err(_) => {}
        }
    }
    checkpointer.close().await;
}
