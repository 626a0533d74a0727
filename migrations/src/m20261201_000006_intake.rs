//! Alert and event intake: per-customer integration keys (stored hashed) and the links from an
//! alert's identity (Alertmanager fingerprint, events dedup key) to the ticket it opened.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261128_000001_core::{index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Integrations::Table)
                    .col(big_pk_auto(Integrations::Id))
                    .col(big_integer(Integrations::CustomerId))
                    .col(string_len(Integrations::Kind, 16))
                    .col(string_len_uniq(Integrations::PublicId, 32))
                    .col(string_len(Integrations::SecretHash, 64))
                    .col(text(Integrations::SeverityLevels))
                    .col(string_len(Integrations::DefaultLevel, 4))
                    .col(boolean(Integrations::AutoResolve))
                    .col(timestamp_with_time_zone(Integrations::CreatedAt))
                    .col(timestamp_with_time_zone(Integrations::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        unique_index(
            manager,
            Integrations::Table,
            "uq_integrations_customer_kind",
            &[Integrations::CustomerId, Integrations::Kind],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(AlertLinks::Table)
                    .col(big_pk_auto(AlertLinks::Id))
                    .col(big_integer(AlertLinks::CustomerId))
                    .col(string_len(AlertLinks::Source, 16))
                    .col(string_len(AlertLinks::Dedup, 255))
                    .col(big_integer(AlertLinks::TicketId))
                    .col(boolean(AlertLinks::Firing))
                    .col(string_len(AlertLinks::Episode, 64))
                    .col(timestamp_with_time_zone(AlertLinks::CreatedAt))
                    .col(timestamp_with_time_zone(AlertLinks::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        unique_index(
            manager,
            AlertLinks::Table,
            "uq_alert_links_identity",
            &[AlertLinks::CustomerId, AlertLinks::Source, AlertLinks::Dedup],
        )
        .await?;
        index(manager, AlertLinks::Table, "idx_alert_links_ticket", &[AlertLinks::TicketId]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AlertLinks::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Integrations::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Integrations {
    Table,
    Id,
    CustomerId,
    Kind,
    PublicId,
    SecretHash,
    SeverityLevels,
    DefaultLevel,
    AutoResolve,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AlertLinks {
    Table,
    Id,
    CustomerId,
    Source,
    Dedup,
    TicketId,
    Firing,
    Episode,
    CreatedAt,
    UpdatedAt,
}
