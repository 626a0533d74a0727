//! Outbox rows the sweep has just written already leased to this instance, handed to its delivery
//! loops in memory, so that a burst is sent without every row being picked again from the
//! database (a claim is a locking read and an update of each row). The lease written with the row
//! is its claim: if this instance stops before sending, another takes the row over from the
//! outbox as usual (`services::instances`), so delivery renews each lease, fenced, before it
//! sends. Nothing lives only here.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::persistence::entities::outbox;

/// A handed-over row, and whether it is known to be first in its escalation chain to its
/// receiver (then delivery need not check the chain's order).
#[derive(Debug, Clone)]
pub struct Handed {
    pub row: outbox::Model,
    pub first: bool,
}

pub struct Handoff {
    rows: Mutex<VecDeque<Handed>>,
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

    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Handed>> {
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
    pub fn push(&self, rows: Vec<Handed>) {
        self.queue().extend(rows);
    }

    /// Up to `n` rows, oldest first.
    pub fn take(&self, n: usize) -> Vec<Handed> {
        let mut q = self.queue();
        let k = n.min(q.len());
        q.drain(..k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};

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
            attempts: 0,
            next_attempt_at: t,
            locked_until: lease,
            locked_by: Some("this".into()),
            last_error: None,
            dead_reason: None,
            digest_id: None,
            created_at: t,
            updated_at: t,
            delivered_at: None,
        }
    }

    #[test]
    fn rows_leave_in_order_and_room_comes_back() {
        let h = Handoff::new(2);
        let now = DateTime::from_timestamp(1_000, 0).unwrap();
        assert!(h.has_room());
        h.push((1..=3).map(|id| Handed { row: row(id, Some(now + Duration::seconds(60))), first: true }).collect());
        assert!(!h.has_room(), "over its size the sweep writes rows unleased");
        assert_eq!(h.take(2).iter().map(|r| r.row.id).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(h.take(5).iter().map(|r| r.row.id).collect::<Vec<_>>(), vec![3]);
        assert!(h.take(5).is_empty());
        assert!(h.has_room());
    }
}
