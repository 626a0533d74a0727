//! Health checks, the pure part: the condition language, health from a stream of results
//! (thresholds, hysteresis, flapping) and maintenance windows. Probing lives in `crate::checks`;
//! storing and scheduling in `crate::services::checks`.

pub mod conditions;
pub mod health;
pub mod maintenance;
pub use health::{Health, InspectionStatus};
