//! The composition root: connect, migrate, register configuration versions, sync teams, bind
//! the listener and build the HTTP server. Tests build the same `Application` on port 0.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::checks::probe::Prober;
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::persistence::{self, entities::team};
use crate::services::versions::Versions;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Startup(#[from] persistence::StartupError),
    #[error("cannot listen on {addr}: {reason} (http.listen, or OPSLINE_HTTP__LISTEN)")]
    Bind { addr: String, reason: std::io::Error },
    #[error("{}", crate::services::chain(.0))]
    Service(#[from] crate::services::Error),
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("notifications or checks: {0}")]
    Notify(String),
    #[error("metrics: {0}")]
    Metrics(String),
}

/// Connections each instance keeps for reading API tokens on PostgreSQL, beside
/// `database.max_connections` (`services::auth::TokenReader`).
pub const TOKEN_READERS: usize = 4;

/// Connects, migrates when configured (or when `migrate` is forced) and prepares the state every
/// command shares.
pub async fn prepare(config: Config, clock: Clock, migrate: bool) -> Result<AppState, BuildError> {
    let db = persistence::connect(&config.settings.database).await?;
    if migrate || config.settings.database.migrate_on_start {
        persistence::migrate(&db, &config.settings.database).await?;
    } else {
        let unknown = persistence::unknown_migrations(&db).await?;
        if !unknown.is_empty() {
            return Err(persistence::StartupError::NewerSchema { unknown }.into());
        }
    }
    if persistence::sqlite_keeps_plans(&db).await? == Some(false) {
        tracing::warn!(
            "this SQLite was built without SQLITE_ENABLE_QPSG: statements with `LIMIT ?` are compiled \
             again on every run; build from the repository, whose .cargo/config.toml sets it"
        );
    }
    let now = clock.now();
    let installation = crate::services::instances::installation_id(&db).await?;
    let metrics = Metrics::new(env!("CARGO_PKG_VERSION")).map_err(|e| BuildError::Metrics(e.to_string()))?;
    let (versions, registration) = Versions::register(&db, &config.runtime, now).await?;
    metrics.record(registration.tally);
    if registration.recomputed_timers > 0 {
        tracing::info!(timers = registration.recomputed_timers, "a calendar changed: unmet timers were recomputed");
    }
    sync_teams(&db, &config, now).await?;
    let notifier = Notifier::new(&config).map_err(BuildError::Notify)?;
    let config_limits = config.settings.limits.clone();
    let config_instance = config.settings.delivery.instance_name.clone();
    let trusted_proxies =
        config.settings.http.trusted_proxies.iter().filter_map(|p| crate::http::client::network(p)).collect();
    let signer = crate::signing::Signer::new(config.settings.web.secret_key.as_ref().map(|k| k.expose()));
    let denied = config.runtime.checks.denied_networks.clone();
    let prober = Prober::new(denied, config.settings.checks.max_redirects)
        .map_err(BuildError::Notify)?
        .exporter_max_bytes(config.settings.checks.exporter_max_bytes);
    // Room for a few rounds of every sweep loop's batch.
    let handoff_cap = 4 * (config.settings.sweep.batch as usize) * (config.settings.sweep.loops.max(1) as usize);
    let segmenter = crate::search::Segmenter::new(&config.settings.search.dictionary);
    let tokens = crate::services::auth::TokenReader::for_db(&db, TOKEN_READERS).map(Arc::new);
    let group_commit =
        persistence::group_commit::GroupCommit::for_db(&db, persistence::acquire_timeout(&config.settings.database))
            .map(Arc::new);
    let state = AppState {
        tokens,
        group_commit,
        db,
        config: Arc::new(config),
        clock,
        versions: Arc::new(versions),
        notifier: Arc::new(notifier),
        wake_sweep: Arc::new(tokio::sync::Notify::new()),
        wake_delivery: Arc::new(tokio::sync::Notify::new()),
        handoff: Arc::new(crate::services::handoff::Handoff::new(handoff_cap)),
        prober: Arc::new(prober),
        wake_checks: Arc::new(tokio::sync::Notify::new()),
        metrics: Arc::new(metrics),
        limits: Arc::new(crate::limits::Limits::new(&config_limits, trusted_proxies)),
        signer: Arc::new(signer),
        installation: installation.into(),
        instance: Arc::new(crate::services::instances::Instance::new(&config_instance)),
        documents: Arc::new(crate::web::report::Documents::default()),
        search: Arc::new(segmenter),
        similar: Arc::default(),
    };
    crate::services::checks::sync_config(&state, now).await?;
    Ok(state)
}

