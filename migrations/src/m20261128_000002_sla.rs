//! SLA timers (one row per ticket, kind and cycle) and the content-hashed configuration versions
//! that every timer references (calendars and SLA policies), plus the configuration snapshot each
//! instance registers at start so that instances can tell whether they agree.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261128_000001_core::{Tickets, index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConfigVersions::Table)
                    .col(big_pk_auto(ConfigVersions::Id))
                    .col(string_len(ConfigVersions::Kind, 32))
                    .col(string_len(ConfigVersions::Name, 64))
                    .col(string_len(ConfigVersions::Hash, 64))
                    .col(text(ConfigVersions::Content))
                    .col(timestamp_with_time_zone(ConfigVersions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        unique_index(
            manager,
            ConfigVersions::Table,
            "uq_config_versions_kind_name_hash",
            &[ConfigVersions::Kind, ConfigVersions::Name, ConfigVersions::Hash],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ConfigSnapshots::Table)
                    .col(big_pk_auto(ConfigSnapshots::Id))
                    .col(string_len_uniq(ConfigSnapshots::Hash, 64))
                    .col(text(ConfigSnapshots::Versions))
                    .col(timestamp_with_time_zone(ConfigSnapshots::RegisteredAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SlaTimers::Table)
                    .col(big_pk_auto(SlaTimers::Id))
                    .col(big_integer(SlaTimers::TicketId))
                    .col(string_len(SlaTimers::Kind, 16))
                    .col(integer(SlaTimers::Cycle))
                    .col(string_len(SlaTimers::Level, 4))
                    .col(string_len(SlaTimers::Target, 32))
                    .col(string_len(SlaTimers::PlanTarget, 32))
                    .col(timestamp_with_time_zone(SlaTimers::StartedAt))
                    .col(big_integer(SlaTimers::CalendarVersionId))
                    .col(big_integer(SlaTimers::PolicyVersionId))
                    .col(string_len(SlaTimers::State, 16))
                    .col(timestamp_with_time_zone_null(SlaTimers::DueAt))
                    .col(timestamp_with_time_zone_null(SlaTimers::PausedAt))
                    .col(big_integer_null(SlaTimers::RemainingSecs))
                    .col(boolean(SlaTimers::Breached))
                    .col(timestamp_with_time_zone_null(SlaTimers::MetAt))
                    .col(string_len_null(SlaTimers::Outcome, 16))
                    .col(timestamp_with_time_zone_null(SlaTimers::FinishedAt))
                    .col(text(SlaTimers::History))
                    .col(timestamp_with_time_zone(SlaTimers::CreatedAt))
                    .col(timestamp_with_time_zone(SlaTimers::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SlaTimers::Table, SlaTimers::TicketId)
                            .to(Tickets::Table, Tickets::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SlaTimers::Table, SlaTimers::CalendarVersionId)
                            .to(ConfigVersions::Table, ConfigVersions::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SlaTimers::Table, SlaTimers::PolicyVersionId)
                            .to(ConfigVersions::Table, ConfigVersions::Id),
                    )
                    .to_owned(),
            )
            .await?;
        unique_index(
            manager,
            SlaTimers::Table,
            "uq_sla_timers_ticket_kind_cycle",
            &[SlaTimers::TicketId, SlaTimers::Kind, SlaTimers::Cycle],
        )
        .await?;
        // The sweep and the reports look for the next unmet deadline.
        index(manager, SlaTimers::Table, "idx_sla_timers_state_due", &[SlaTimers::State, SlaTimers::DueAt]).await?;
        index(manager, SlaTimers::Table, "idx_sla_timers_calendar", &[SlaTimers::CalendarVersionId]).await?;
        index(manager, SlaTimers::Table, "idx_sla_timers_started", &[SlaTimers::StartedAt]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SlaTimers::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ConfigSnapshots::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ConfigVersions::Table).to_owned()).await?;
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ConfigVersions {
    Table,
    Id,
    Kind,
    Name,
    Hash,
    Content,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ConfigSnapshots {
    Table,
    Id,
    Hash,
    Versions,
    RegisteredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SlaTimers {
    Table,
    Id,
    TicketId,
    Kind,
    Cycle,
    Level,
    Target,
    PlanTarget,
    StartedAt,
    CalendarVersionId,
    PolicyVersionId,
    State,
    DueAt,
    PausedAt,
    RemainingSecs,
    Breached,
    MetAt,
    Outcome,
    FinishedAt,
    History,
    CreatedAt,
    UpdatedAt,
}
