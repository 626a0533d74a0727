#![allow(clippy::unwrap_used, clippy::expect_used)]

//! The one integration-test binary: every module below runs against the real application.

mod actions;
mod browser;
mod change_path;
mod checks;
mod config;
mod delivery;
mod docs;
mod edges;
mod email_intake;
mod escalation;
mod exporter;
mod hardening;
mod health;
mod helpers;
mod intake;
mod kb;
mod malformed;
mod metrics;
mod outbound;
mod permissions;
mod portal;
mod ratings;
mod receivers;
mod report_reminders;
mod report_sections;
mod reports;
mod scheduling;
mod sla_engine;
mod sla_examples;
mod tickets;
mod visits;
mod web;
