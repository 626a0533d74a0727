//! Opsline: an SLA-driven incident and operations-support service. `main.rs` is a thin wrapper
//! around [`cli`]; [`startup`] is the one place the application is put together.

pub mod checks;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod outbound;
pub mod persistence;
pub mod search;
pub mod serde_util;
pub mod services;
pub mod signing;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod web;
pub mod workers;
