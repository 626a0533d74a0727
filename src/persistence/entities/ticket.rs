//! The `tickets` table.

use sea_orm::entity::prelude::*;

use crate::domain::level::Level;
use crate::domain::ticket::{Source, Status};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub number: String,
    pub customer_id: i64,
    pub contact_id: Option<i64>,
    pub title: String,
    pub description: String,
    pub level: Level,
    pub level_source: String,
    pub classification: String,
    pub status: Status,
    pub assignee_id: Option<i64>,
    pub team_id: Option<i64>,
    pub source: Source,
    pub parent_id: Option<i64>,
    pub plan: Option<String>,
    pub resolution: Option<String>,
    pub public_title: Option<String>,
    pub created_by_user_id: Option<i64>,
    pub created_by_contact_id: Option<i64>,
    pub reported_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub waiting_since: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub version: i32,
    pub urgency_bucket: i16,
    pub urgency_key: i64,
    pub breached: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
