//! The `escalation_events` table.

use sea_orm::entity::prelude::*;

use crate::domain::sla::TimerKind;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escalation_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event_key: String,
    pub escalation_id: Option<i64>,
    pub ticket_id: i64,
    pub on_event: String,
    pub timer: Option<TimerKind>,
    pub cycle: i32,
    pub rule: String,
    pub step: i32,
    pub fire_at: DateTimeUtc,
    pub due_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
