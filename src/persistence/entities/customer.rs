//! The `customers` table.

use sea_orm::entity::prelude::*;

use crate::domain::customer::Tier;
use crate::domain::report::ReportSchedule;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub key: String,
    pub tier: Tier,
    pub calendar: String,
    pub sla_policy: String,
    /// Hears what is meant for "the customer" about tickets without a contact.
    pub primary_contact_id: Option<i64>,
    pub report_schedule: ReportSchedule,
    /// E-mail addresses, as a JSON array; empty: the primary contact.
    pub report_recipients: String,
    /// The user a disputed report's ticket is for.
    pub account_lead_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
