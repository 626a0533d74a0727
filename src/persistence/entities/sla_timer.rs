//! The `sla_timers` table.

use sea_orm::entity::prelude::*;

use crate::domain::level::Level;
use crate::domain::sla::{Outcome, TimerKind, TimerState};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sla_timers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub kind: TimerKind,
    pub cycle: i32,
    pub level: Level,
    pub target: String,
    pub plan_target: String,
    pub started_at: DateTimeUtc,
    pub calendar_version_id: i64,
    pub policy_version_id: i64,
    pub state: TimerState,
    pub due_at: Option<DateTimeUtc>,
    pub paused_at: Option<DateTimeUtc>,
    pub remaining_secs: Option<i64>,
    pub breached: bool,
    pub met_at: Option<DateTimeUtc>,
    pub outcome: Option<Outcome>,
    pub finished_at: Option<DateTimeUtc>,
    pub history: String,
    pub next_fire_at: Option<DateTimeUtc>,
    /// When 80 % of the working time to `due_at` has passed (the timer is "at risk" after).
    pub risk_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
