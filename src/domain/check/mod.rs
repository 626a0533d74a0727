//! Health checks, the pure part: the condition language (with conditions on an exporter's
//! series), health from a stream of results (thresholds, hysteresis, flapping), maintenance
//! windows, Prometheus's text format and the host facts read from it. Probing lives in
//! `crate::checks`; storing and scheduling in `crate::services::checks`.

pub mod conditions;
pub mod exposition;
pub mod facts;
pub mod glob;
pub mod health;
pub mod maintenance;
pub mod metric;
pub use health::{Health, InspectionStatus, RollupPeriod};
