//! The application state every handler and worker receives: database, configuration, clock and
//! the configuration versions this instance registered. No globals.

use std::sync::Arc;

use sea_orm::{DatabaseBackend, DatabaseConnection};

use crate::clock::Clock;
use crate::config::Config;
use crate::services::versions::Versions;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub clock: Clock,
    pub versions: Arc<Versions>,
}

impl AppState {
    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }
}
