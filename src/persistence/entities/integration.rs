//! The `integrations` table.

use sea_orm::entity::prelude::*;

use crate::domain::level::Level;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "integrations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub kind: String,
    pub public_id: String,
    pub secret_hash: String,
    /// JSON object: severity name → level.
    pub severity_levels: String,
    pub default_level: Level,
    pub auto_resolve: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
