//! sea-orm entities, one file per table, written by hand to match `migrations/`.

pub mod alert_link;
pub mod api_token;
pub mod attachment;
pub mod audit_entry;
pub mod check;
pub mod check_result;
pub mod check_rollup;
pub mod comment;
pub mod config_snapshot;
pub mod config_version;
pub mod contact;
pub mod contact_link;
pub mod customer;
pub mod delivery_attempt;
pub mod escalation;
pub mod escalation_event;
pub mod idempotency_key;
pub mod inspection;
pub mod integration;
pub mod outbox;
pub mod sla_timer;
pub mod team;
pub mod ticket;
pub mod ticket_event;
pub mod user;
pub mod web_session;
