//! Outbox rows the sweep has just written already leased to this instance, handed to its delivery
//! loops in memory, so that a burst is sent without every row being claimed again from the
//! database (a claim is a locking read and an update of each row). The lease written with the row
//! is its claim: if this instance stops before sending, the lease runs out and any instance claims
//! the row from the outbox as usual. Nothing lives only here.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Duration, Utc};

use crate::persistence::entities::outbox;

pub struct Handoff {
    rows: Mutex<VecDeque<outbox::Model>>,
    cap: usize,
    turns: AtomicU32,
}

/// One delivery batch in this many is claimed from the database before the handed-over rows.
const DATABASE_TURN: u32 = 4;

impl Handoff {
    /// Holds at most about `cap` rows; beyond that the sweep writes rows unleased.
    pub fn new(cap: usize) -> Self {
        Self { rows: Mutex::new(VecDeque::new()), cap, turns: AtomicU32::new(0) }
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<outbox::Model>> {
        // A panic while holding the lock leaves a queue of whole rows: still usable.
        self.rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the sweep should lease the rows it writes now.
    pub fn has_room(&self) -> bool {
        self.queue().len() < self.cap
    }

    /// Whether this delivery batch looks in the database first: one in `DATABASE_TURN`, so that
    /// rows written elsewhere never wait behind a long handoff.
    pub fn database_turn(&self) -> bool {
        self.turns.fetch_add(1, Ordering::Relaxed).is_multiple_of(DATABASE_TURN)
    }

    /// Rows written and committed with a lease, in the order they are to be sent.
    pub fn push(&self, rows: Vec<outbox::Model>) {
        self.queue().extend(rows);
    }

    /// Up to `n` rows, split into those whose lease still outlasts a batch (`fresh_secs` from
    /// `now`), to be sent as they are, and those to be claimed again before sending.
    pub fn take(&self, n: usize, now: DateTime<Utc>, fresh_secs: u64) -> (Vec<outbox::Model>, Vec<outbox::Model>) {
        let mut q = self.queue();
        let k = n.min(q.len());
        let horizon = now + Duration::seconds(fresh_secs as i64);
        q.drain(..k).partition(|r| r.locked_until.is_some_and(|l| l > horizon))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, lease: Option<DateTime<Utc>>) -> outbox::Model {
        let t = DateTime::from_timestamp(0, 0).unwrap_or_default();
        outbox::Model {
            id,
            outbox_key: format!("k{id}"),
            event_id: None,
            escalation_id: None,
            ticket_id: None,
            channel: crate::domain::delivery::Channel::Webhook,
            target: "ops".into(),
            kind: crate::domain::delivery::MessageKind::Notification,
            payload: "{}".into(),
            status: crate::domain::delivery::DeliveryStatus::Pending,
            attempts: 1,
            next_attempt_at: t,
            locked_until: lease,
            last_error: None,
            dead_reason: None,
            digest_id: None,
            created_at: t,
            updated_at: t,
            delivered_at: None,
        }
    }

    #[test]
    fn rows_leave_in_order_and_a_lease_about_to_end_is_claimed_again() {
        let h = Handoff::new(2);
        let now = DateTime::from_timestamp(1_000, 0).unwrap();
        assert!(h.has_room());
        h.push(vec![
            row(1, Some(now + Duration::seconds(60))),
            row(2, Some(now + Duration::seconds(10))),
            row(3, Some(now + Duration::seconds(60))),
        ]);
        assert!(!h.has_room(), "over its size the sweep writes rows unleased");
        let (fresh, stale) = h.take(2, now, 40);
        assert_eq!(fresh.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1]);
        assert_eq!(stale.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2]);
        let (fresh, stale) = h.take(5, now, 40);
        assert_eq!((fresh.len(), stale.len()), (1, 0));
        assert!(h.take(5, now, 40).0.is_empty());
        assert!(h.has_room());
    }
}
