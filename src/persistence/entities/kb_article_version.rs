//! The `kb_article_versions` table: every version of an article, written once.

use sea_orm::entity::prelude::*;

use crate::domain::kb::ArticleState;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kb_article_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub article_id: i64,
    pub version: i32,
    /// The state the article was in with this text.
    pub state: ArticleState,
    /// The text as JSON (`services::kb::Content`).
    pub content: String,
    pub editor_id: Option<i64>,
    pub editor_name: String,
    /// Why: "created from INC-000042", "published", an editor's note.
    pub note: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
