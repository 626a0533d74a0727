//! The `comments` table.

use sea_orm::entity::prelude::*;

use crate::domain::ticket::Visibility;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "comments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub author_kind: crate::domain::actor::ActorKind,
    pub author_user_id: Option<i64>,
    pub author_contact_id: Option<i64>,
    pub author_name: String,
    pub body: String,
    pub visibility: Visibility,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
