//! Escalation: the sweep that fires warnings and breaches, event rules fired by ticket actions,
//! acknowledgements, and the outbox they all write to.

pub mod ack;
pub mod enqueue;
pub(crate) mod recipients;
pub mod sweep;

pub(crate) use enqueue::announce;
