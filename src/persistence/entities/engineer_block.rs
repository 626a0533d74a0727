//! The `engineer_blocks` table: time a field engineer is not free (leave, training).

use sea_orm::entity::prelude::*;

use crate::domain::visit::BlockKind;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "engineer_blocks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub kind: BlockKind,
    pub start_at: DateTimeUtc,
    pub end_at: DateTimeUtc,
    pub note: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
