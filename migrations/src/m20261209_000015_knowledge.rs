//! The knowledge base and search.
//!
//! - `kb_articles`: an article's current text (title, symptom, cause, resolution, Markdown body,
//!   tags, product, language), who may read it (`internal` or `customer`), its state (`draft →
//!   review → published → retired`), owner and reviewer, its version and "did this solve your
//!   problem?" counts. `kb_article_versions` keeps every version's text, who wrote it and when;
//!   `kb_article_sources` the tickets an article came from.
//! - `kb_events`: suggestions shown, opened, used (linked to a ticket) and cited by a resolution
//!   (`solved_by`), and readers' answers — what the reuse figures count.
//! - `search_docs`: one row per ticket and per article with its search tokens (cut in the
//!   application, space-separated), indexed by the database: SQLite FTS5 (`unicode61`, an external
//!   content table kept by triggers);
//!   PostgreSQL a `tsvector` of the tokens as written (`array_to_tsvector`, no parser, no
//!   locale) with a GIN index. Existing tickets are indexed when the service starts.

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261128_000001_core::{index, per_backend, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum KbArticles {
    Table,
    Id,
    State,
    Visibility,
    Title,
    Symptom,
    Cause,
    Resolution,
    Body,
    Tags,
    Product,
    Language,
    OwnerId,
    ReviewerId,
    ReviewedAt,
    PublishedAt,
    Version,
    Helpful,
    NotHelpful,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum KbArticleVersions {
    Table,
    Id,
    ArticleId,
    Version,
    State,
    Content,
    EditorId,
    EditorName,
    Note,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum KbArticleSources {
    Table,
    ArticleId,
    TicketId,
}

#[derive(DeriveIden, Clone, Copy)]
enum KbEvents {
    Table,
    Id,
    Outcome,
    ArticleId,
    SuggestedTicketId,
    TicketId,
    UserId,
    ContactId,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum SearchDocs {
    Table,
    Id,
    Kind,
    RefId,
    CustomerId,
    Status,
    Visibility,
    Tokens,
    Terms,
    UpdatedAt,
}

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE search_fts USING fts5(tokens, content='search_docs', content_rowid='id', tokenize='unicode61')",
    "CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN \
       INSERT INTO search_fts(rowid, tokens) VALUES (NEW.id, NEW.tokens); \
     END",
    "CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN \
       INSERT INTO search_fts(search_fts, rowid, tokens) VALUES ('delete', OLD.id, OLD.tokens); \
     END",
    "CREATE TRIGGER search_docs_au AFTER UPDATE OF tokens ON search_docs BEGIN \
       INSERT INTO search_fts(search_fts, rowid, tokens) VALUES ('delete', OLD.id, OLD.tokens); \
       INSERT INTO search_fts(rowid, tokens) VALUES (NEW.id, NEW.tokens); \
     END",
];

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE search_docs ADD COLUMN tsv tsvector \
       GENERATED ALWAYS AS (array_to_tsvector(string_to_array(tokens, ' '))) STORED",
    "CREATE INDEX idx_search_docs_tsv ON search_docs USING gin (tsv)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KbArticles::Table)
                    .col(big_pk_auto(KbArticles::Id))
                    .col(string_len(KbArticles::State, 16))
                    .col(string_len(KbArticles::Visibility, 16))
                    .col(text(KbArticles::Title))
                    .col(text(KbArticles::Symptom))
                    .col(text(KbArticles::Cause))
                    .col(text(KbArticles::Resolution))
                    .col(text(KbArticles::Body))
                    .col(text(KbArticles::Tags))
                    .col(text_null(KbArticles::Product))
                    .col(string_len(KbArticles::Language, 16))
                    .col(big_integer(KbArticles::OwnerId))
                    .col(big_integer_null(KbArticles::ReviewerId))
                    .col(timestamp_with_time_zone_null(KbArticles::ReviewedAt))
                    .col(timestamp_with_time_zone_null(KbArticles::PublishedAt))
                    .col(integer(KbArticles::Version))
                    .col(big_integer(KbArticles::Helpful).default(0))
                    .col(big_integer(KbArticles::NotHelpful).default(0))
                    .col(timestamp_with_time_zone(KbArticles::CreatedAt))
                    .col(timestamp_with_time_zone(KbArticles::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(manager, KbArticles::Table, "idx_kb_articles_state", &[KbArticles::State]).await?;
        manager
            .create_table(
                Table::create()
                    .table(KbArticleVersions::Table)
                    .col(big_pk_auto(KbArticleVersions::Id))
                    .col(big_integer(KbArticleVersions::ArticleId))
                    .col(integer(KbArticleVersions::Version))
                    .col(string_len(KbArticleVersions::State, 16))
                    .col(text(KbArticleVersions::Content))
                    .col(big_integer_null(KbArticleVersions::EditorId))
                    .col(text(KbArticleVersions::EditorName))
                    .col(text_null(KbArticleVersions::Note))
                    .col(timestamp_with_time_zone(KbArticleVersions::At))
                    .to_owned(),
            )
            .await?;
        unique_index(
            manager,
            KbArticleVersions::Table,
            "uq_kb_article_versions",
            &[KbArticleVersions::ArticleId, KbArticleVersions::Version],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(KbArticleSources::Table)
                    .col(big_integer(KbArticleSources::ArticleId))
                    .col(big_integer(KbArticleSources::TicketId))
                    .primary_key(Index::create().col(KbArticleSources::ArticleId).col(KbArticleSources::TicketId))
                    .to_owned(),
            )
            .await?;
        index(manager, KbArticleSources::Table, "idx_kb_article_sources_ticket", &[KbArticleSources::TicketId]).await?;
        manager
            .create_table(
                Table::create()
                    .table(KbEvents::Table)
                    .col(big_pk_auto(KbEvents::Id))
                    .col(string_len(KbEvents::Outcome, 16))
                    .col(big_integer_null(KbEvents::ArticleId))
                    .col(big_integer_null(KbEvents::SuggestedTicketId))
                    .col(big_integer_null(KbEvents::TicketId))
                    .col(big_integer_null(KbEvents::UserId))
                    .col(big_integer_null(KbEvents::ContactId))
                    .col(timestamp_with_time_zone(KbEvents::At))
                    .to_owned(),
            )
            .await?;
        index(manager, KbEvents::Table, "idx_kb_events_article", &[KbEvents::ArticleId, KbEvents::Outcome]).await?;
        index(manager, KbEvents::Table, "idx_kb_events_at", &[KbEvents::At]).await?;
        manager
            .create_table(
                Table::create()
                    .table(SearchDocs::Table)
                    .col(big_pk_auto(SearchDocs::Id))
                    .col(string_len(SearchDocs::Kind, 16))
                    .col(big_integer(SearchDocs::RefId))
                    .col(big_integer_null(SearchDocs::CustomerId))
                    .col(string_len(SearchDocs::Status, 32))
                    .col(string_len_null(SearchDocs::Visibility, 16))
                    .col(text(SearchDocs::Tokens))
                    .col(integer(SearchDocs::Terms))
                    .col(timestamp_with_time_zone(SearchDocs::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        unique_index(manager, SearchDocs::Table, "uq_search_docs_ref", &[SearchDocs::Kind, SearchDocs::RefId]).await?;
        per_backend(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() != DatabaseBackend::Postgres {
            db.execute_unprepared("DROP TABLE search_fts").await?;
        }
        for t in ["search_docs", "kb_events", "kb_article_sources", "kb_article_versions", "kb_articles"] {
            manager.drop_table(Table::drop().table(Alias::new(t)).to_owned()).await?;
        }
        Ok(())
    }
}
