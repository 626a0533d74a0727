//! Pure domain logic: levels, classification, calendars, SLA timers, the ticket state machine and
//! on-site visits.
//! Nothing here imports actix, sea-orm or a clock: time comes in as an argument.

pub mod actor;
pub mod calendar;
pub mod check;
pub mod classify;
pub mod customer;
pub mod delivery;
pub mod escalation;
pub mod kb;
pub mod level;
pub mod markdown;
pub mod rating;
pub mod redact;
pub mod report;
pub mod sla;
pub mod text;
pub mod ticket;
pub mod visit;
