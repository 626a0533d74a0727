//! Opsline's schema history. Migrations are self-contained: they never import the service crate,
//! so the schema a binary creates does not change when its entities do. Every `up` has a `down`;
//! an applied migration is never edited, a new one is written instead. Enumerations are stored as
//! strings and JSON as text so that SQLite and PostgreSQL share one schema.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_core;
mod m20261128_000002_sla;
mod m20261128_000003_escalation;
mod m20261201_000004_checks;
mod m20261201_000005_metrics;
mod m20261201_000006_intake;
mod m20261201_000007_web;
mod m20261201_000008_portal;
mod m20261202_000009_sweep_index;
mod m20261204_000010_delivery;
mod m20261205_000011_visits;
mod m20261206_000012_ticket_triggers;
mod m20261207_000013_reports;
mod m20261208_000014_ratings;
mod m20261209_000015_knowledge;
mod m20261210_000016_search_feed;
mod m20261211_000017_hosts;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_core::Migration),
            Box::new(m20261128_000002_sla::Migration),
            Box::new(m20261128_000003_escalation::Migration),
            Box::new(m20261201_000004_checks::Migration),
            Box::new(m20261201_000005_metrics::Migration),
            Box::new(m20261201_000006_intake::Migration),
            Box::new(m20261201_000007_web::Migration),
            Box::new(m20261201_000008_portal::Migration),
            Box::new(m20261202_000009_sweep_index::Migration),
            Box::new(m20261204_000010_delivery::Migration),
            Box::new(m20261205_000011_visits::Migration),
            Box::new(m20261206_000012_ticket_triggers::Migration),
            Box::new(m20261207_000013_reports::Migration),
            Box::new(m20261208_000014_ratings::Migration),
            Box::new(m20261209_000015_knowledge::Migration),
            Box::new(m20261210_000016_search_feed::Migration),
            Box::new(m20261211_000017_hosts::Migration),
        ]
    }
}
