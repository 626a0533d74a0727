//! SQLite's write-ahead log, copied back into the database file off the writers' path.
//!
//! By default the connection that commits past 1,000 logged pages copies them back and syncs the
//! file while it holds the only write connection, so every request waits out that sync. Opsline's
//! writers copy back only past [`WRITER_FALLBACK_PAGES`]; a checkpointer on a connection of its
//! own does it every [`INTERVAL`] in `PASSIVE` mode, which never waits for or blocks a writer.
//! PostgreSQL needs none of this.

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{ConnectOptions, Connection};

use crate::config::settings::DatabaseSettings;

/// Logged pages (4 KiB each) past which a writer checkpoints itself: about 40 MiB.
pub const WRITER_FALLBACK_PAGES: u32 = 10_000;

/// How often the checkpointer runs.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// What one checkpoint saw: pages in the log, and pages now copied back into the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    pub logged: i64,
    pub copied: i64,
}

/// A connection of its own that checkpoints a SQLite database.
pub struct Checkpointer {
    conn: SqliteConnection,
}

impl Checkpointer {
    /// `None` for PostgreSQL, and for an in-memory SQLite database (it has no log to copy).
    pub async fn open(settings: &DatabaseSettings) -> Result<Option<Self>, sea_orm::sqlx::Error> {
        let url = settings.url.expose();
        if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
            return Ok(None);
        }
        // Never waits for a lock: a checkpoint that cannot run now runs at the next interval.
        // A checkpoint of a long log takes seconds by design: not a slow statement to warn about.
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(false)
            .busy_timeout(Duration::ZERO)
            .disable_statement_logging();
        Ok(Some(Self { conn: options.connect().await? }))
    }

    /// Copies back what it can without waiting for or blocking a writer.
    pub async fn run(&mut self) -> Result<Checkpointed, sea_orm::sqlx::Error> {
        let (_busy, logged, copied): (i64, i64, i64) =
            sea_orm::sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut self.conn).await?;
        Ok(Checkpointed { logged, copied })
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}
