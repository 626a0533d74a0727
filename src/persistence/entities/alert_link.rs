//! The `alert_links` table: an alert's identity → the ticket it opened.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_links")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    /// `alertmanager` or `events`.
    pub source: String,
    /// The Alertmanager fingerprint or the events `dedup_key`.
    pub dedup: String,
    pub ticket_id: i64,
    pub firing: bool,
    /// What identifies the current firing episode (Alertmanager `startsAt`), so that a repeat of
    /// the same notification changes nothing.
    pub episode: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
