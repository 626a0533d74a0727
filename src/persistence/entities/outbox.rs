//! The `outbox` table.

use sea_orm::entity::prelude::*;

use crate::domain::delivery::{Channel, DeliveryStatus, MessageKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub outbox_key: String,
    pub event_id: Option<i64>,
    pub escalation_id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub channel: Channel,
    pub target: String,
    pub kind: MessageKind,
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub locked_until: Option<DateTimeUtc>,
    /// The instance holding the lease (`instances.id`).
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub dead_reason: Option<String>,
    pub digest_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
