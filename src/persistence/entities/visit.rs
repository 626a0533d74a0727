//! The `visits` table.

use sea_orm::entity::prelude::*;

use crate::domain::visit::{VisitOutcome, VisitState, WindowChooser};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "visits")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub state: VisitState,
    pub engineer_id: Option<i64>,
    pub window_start: Option<DateTimeUtc>,
    pub window_end: Option<DateTimeUtc>,
    pub offered_start: Option<DateTimeUtc>,
    pub chooser: Option<WindowChooser>,
    pub travel_secs: i64,
    /// Who booked over a clashing visit, and which (a lead's decision).
    pub clash_override: Option<String>,
    pub site_address: String,
    pub site_contact: String,
    pub site_phone: Option<String>,
    pub note: Option<String>,
    pub departed_at: Option<DateTimeUtc>,
    pub arrived_at: Option<DateTimeUtc>,
    pub no_access_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub work_summary: Option<String>,
    /// JSON: `[{name, quantity}]`.
    pub parts: String,
    pub outcome: Option<VisitOutcome>,
    pub signer_name: Option<String>,
    pub signature: Option<Vec<u8>>,
    pub signature_sha256: Option<String>,
    pub signed_at: Option<DateTimeUtc>,
    /// JSON: each check-in's device time, server time, the instant counted and why.
    pub clocks: String,
    pub cancel_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
