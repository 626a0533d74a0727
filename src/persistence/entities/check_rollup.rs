//! The `check_rollups` table: results counted per check and minute or day.

use sea_orm::entity::prelude::*;

use crate::domain::check::RollupPeriod;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "check_rollups")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub check_id: i64,
    pub period: RollupPeriod,
    pub bucket_start: DateTimeUtc,
    pub passes: i32,
    pub failures: i32,
    pub unknowns: i32,
    pub total_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
