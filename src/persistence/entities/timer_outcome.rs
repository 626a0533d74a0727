//! The `timer_outcomes` table: each finished timer's outcome, written once and never updated.

use sea_orm::entity::prelude::*;

use crate::domain::level::Level;
use crate::domain::sla::{Outcome, TimerKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "timer_outcomes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub timer_id: i64,
    pub ticket_id: i64,
    pub customer_id: i64,
    pub kind: TimerKind,
    pub cycle: i32,
    pub level: Level,
    pub outcome: Outcome,
    pub started_at: DateTimeUtc,
    pub due_at: Option<DateTimeUtc>,
    pub met_at: Option<DateTimeUtc>,
    pub finished_at: DateTimeUtc,
    pub breached: bool,
    /// Working seconds the timer stood paused; null only on rows copied by the migration until
    /// the service has worked them out.
    pub paused_secs: Option<i64>,
    /// Working seconds past the deadline when it ended (0 when in time); null as `paused_secs`.
    pub late_secs: Option<i64>,
    pub policy_version_id: i64,
    pub calendar_version_id: i64,
    pub recorded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
