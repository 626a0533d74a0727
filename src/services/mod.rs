//! Use cases. Each owns its transaction: it reads and writes through sea-orm, applies the pure
//! rules of `domain`, and returns views for the HTTP layer. Nothing here knows about HTTP.

pub mod audit;
pub mod auth;
pub mod callers;
pub mod checks;
pub mod contact_links;
pub mod customers;
pub mod delivery;
mod error;
pub mod escalation;
pub mod gauges;
pub mod handoff;
pub mod instances;
pub mod intake;
pub mod kb;
pub mod notifications;
pub mod ratings;
pub mod reports;
pub mod search;
pub mod sla;
pub mod tickets;
pub mod timers;
pub mod upkeep;
pub mod users;
pub mod versions;
pub mod visits;
pub mod web_sessions;
pub mod what_if;

pub use error::{Error, Result, chain};