/// Teams live in configuration; the database keeps a row per team so that users and tickets can
/// refer to it.
async fn sync_teams(db: &DatabaseConnection, config: &Config, now: chrono::DateTime<Utc>) -> Result<(), BuildError> {
    for (name, t) in &config.settings.teams {
        match team::Entity::find().filter(team::Column::Name.eq(name)).one(db).await? {
            Some(row) => {
                let mut am: team::ActiveModel = row.into();
                am.display_name = Set(t.display_name.clone());
                am.lead_username = Set(t.lead.clone());
                am.email = Set(t.email.clone());
                am.updated_at = Set(now);
                am.update(db).await?;
            }
            None => {
                let inserted = team::ActiveModel {
                    name: Set(name.clone()),
                    display_name: Set(t.display_name.clone()),
                    lead_username: Set(t.lead.clone()),
                    email: Set(t.email.clone()),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(db)
                .await;
                if let Err(e) = inserted
                    && !persistence::is_unique_violation(&e)
                {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

pub struct Application {
    port: u16,
    server: Server,
    /// `/metrics` on `metrics.listen`, when set.
    metrics_server: Option<Server>,
    state: AppState,
    workers: Option<crate::workers::Workers>,
    always: crate::workers::Workers,
}

impl Application {
    /// Builds the application on `http.listen` (port 0 picks a free port).
    pub async fn build(config: Config, clock: Clock) -> Result<Self, BuildError> {
        let addr = config.settings.http.listen.clone();
        let listener =
            TcpListener::bind(&addr).map_err(|source| BuildError::Bind { addr: addr.clone(), reason: source })?;
        let state = prepare(config, clock, false).await?;
        Self::with_listener(state, listener)
    }

    pub fn with_listener(state: AppState, listener: TcpListener) -> Result<Self, BuildError> {
        let addr = listener.local_addr().map_err(|source| BuildError::Bind { addr: "?".into(), reason: source })?;
        let data = web::Data::new(state.clone());
        let pages = web::Data::new(crate::web::Web::new().map_err(BuildError::Notify)?);
        let max_body = state.config.settings.http.max_body_bytes as usize;
        let email_limit = state.config.settings.attachments.max_bytes as usize + 64 * 1024;
        let workers = state.config.settings.http.workers;
        let separate = state.config.settings.metrics.listen.clone();
        let metrics_server = if separate.is_empty() {
            None
        } else {
            let l = TcpListener::bind(&separate)
                .map_err(|source| BuildError::Bind { addr: separate.clone(), reason: source })?;
            let data = data.clone();
            let s = HttpServer::new(move || App::new().app_data(data.clone()).service(crate::http::metrics::metrics))
                .workers(1)
                .shutdown_timeout(5)
                .listen(l)
                .map_err(|source| BuildError::Bind { addr: separate.clone(), reason: source })?
                .run();
            Some(s)
        };
        let serve_metrics = metrics_server.is_none();
        let origins = state.config.settings.http.cors_origins.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(pages.clone())
                .wrap(from_fn(crate::http::json_errors))
                .wrap(from_fn(crate::http::security_headers))
                .wrap(crate::http::cors(&origins))
                .wrap(from_fn(crate::http::metrics::track))
                // The API first: its requests, the most frequent, are matched without trying
                // every page's route.
                .configure(|cfg| crate::http::configure(cfg, max_body, email_limit, serve_metrics))
                .configure(crate::web::configure)
        })
        .shutdown_timeout(10);
        if workers > 0 {
            server = server.workers(workers as usize);
        }
        let server = server
            .listen(listener)
            .map_err(|source| BuildError::Bind { addr: addr.to_string(), reason: source })?
            .run();
        let workers = state.config.settings.workers.enabled.then(|| crate::workers::spawn(state.clone()));
        let always = crate::workers::spawn_always(state.clone());
        Ok(Self { port: addr.port(), server, metrics_server, state, workers, always })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics_server.map(|s| {
            let handle = s.handle();
            (handle, tokio::spawn(s))
        });
        let served = self.server.await;
        if let Some((handle, task)) = metrics {
            handle.stop(true).await;
            let _ = task.await;
        }
        if let Some(w) = self.workers {
            w.stop().await;
            // The rows this instance holds and did not send go back to the outbox, for others now.
            match crate::services::instances::leave(&self.state, self.state.clock.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "deliveries this instance held were released for other instances"),
                Err(e) => {
                    tracing::warn!(error = %crate::services::chain(&e), "this instance's deliveries kept their leases")
                }
            }
        }
        self.always.stop().await;
        served
    }
}
