//! The `ratings` table: a closed ticket's satisfaction rating, asked of its contact, and the
//! follow-up call (回访) a low (or a VIP's) rating calls for.

use sea_orm::entity::prelude::*;

use crate::domain::customer::Tier;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ratings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    /// The resolution cycle that closed (unique with the ticket).
    pub cycle: i32,
    pub customer_id: i64,
    /// The contact asked; only they rate.
    pub contact_id: i64,
    /// The engineer assigned when the ticket closed.
    pub engineer_id: Option<i64>,
    pub tier: Tier,
    pub asked_at: DateTimeUtc,
    /// The link (and the portal's form) work until then (`ratings.expire_after`).
    pub expires_at: DateTimeUtc,
    pub score: Option<i16>,
    pub comment: Option<String>,
    pub rated_at: Option<DateTimeUtc>,
    /// The rating called for a follow-up call.
    pub callback: bool,
    pub called_back_at: Option<DateTimeUtc>,
    pub called_back_by: Option<i64>,
    pub callback_note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
