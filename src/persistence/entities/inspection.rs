//! The `inspections` table: one row per one-click inspection, its results as JSON.

use sea_orm::entity::prelude::*;

use crate::domain::check::InspectionStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inspections")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// running | passed | failed | inconclusive
    pub status: InspectionStatus,
    /// `{tags, checks}` as JSON.
    pub selection: String,
    pub total: i32,
    pub done: i32,
    /// Per-check results as a JSON array.
    pub results: String,
    pub requested_by: Option<String>,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// The instance running it renews this; a running inspection whose lease ran out was
    /// abandoned by a crash and is finished by whoever looks next.
    pub locked_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
