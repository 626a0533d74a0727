//! The `reports` table: each generated service report, its content frozen as JSON.

use sea_orm::entity::prelude::*;

use crate::domain::customer::Language;
use crate::domain::report::{Decision, ReportKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub kind: ReportKind,
    pub period_start: DateTimeUtc,
    pub period_end: DateTimeUtc,
    pub language: Language,
    /// `domain::report::Content` as JSON.
    pub content: String,
    /// The SHA-256 of `content`.
    pub sha256: String,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    /// A scheduled report's `kind:first_day:customer`, unique: made once across instances.
    pub schedule_key: Option<String>,
    pub decision: Option<Decision>,
    pub decided_at: Option<DateTimeUtc>,
    pub decided_by: Option<String>,
    /// The hash of the content the customer decided on.
    pub decided_sha256: Option<String>,
    pub dispute_reason: Option<String>,
    pub dispute_ticket_id: Option<i64>,
    /// When the `report_unacknowledged` rules fired for it (once).
    pub escalated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
