//! The `search_docs` table: a ticket's or an article's search tokens, which the database indexes
//! (SQLite FTS5 `search_fts`; PostgreSQL the generated `tsv` column, not mapped here).

use sea_orm::entity::prelude::*;

use crate::domain::kb::DocKind;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "search_docs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: DocKind,
    /// The ticket's or the article's id.
    pub ref_id: i64,
    /// A ticket's customer.
    pub customer_id: Option<i64>,
    /// A ticket's status or an article's state.
    pub status: String,
    /// An article's visibility.
    pub visibility: Option<String>,
    /// Space-separated, each once (`crate::search`).
    pub tokens: String,
    /// How many tokens.
    pub terms: i32,
    pub updated_at: DateTimeUtc,
    /// When it was last written, in the order the similarity index reads on in (set by a
    /// trigger: see the `search_feed` migration).
    pub written: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
