//! The `kb_articles` table: a knowledge-base article's current text, state and counts.

use sea_orm::entity::prelude::*;

use crate::domain::kb::{ArticleState, ArticleVisibility};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kb_articles")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub state: ArticleState,
    pub visibility: ArticleVisibility,
    pub title: String,
    pub symptom: String,
    pub cause: String,
    pub resolution: String,
    /// Markdown; rendered without raw HTML.
    pub body: String,
    /// A JSON array of strings.
    pub tags: String,
    pub product: Option<String>,
    /// `zh` or `en`.
    pub language: String,
    pub owner_id: i64,
    pub reviewer_id: Option<i64>,
    pub reviewed_at: Option<DateTimeUtc>,
    pub published_at: Option<DateTimeUtc>,
    pub version: i32,
    pub helpful: i64,
    pub not_helpful: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
