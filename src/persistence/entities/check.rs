//! The `checks` table.

use sea_orm::entity::prelude::*;

use crate::domain::check::Health;
use crate::domain::level::Level;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "checks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// The `CheckSpec` as JSON, secrets included (never returned as is).
    pub spec: String,
    pub customer_id: Option<i64>,
    pub level: Level,
    /// JSON array of strings.
    pub tags: String,
    /// config | api
    pub managed_by: String,
    pub heartbeat_token_hash: Option<String>,
    /// unknown | up | down
    pub health: Health,
    /// The health `Tracker` as JSON.
    pub tracker: String,
    pub flapping: bool,
    pub next_run_at: Option<DateTimeUtc>,
    pub locked_until: Option<DateTimeUtc>,
    pub last_run_at: Option<DateTimeUtc>,
    pub last_beat_at: Option<DateTimeUtc>,
    pub ticket_id: Option<i64>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
