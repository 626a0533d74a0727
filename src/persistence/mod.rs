//! Persistence: connecting to SQLite or PostgreSQL, migrations, and the sea-orm entities. Nothing
//! here knows about HTTP.

pub mod bulk;
pub mod check_bulk;
pub mod checkpoint;
pub mod entities;
pub mod group_commit;
pub mod like;
pub mod raw;
mod stored;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr, Statement};

use crate::config::settings::DatabaseSettings;

/// Any number will do as long as every Opsline instance uses the same one.
const MIGRATION_LOCK_KEY: i64 = 0x006f_7073_6c69_6e65;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Nothing answers at the database's address (refused, unreachable, or silent).
    #[error(
        "cannot reach the database at {address}: {reason}. Is PostgreSQL running and listening there? \
         (database.url, or OPSLINE_DATABASE__URL)"
    )]
    Unreachable { address: String, reason: String },
    /// The server answered and refused: no such database, a wrong password, …
    #[error("cannot connect to the database {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("cannot create the directory for the SQLite database {path}: {source}")]
    Directory { path: String, source: std::io::Error },
    #[error(
        "the database schema is newer than this binary: it has migration(s) {unknown:?} that this version of Opsline does not know. Upgrade Opsline (or point it at another database); it will not start against a schema it does not understand"
    )]
    NewerSchema { unknown: Vec<String> },
    #[error("migration failed: {0}")]
    Migrate(DbErr),
}

/// The `host:port` of a PostgreSQL URL (5432 when it names none); `None` for a socket URL.
fn pg_address(url: &str) -> Option<(String, u16)> {
    let parsed = reqwest::Url::parse(url).ok()?;
    Some((parsed.host_str()?.trim_matches(['[', ']']).to_string(), parsed.port().unwrap_or(5432)))
}

/// Fails fast, naming the address and the system's reason, when nothing listens where a
/// PostgreSQL URL points (a pool would retry quietly until its timeout and then say only that it
/// timed out).
async fn reachable(url: &str, timeout: Duration) -> Result<(), StartupError> {
    let Some((host, port)) = pg_address(url) else { return Ok(()) };
    let address = format!("{host}:{port}");
    let reason = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host.as_str(), port))).await {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} ms (database.connect_timeout_ms)", timeout.as_millis()),
    };
    Err(StartupError::Unreachable { address, reason })
}

/// The server's own words for a refused connection, once.
fn refused(url: &str, e: &DbErr) -> StartupError {
    let text = e.to_string();
    let reason = text
        .rsplit_once("error returned from database: ")
        .map_or(text.as_str(), |(_, r)| r)
        .trim_start_matches("Connection Error: ");
    // PostgreSQL adds where in its own source the error was raised: not the user's concern.
    let reason = match reason.rsplit_once(" at line ") {
        Some((r, line)) if line.bytes().all(|b| b.is_ascii_digit()) => r,
        _ => reason,
    }
    .to_string();
    StartupError::Connect { url: crate::config::secret::redact_url(url), reason }
}

/// How long a request waits for a connection from the pool, or on SQLite for its turn at the
/// writer (`group_commit`), before it fails.
pub fn acquire_timeout(settings: &DatabaseSettings) -> Duration {
    Duration::from_millis(settings.connect_timeout_ms.max(1000) * 3)
}

pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, StartupError> {
    let url = settings.url.expose().to_string();
    let timeout = Duration::from_millis(settings.connect_timeout_ms);
    if !url.starts_with("sqlite:") {
        reachable(&url, timeout).await?;
    }
    let mut opts = ConnectOptions::new(url.clone());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .acquire_timeout(acquire_timeout(settings))
        // A connection used in the last seconds is handed out as it is; one idle longer is pinged
        // first (a server restart or a proxy may have dropped it). Pinging on every checkout
        // would add a round trip to each request's token lookup and to each transaction.
        .test_before_acquire_if_idle_for(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        ensure_sqlite_dir(&url)?;
        // One connection: SQLite has one writer, and a single connection means writers queue in
        // the pool instead of failing with SQLITE_BUSY when one upgrades a read transaction.
        opts.max_connections(1).min_connections(1).max_lifetime(None).idle_timeout(None);
        opts.map_sqlx_sqlite_opts(|o: SqliteConnectOptions| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Each unit of a group commit (`group_commit`) runs in a savepoint, whose undo
                // copies of the pages it changes go to a sub-journal: in memory, not a temporary
                // file written on every first change of a page.
                .pragma("temp_store", "memory")
                // Checkpoints are the background checkpointer's (`checkpoint`); a writer copies
                // the log back itself only if that falls this far behind.
                .pragma("wal_autocheckpoint", checkpoint::WRITER_FALLBACK_PAGES.to_string())
        });
    } else {
        opts.max_connections(settings.max_connections).min_connections(1);
    }
    Database::connect(opts).await.map_err(|e| refused(&url, &e))
}

