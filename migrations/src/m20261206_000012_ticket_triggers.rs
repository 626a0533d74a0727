//! Two facts about every ticket row are kept by the database itself, so that no code path can
//! forget them and opening a ticket needs no extra statements for them:
//!
//! - its number, `INC-` and the id zero-padded to six digits (PostgreSQL sets it before the row is
//!   written; SQLite, which learns a row's id only on insert, right after, in the same statement);
//! - the ticket counts per level and status: inserting a ticket, changing its level or status, or
//!   deleting it appends its deltas to `ticket_count_deltas`, which the gauge refresh folds.
//!
//! Existing rows already hold both, so nothing is backfilled.

use crate::m20261128_000001_core::per_backend;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "CREATE FUNCTION opsline_ticket_number() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       NEW.number := 'INC-' || CASE WHEN NEW.id < 1000000 THEN lpad(NEW.id::text, 6, '0') ELSE NEW.id::text END; \
       RETURN NEW; \
     END $$",
    "CREATE TRIGGER tickets_number BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION opsline_ticket_number()",
    "CREATE FUNCTION opsline_ticket_counts() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       IF TG_OP = 'INSERT' THEN \
         INSERT INTO ticket_count_deltas (level, status, delta) VALUES (NEW.level, NEW.status, 1); \
       ELSIF TG_OP = 'DELETE' THEN \
         INSERT INTO ticket_count_deltas (level, status, delta) VALUES (OLD.level, OLD.status, -1); \
       ELSIF OLD.level IS DISTINCT FROM NEW.level OR OLD.status IS DISTINCT FROM NEW.status THEN \
         INSERT INTO ticket_count_deltas (level, status, delta) \
           VALUES (OLD.level, OLD.status, -1), (NEW.level, NEW.status, 1); \
       END IF; \
       RETURN NULL; \
     END $$",
    "CREATE TRIGGER tickets_counts AFTER INSERT OR DELETE OR UPDATE OF level, status ON tickets \
     FOR EACH ROW EXECUTE FUNCTION opsline_ticket_counts()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER tickets_counts ON tickets",
    "DROP FUNCTION opsline_ticket_counts()",
    "DROP TRIGGER tickets_number ON tickets",
    "DROP FUNCTION opsline_ticket_number()",
];

const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER tickets_number AFTER INSERT ON tickets BEGIN \
       UPDATE tickets SET number = printf('INC-%06d', NEW.id) WHERE id = NEW.id; \
     END",
    "CREATE TRIGGER tickets_counts_insert AFTER INSERT ON tickets BEGIN \
       INSERT INTO ticket_count_deltas (level, status, delta) VALUES (NEW.level, NEW.status, 1); \
     END",
    "CREATE TRIGGER tickets_counts_delete AFTER DELETE ON tickets BEGIN \
       INSERT INTO ticket_count_deltas (level, status, delta) VALUES (OLD.level, OLD.status, -1); \
     END",
    "CREATE TRIGGER tickets_counts_update AFTER UPDATE OF level, status ON tickets \
     WHEN OLD.level IS NOT NEW.level OR OLD.status IS NOT NEW.status BEGIN \
       INSERT INTO ticket_count_deltas (level, status, delta) VALUES (OLD.level, OLD.status, -1), (NEW.level, NEW.status, 1); \
     END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER tickets_counts_update",
    "DROP TRIGGER tickets_counts_delete",
    "DROP TRIGGER tickets_counts_insert",
    "DROP TRIGGER tickets_number",
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
