//! The application state every handler and worker receives: database, configuration, clock and
//! the configuration versions this instance registered. No globals.

use std::sync::Arc;

use sea_orm::{DatabaseBackend, DatabaseConnection};

use tokio::sync::Notify;

use crate::checks::probe::Prober;
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::services::versions::Versions;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub clock: Clock,
    pub versions: Arc<Versions>,
    pub notifier: Arc<Notifier>,
    /// Wakes this instance's sweep early, after a write that may be due sooner than it sleeps.
    pub wake_sweep: Arc<Notify>,
    /// Wakes this instance's delivery loop after new outbox rows.
    pub wake_delivery: Arc<Notify>,
    /// Rows the sweep wrote leased to this instance, for its delivery loops.
    pub handoff: Arc<crate::services::handoff::Handoff>,
    /// Runs health checks (http, tcp, postgres, host).
    pub prober: Arc<Prober>,
    /// Wakes this instance's check runner after a check was added, changed or beat.
    pub wake_checks: Arc<Notify>,
    /// This instance's Prometheus registry.
    pub metrics: Arc<Metrics>,
    /// This instance's rate limits.
    pub limits: Arc<crate::limits::Limits>,
    /// Signs cookies and links with `web.secret_key`.
    pub signer: Arc<crate::signing::Signer>,
    /// This installation's random id (the `installation` table): in every mail thread id.
    pub installation: Arc<str>,
    /// This instance's name and heartbeat, which its outbox leases name.
    pub instance: Arc<crate::services::instances::Instance>,
    /// Cuts text into search words (`search.dictionary`).
    pub search: Arc<crate::search::Segmenter>,
    /// This instance's similarity index, fed from the database (`services::search::Feed`).
    pub similar: Arc<crate::services::search::Feed>,
    /// SQLite: ticket work waiting for the one writer joins the open transaction
    /// (`persistence::group_commit`; `None` on PostgreSQL).
    pub group_commit: Option<Arc<crate::persistence::group_commit::GroupCommit>>,
    /// Reads API tokens on PostgreSQL outside the pool (`None` on SQLite).
    pub tokens: Option<Arc<crate::services::auth::TokenReader>>,
    /// Service reports as HTML and PDF (provided by the web layer; PDF in a build with the `pdf`
    /// feature).
    pub documents: Arc<dyn crate::services::reports::ReportDocuments>,
}

impl AppState {
    pub fn backend(&self) -> DatabaseBackend {
        self.db.get_database_backend()
    }

    /// `delivery.takeover_secs`: how long a silent instance's leases are still respected.
    pub fn takeover(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.config.settings.delivery.takeover_secs as i64)
    }
}
