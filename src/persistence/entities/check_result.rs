//! The `check_results` table: one row per probe run.

use sea_orm::entity::prelude::*;

use crate::domain::check::Health;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "check_results")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub check_id: i64,
    pub inspection_id: Option<i64>,
    pub started_at: DateTimeUtc,
    pub duration_ms: i64,
    /// up | down | unknown: what this probe said.
    pub outcome: Health,
    /// The check's health after it.
    pub health: Health,
    /// went_down | recovered | became_up, when this result changed the health.
    pub transition: Option<String>,
    pub failed_condition: Option<String>,
    pub observed: Option<String>,
    pub error: Option<String>,
    /// When the earliest certificate a TLS or HTTPS probe saw expires.
    pub cert_expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