/// Whether this SQLite keeps each prepared statement's plan whatever values are bound (built with
/// `SQLITE_ENABLE_QPSG`, as `.cargo/config.toml` asks). Without it every statement with `LIMIT ?`
/// (each sea-orm `.one()`) is compiled again on each execution. `None` on PostgreSQL.
pub async fn sqlite_keeps_plans(db: &DatabaseConnection) -> Result<Option<bool>, DbErr> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(None);
    }
    let rows = db.query_all_raw(Statement::from_string(DatabaseBackend::Sqlite, "PRAGMA compile_options")).await?;
    for row in rows {
        if row.try_get_by_index::<String>(0)? == "ENABLE_QPSG" {
            return Ok(Some(true));
        }
    }
    Ok(Some(false))
}

fn ensure_sqlite_dir(url: &str) -> Result<(), StartupError> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|source| StartupError::Directory { path: dir.display().to_string(), source })?;
    }
    Ok(())
}

/// Names of the migrations the database has applied that this binary does not know.
pub async fn unknown_migrations(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let known: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_string()).collect();
    Ok(applied_migrations(db).await?.into_iter().filter(|v| !known.contains(v)).collect())
}

/// Names of the migrations the database has applied.
pub async fn applied_migrations(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    let table_exists = match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.query_one_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT 1 AS one FROM information_schema.tables WHERE table_name = 'seaql_migrations' AND table_schema = current_schema()",
            ))
            .await?
        }
        _ => {
            db.query_one_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT 1 AS one FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations'",
            ))
            .await?
        }
    };
    if table_exists.is_none() {
        return Ok(Vec::new());
    }
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT version FROM seaql_migrations"))
        .await?;
    rows.into_iter().map(|row| row.try_get::<String>("", "version")).collect()
}

/// Applies pending migrations. On PostgreSQL it holds an advisory lock on a dedicated connection
/// so that instances starting together migrate one after another.
pub async fn migrate(db: &DatabaseConnection, settings: &DatabaseSettings) -> Result<(), StartupError> {
    let unknown = unknown_migrations(db).await.map_err(StartupError::Migrate)?;
    if !unknown.is_empty() {
        return Err(StartupError::NewerSchema { unknown });
    }
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Migrator::up(db, None).await.map_err(StartupError::Migrate);
    }
    let mut opts = ConnectOptions::new(settings.url.expose().to_string());
    opts.sqlx_logging(false).max_connections(1).min_connections(1);
    let lock_conn = Database::connect(opts).await.map_err(|e| refused(settings.url.expose(), &e))?;
    let backend = DatabaseBackend::Postgres;
    lock_conn
        .execute_raw(Statement::from_string(backend, format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")))
        .await
        .map_err(StartupError::Migrate)?;
    // Another instance may have migrated to a newer schema while we waited for the lock.
    let result = match unknown_migrations(&lock_conn).await {
        Ok(unknown) if !unknown.is_empty() => Err(StartupError::NewerSchema { unknown }),
        Ok(_) => Migrator::up(&lock_conn, None).await.map_err(StartupError::Migrate),
        Err(e) => Err(StartupError::Migrate(e)),
    };
    let _ = lock_conn
        .execute_raw(Statement::from_string(backend, format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")))
        .await;
    let _ = lock_conn.close().await;
    result
}

pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// The ids of up to `limit` rows matching `due`, oldest `order` first, for a claim. With `lock`
/// (PostgreSQL, inside the claiming transaction) the rows are locked and rows other claimers hold
/// are skipped. The claim then updates exactly these ids, re-checking `due`: a single
/// `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` is not enough on PostgreSQL,
/// which may run the subquery again for each row and so claim far more than `limit` rows.
pub async fn pick_ids<E: sea_orm::EntityTrait>(
    db: &impl ConnectionTrait,
    id: E::Column,
    due: sea_orm::Condition,
    order: E::Column,
    limit: u64,
    lock: bool,
) -> Result<Vec<i64>, DbErr> {
    use sea_orm::sea_query::{LockBehavior, LockType};
    use sea_orm::{QueryFilter, QueryOrder, QuerySelect};
    let mut q = E::find().select_only().column(id).filter(due).order_by_asc(order).limit(limit);
    if lock {
        q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    q.into_tuple::<i64>().all(db).await
}

/// The rows of `E` whose `column` is one of `ids`, by the id `id` reads from each (one query;
/// none for no ids).
pub async fn by_id<E: sea_orm::EntityTrait>(
    db: &impl sea_orm::ConnectionTrait,
    column: E::Column,
    ids: Vec<i64>,
    id: fn(&E::Model) -> i64,
) -> Result<std::collections::HashMap<i64, E::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    Ok(E::find().filter(column.is_in(ids)).all(db).await?.into_iter().map(|m| (id(&m), m)).collect())
}
