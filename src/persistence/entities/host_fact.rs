//! The `host_facts` table: the inventory, one row per exporter check.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "host_facts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub check_id: i64,
    /// `domain::check::facts::HostFacts` as JSON.
    pub facts: String,
    pub observed_at: DateTimeUtc,
    /// `services::checks::hosts::Detection` as JSON: the last environment detection of the host.
    pub detection: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
