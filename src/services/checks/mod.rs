//! Health checks as a service: stored checks and their API (`store`), the interval runner
//! (`runner`), what outages do to tickets (`outage`), rollups and retention (`rollup`), and
//! one-click inspections with their reports (`inspections`, `report`) and environment detection
//! (`environment`) with the inventory of hosts it and exporter checks keep (`hosts`).

pub mod environment;
pub mod hosts;
pub mod inspections;
pub mod outage;
mod public;
pub mod report;
pub mod rollup;
pub mod runner;
mod store;

pub use public::{PublicCheck, public_checks};
pub(crate) use store::latest_results;
pub use store::{
    CheckQuery, CheckView, CreatedCheck, ResultView, create, def_of, delete, find, get, heartbeat, list, results,
    sync_config, update,
};
