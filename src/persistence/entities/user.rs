//! The `users` table.

use sea_orm::entity::prelude::*;

use crate::domain::ticket::Role;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub role: Role,
    pub language: String,
    pub team_id: Option<i64>,
    pub active: bool,
    pub service: bool,
    pub password_hash: Option<String>,
    /// JSON `{region, skills, calendar}`: a field engineer's settings.
    pub field: Option<String>,
    /// The secret in the engineer's iCalendar feed address (`calendar.ics`).
    pub calendar_token: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
