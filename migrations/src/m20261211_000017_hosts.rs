//! `host_facts`: the inventory. One row per exporter check: the facts its last scrape showed
//! (OS, kernel, CPUs, memory, mounts, the exporter and its version, as JSON) and when, and the
//! last environment detection that judged its host.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum HostFacts {
    Table,
    CheckId,
    Facts,
    ObservedAt,
    Detection,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(HostFacts::Table)
                    .col(big_integer(HostFacts::CheckId).primary_key())
                    .col(text(HostFacts::Facts))
                    .col(timestamp_with_time_zone(HostFacts::ObservedAt))
                    .col(text_null(HostFacts::Detection))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(HostFacts::Table).to_owned()).await
    }
}
