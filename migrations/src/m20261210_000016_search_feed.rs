//! The search documents' change feed: `search_docs.written` orders the documents by when they
//! were last written, so that each instance's in-memory similarity index (a projection of
//! `search_docs`) reads on from where it stopped. A trigger sets it on every insert and update,
//! so no write path can forget it.
//!
//! - SQLite: one more than the highest so far. SQLite has one writer at a time, so a document
//!   committed later always has a higher value.
//! - PostgreSQL: the writing transaction's id (`pg_current_xact_id()`). Transactions commit out
//!   of order, so a reader reads on from the oldest transaction still running when it last read
//!   (`pg_snapshot_xmin`), never from the highest value it saw.

use crate::m20261128_000001_core::per_backend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE search_docs ADD COLUMN written BIGINT NOT NULL DEFAULT 0",
    "CREATE INDEX idx_search_docs_written ON search_docs (written, id)",
    "CREATE TRIGGER search_docs_written_ai AFTER INSERT ON search_docs BEGIN \
       UPDATE search_docs SET written = (SELECT COALESCE(MAX(written), 0) + 1 FROM search_docs) WHERE id = NEW.id; \
     END",
    "CREATE TRIGGER search_docs_written_au \
       AFTER UPDATE OF kind, ref_id, customer_id, status, visibility, tokens, terms, updated_at ON search_docs BEGIN \
       UPDATE search_docs SET written = (SELECT COALESCE(MAX(written), 0) + 1 FROM search_docs) WHERE id = NEW.id; \
     END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER search_docs_written_au",
    "DROP TRIGGER search_docs_written_ai",
    "DROP INDEX idx_search_docs_written",
    "ALTER TABLE search_docs DROP COLUMN written",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE search_docs ADD COLUMN written BIGINT NOT NULL DEFAULT 0",
    "CREATE INDEX idx_search_docs_written ON search_docs (written, id)",
    "CREATE FUNCTION search_docs_written() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN NEW.written := pg_current_xact_id()::text::bigint; RETURN NEW; END $$",
    "CREATE TRIGGER search_docs_written BEFORE INSERT OR UPDATE ON search_docs \
       FOR EACH ROW EXECUTE FUNCTION search_docs_written()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER search_docs_written ON search_docs",
    "DROP FUNCTION search_docs_written()",
    "DROP INDEX idx_search_docs_written",
    "ALTER TABLE search_docs DROP COLUMN written",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        per_backend(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        per_backend(manager, POSTGRES_DOWN, SQLITE_DOWN).await
    }
}
