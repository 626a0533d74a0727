//! Metrics: the certificate expiry a check saw; the instant each SLA timer becomes "at risk" (80 %
//! of its working time gone) with partial indexes that keep counting cheap at a million open
//! tickets; ticket counts per level and status kept as appended deltas and folded totals; and the
//! one-row table through which one instance computes the database gauges and every instance reads
//! them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SlaTimers::Table)
                    .add_column(timestamp_with_time_zone_null(SlaTimers::RiskAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CheckResults::Table)
                    .add_column(timestamp_with_time_zone_null(CheckResults::CertExpiresAt))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Both backends take partial indexes; the predicates match the refresh's queries.
        db.execute_unprepared(
            "CREATE INDEX idx_sla_timers_unmet_risk ON sla_timers (risk_at) WHERE outcome IS NULL AND breached = false",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX idx_sla_timers_unmet_breached ON sla_timers (level, kind) WHERE outcome IS NULL AND breached = true",
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(MetricsSnapshot::Table)
                    .col(integer(MetricsSnapshot::Id).primary_key())
                    .col(string_len_null(MetricsSnapshot::Holder, 64))
                    .col(timestamp_with_time_zone_null(MetricsSnapshot::LeaseUntil))
                    .col(timestamp_with_time_zone_null(MetricsSnapshot::TakenAt))
                    .col(text_null(MetricsSnapshot::Body))
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared("INSERT INTO metrics_snapshot (id) VALUES (1)").await?;
        // Tickets per (level, status): ticket writes append deltas in their own transaction (no
        // hot row to wait on), and the gauge refresh folds them into the totals.
        manager
            .create_table(
                Table::create()
                    .table(TicketCountDeltas::Table)
                    .col(big_pk_auto(TicketCountDeltas::Id))
                    .col(string_len(TicketCountDeltas::Level, 4))
                    .col(string_len(TicketCountDeltas::Status, 24))
                    .col(big_integer(TicketCountDeltas::Delta))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TicketCounts::Table)
                    .col(string_len(TicketCounts::Level, 4))
                    .col(string_len(TicketCounts::Status, 24))
                    .col(big_integer(TicketCounts::N))
                    .primary_key(Index::create().col(TicketCounts::Level).col(TicketCounts::Status))
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(
            "INSERT INTO ticket_counts (level, status, n) SELECT level, status, COUNT(*) FROM tickets GROUP BY level, status",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(TicketCounts::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(TicketCountDeltas::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(MetricsSnapshot::Table).to_owned()).await?;
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX idx_sla_timers_unmet_breached").await?;
        db.execute_unprepared("DROP INDEX idx_sla_timers_unmet_risk").await?;
        manager
            .alter_table(Table::alter().table(CheckResults::Table).drop_column(CheckResults::CertExpiresAt).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(SlaTimers::Table).drop_column(SlaTimers::RiskAt).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum SlaTimers {
    Table,
    RiskAt,
}

#[derive(DeriveIden)]
enum CheckResults {
    Table,
    CertExpiresAt,
}

#[derive(DeriveIden)]
enum TicketCountDeltas {
    Table,
    Id,
    Level,
    Status,
    Delta,
}

#[derive(DeriveIden)]
enum TicketCounts {
    Table,
    Level,
    Status,
    N,
}

#[derive(DeriveIden)]
enum MetricsSnapshot {
    Table,
    Id,
    Holder,
    LeaseUntil,
    TakenAt,
    Body,
}
