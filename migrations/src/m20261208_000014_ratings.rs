//! Satisfaction ratings. A row per closing whose contact is asked (`ticket_id`, `cycle` unique:
//! the resolution cycle that closed, so a ticket reopened and closed again is asked again): the
//! contact asked, the engineer assigned at the close, the customer's tier, when it was asked and
//! when the link expires; then the score (1–5), the comment and when; whether it calls for a
//! follow-up call (回访), and when, by whom and how that call was made. `reports` gains
//! `escalated_at`: when a report neither acknowledged nor disputed within `reports.ack_within`
//! fired the `report_unacknowledged` rules (once).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261128_000001_core::{index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Ratings {
    Table,
    Id,
    TicketId,
    Cycle,
    CustomerId,
    ContactId,
    EngineerId,
    Tier,
    AskedAt,
    ExpiresAt,
    Score,
    Comment,
    RatedAt,
    Callback,
    CalledBackAt,
    CalledBackBy,
    CallbackNote,
}

#[derive(DeriveIden, Clone, Copy)]
enum Reports {
    Table,
    EscalatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Ratings::Table)
                    .col(big_pk_auto(Ratings::Id))
                    .col(big_integer(Ratings::TicketId))
                    .col(integer(Ratings::Cycle))
                    .col(big_integer(Ratings::CustomerId))
                    .col(big_integer(Ratings::ContactId))
                    .col(big_integer_null(Ratings::EngineerId))
                    .col(string_len(Ratings::Tier, 16))
                    .col(timestamp_with_time_zone(Ratings::AskedAt))
                    .col(timestamp_with_time_zone(Ratings::ExpiresAt))
                    .col(small_integer_null(Ratings::Score))
                    .col(text_null(Ratings::Comment))
                    .col(timestamp_with_time_zone_null(Ratings::RatedAt))
                    .col(boolean(Ratings::Callback).default(false))
                    .col(timestamp_with_time_zone_null(Ratings::CalledBackAt))
                    .col(big_integer_null(Ratings::CalledBackBy))
                    .col(text_null(Ratings::CallbackNote))
                    .to_owned(),
            )
            .await?;
        unique_index(manager, Ratings::Table, "uq_ratings_ticket_cycle", &[Ratings::TicketId, Ratings::Cycle]).await?;
        index(manager, Ratings::Table, "idx_ratings_customer_asked", &[Ratings::CustomerId, Ratings::AskedAt]).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Reports::Table)
                    .add_column(ColumnDef::new(Reports::EscalatedAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Reports::Table).drop_column(Reports::EscalatedAt).to_owned()).await?;
        manager.drop_table(Table::drop().table(Ratings::Table).to_owned()).await
    }
}
