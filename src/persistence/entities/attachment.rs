//! The `attachments` table.

use sea_orm::entity::prelude::*;

use crate::domain::ticket::Visibility;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "attachments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ticket_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub visibility: Visibility,
    pub data: Vec<u8>,
    pub uploader_kind: crate::domain::actor::ActorKind,
    pub uploader_user_id: Option<i64>,
    pub uploader_contact_id: Option<i64>,
    pub uploader_name: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
