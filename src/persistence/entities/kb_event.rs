//! The `kb_events` table: what happened to suggestions and articles (shown, opened, used, cited
//! by a resolution, answered helpful or not), written once each.

use sea_orm::entity::prelude::*;

use crate::domain::kb::KbOutcome;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kb_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub outcome: KbOutcome,
    /// The article, when an article was suggested or read.
    pub article_id: Option<i64>,
    /// The resolved ticket, when a similar ticket was suggested.
    pub suggested_ticket_id: Option<i64>,
    /// The ticket being worked on, when known.
    pub ticket_id: Option<i64>,
    pub user_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
