//! The `escalations` table.

use sea_orm::entity::prelude::*;

use crate::domain::sla::TimerKind;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escalations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub timer: TimerKind,
    pub cycle: i32,
    pub acked_at: Option<DateTimeUtc>,
    pub acked_by: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
