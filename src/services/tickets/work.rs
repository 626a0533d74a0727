//! One unit of ticket work: the transaction, the facts counted into the metrics once it commits,
//! and whether the sweep and delivery loops need waking afterwards. Opening a ticket and changing
//! one both run inside a `Work`, so they end the same way.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseTransaction, TransactionTrait};

use super::super::error::Result;
use crate::metrics::Tally;
use crate::persistence::entities::ticket;
use crate::persistence::group_commit::Turn;
use crate::state::AppState;

pub(crate) struct Work<'s> {
    pub state: &'s AppState,
    /// On SQLite, a savepoint in the group's transaction (`persistence::group_commit`).
    pub txn: DatabaseTransaction,
    pub now: DateTime<Utc>,
    /// What this work did, for the metrics once it commits.
    pub tally: Tally,
    /// The earliest timer firing this work scheduled.
    next_fire: Option<DateTime<Utc>>,
    /// Messages were queued for delivery.
    queued: bool,
    /// Tickets written (as saved; `true`: opened by this work, so without comments yet), whose
    /// search documents are rewritten before the commit.
    written: Vec<(ticket::Model, bool)>,
    /// SQLite: this work's turn at the writer. After `txn`, so that a dropped work's savepoint
    /// is rolled back before its group commits.
    turn: Option<Turn>,
}

impl<'s> Work<'s> {
    pub async fn begin(state: &'s AppState, now: DateTime<Utc>) -> Result<Self> {
        let (txn, turn) = match &state.group_commit {
            Some(group) => {
                let (txn, turn) = group.begin(&state.db).await?;
                (txn, Some(turn))
            }
            None => (state.db.begin().await?, None),
        };
        Ok(Self { state, txn, turn, now, tally: Tally::default(), next_fire: None, queued: false, written: Vec::new() })
    }

    /// A timer was written that the sweep must look at by `at`.
    pub fn scheduled(&mut self, at: Option<DateTime<Utc>>) {
        self.next_fire = match (self.next_fire, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Ticket `t` was written (`opened`: by this work): its search document follows in the same
    /// transaction.
    pub fn written(&mut self, t: &ticket::Model, opened: bool) {
        self.written.retain(|(w, _)| w.id != t.id);
        self.written.push((t.clone(), opened));
    }

    /// Messages were written to the outbox outside the rules (which count their own).
    pub fn queued(&mut self) {
        self.queued = true;
    }

    /// Rewrites the search documents of the tickets written, then commits, counts what was done
    /// into the metrics, and wakes this instance's sweep when a timer now fires sooner than the
    /// sweep looks anyway (it sleeps at most `sweep.max_sleep_ms`), and its delivery loops when
    /// rules fired.
    pub async fn commit(self) -> Result<()> {
        let Work { state, txn, now, tally, next_fire, queued, written, turn } = self;
        for (t, opened) in &written {
            crate::services::search::index_ticket(&txn, &state.search, t, !opened, now).await?;
        }
        txn.commit().await?;
        if let Some(turn) = turn {
            turn.commit().await?;
        }
        let escalated = queued || tally.has_escalations();
        state.metrics.record(tally);
        let horizon = now + chrono::Duration::milliseconds(state.config.settings.sweep.max_sleep_ms as i64);
        if next_fire.is_some_and(|at| at <= horizon) {
            state.wake_sweep.notify_one();
        }
        if escalated {
            state.wake_delivery.notify_one();
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        let Work { txn, turn, .. } = self;
        txn.rollback().await?;
        if let Some(turn) = turn {
            turn.rollback();
        }
        Ok(())
    }
}
