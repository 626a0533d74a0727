//! Health checks (their spec, health and schedule), their results and rollups, and inspections.
//! A check's `ticket_id` is the open ticket of its current outage; no foreign keys to tickets or
//! customers, so that retention and ticket work never wait on each other's locks.

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
                    .table(Checks::Table)
                    .col(big_pk_auto(Checks::Id))
                    .col(string_len_uniq(Checks::Name, 64))
                    .col(string_len(Checks::Kind, 16))
                    .col(text(Checks::Spec))
                    .col(big_integer_null(Checks::CustomerId))
                    .col(string_len(Checks::Level, 4))
                    .col(text(Checks::Tags))
                    .col(string_len(Checks::ManagedBy, 16))
                    .col(string_len_null(Checks::HeartbeatTokenHash, 64))
                    .col(string_len(Checks::Health, 16))
                    .col(text(Checks::Tracker))
                    .col(boolean(Checks::Flapping))
                    .col(timestamp_with_time_zone_null(Checks::NextRunAt))
                    .col(timestamp_with_time_zone_null(Checks::LockedUntil))
                    .col(timestamp_with_time_zone_null(Checks::LastRunAt))
                    .col(timestamp_with_time_zone_null(Checks::LastBeatAt))
                    .col(big_integer_null(Checks::TicketId))
                    .col(integer(Checks::Version))
                    .col(timestamp_with_time_zone(Checks::CreatedAt))
                    .col(timestamp_with_time_zone(Checks::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        index(manager, Checks::Table, "idx_checks_next_run", &[Checks::NextRunAt]).await?;
        unique_index(manager, Checks::Table, "uq_checks_heartbeat_token", &[Checks::HeartbeatTokenHash]).await?;

        manager
            .create_table(
                Table::create()
                    .table(CheckResults::Table)
                    .col(big_pk_auto(CheckResults::Id))
                    .col(big_integer(CheckResults::CheckId))
                    .col(big_integer_null(CheckResults::InspectionId))
                    .col(timestamp_with_time_zone(CheckResults::StartedAt))
                    .col(big_integer(CheckResults::DurationMs))
                    .col(string_len(CheckResults::Outcome, 16))
                    .col(string_len(CheckResults::Health, 16))
                    .col(string_len_null(CheckResults::Transition, 16))
                    .col(text_null(CheckResults::FailedCondition))
                    .col(text_null(CheckResults::Observed))
                    .col(text_null(CheckResults::Error))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            CheckResults::Table,
            "idx_check_results_check",
            &[CheckResults::CheckId, CheckResults::StartedAt],
        )
        .await?;
        index(manager, CheckResults::Table, "idx_check_results_started", &[CheckResults::StartedAt]).await?;

        manager
            .create_table(
                Table::create()
                    .table(CheckRollups::Table)
                    .col(big_pk_auto(CheckRollups::Id))
                    .col(big_integer(CheckRollups::CheckId))
                    .col(string_len(CheckRollups::Period, 8))
                    .col(timestamp_with_time_zone(CheckRollups::BucketStart))
                    .col(integer(CheckRollups::Passes))
                    .col(integer(CheckRollups::Failures))
                    .col(integer(CheckRollups::Unknowns))
                    .col(big_integer(CheckRollups::TotalMs))
                    .to_owned(),
            )
            .await?;
        unique_index(
            manager,
            CheckRollups::Table,
            "uq_check_rollups_bucket",
            &[CheckRollups::CheckId, CheckRollups::Period, CheckRollups::BucketStart],
        )
        .await?;
        index(
            manager,
            CheckRollups::Table,
            "idx_check_rollups_start",
            &[CheckRollups::Period, CheckRollups::BucketStart],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Inspections::Table)
                    .col(big_pk_auto(Inspections::Id))
                    .col(string_len(Inspections::Status, 16))
                    .col(text(Inspections::Selection))
                    .col(integer(Inspections::Total))
                    .col(integer(Inspections::Done))
                    .col(text(Inspections::Results))
                    .col(string_len_null(Inspections::RequestedBy, 200))
                    .col(timestamp_with_time_zone(Inspections::StartedAt))
                    .col(timestamp_with_time_zone_null(Inspections::FinishedAt))
                    .col(timestamp_with_time_zone_null(Inspections::LockedUntil))
                    .to_owned(),
            )
            .await?;
        index(manager, Inspections::Table, "idx_inspections_status", &[Inspections::Status]).await?;
        // At most one inspection runs at a time, across instances: a second start finds this one.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_inspections_running ON inspections (status) WHERE status = 'running'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [Inspections::Table.into_iden(), CheckRollups::Table.into_iden(), CheckResults::Table.into_iden()] {
            manager.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table(Checks::Table).to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Checks {
    Table,
    Id,
    Name,
    Kind,
    Spec,
    CustomerId,
    Level,
    Tags,
    ManagedBy,
    HeartbeatTokenHash,
    Health,
    Tracker,
    Flapping,
    NextRunAt,
    LockedUntil,
    LastRunAt,
    LastBeatAt,
    TicketId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CheckResults {
    Table,
    Id,
    CheckId,
    InspectionId,
    StartedAt,
    DurationMs,
    Outcome,
    Health,
    Transition,
    FailedCondition,
    Observed,
    Error,
}

#[derive(DeriveIden, Clone, Copy)]
enum CheckRollups {
    Table,
    Id,
    CheckId,
    Period,
    BucketStart,
    Passes,
    Failures,
    Unknowns,
    TotalMs,
}

#[derive(DeriveIden, Clone, Copy)]
enum Inspections {
    Table,
    Id,
    Status,
    Selection,
    Total,
    Done,
    Results,
    RequestedBy,
    StartedAt,
    FinishedAt,
    LockedUntil,
}
