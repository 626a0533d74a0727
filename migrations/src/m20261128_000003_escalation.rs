//! Escalation chains and events, the durable outbox of notifications, every delivery attempt, and
//! the next instant the sweep must look at each SLA timer.

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261128_000001_core::{Tickets, index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SlaTimers::Table)
                    .add_column(timestamp_with_time_zone_null(SlaTimers::NextFireAt))
                    .to_owned(),
            )
            .await?;
        index(manager, SlaTimers::Table, "idx_sla_timers_next_fire", &[SlaTimers::NextFireAt]).await?;

        manager
            .create_table(
                Table::create()
                    .table(Escalations::Table)
                    .col(big_pk_auto(Escalations::Id))
                    .col(big_integer(Escalations::TicketId))
                    .col(string_len(Escalations::Timer, 32))
                    .col(integer(Escalations::Cycle))
                    .col(timestamp_with_time_zone_null(Escalations::AckedAt))
                    .col(string_len_null(Escalations::AckedBy, 200))
                    .col(timestamp_with_time_zone(Escalations::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Escalations::Table, Escalations::TicketId)
                            .to(Tickets::Table, Tickets::Id),
                    )
                    .to_owned(),
            )
            .await?;
        unique_index(
            manager,
            Escalations::Table,
            "uq_escalations_chain",
            &[Escalations::TicketId, Escalations::Timer, Escalations::Cycle],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(EscalationEvents::Table)
                    .col(big_pk_auto(EscalationEvents::Id))
                    .col(string_len_uniq(EscalationEvents::EventKey, 255))
                    .col(big_integer_null(EscalationEvents::EscalationId))
                    .col(big_integer(EscalationEvents::TicketId))
                    .col(string_len(EscalationEvents::OnEvent, 32))
                    .col(string_len_null(EscalationEvents::Timer, 32))
                    .col(integer(EscalationEvents::Cycle))
                    .col(string_len(EscalationEvents::Rule, 64))
                    .col(integer(EscalationEvents::Step))
                    .col(timestamp_with_time_zone(EscalationEvents::FireAt))
                    .col(timestamp_with_time_zone_null(EscalationEvents::DueAt))
                    .col(timestamp_with_time_zone(EscalationEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(EscalationEvents::Table, EscalationEvents::TicketId)
                            .to(Tickets::Table, Tickets::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, EscalationEvents::Table, "idx_escalation_events_ticket", &[EscalationEvents::TicketId]).await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    .col(string_len_uniq(Outbox::OutboxKey, 400))
                    .col(big_integer_null(Outbox::EventId))
                    .col(big_integer_null(Outbox::EscalationId))
                    .col(big_integer_null(Outbox::TicketId))
                    .col(string_len(Outbox::Channel, 16))
                    .col(string_len(Outbox::Target, 400))
                    .col(string_len(Outbox::Kind, 32))
                    .col(text(Outbox::Payload))
                    .col(string_len(Outbox::Status, 16))
                    .col(integer(Outbox::Attempts))
                    .col(timestamp_with_time_zone(Outbox::NextAttemptAt))
                    .col(timestamp_with_time_zone_null(Outbox::LockedUntil))
                    .col(text_null(Outbox::LastError))
                    .col(string_len_null(Outbox::DeadReason, 64))
                    .col(big_integer_null(Outbox::DigestId))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone(Outbox::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::DeliveredAt))
                    .to_owned(),
            )
            .await?;
        index(manager, Outbox::Table, "idx_outbox_due", &[Outbox::Status, Outbox::NextAttemptAt]).await?;
        index(manager, Outbox::Table, "idx_outbox_ticket", &[Outbox::TicketId]).await?;
        index(
            manager,
            Outbox::Table,
            "idx_outbox_target_created",
            &[Outbox::Channel, Outbox::Target, Outbox::CreatedAt],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(DeliveryAttempts::Table)
                    .col(big_pk_auto(DeliveryAttempts::Id))
                    .col(big_integer(DeliveryAttempts::OutboxId))
                    .col(integer(DeliveryAttempts::Attempt))
                    .col(timestamp_with_time_zone(DeliveryAttempts::AttemptedAt))
                    .col(big_integer(DeliveryAttempts::DurationMs))
                    .col(string_len(DeliveryAttempts::Outcome, 16))
                    .col(integer_null(DeliveryAttempts::HttpStatus))
                    .col(text_null(DeliveryAttempts::Error))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DeliveryAttempts::Table, DeliveryAttempts::OutboxId)
                            .to(Outbox::Table, Outbox::Id),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, DeliveryAttempts::Table, "idx_delivery_attempts_outbox", &[DeliveryAttempts::OutboxId]).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(DeliveryAttempts::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(EscalationEvents::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Escalations::Table).to_owned()).await?;
        manager.drop_index(Index::drop().name("idx_sla_timers_next_fire").table(SlaTimers::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(SlaTimers::Table).drop_column(SlaTimers::NextFireAt).to_owned())
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum SlaTimers {
    Table,
    NextFireAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Escalations {
    Table,
    Id,
    TicketId,
    Timer,
    Cycle,
    AckedAt,
    AckedBy,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum EscalationEvents {
    Table,
    Id,
    EventKey,
    EscalationId,
    TicketId,
    OnEvent,
    Timer,
    Cycle,
    Rule,
    Step,
    FireAt,
    DueAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
#[allow(clippy::enum_variant_names)]
enum Outbox {
    Table,
    Id,
    OutboxKey,
    EventId,
    EscalationId,
    TicketId,
    Channel,
    Target,
    Kind,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LockedUntil,
    LastError,
    DeadReason,
    DigestId,
    CreatedAt,
    UpdatedAt,
    DeliveredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum DeliveryAttempts {
    Table,
    Id,
    OutboxId,
    Attempt,
    AttemptedAt,
    DurationMs,
    Outcome,
    HttpStatus,
    Error,
}
