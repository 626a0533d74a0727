//! Opsline: an SLA-driven incident and operations-support service. `main.rs` is a thin wrapper
//! around [`cli`]; [`startup`] is the one place the application is put together.

pub mod config;
pub mod domain;
