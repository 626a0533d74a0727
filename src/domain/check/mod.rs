//! Health checks, the pure part: the condition language, health from a stream of results
//! (thresholds, hysteresis, flapping), maintenance windows and Prometheus's text format. Probing lives in `crate::checks`;
//! storing and scheduling in `crate::services::checks`.

pub mod conditions;
pub mod exposition;
pub mod health;
pub mod maintenance;
pub mod metric;
pub use health::{Health, InspectionStatus};
